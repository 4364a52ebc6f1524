"""The plugin's fixtures, layered so a project overrides one without touching the others (as
pytest-httpserver does): ``tracker`` and ``mlflow_run`` ask ``mlflow_guard_tracking_uri`` where
to write and ``mlflow_guard_experiment`` into which experiment.

A conftest that wants its own store when the guard is off::

    @pytest.fixture
    def mlflow_guard_tracking_uri(mlflow_guard_tracking_uri, tmp_path):
        return mlflow_guard_tracking_uri or f"sqlite:///{tmp_path / 'mlflow.db'}"

and one that files every test of a module under one experiment::

    @pytest.fixture
    def mlflow_guard_experiment():
        return "mushroom/integration"

No MLflow import at module level: pytest loads the plugin in every session of the environment.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.pytest_plugin.keys import (
    FIXTURE_RUN_KEY,
    REPORTS_KEY,
    guard_of,
    marker_spec,
)
from pytest_mlflow_guard.pytest_plugin.session import GuardSession
from pytest_mlflow_guard.vocabulary import (
    MLFLOW_PARENT_RUN_ID,
    MODEL_TYPE_NONE,
    RUN_MODE_VALIDATION,
    TAG_MODEL_TYPE,
    TAG_RUN_MODE,
    TAG_TEST_DURATION,
    TAG_TEST_NODEID,
    TAG_TEST_OUTCOME,
)

if TYPE_CHECKING:
    from pytest_mlflow_guard.tracking.tracker import ExperimentTracker


def _check_usable(guard: GuardSession) -> None:
    if guard.settings.enabled and guard.problem:
        pytest.fail(f"mlflow-guard: {clean(guard.problem)}", pytrace=False)


@pytest.fixture
def mlflow_guard_tracking_uri(request: pytest.FixtureRequest) -> str | None:
    """The store ``tracker`` and ``mlflow_run`` write to: the guarded session's store (its
    throwaway one in isolated mode), else ``--mlflow-guard-tracking-uri``, else None (MLflow's
    own choice: ``MLFLOW_TRACKING_URI``, then its default). Override it to send them elsewhere.
    """
    guard = guard_of(request.config)
    _check_usable(guard)
    return guard.tracking_uri


@pytest.fixture
def mlflow_guard_experiment(request: pytest.FixtureRequest) -> str:
    """The experiment ``tracker`` and ``mlflow_run`` write to: the test's
    ``@pytest.mark.mlflow_guard(experiment=...)``, else the session's experiment."""
    spec = marker_spec(request.node)
    return (spec.experiment if spec and spec.experiment else None) or guard_of(
        request.config
    ).experiment


def _run_tags(request: pytest.FixtureRequest, guard: GuardSession) -> dict[str, str]:
    spec = marker_spec(request.node)
    tags = {TAG_TEST_NODEID: request.node.nodeid}
    if guard.active and guard.session_run_id:
        tags[MLFLOW_PARENT_RUN_ID] = guard.session_run_id
    if spec is not None:
        tags.update(spec.run_tags(request.node.nodeid))
    return tags


def _outcome(reports: dict[str, pytest.TestReport]) -> tuple[str, str]:
    """(test.outcome tag, run status) from the phase reports seen so far."""
    call, setup = reports.get("call"), reports.get("setup")
    if call is not None:
        return call.outcome, "FAILED" if call.failed else "FINISHED"
    if setup is not None and setup.skipped:  # a later fixture skipped the test
        return "skipped", "FINISHED"
    if setup is not None and setup.failed:  # a later fixture failed: the test never ran
        return "error", "FAILED"
    return "interrupted", "KILLED"  # Ctrl-C or pytest.exit during the test


@pytest.fixture
def tracker(
    request: pytest.FixtureRequest,
    mlflow_guard_tracking_uri: str | None,
    mlflow_guard_experiment: str,
) -> Iterator[ExperimentTracker]:
    """An ``ExperimentTracker`` for this test, bound to the session's store and conventions.

    Its runs go to the session experiment (or ``@pytest.mark.mlflow_guard(experiment=...)``),
    are children of the session run when the guard is on, and carry ``test.nodeid``. They
    default to ``run.mode=validation`` and ``model.type=none`` (replaced by the logged model's
    class). MLflow's tracking URI, active experiment and run stack are restored afterwards.
    """
    from pytest_mlflow_guard.mlflow_io.test_runs import preserved_mlflow_state
    from pytest_mlflow_guard.tracking.tracker import ExperimentTracker

    guard = guard_of(request.config)
    _check_usable(guard)
    with preserved_mlflow_state():
        yield ExperimentTracker(
            mlflow_guard_experiment,
            tracking_uri=mlflow_guard_tracking_uri,
            run_mode=RUN_MODE_VALIDATION,
            model_type=MODEL_TYPE_NONE,
            config=guard.config,
            code_path=request.path,
            tags=_run_tags(request, guard),
        )


@pytest.fixture
def mlflow_run(
    request: pytest.FixtureRequest,
    mlflow_guard_tracking_uri: str | None,
    mlflow_guard_experiment: str,
) -> Iterator[Any]:
    """An active MLflow run for this test; ``mlflow.log_param``/``log_metric``/``log_model``
    calls in the test land in it. Yields MLflow's ``ActiveRun``.

    Named after the test, tagged ``test.nodeid``, ``run.mode=validation`` and ``model.type``
    (the flavor of a model the test logs, else ``none``); a child of the session run when the
    guard is on. At teardown it is tagged ``test.outcome`` and ``test.duration_seconds``,
    records the environment if a model was logged, and ends FAILED if the test failed. MLflow's
    global state (tracking URI, active experiment, run stack) is restored afterwards.
    """
    from pytest_mlflow_guard.mlflow_io.test_runs import FixtureRun, preserved_mlflow_state

    guard = guard_of(request.config)
    _check_usable(guard)
    tags = {
        TAG_RUN_MODE: RUN_MODE_VALIDATION,
        TAG_MODEL_TYPE: MODEL_TYPE_NONE,
        **_run_tags(request, guard),
    }
    run = FixtureRun(mlflow_guard_tracking_uri, mlflow_guard_experiment, request.node.name, tags)
    request.node.stash[FIXTURE_RUN_KEY] = run
    with preserved_mlflow_state():
        try:
            active = run.start()
        except GuardError:
            raise
        except Exception as exc:  # the store, not the test: say so once, then fail fast
            pytest.fail(f"mlflow-guard: {guard.store_failed(exc)}", pytrace=False)
        started = time.monotonic()
        try:
            yield active
        finally:
            outcome, status = _outcome(request.node.stash.get(REPORTS_KEY, {}))
            run.finish(
                status,
                {
                    TAG_TEST_OUTCOME: outcome,
                    TAG_TEST_DURATION: f"{time.monotonic() - started:.3f}",
                },
                guard.environment_payload,
            )

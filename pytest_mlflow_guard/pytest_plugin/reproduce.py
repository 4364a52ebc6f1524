"""pytest side of the reproducibility checks: the ``reproduce`` fixture and the
``@pytest.mark.reproducible`` marker.

Registered by the plugin (``config.pluginmanager.register(module, "mlflow_guard.reproduce")``),
or on its own with ``-p pytest_mlflow_guard.pytest_plugin.reproduce``. Importing this module
does not import MLflow: pytest loads the plugin in every session of the environment, and MLflow
is only needed by tests that use the fixture or the marker.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_mlflow_guard.reproduce.compare import (
    Tolerance,
    compare_metrics,
    compare_params,
    failing,
    parse_tolerance,
)
from pytest_mlflow_guard.reproduce.names import DEFAULT_ATOL, DEFAULT_RTOL
from pytest_mlflow_guard.reproduce.report import Repeat, Reproduction, render_repeats, render_text
from pytest_mlflow_guard.tracking import session_env
from pytest_mlflow_guard.vocabulary import (
    MLFLOW_PARENT_RUN_ID,
    MODEL_TYPE_NONE,
    RUN_MODE_VALIDATION,
    TAG_MODEL_TYPE,
    TAG_REPEAT,
    TAG_REPEAT_GROUP,
    TAG_RUN_MODE,
    TAG_TEST_NODEID,
)

MARKER = (
    "reproducible(times=2, rtol=1e-7, atol=1e-9, metrics=None, params=True, tolerance=None, "
    "run_mode='validation', experiment=None): run the test body `times` times with the same "
    "inputs, each in its own MLflow run, and fail when the metrics or params they log differ "
    "beyond tolerance (metrics: names or globs to compare; tolerance: {metric: abs or 'pct%'})"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


def _tolerances(values: Mapping[str, float | str] | None) -> dict[str, Tolerance]:
    return dict(parse_tolerance(f"{name}={value}") for name, value in (values or {}).items())


class Reproducer:
    """What the ``reproduce`` fixture returns: call it with a run id to replay that run."""

    def __init__(self, rootpath: Path) -> None:
        self.rootpath = rootpath

    def __call__(
        self,
        run_id: str,
        *,
        tracking_uri: str | None = None,
        env: str = "current",
        rtol: float = DEFAULT_RTOL,
        atol: float = DEFAULT_ATOL,
        tolerance: Mapping[str, float | str] | None = None,
        metrics: Sequence[str] = (),
        ignore_metrics: Sequence[str] = (),
        ignore_params: Sequence[str] = (),
        timeout: float | None = None,
        repo: str | Path | None = None,
        check_only: bool = False,
    ) -> Reproduction:
        """Pre-flight, replay and compare, as ``mlflow-guard reproduce`` does; returns the
        outcome (``.reproduced``, ``.verdict``, ``.exit_code``, ``.metrics``...). The replayed
        command's output goes to stderr, which pytest shows when the test fails."""
        import sys

        from pytest_mlflow_guard.reproduce.runner import (
            DEFAULT_IGNORED_METRICS,
            ReproduceOptions,
            reproduce_run,
        )

        options = ReproduceOptions(
            run_id=run_id,
            tracking_uri=tracking_uri,
            repo=Path(repo) if repo is not None else self.rootpath,
            env=env,
            check_only=check_only,
            tolerance=Tolerance(rtol, atol),
            tolerances=_tolerances(tolerance),
            metrics=list(metrics),
            ignore_metrics=[*DEFAULT_IGNORED_METRICS, *ignore_metrics],
            ignore_params=list(ignore_params),
            timeout_s=timeout,
            output=sys.stderr,
        )
        return reproduce_run(options)

    def assert_reproduced(self, run_id: str, **options: Any) -> Reproduction:
        """Replay ``run_id`` and fail the test, with the whole report as the message, unless it
        reproduced. Takes the same keyword arguments as calling the fixture."""
        result = self(run_id, **options)
        if not result.reproduced:
            pytest.fail(render_text(result), pytrace=False)
        return result


@pytest.fixture
def reproduce(request: pytest.FixtureRequest) -> Reproducer:
    """Replay a recorded MLflow run from its commit, command and params, and compare metrics.

    ``reproduce(run_id, rtol=..., tolerance={"accuracy": 0.01}, env="current"|"recorded")``
    returns the outcome (``.reproduced``, ``.verdict``, ``.metrics``, ``render_text``);
    ``reproduce.assert_reproduced(run_id, ...)`` fails the test with the full report.
    The replay runs in a temporary git worktree of the repository holding pytest's rootdir
    (``repo=`` to choose another) and writes a new run tagged ``reproduction.of``.
    """
    return Reproducer(request.config.rootpath)


@dataclass(frozen=True)
class _Spec:
    times: int
    tolerance: Tolerance
    tolerances: dict[str, Tolerance]
    metrics: tuple[str, ...]
    params: bool
    run_mode: str
    experiment: str | None


def _spec(marker: pytest.Mark) -> _Spec:
    if marker.args:
        raise pytest.UsageError(f"@pytest.mark.reproducible takes keyword arguments only: {MARKER}")
    kwargs = dict(marker.kwargs)
    known = {"times", "rtol", "atol", "metrics", "params", "tolerance", "run_mode", "experiment"}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.reproducible: unknown argument(s) {unknown}")
    times = kwargs.get("times", 2)
    if not isinstance(times, int) or isinstance(times, bool) or times < 2:
        raise pytest.UsageError(f"@pytest.mark.reproducible(times={times!r}): an int >= 2")
    rtol, atol = kwargs.get("rtol", DEFAULT_RTOL), kwargs.get("atol", DEFAULT_ATOL)
    if not all(isinstance(v, (int, float)) and v >= 0 for v in (rtol, atol)):
        raise pytest.UsageError("@pytest.mark.reproducible: rtol and atol are numbers >= 0")
    metrics = kwargs.get("metrics") or ()
    if isinstance(metrics, str):
        metrics = (metrics,)
    return _Spec(
        times=times,
        tolerance=Tolerance(float(rtol), float(atol)),
        tolerances=_tolerances(kwargs.get("tolerance")),
        metrics=tuple(metrics),
        params=bool(kwargs.get("params", True)),
        run_mode=str(kwargs.get("run_mode", RUN_MODE_VALIDATION)),
        experiment=kwargs.get("experiment"),
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A malformed marker stops the session before any test runs, naming the test."""
    for item in items:
        marker = item.get_closest_marker("reproducible")
        if marker is not None:
            try:
                _spec(marker)
            except pytest.UsageError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None


def _already_active(exc: BaseException) -> bool:
    return type(exc).__name__ == "Exception" and "is already active" in str(exc)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a ``reproducible`` test's body ``times`` times, each in its own run, then compare.

    Fixtures are set up once, so every repetition gets the same inputs. A repetition that
    raises ends the test at once (its run ends FAILED): a failure needs no comparison.
    """
    __tracebackhide__ = True  # a failing body's traceback starts at the test, not here
    marker = pyfuncitem.get_closest_marker("reproducible")
    if marker is None:
        return None
    spec = _spec(marker)
    function = pyfuncitem.obj
    if inspect.iscoroutinefunction(function):
        raise pytest.UsageError(f"{pyfuncitem.nodeid}: reproducible does not support async tests")
    from pytest_mlflow_guard.mlflow_io import replay as io

    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    outer = io.active_run_id()  # e.g. a per-test run: the repetitions nest under it
    parent = session_env.session_run_id() if outer is None else None
    experiment_id = io.experiment_for(spec.experiment, parent)
    group = uuid.uuid4().hex
    repeats: list[Repeat] = []
    for index in range(1, spec.times + 1):
        tags = {
            TAG_RUN_MODE: spec.run_mode,
            TAG_REPEAT: f"{index}/{spec.times}",
            TAG_REPEAT_GROUP: group,
            TAG_TEST_NODEID: pyfuncitem.nodeid,
        }
        if parent:
            tags[MLFLOW_PARENT_RUN_ID] = parent
        name = f"{pyfuncitem.name} [repeat {index}/{spec.times}]"
        run_id = io.start_repeat_run(name, tags, outer is not None, experiment_id)
        try:
            function(**kwargs)
        except BaseException as exc:
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            io.end_repeat_run(run_id, status)
            io.finish_repeat_tags(run_id, {TAG_MODEL_TYPE: MODEL_TYPE_NONE})
            if _already_active(exc):
                raise RuntimeError(
                    "@pytest.mark.reproducible runs each repetition inside its own MLflow run: "
                    "start runs in the test body with nested=True (mlflow.start_run(nested=True),"
                    " ExperimentTracker.start_run(nested=True)) or log into the active run"
                ) from exc
            raise
        io.end_repeat_run(run_id, "FINISHED")
        io.finish_repeat_tags(run_id, {TAG_MODEL_TYPE: MODEL_TYPE_NONE})
        params, metrics = io.logged_data(run_id)
        repeats.append(Repeat(run_id, params, metrics))
    _judge(pyfuncitem.nodeid, spec, repeats)
    return True


def _judge(test: str, spec: _Spec, repeats: Sequence[Repeat]) -> None:
    first = repeats[0]
    if not first.metrics and not (spec.params and first.params):
        pytest.fail(
            f"{test}: @pytest.mark.reproducible found nothing to compare: the test logged no "
            "metrics" + ("" if not spec.params else " or params") + " into its run "
            "(log with mlflow.log_metric / log_param, or in runs started with nested=True)",
            pytrace=False,
        )
    comparisons = []
    broken = False
    for other in repeats[1:]:
        metrics = compare_metrics(
            first.metrics, other.metrics, spec.tolerance, spec.tolerances, spec.metrics or None
        )
        params = compare_params(first.params, other.params) if spec.params else []
        comparisons.append((metrics, params))
        broken |= bool(failing(metrics, extra_fails=True) or failing(params, extra_fails=True))
    if broken:
        pytest.fail(render_repeats(test, repeats, comparisons, spec.tolerance), pytrace=False)

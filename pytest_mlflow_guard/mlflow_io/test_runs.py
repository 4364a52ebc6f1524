"""The MLflow side of the ``mlflow_run`` and ``tracker`` fixtures.

Both must leave MLflow's process-wide state as they found it: the tracking URI (MLflow keeps it in
a module global *and* mirrors it into ``MLFLOW_TRACKING_URI``), the active experiment and the
active-run stack. A test that uses them next to its own ``mlflow.start_run()`` calls, or the
test after it, sees no difference.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pytest_mlflow_guard.mlflow_io.clients import client as make_client
from pytest_mlflow_guard.mlflow_io.writer import end_run, terminate
from pytest_mlflow_guard.redact import redact_mapping
from pytest_mlflow_guard.vocabulary import (
    ENV_MLFLOW_EXPERIMENT_ID,
    ENV_MLFLOW_EXPERIMENT_NAME,
    ENV_MLFLOW_TRACKING_URI,
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_PYFUNC_FLAVOR,
    MODEL_TYPE_NONE,
    TAG_MODEL_TYPE,
    TAG_TEST_OUTCOME,
)

__all__ = ["FixtureRun", "preserved_mlflow_state"]

_FLAVOR_SKIP = (MLFLOW_PYFUNC_FLAVOR,)


@contextmanager
def preserved_mlflow_state() -> Iterator[None]:
    """Put back MLflow's tracking URI (global and env), active experiment and run stack."""
    import mlflow.tracking.fluent as fluent
    from mlflow.tracking._tracking_service import utils as tracking_utils

    uri = getattr(tracking_utils, "_tracking_uri", None)
    env_uri = os.environ.get(ENV_MLFLOW_TRACKING_URI)
    experiment = getattr(fluent, "_active_experiment_id", None)
    env_experiment = {
        k: os.environ.get(k) for k in (ENV_MLFLOW_EXPERIMENT_ID, ENV_MLFLOW_EXPERIMENT_NAME)
    }
    depth = len(fluent._active_run_stack.get())  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        stack = fluent._active_run_stack.get()  # type: ignore[no-untyped-call]
        while len(stack) > depth:  # runs left open above where the fixture began: end them
            end_run("KILLED")
        tracking_utils._tracking_uri = uri
        _restore_env(ENV_MLFLOW_TRACKING_URI, env_uri)
        fluent._active_experiment_id = experiment
        for key, value in env_experiment.items():
            _restore_env(key, value)


def _restore_env(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


class FixtureRun:
    """The run behind ``mlflow_run``: started on MLflow's active-run stack, ended at teardown."""

    def __init__(
        self,
        tracking_uri: str | None,
        experiment_name: str,
        run_name: str,
        tags: Mapping[str, str],
    ) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.tags = dict(tags)
        self.run_id: str | None = None
        self.experiment_id = ""

    def start(self) -> Any:
        import mlflow

        from pytest_mlflow_guard.mlflow_io.writer import experiment_id_for

        if self.tracking_uri and self.tracking_uri != mlflow.get_tracking_uri():
            mlflow.set_tracking_uri(self.tracking_uri)  # put back by preserved_mlflow_state
        experiment_id, _ = experiment_id_for(make_client(self.tracking_uri), self.experiment_name)
        # nested only when the test's setup already opened a run: then that one is the parent
        nested = mlflow.active_run() is not None
        tags = dict(self.tags)
        if nested:
            tags.pop(MLFLOW_PARENT_RUN_ID, None)
        active = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=self.run_name,
            tags=redact_mapping(tags),
            nested=nested,
        )
        self.run_id = active.info.run_id
        self.experiment_id = experiment_id
        return active

    def finish(self, status: str, tags: Mapping[str, str], environment: Any = None) -> None:
        """Tag the outcome, fill ``model.type`` from a logged model, record the environment of a
        run that logged a model (MLG501), and end the run with ``status``."""
        import mlflow

        assert self.run_id is not None
        client = make_client(self.tracking_uri)
        extra = dict(tags)
        # one search per test; the run itself is only fetched when a model was logged
        flavors = _logged_flavors(client, self.experiment_id, self.run_id)
        if flavors:
            run = client.get_run(self.run_id)
            if run.data.tags.get(TAG_MODEL_TYPE, MODEL_TYPE_NONE) == MODEL_TYPE_NONE:
                extra[TAG_MODEL_TYPE] = flavors[0]
            if environment is not None and not _has_environment(client, self.run_id):
                files, env_tags = environment()
                from pytest_mlflow_guard.mlflow_io.writer import log_text_files

                log_text_files(client, self.run_id, files, "environment")
                extra.update(env_tags)
        if extra:
            from pytest_mlflow_guard.mlflow_io.writer import set_tags

            set_tags(client, self.run_id, extra)
        active = mlflow.active_run()
        if active is not None and active.info.run_id == self.run_id:
            end_run(status)
        elif client.get_run(self.run_id).info.status == "RUNNING":
            terminate(client, self.run_id, status)  # the test ended it, or left runs above it

    def mark_errored(self) -> None:
        """The test errored after this run was ended as passed (the guard's own teardown
        finding): say so on the run, as for an error in a later fixture."""
        if self.run_id is None:
            return
        from pytest_mlflow_guard.mlflow_io.writer import set_tags

        client = make_client(self.tracking_uri)
        set_tags(client, self.run_id, {TAG_TEST_OUTCOME: "error"})
        terminate(client, self.run_id, "FAILED")


def _logged_flavors(client: Any, experiment_id: str, run_id: str) -> list[str]:
    """Flavors of the models the run logged (this MLflow 3 client always makes LoggedModels)."""
    from mlflow.exceptions import MlflowException

    from pytest_mlflow_guard.mlflow_io.artifacts import model_facts, read_mlmodel

    flavors: list[str] = []
    try:
        models = client.search_logged_models(
            experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
    except MlflowException:  # a store without LoggedModels (an MLflow 2 server)
        models = []
    for model in models:
        found = model_facts(read_mlmodel(model.artifact_location, client.tracking_uri)[0])[2]
        flavors.extend(f for f in found if f not in _FLAVOR_SKIP)
        if not found:
            flavors.append("unknown")
    return flavors


def _has_environment(client: Any, run_id: str) -> bool:
    return any(
        a.path.endswith("requirements.txt") for a in client.list_artifacts(run_id, "environment")
    )

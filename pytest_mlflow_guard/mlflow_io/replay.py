"""The replay's and the ``reproducible`` marker's contact with MLflow.

Everything here turns MLflow entities into the plain ``RunFacts`` the reproduction logic judges,
or writes the few tags the replay needs. MLflow is imported inside the functions: the pytest
marker module imports this one, and pytest loads the plugin in every session of the environment.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mlflow_guard.mlflow_io.clients import client
from pytest_mlflow_guard.records import RunFacts
from pytest_mlflow_guard.redact import redact_mapping
from pytest_mlflow_guard.vocabulary import (
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_PYFUNC_FLAVOR,
    TAG_GIT_COMMIT,
    TAG_MODEL_TYPE,
    TAG_PYTHON_VERSION,
    TAG_REPRODUCTION_OF,
    TAG_SOURCE_COMMAND,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

_MISSING = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
# how many runs started after the replay began are examined to find the replay's own
_MAX_CANDIDATES = 500
_EXPERIMENTS_PER_SEARCH = 100


def _facts(c: MlflowClient, run: Any, with_environment: bool) -> RunFacts:
    experiment = c.get_experiment(run.info.experiment_id)
    requirements = python_version = None
    tags = dict(run.data.tags)
    if with_environment:
        requirements = _artifact_text(c, run.info.run_id, "environment/requirements.txt")
        python_version = tags.get(TAG_PYTHON_VERSION)
        if not python_version:
            info = _artifact_text(c, run.info.run_id, "environment/python.json")
            try:
                python_version = json.loads(info).get("python_version") if info else None
            except (ValueError, AttributeError):
                python_version = None
    return RunFacts(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        experiment_id=str(run.info.experiment_id),
        experiment_name=experiment.name if experiment is not None else "",
        status=run.info.status,
        start_time_ms=int(run.info.start_time or 0),
        tags=tags,
        params=dict(run.data.params),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
        requirements=requirements,
        python_version=python_version,
    )


def _artifact_text(c: MlflowClient, run_id: str, path: str) -> str | None:
    folder, _, name = path.rpartition("/")
    if name not in {Path(a.path).name for a in c.list_artifacts(run_id, folder or None)}:
        return None
    with tempfile.TemporaryDirectory(prefix="mlflow-guard-") as dst:
        local = c.download_artifacts(run_id, path, dst)
        return Path(local).read_text(encoding="utf-8", errors="replace")


def fetch_run(tracking_uri: str, run_id: str, with_environment: bool = True) -> RunFacts | None:
    """The run's facts, or None when the store has no (live) run with that id."""
    from mlflow.exceptions import MlflowException

    c = client(tracking_uri)
    try:
        run = c.get_run(run_id)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in _MISSING:
            return None
        raise
    if run.info.lifecycle_stage == "deleted":
        return None
    return _facts(c, run, with_environment)


def find_replayed_run(tracking_uri: str, original: RunFacts, since_ms: int) -> RunFacts | None:
    """The run the replayed command made: started after ``since_ms`` in the original's
    experiment, and either tagged ``reproduction.of`` by the run-context provider or (a commit
    whose provider predates that tag) carrying the recorded commit and command.

    A command that makes several runs (nested ones, a sweep) is matched on shape: a run with
    the original's parentage and param names beats one without; then the earliest.
    """
    c = client(tracking_uri)
    runs = c.search_runs(
        [original.experiment_id],
        filter_string=f"attributes.start_time >= {int(since_ms)}",
        max_results=_MAX_CANDIDATES,
        order_by=["attributes.start_time ASC"],
    )
    candidates = []
    for run in runs:
        tags = run.data.tags
        if run.info.run_id == original.run_id:
            continue
        if tags.get(TAG_REPRODUCTION_OF) == original.run_id or (
            tags.get(TAG_GIT_COMMIT) == original.commit
            and tags.get(TAG_SOURCE_COMMAND) == original.command
            and TAG_REPRODUCTION_OF not in tags
        ):
            candidates.append(run)
    if not candidates:
        return None
    has_parent = MLFLOW_PARENT_RUN_ID in original.tags
    ids = {run.info.run_id for run in candidates}

    def rank(run: Any) -> tuple[int, int, int]:
        parent = run.data.tags.get(MLFLOW_PARENT_RUN_ID)
        top_level = parent is None or parent not in ids
        same_shape = (parent is not None) == has_parent or top_level
        same_params = set(run.data.params) == set(original.params)
        return (0 if same_shape else 1, 0 if same_params else 1, int(run.info.start_time or 0))

    best = min(candidates, key=rank)
    return _facts(c, best, with_environment=False)


def tag_reproduction(tracking_uri: str, run_id: str, original_id: str) -> None:
    client(tracking_uri).set_tag(run_id, TAG_REPRODUCTION_OF, original_id)


def metric_history(tracking_uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return [
        (int(m.step), float(m.value)) for m in client(tracking_uri).get_metric_history(run_id, key)
    ]


# -- the `reproducible` marker ---------------------------------------------------------------


def active_run_id() -> str | None:
    import mlflow

    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def experiment_for(name: str | None, parent_run_id: str | None) -> str | None:
    """Where the repetitions go: the experiment named on the marker (created if needed), else
    the parent session run's (children sit beside their parent), else MLflow's active one."""
    from mlflow.exceptions import MlflowException

    c = client(None)
    if name:
        found = c.get_experiment_by_name(name)
        return str(found.experiment_id) if found is not None else str(c.create_experiment(name))
    if parent_run_id:
        try:
            return str(c.get_run(parent_run_id).info.experiment_id)
        except MlflowException:
            return None
    return None


def start_repeat_run(
    run_name: str, tags: Mapping[str, str], nested: bool, experiment_id: str | None
) -> str:
    """A fluent run, so the test body's ``mlflow.log_*`` calls and autologging land in it; the
    run-context provider adds the convention tags."""
    import mlflow

    run = mlflow.start_run(
        run_name=run_name, tags=redact_mapping(tags), nested=nested, experiment_id=experiment_id
    )
    return str(run.info.run_id)


def end_repeat_run(run_id: str, status: str) -> None:
    """End the repetition's run, and every run the body left open above it."""
    import mlflow

    from pytest_mlflow_guard.mlflow_io.writer import end_run

    while (active := mlflow.active_run()) is not None:
        end_run(status)
        if active.info.run_id == run_id:
            break


def finish_repeat_tags(run_id: str, defaults: Mapping[str, str]) -> None:
    """Set the convention tags the body did not set: ``model.type`` becomes the flavour of a
    model the run logged, else ``none``."""
    c = client(None)
    tags = c.get_run(run_id).data.tags
    missing = {k: v for k, v in defaults.items() if not tags.get(k)}
    if TAG_MODEL_TYPE in missing:
        flavour = _logged_model_flavour(c, run_id)
        if flavour:
            missing[TAG_MODEL_TYPE] = flavour
    for key, value in missing.items():
        c.set_tag(run_id, key, value)


def _logged_model_flavour(c: MlflowClient, run_id: str) -> str | None:
    try:
        run = c.get_run(run_id)
        models = c.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run_id}'",
            max_results=1,
        )
    except Exception:  # an MLflow without LoggedModels: no model to describe
        return None
    for model in models:
        flavours = [f for f in (getattr(model, "flavors", None) or {}) if f != MLFLOW_PYFUNC_FLAVOR]
        return flavours[0] if flavours else (model.name or "model")
    return None


def logged_data(run_id: str) -> tuple[dict[str, str], dict[str, float]]:
    """Params and latest metrics of ``run_id`` and of the runs nested under it (prefixed with
    the child's position among its siblings, so repetitions line up child by child).

    Children are looked for in every experiment: code in the test body may start its nested
    run in its own experiment (``ExperimentTracker("team/x").start_run(nested=True)``).
    """
    c = client(None)
    run = c.get_run(run_id)
    params = dict(run.data.params)
    metrics = {k: float(v) for k, v in run.data.metrics.items()}
    experiment_ids = [str(e.experiment_id) for e in _all_experiments(c)]
    children: list[Any] = []
    for start in range(0, len(experiment_ids), _EXPERIMENTS_PER_SEARCH):
        children += c.search_runs(
            experiment_ids[start : start + _EXPERIMENTS_PER_SEARCH],
            filter_string=f"tags.`mlflow.parentRunId` = '{run_id}'",
        )
    children.sort(key=lambda r: (int(r.info.start_time or 0), r.info.run_id))
    for index, child in enumerate(children, start=1):
        child_params, child_metrics = logged_data(child.info.run_id)
        params.update({f"child {index}/{k}": v for k, v in child_params.items()})
        metrics.update({f"child {index}/{k}": v for k, v in child_metrics.items()})
    return params, metrics


def _all_experiments(c: MlflowClient) -> list[Any]:
    experiments: list[Any] = []
    token = None
    while True:
        page = c.search_experiments(max_results=1000, page_token=token)
        experiments += list(page)
        token = page.token
        if not token:
            return experiments

"""The tracker's write side: every MLflow call ``ExperimentTracker`` makes goes through here.

Every tag and param written here goes through the redaction policy (``redact.redact_mapping``):
whoever calls, a secret-looking name is recorded without its value.

MLflow is imported inside functions: ``pytest_mlflow_guard`` is imported by pytest in every session
of the environment, and ``import mlflow`` alone costs about two seconds.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pytest_mlflow_guard import interrupts
from pytest_mlflow_guard.mlflow_io.scope import quote
from pytest_mlflow_guard.redact import redact_mapping
from pytest_mlflow_guard.vocabulary import TAG_DISCARDED

if TYPE_CHECKING:
    from mlflow import MlflowClient

# MLflow's batch limits (mlflow.utils.validation): one log_batch request per chunk, not per key.
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
_TRUSTED_SKOPS_ROOTS = ("sklearn", "numpy", "scipy")
_SUPPRESS_LINKS = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"  # read by MLflow at every set_terminated


@dataclass(frozen=True)
class ExperimentUse:
    """The experiment a run goes into, and what getting it changed in the store.

    ``created``: this call made it; ``restored``: it was in the deleted state and this call
    brought it back (at ``restored_ms``). ``folder_existed``: its local artifact folder already
    existed when this call returned, so it holds files this process did not write.
    """

    experiment_id: str
    created: bool = False
    restored: bool = False
    restored_ms: int = 0
    folder_existed: bool = True


def experiment_id_for(c: MlflowClient, name: str) -> tuple[str, bool]:
    """Id of the experiment called ``name`` (created or restored if needed), and whether it was
    created by this call."""
    use = use_experiment(c, name)
    return use.experiment_id, use.created


def use_experiment(c: MlflowClient, name: str) -> ExperimentUse:
    """The experiment called ``name``, creating it, or restoring it from the deleted state."""
    existing = c.get_experiment_by_name(name)
    if existing is None:
        experiment_id = str(c.create_experiment(name))
        location = c.get_experiment(experiment_id).artifact_location
        # MLflow creates the folder lazily; one that is already there belongs to someone else
        # (two sqlite stores in one directory share ./mlruns/<id>: ids restart at 1 in each)
        folder = _local_dir(location)
        return ExperimentUse(
            experiment_id, created=True, folder_existed=bool(folder and folder.exists())
        )
    experiment_id = str(existing.experiment_id)
    if existing.lifecycle_stage != "deleted":
        return ExperimentUse(experiment_id)
    # Creating would fail with "already exists in deleted state"; bring it back instead.
    # Restoring also revives the runs deleted with it: refused runs stay deleted.
    restored_ms = int(time.time() * 1000)
    c.restore_experiment(experiment_id)
    for run in c.search_runs([experiment_id], filter_string=f"tags.`{TAG_DISCARDED}` = 'true'"):
        c.delete_run(run.info.run_id)
    return ExperimentUse(experiment_id, restored=True, restored_ms=restored_ms)


def log_params(c: MlflowClient, run_id: str, params: Mapping[str, str]) -> None:
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in redact_mapping(params).items()]
    for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
        c.log_batch(run_id, params=items[start : start + MAX_PARAMS_PER_BATCH], synchronous=True)


def log_metrics(
    c: MlflowClient, run_id: str, metrics: Mapping[str, float], step: int | None, ts_ms: int
) -> None:
    from mlflow.entities import Metric

    items = [Metric(k, v, ts_ms, step or 0) for k, v in metrics.items()]
    for start in range(0, len(items), MAX_METRICS_PER_BATCH):
        c.log_batch(run_id, metrics=items[start : start + MAX_METRICS_PER_BATCH], synchronous=True)


def set_tags(c: MlflowClient, run_id: str, tags: Mapping[str, str]) -> None:
    from mlflow.entities import RunTag

    items = [RunTag(k, v) for k, v in redact_mapping(tags).items()]
    for start in range(0, len(items), MAX_PARAMS_PER_BATCH):
        c.log_batch(run_id, tags=items[start : start + MAX_PARAMS_PER_BATCH], synchronous=True)


def log_text_files(c: MlflowClient, run_id: str, files: Mapping[str, str], folder: str) -> None:
    with tempfile.TemporaryDirectory(prefix="mlflow-guard-") as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text, encoding="utf-8")
        c.log_artifacts(run_id, tmp, folder)


def start_fluent_run(
    tracking_uri: str | None,
    experiment_id: str,
    run_name: str,
    tags: Mapping[str, str],
    nested: bool,
    description: str | None,
) -> Any:
    """``mlflow.start_run`` so code inside the block can use the fluent API and autologging.

    Ending the run is the caller's job (it knows whether the block failed).
    """
    import mlflow

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    return mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name,
        tags=redact_mapping(tags),
        nested=nested,
        description=description,
    )


def has_active_run() -> bool:
    import mlflow

    return mlflow.active_run() is not None


@contextmanager
def ending_runs() -> Iterator[None]:
    """Around every call of ours that ends a run: Ctrl-C waits until the run has its final
    status (:mod:`..interrupts`), and MLflow does not print its "View run ... at: <url>" line,
    whose URL is the tracking URI as given, credentials included."""
    added = _SUPPRESS_LINKS not in os.environ
    if added:
        os.environ[_SUPPRESS_LINKS] = "true"
    try:
        with interrupts.deferred():
            yield
    finally:
        if added:
            os.environ.pop(_SUPPRESS_LINKS, None)


def end_run(status: str) -> None:
    """End the active fluent run with ``status``."""
    import mlflow

    with ending_runs():
        mlflow.end_run(status=status)


def terminate(c: MlflowClient, run_id: str, status: str) -> None:
    """End ``run_id`` with ``status`` (a run that is not on this process's run stack)."""
    with ending_runs():
        c.set_terminated(run_id, status)


def registered_model_exists(c: MlflowClient, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        c.get_registered_model(name)
    except MlflowException:
        return False
    return True


def discard_run(
    c: MlflowClient,
    run_id: str,
    experiment: ExperimentUse,
    versions: Sequence[tuple[str, str, bool]] = (),
) -> None:
    """Roll back what a refused attempt wrote, and only that: its model versions, its logged
    models, the run, and the experiment if the attempt created it.

    ``versions`` lists ``(model name, version, model created by this attempt)``; a registered
    model the attempt created is removed once it has no versions left. On a database store
    rows are hard-deleted; over REST only soft deletes exist. Files are removed only from
    folders named after an object of the attempt (``<run id>/``, ``models/<model id>/``), and a
    folder the attempt did not create is never removed. An experiment the attempt restored goes
    back to the deleted state; one that existed is left as it was.
    """
    from mlflow.entities import ViewType

    store = c._tracking_client.store
    recorded = {(name, str(version)) for name, version, _ in versions}
    for name, version, model_is_new in versions:
        c.delete_model_version(name, version)
        if model_is_new and not c.search_model_versions(f"name = {quote(name)}", max_results=1):
            c.delete_registered_model(name)
    # versions registered from the run some other way (mlflow.register_model in the block)
    for mv in c.search_model_versions(f"run_id = {quote(run_id)}"):
        if (mv.name, str(mv.version)) not in recorded:
            c.delete_model_version(mv.name, mv.version)
    run = c.get_run(run_id)
    for model in _run_logged_models(c, run.info.experiment_id, run_id):
        if hasattr(store, "_hard_delete_logged_model"):
            store._hard_delete_logged_model(model.model_id)
        else:  # before MLflow 3.7 (and over REST): only a soft delete
            c.delete_logged_model(model.model_id)
        # a logged model's files live in <experiment>/models/<model id>/artifacts: the attempt
        # wrote them, and a deleted logged model cannot be restored
        _remove_owned_folder(model.artifact_location, model.model_id)
    # Over REST the run can only be soft-deleted; the tag keeps it deleted if its experiment is
    # ever restored (restoring an experiment restores its runs).
    c.set_tag(run_id, TAG_DISCARDED, "true")
    c.delete_run(run_id)  # the hard delete (what `mlflow gc` uses) only takes soft-deleted runs
    if hasattr(store, "_hard_delete_run"):
        store._hard_delete_run(run_id)
        _remove_owned_folder(run.info.artifact_uri, run_id)  # <experiment>/<run id>/artifacts
    if experiment.created:
        discard_experiment_if_empty(c, experiment, ViewType.ACTIVE_ONLY)
    elif experiment.restored:
        _delete_again(c, experiment)


def discard_experiment_if_empty(
    c: MlflowClient, experiment: ExperimentUse, view: int | None = None
) -> None:
    """Remove an experiment this attempt created, unless someone logged into it meanwhile.

    Over REST a discarded run is only soft-deleted, so it is not counted (``view``). Its local
    artifact folder goes only if the attempt created it and it is empty by now.
    """
    from mlflow.entities import ViewType

    if not experiment.created:
        return
    experiment_id = experiment.experiment_id
    if c.search_runs([experiment_id], run_view_type=view or ViewType.ALL, max_results=1):
        return
    store = c._tracking_client.store
    location = c.get_experiment(experiment_id).artifact_location
    c.delete_experiment(experiment_id)
    if hasattr(store, "_hard_delete_experiment"):
        store._hard_delete_experiment(experiment_id)
        folder = _local_dir(location)
        if folder is not None and not experiment.folder_existed:
            _remove_if_empty(folder / "models")
            _remove_if_empty(folder)


def _delete_again(c: MlflowClient, experiment: ExperimentUse) -> None:
    """Put a restored experiment back in the deleted state, unless a run that is not ours
    started in it since it was restored (then it is in use again: leave it)."""
    newer = c.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.start_time >= {experiment.restored_ms}",
        max_results=1,
    )
    if not newer:
        c.delete_experiment(experiment.experiment_id)


def _run_logged_models(c: MlflowClient, experiment_id: str, run_id: str) -> list[Any]:
    search = getattr(c, "search_logged_models", None)
    if search is None:  # MLflow 2: models are plain run artifacts, removed with the run
        return []
    return list(search(experiment_ids=[experiment_id], filter_string=f"source_run_id='{run_id}'"))


def _local_dir(uri: str | None) -> Path | None:
    """The local folder an artifact URI names, or None for a remote one."""
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    return Path(uri) if not parsed.scheme else None


def _remove_owned_folder(artifact_uri: str | None, owner_id: str) -> None:
    """Remove ``<...>/<owner_id>/artifacts``'s ``<owner_id>`` folder: MLflow's layout for a run's
    or a logged model's files. Anything else (a custom artifact location) is left alone."""
    folder = _local_dir(artifact_uri)
    if folder is None or folder.name != "artifacts" or folder.parent.name != owner_id:
        return
    if folder.parent.is_dir() and not folder.parent.is_symlink():
        shutil.rmtree(folder.parent, ignore_errors=True)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # rmdir only ever succeeds on an empty folder
        folder.rmdir()


def infer_signature(model: Any, input_example: Any) -> Any:
    from mlflow.models import infer_signature as _infer

    return _infer(input_example, model.predict(input_example))


def _name_kwarg(log_model: Any, name: str) -> dict[str, str]:
    """MLflow 3 calls it ``name``; ``artifact_path`` is deprecated there and the only one in 2.x."""
    if "name" in inspect.signature(log_model).parameters:
        return {"name": name}
    return {"artifact_path": name}


def is_sklearn(model: Any) -> bool:
    return type(model).__module__.split(".")[0] == "sklearn"


def _skops_trusted_types(model: Any) -> list[str]:
    """The scikit-learn/numpy/scipy types in ``model`` that skops would refuse to load.

    MLflow 3 saves scikit-learn models with skops and refuses anything skops does not trust by
    default, RandomForest's ``sklearn.tree._tree.Tree`` included. The model was just trained in
    this process, so its library types are trusted; anything else still needs the caller's say.
    """
    try:
        import skops.io as sio
    except ImportError:
        return []
    untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    return [t for t in untrusted if t.split(".")[0] in _TRUSTED_SKOPS_ROOTS]


def _predict_wrapper(model: Any) -> Any:
    from mlflow.pyfunc.model import PythonModel

    class PredictWrapper(PythonModel):
        """Serves any object with ``predict`` through the pyfunc flavour."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        # No annotations on purpose: MLflow 3 reads predict()'s type hints as the model schema
        # when the class is defined and warns that ``Any`` is not one; the signature inferred
        # from the input example is the schema here.
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return self.inner.predict(model_input)

    return PredictWrapper(model)


def log_model(
    model: Any,
    name: str,
    signature: Any,
    input_example: Any,
    registered_model_name: str | None,
    extra: dict[str, Any],
) -> Any:
    """Log with the flavour that fits the model; returns MLflow's ``ModelInfo``."""
    import mlflow

    common: dict[str, Any] = {
        "signature": signature,
        "input_example": input_example,
        "registered_model_name": registered_model_name,
        **extra,
    }
    if is_sklearn(model):
        fn = mlflow.sklearn.log_model
        accepts_skops = "skops_trusted_types" in inspect.signature(fn).parameters
        if accepts_skops and extra.get("serialization_format", "skops") == "skops":
            common.setdefault("skops_trusted_types", _skops_trusted_types(model) or None)
        return fn(model, **_name_kwarg(fn, name), **common)
    fn = mlflow.pyfunc.log_model
    return fn(**_name_kwarg(fn, name), python_model=_predict_wrapper(model), **common)

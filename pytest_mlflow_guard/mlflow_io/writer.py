"""The tracker's write side: every MLflow call ``ExperimentTracker`` makes goes through here.

MLflow is imported inside functions: ``pytest_mlflow_guard`` is imported by pytest in every session
of the environment, and ``import mlflow`` alone costs about two seconds.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from .scope import quote

if TYPE_CHECKING:
    from mlflow import MlflowClient

# MLflow's batch limits (mlflow.utils.validation): one log_batch request per chunk, not per key.
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
_TRUSTED_SKOPS_ROOTS = ("sklearn", "numpy", "scipy")
DISCARDED_TAG = "mlflow_guard.discarded"  # a refused run that a store could only soft-delete


def client(tracking_uri: str | None, registry_uri: str | None = None) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


def resolved_tracking_uri(tracking_uri: str | None) -> str:
    """The URI MLflow will use: explicit, else ``MLFLOW_TRACKING_URI``, else MLflow's default."""
    if tracking_uri:
        return tracking_uri
    import mlflow

    return str(mlflow.get_tracking_uri())


def experiment_id_for(c: MlflowClient, name: str) -> tuple[str, bool]:
    """Id of the experiment called ``name``, creating it if needed.

    The flag is True when this call made the experiment appear (created it, or restored it from
    the deleted state), so a refused run can make it disappear again.
    """
    existing = c.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            # Creating would fail with "already exists in deleted state"; bring it back instead.
            # Restoring also revives the runs deleted with it: refused runs stay deleted.
            experiment_id = str(existing.experiment_id)
            c.restore_experiment(experiment_id)
            for run in c.search_runs(
                [experiment_id], filter_string=f"tags.`{DISCARDED_TAG}` = 'true'"
            ):
                c.delete_run(run.info.run_id)
            return experiment_id, True
        return str(existing.experiment_id), False
    return str(c.create_experiment(name)), True


def log_params(c: MlflowClient, run_id: str, params: Mapping[str, str]) -> None:
    from mlflow.entities import Param

    items = [Param(k, v) for k, v in params.items()]
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

    items = [RunTag(k, v) for k, v in tags.items()]
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
        tags=dict(tags),
        nested=nested,
        description=description,
    )


def has_active_run() -> bool:
    import mlflow

    return mlflow.active_run() is not None


def end_run(status: str) -> None:
    import mlflow

    mlflow.end_run(status=status)


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
    experiment_id: str | None,
    versions: Sequence[tuple[str, str, bool]] = (),
) -> None:
    """Roll back everything a refused run wrote: versions, logged models, the run itself.

    ``versions`` lists ``(model name, version, model created by this run)``; a registered model
    this run created is removed once it has no versions left. An experiment created just for
    the run (``experiment_id``) goes too. On a database store this is a hard delete, so the
    store holds nothing of the refused attempt; over REST only a soft delete is possible.
    """
    from mlflow.entities import ViewType

    store = c._tracking_client.store
    for name, version, model_is_new in versions:
        c.delete_model_version(name, version)
        if model_is_new and not c.search_model_versions(f"name = {quote(name)}", max_results=1):
            c.delete_registered_model(name)
    run = c.get_run(run_id)
    for model in _run_logged_models(c, run.info.experiment_id, run_id):
        if hasattr(store, "_hard_delete_logged_model"):
            store._hard_delete_logged_model(model.model_id)
            # a logged model's files live in <experiment>/models/<model id>/artifacts
            location = str(model.artifact_location).rstrip("/")
            _remove_local(location.removesuffix("/artifacts"))
        else:
            c.delete_logged_model(model.model_id)
    # Over REST the run can only be soft-deleted; the tag keeps it deleted if its experiment is
    # ever restored (restoring an experiment restores its runs).
    c.set_tag(run_id, DISCARDED_TAG, "true")
    c.delete_run(run_id)  # the hard delete (what `mlflow gc` uses) only takes soft-deleted runs
    if hasattr(store, "_hard_delete_run"):
        store._hard_delete_run(run_id)
        _remove_local(run.info.artifact_uri)
    if experiment_id is not None:
        discard_experiment_if_empty(c, experiment_id, ViewType.ACTIVE_ONLY)


def discard_experiment_if_empty(
    c: MlflowClient, experiment_id: str, view: int | None = None
) -> None:
    """Remove an experiment this process just created, unless someone logged into it meanwhile.

    Over REST a discarded run is only soft-deleted, so it is not counted (``view``).
    """
    from mlflow.entities import ViewType

    if c.search_runs([experiment_id], run_view_type=view or ViewType.ALL, max_results=1):
        return
    store = c._tracking_client.store
    location = c.get_experiment(experiment_id).artifact_location
    c.delete_experiment(experiment_id)
    if hasattr(store, "_hard_delete_experiment"):
        store._hard_delete_experiment(experiment_id)
        _remove_local(location)


def _run_logged_models(c: MlflowClient, experiment_id: str, run_id: str) -> list[Any]:
    search = getattr(c, "search_logged_models", None)
    if search is None:  # MLflow 2: models are plain run artifacts, removed with the run
        return []
    return list(search(experiment_ids=[experiment_id], filter_string=f"source_run_id='{run_id}'"))


def _remove_local(uri: str | None) -> None:
    if not uri:
        return
    parsed = urlparse(uri)
    path = (
        Path(parsed.path) if parsed.scheme == "file" else Path(uri) if not parsed.scheme else None
    )
    if path is not None and path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


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

"""What a model version being created comes from: its source run and its ``MLmodel`` signature,
read inside the server from its own backend store and artifact destination (the same reader the
gate uses, so a version is judged here as ``mlflow-guard check`` would judge it later)."""

from __future__ import annotations

import os
import urllib.parse
from functools import lru_cache
from typing import Any

from mlflow.exceptions import MlflowException

# what `mlflow server` hands its workers; mlflow.server re-exports them (every 3.x release)
from mlflow.server import (  # type: ignore[attr-defined]
    ARTIFACTS_DESTINATION_ENV_VAR,
    BACKEND_STORE_URI_ENV_VAR,
)

from pytest_mlflow_guard.mlflow_io.artifacts import model_facts, read_mlmodel
from pytest_mlflow_guard.mlflow_io.builders import SourceRun
from pytest_mlflow_guard.mlflow_io.reader import StoreReader
from pytest_mlflow_guard.redact import redact_text

__all__ = ["SourceRun", "source_run_facts", "source_run_id", "version_signature"]


def _backend_uri() -> str:
    return (
        os.environ.get(BACKEND_STORE_URI_ENV_VAR) or "sqlite:///mlflow.db"
    )  # MLflow's own default


def _destination() -> str | None:
    return os.environ.get(ARTIFACTS_DESTINATION_ENV_VAR) or None


@lru_cache(maxsize=1)
def _reader(backend: str, destination: str | None) -> StoreReader:
    return StoreReader(backend, include_registry=False, artifacts_server=destination)


def source_run_facts(run_id: str | None) -> SourceRun:
    if not run_id:
        return SourceRun()  # MLG304 reports a version without a run
    return _reader(_backend_uri(), _destination()).source_run(run_id)


def source_run_id(source: str, model_id: str | None, tracking_store: Any) -> str | None:
    """The run behind a version registered from an MLflow 3 LoggedModel (the request names the
    model, and the run only through it)."""
    logged = model_id or (
        source.removeprefix("models:/").split("/")[0] if _is_models(source) else ""
    )
    if not logged:
        return None
    try:
        return tracking_store.get_logged_model(logged).source_run_id or None
    except MlflowException:
        return None  # no such model: MLG304 reports a version without a run


def _is_models(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme.lower() == "models"


def version_signature(
    source: str, model_id: str | None, tracking_store: Any
) -> tuple[bool | None, str | None]:
    """(whether the version's MLmodel has a signature, why that could not be read)."""
    try:
        root = _model_root(source, model_id, tracking_store)
    except MlflowException as exc:
        return None, redact_text(f"cannot resolve the version's source {source!r}: {exc.message}")
    doc, unreadable = read_mlmodel(root, _backend_uri(), _destination())
    return model_facts(doc)[0], unreadable


def _model_root(source: str, model_id: str | None, tracking_store: Any) -> str:
    scheme = urllib.parse.urlsplit(source).scheme.lower()
    if _is_models(source) or (model_id and not source):
        # MLflow 3: a LoggedModel, by id (models:/m-...) or named beside the source
        logged = model_id or source.removeprefix("models:/").split("/")[0]
        return str(tracking_store.get_logged_model(logged).artifact_location)
    if scheme == "runs":
        run_id, _, path = source.removeprefix("runs:/").partition("/")
        artifact_uri = tracking_store.get_run(run_id).info.artifact_uri
        return f"{artifact_uri.rstrip('/')}/{path}" if path else str(artifact_uri)
    return source

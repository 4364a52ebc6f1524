"""Logged-model records from the fields MLflow keeps about them, for both readers.

Whichever way a run was read (MLflow's client or SQL over its tables), its models become the
same ``LoggedModelRecord``: an MLflow 3 LoggedModel from its row, an MLflow 2 model from the run's
``mlflow.log-model.history`` tag. Only each model's small ``MLmodel`` file is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from pytest_mlflow_guard.mlflow_io.artifacts import model_facts, read_mlmodel
from pytest_mlflow_guard.records import LoggedModelRecord
from pytest_mlflow_guard.redact import redact_text

__all__ = [
    "LOG_MODEL_HISTORY_TAG",
    "logged_model_record",
    "mlflow2_models",
    "runs_uri_run",
    "version_signature",
]

LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"  # MLflow 2 style models logged by the run


def logged_model_record(
    *,
    model_id: str,
    experiment_id: str,
    run_id: str | None,
    name: str,
    artifact_location: str,
    tags: Mapping[str, str],
    tracking_uri: str,
    artifacts_server: str | None,
) -> LoggedModelRecord:
    doc, unreadable = read_mlmodel(artifact_location, tracking_uri, artifacts_server)
    signature, example, flavors = model_facts(doc)
    return LoggedModelRecord(
        model_id=model_id,
        experiment_id=experiment_id,
        run_id=run_id,
        name=name,
        has_signature=signature,
        has_input_example=example,
        flavors=flavors,
        tags=dict(tags),
        unreadable=unreadable,
    )


def mlflow2_models(
    run_id: str,
    experiment_id: str,
    artifact_uri: str,
    tags: Mapping[str, str],
    tracking_uri: str,
    artifacts_server: str | None,
) -> list[LoggedModelRecord]:
    """Models logged MLflow 2 style (an ``MLmodel`` among the run's artifacts), found through
    the run's ``mlflow.log-model.history`` tag so that runs without it cost nothing."""
    try:
        history = json.loads(tags.get(LOG_MODEL_HISTORY_TAG) or "[]")
    except ValueError:
        return []
    records: list[LoggedModelRecord] = []
    for entry in history if isinstance(history, list) else []:
        path = entry.get("artifact_path") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not path:
            continue
        doc, unreadable = read_mlmodel(
            f"{artifact_uri.rstrip('/')}/{path.strip('/')}", tracking_uri, artifacts_server
        )
        signature, example, flavors = model_facts(doc)
        if not flavors and isinstance(entry.get("flavors"), dict):
            flavors = tuple(sorted(entry["flavors"]))
        records.append(
            LoggedModelRecord(
                model_id=f"runs:/{run_id}/{path.strip('/')}",
                experiment_id=experiment_id,
                run_id=run_id,
                name=path.strip("/"),
                has_signature=signature,
                has_input_example=example,
                flavors=flavors,
                unreadable=unreadable,
            )
        )
    return records


def runs_uri_run(uri: str) -> str | None:
    """The run id of a ``runs:/<run_id>/<path>`` URI, else None."""
    if not uri.startswith("runs:/"):
        return None
    return uri[len("runs:/") :].lstrip("/").split("/", 1)[0] or None


def version_signature(
    download_uri: str,
    artifact_uri_of: Callable[[str], str | None],
    tracking_uri: str,
    artifacts_server: str | None,
) -> tuple[bool | None, str | None]:
    """(has_signature, why unknown) of a model version from its download URI.

    A ``runs:/`` URI is read from the run's artifact location (``artifact_uri_of(run_id)``, None
    when the run cannot be found), as MLflow's own repository would: both readers resolve it
    the same way, without constructing a tracking store for it."""
    uri: str | None = download_uri
    run_id = runs_uri_run(download_uri)
    if run_id is not None:
        base = artifact_uri_of(run_id)
        rest = download_uri[len("runs:/") :].lstrip("/").split("/", 1)
        uri = None if not base else f"{base.rstrip('/')}/{rest[1]}" if len(rest) > 1 else base
    if not uri:
        return None, redact_text(f"no download URI for the version: {download_uri!r}")
    doc, unreadable = read_mlmodel(uri, tracking_uri, artifacts_server)
    return model_facts(doc)[0], unreadable

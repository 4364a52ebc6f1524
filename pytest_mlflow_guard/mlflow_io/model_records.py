"""Logged-model records from the fields MLflow keeps about them, for both readers.

Whichever way a run was read (MLflow's client or SQL over its tables), its models become the
same ``LoggedModelRecord``: an MLflow 3 LoggedModel from its row, an MLflow 2 model from the run's
``mlflow.log-model.history`` tag. Only each model's small ``MLmodel`` file is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pytest_mlflow_guard.mlflow_io.artifacts import model_facts, read_mlmodel
from pytest_mlflow_guard.records import LoggedModelRecord

__all__ = ["LOG_MODEL_HISTORY_TAG", "logged_model_record", "mlflow2_models"]

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

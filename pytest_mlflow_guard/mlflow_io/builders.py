"""Records from what a reader fetched: the one place an experiment, a run, a model version or a
registered model becomes a record, whichever way it was read.

MLflow's client (``reader``) and SQL over MLflow's tables (``sql_reader``) fetch the same
fields by different means; each hands them to the functions here, so the two readers cannot
build a record two ways (the parity tests in ``tests/test_sql_reader.py`` hold them to the same
output, and the server app judges a version with the same builder). Models logged by a run
become the same ``LoggedModelRecord``: an MLflow 3 LoggedModel from its fields, an MLflow 2
model from the run's ``mlflow.log-model.history`` tag. Only each model's small ``MLmodel`` file
and the run's ``environment/requirements.txt`` are looked at.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_mlflow_guard.mlflow_io.artifacts import has_requirements, model_facts, read_mlmodel
from pytest_mlflow_guard.mlflow_io.paging import generated_run_name, to_utc
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
)
from pytest_mlflow_guard.redact import redact_text

__all__ = [
    "LOG_MODEL_HISTORY_TAG",
    "LoggedModelFields",
    "SourceRun",
    "aliases_by_version",
    "experiment_record",
    "logged_model_record",
    "mlflow2_models",
    "registered_model_record",
    "run_record",
    "runs_uri_run",
    "version_from_entity",
    "version_record",
    "version_run_id",
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


def version_run_id(run_id: str | None, source: str | None) -> str | None:
    """A model version's run: its ``run_id``, else the run of a ``runs:/<run_id>/<path>`` source
    (``create_model_version(name, "runs:/...")`` without ``run_id`` leaves the field empty)."""
    if run_id:
        return str(run_id)
    return runs_uri_run(source or "")


# --------------------------------------------------------------------------- the records


def experiment_record(
    *,
    experiment_id: str | int,
    name: str,
    tags: Mapping[str, str],
    lifecycle_stage: str,
    created_ms: int | None,
    workspace: str | None,
) -> ExperimentRecord:
    return ExperimentRecord(
        experiment_id=str(experiment_id),
        name=name,
        tags=dict(tags),
        lifecycle_stage=lifecycle_stage,
        creation_time=to_utc(created_ms),
        workspace=workspace,
    )


@dataclass(frozen=True)
class LoggedModelFields:
    """What either reader fetched of one MLflow 3 LoggedModel."""

    model_id: str
    experiment_id: str | int
    name: str
    artifact_location: str
    source_run_id: str | None
    tags: Mapping[str, str] = field(default_factory=dict)


def run_record(
    *,
    run_id: str,
    experiment_id: str | int,
    experiment_name: str,
    run_name: str | None,
    status: str,
    start_ms: int | None,
    end_ms: int | None,
    artifact_uri: str | None,
    tags: Mapping[str, str],
    params: Mapping[str, str],
    metric_keys: Iterable[str],
    models: Sequence[LoggedModelFields],
    tracking_uri: str,
    artifacts_server: str | None,
    workspace: str | None,
) -> RunRecord:
    """A run's record: its fields, its logged models (MLflow 3 and 2 style) and whether its
    environment was recorded, read from its artifacts."""
    experiment = str(experiment_id)
    tags = dict(tags)
    artifacts = artifact_uri or ""
    logged = [
        logged_model_record(
            model_id=m.model_id,
            experiment_id=str(m.experiment_id),
            run_id=m.source_run_id,
            name=m.name,
            artifact_location=m.artifact_location,
            tags=m.tags,
            tracking_uri=tracking_uri,
            artifacts_server=artifacts_server,
        )
        for m in models
    ]
    logged.extend(
        mlflow2_models(run_id, experiment, artifacts, tags, tracking_uri, artifacts_server)
    )
    requirements, unreadable = has_requirements(artifacts, tracking_uri, artifacts_server)
    return RunRecord(
        run_id=run_id,
        experiment_id=experiment,
        experiment_name=experiment_name,
        run_name=run_name,
        status=str(status),
        start_time=to_utc(start_ms),
        end_time=to_utc(end_ms),
        tags=tags,
        params=dict(params),
        metric_keys=frozenset(metric_keys),
        has_requirements=requirements,
        requirements_unreadable=unreadable,
        logged_models=tuple(logged),
        name_generated=generated_run_name(run_name),
        workspace=workspace,
    )


@dataclass(frozen=True)
class SourceRun:
    """A model version's source run as a reader found it."""

    record: RunRecord | None = None
    #: the version names a run that no longer exists (deleted, or never there)
    missing: bool = False
    #: why it could not be fetched
    unreadable: str | None = None


def version_record(
    *,
    name: str,
    version: str | int,
    stage: str | None,
    run_id: str | None,
    source: str | None,
    tags: Mapping[str, str],
    created_ms: int | None,
    updated_ms: int | None,
    aliases: Iterable[str] = (),
    workspace: str | None,
    source_run: SourceRun = SourceRun(),
    signature: tuple[bool | None, str | None] = (None, None),
) -> ModelVersionRecord:
    """A model version's record; ``signature`` is (has one, why unknown) when it was read."""
    return ModelVersionRecord(
        name=name,
        version=str(version),
        stage=stage or "None",
        aliases=tuple(sorted(set(aliases))),
        run_id=version_run_id(run_id, source),
        source=source or "",
        has_signature=signature[0],
        tags=dict(tags),
        creation_time=to_utc(created_ms),
        last_updated_time=to_utc(updated_ms),
        source_run=source_run.record,
        source_run_missing=source_run.missing,
        signature_unreadable=signature[1],
        source_run_unreadable=source_run.unreadable,
        workspace=workspace,
    )


def version_from_entity(
    mv: Any,
    *,
    aliases: Iterable[str] = (),
    workspace: str | None,
    source_run: SourceRun = SourceRun(),
    signature: tuple[bool | None, str | None] = (None, None),
) -> ModelVersionRecord:
    """:func:`version_record` of an MLflow ``ModelVersion`` (what its client and its server's
    registry store return)."""
    return version_record(
        name=mv.name,
        version=mv.version,
        stage=mv.current_stage,
        run_id=mv.run_id,
        source=mv.source,
        tags=mv.tags or {},
        created_ms=mv.creation_timestamp,
        updated_ms=mv.last_updated_timestamp,
        aliases=aliases,
        workspace=workspace,
        source_run=source_run,
        signature=signature,
    )


def aliases_by_version(model: Any) -> dict[str, list[str]]:
    """version -> its aliases, from an MLflow ``RegisteredModel`` (model versions listed by
    ``search_model_versions`` leave their own ``aliases`` empty)."""
    found: dict[str, list[str]] = {}
    for alias, version in (getattr(model, "aliases", None) or {}).items():
        found.setdefault(str(version), []).append(alias)
    return found


def registered_model_record(
    *,
    name: str,
    tags: Mapping[str, str],
    versions: Sequence[ModelVersionRecord],
    workspace: str | None,
) -> RegisteredModelRecord:
    """A registered model with its versions; its aliases are the ones its versions hold."""
    return RegisteredModelRecord(
        name=name,
        tags=dict(tags),
        aliases={alias: v.version for v in versions for alias in v.aliases},
        versions=tuple(versions),
        workspace=workspace,
    )

"""Each guarded write of MLflow's REST API: what the store would hold after it, and what to do
once MLflow has made it.

A check reads the request the way MLflow's own handler will (``_get_request_message``), asks
the server's own stores for the context it needs (the experiment a run is in, the versions of a
model) and returns a ``Pending``: the policy's verdict and what ``after`` must do when MLflow
answered 200 (tag the findings, record a stage or alias change in the audit trail). A request
MLflow will reject anyway (malformed, naming an object that does not exist) is left to MLflow:
its own error is the better one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mlflow.entities import ExperimentTag, RunTag
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.exceptions import MlflowException
from mlflow.protos.model_registry_pb2 import (
    CreateModelVersion,
    CreateRegisteredModel,
    DeleteRegisteredModelAlias,
    RenameRegisteredModel,
    SetRegisteredModelAlias,
    TransitionModelVersionStage,
)
from mlflow.protos.service_pb2 import (
    CreateExperiment,
    CreateRun,
    LogBatch,
    SetTag,
    UpdateExperiment,
    UpdateRun,
)
from mlflow.server.handlers import (
    _get_model_registry_store,
    _get_request_message,
    _get_tracking_store,
)

from pytest_mlflow_guard.audit import AuditEntry, now_utc
from pytest_mlflow_guard.mlflow_io.builders import (
    aliases_by_version,
    registered_model_record,
    version_from_entity,
    version_record,
)
from pytest_mlflow_guard.mlflow_io.registry import LifecycleError, normalize_stage
from pytest_mlflow_guard.mlflow_io.versions import versions_of
from pytest_mlflow_guard.records import ModelVersionRecord, RegisteredModelRecord
from pytest_mlflow_guard.server.policy import Policy, Verdict
from pytest_mlflow_guard.server.sources import source_run_facts, source_run_id, version_signature
from pytest_mlflow_guard.vocabulary import (
    ALIASED_STAGES,
    MLFLOW_PROMPT_TAG,
    MLFLOW_RUN_NAME,
    TAG_FINDINGS,
    TAG_STAGE_SINCE,
)

__all__ = ["CHECKS", "Pending"]

_log = logging.getLogger("mlflow_guard.server")


@dataclass
class Pending:
    """A write the policy let through, and what to do once MLflow has made it."""

    verdict: Verdict
    #: tags the findings on the object; gets MLflow's response JSON
    tag: Callable[[Mapping[str, Any]], None] | None = None
    #: audit entries to record on the registered model once the change is made
    audit: list[AuditEntry] = field(default_factory=list)
    model: str | None = None
    #: the version whose stage changed (its ``mlflow_guard.stage_since`` moves)
    stage_changed: str | None = None


def _tracking() -> Any:
    return _get_tracking_store()


def _registry() -> Any:
    return _get_model_registry_store()


def _merge_codes(existing: str | None, verdict: Verdict) -> str:
    codes = [c for c in (existing or "").split(",") if c] + verdict.codes.split(",")
    return ",".join(dict.fromkeys(c for c in codes if c))


# --- experiments -----------------------------------------------------------------------------


def _tag_experiment(experiment_id: str, verdict: Verdict) -> None:
    existing = _tracking().get_experiment(experiment_id).tags.get(TAG_FINDINGS)
    tag = ExperimentTag(TAG_FINDINGS, _merge_codes(existing, verdict))
    _tracking().set_experiment_tag(experiment_id, tag)


def create_experiment(policy: Policy, user: str) -> Pending:
    message = _get_request_message(CreateExperiment())
    verdict = policy.experiment(message.name)
    return Pending(verdict, lambda body: _tag_experiment(str(body["experiment_id"]), verdict))


def update_experiment(policy: Policy, user: str) -> Pending | None:
    message = _get_request_message(UpdateExperiment())
    if not message.new_name:
        return None
    verdict = policy.experiment(message.new_name)
    return Pending(verdict, lambda _: _tag_experiment(message.experiment_id, verdict))


# --- runs ------------------------------------------------------------------------------------


def _experiment_name(policy: Policy, experiment_id: str) -> str:
    # the name only decides which per-experiment overrides apply: without overrides, a write
    # to a run costs no extra query
    if not policy.needs_experiment_names or not experiment_id:
        return ""
    return str(_tracking().get_experiment(experiment_id).name)


def _tag_run(run_id: str, verdict: Verdict) -> None:
    existing = _tracking().get_run(run_id).data.tags.get(TAG_FINDINGS)
    _tracking().set_tag(run_id, RunTag(TAG_FINDINGS, _merge_codes(existing, verdict)))


def _run_experiment(policy: Policy, run_id: str) -> str:
    if not policy.needs_experiment_names:
        return ""
    run = _tracking().get_run(run_id)  # raises RESOURCE_DOES_NOT_EXIST: MLflow's answer
    return _experiment_name(policy, run.info.experiment_id)


def create_run(policy: Policy, user: str) -> Pending:
    message = _get_request_message(CreateRun())
    tags = {t.key: t.value for t in message.tags}
    run_name = message.run_name or tags.get(MLFLOW_RUN_NAME) or None
    experiment = _experiment_name(policy, message.experiment_id)
    verdict = policy.run(experiment, run_name=run_name, tags=tags)
    return Pending(verdict, lambda body: _tag_run(str(body["run"]["info"]["run_id"]), verdict))


def set_tag(policy: Policy, user: str) -> Pending:
    message = _get_request_message(SetTag())
    run_id = message.run_id or message.run_uuid
    experiment = _run_experiment(policy, run_id)
    run_name = message.value if message.key == MLFLOW_RUN_NAME else None
    verdict = policy.run(experiment, run_name=run_name, tags={message.key: message.value})
    return Pending(verdict, lambda _: _tag_run(run_id, verdict))


def log_batch(policy: Policy, user: str) -> Pending | None:
    message = _get_request_message(LogBatch())
    if not message.tags and not message.params:
        return None  # metrics only: nothing a write rule judges (the common case in training)
    tags = {t.key: t.value for t in message.tags}
    params = {p.key: p.value for p in message.params}
    experiment = _run_experiment(policy, message.run_id)
    verdict = policy.run(experiment, run_name=tags.get(MLFLOW_RUN_NAME), tags=tags, params=params)
    return Pending(verdict, lambda _: _tag_run(message.run_id, verdict))


def update_run(policy: Policy, user: str) -> Pending | None:
    message = _get_request_message(UpdateRun())
    run_id = message.run_id or message.run_uuid
    if not message.run_name:
        return None  # ending a run is never refused: a refusal must not leave it RUNNING
    verdict = policy.run(_run_experiment(policy, run_id), run_name=message.run_name)
    return Pending(verdict, lambda _: _tag_run(run_id, verdict))


# --- registered models -----------------------------------------------------------------------


def _tag_model(name: str, verdict: Verdict) -> None:
    existing = _registry().get_registered_model(name).tags.get(TAG_FINDINGS)
    tag = RegisteredModelTag(TAG_FINDINGS, _merge_codes(existing, verdict))
    _registry().set_registered_model_tag(name, tag)


def create_registered_model(policy: Policy, user: str) -> Pending:
    message = _get_request_message(CreateRegisteredModel())
    tags = {t.key: t.value for t in message.tags}
    verdict = policy.registered_model(message.name, tags)
    return Pending(verdict, lambda _: _tag_model(message.name, verdict))


def rename_registered_model(policy: Policy, user: str) -> Pending | None:
    message = _get_request_message(RenameRegisteredModel())
    if not message.new_name:
        return None
    tags = dict(_registry().get_registered_model(message.name).tags or {})
    verdict = policy.registered_model(message.new_name, tags)
    return Pending(verdict, lambda _: _tag_model(message.new_name, verdict))


def _model_record(name: str) -> RegisteredModelRecord:
    """The model and its versions as the gate's readers build them (no artifact is read: the
    stage rules judge stages)."""
    model = _registry().get_registered_model(name)
    aliases = aliases_by_version(model)
    versions = [
        version_from_entity(v, aliases=aliases.get(str(v.version), ()), workspace=None)
        for v in versions_of(_registry(), name, page_size=1000)
    ]
    return registered_model_record(
        name=name, tags=model.tags or {}, versions=versions, workspace=None
    )


def _tag_version(name: str, version: str, verdict: Verdict) -> None:
    existing = _registry().get_model_version(name, version).tags.get(TAG_FINDINGS)
    tag = ModelVersionTag(TAG_FINDINGS, _merge_codes(existing, verdict))
    _registry().set_model_version_tag(name, version, tag)


def create_model_version(policy: Policy, user: str) -> Pending | None:
    message = _get_request_message(CreateModelVersion())
    try:
        model = _registry().get_registered_model(message.name)
    except MlflowException:
        return None  # MLflow answers "no such model"
    if str((model.tags or {}).get(MLFLOW_PROMPT_TAG, "")).lower() == "true":
        return None  # a prompt version is text, not a trained model
    run_id = message.run_id or source_run_id(message.source, message.model_id, _tracking())
    run = source_run_facts(run_id)
    has_signature, unreadable = version_signature(message.source, message.model_id, _tracking())
    version = version_record(
        name=message.name,
        version="(new)",
        stage=None,
        run_id=run_id,
        source=message.source,
        tags={},  # the version's rules judge its source and signature, not its tags
        created_ms=None,
        updated_ms=None,
        workspace=None,
        source_run=run,
        signature=(has_signature, unreadable),
    )
    verdict = policy.model_version(RegisteredModelRecord(name=model.name), version)

    def tag(body: Mapping[str, Any]) -> None:
        _tag_version(message.name, str(body["model_version"]["version"]), verdict)

    return Pending(verdict, tag)


# --- stages and aliases: judged, and recorded in the audit trail -----------------------------


def transition_stage(policy: Policy, user: str) -> Pending | None:
    message = _get_request_message(TransitionModelVersionStage())
    try:
        before = _model_record(message.name)
    except MlflowException:
        return None
    try:
        target = normalize_stage(message.stage)
    except LifecycleError:
        return None  # MLflow refuses an unknown stage itself
    version = str(message.version)
    if version not in {v.version for v in before.versions}:
        return None  # ...and a missing version
    archive = message.archive_existing_versions and target in ALIASED_STAGES
    after: list[ModelVersionRecord] = []
    moved: list[tuple[str, str, str]] = []  # version, from, to
    for v in before.versions:
        stage = v.stage
        if v.version == version:
            stage = target
        elif archive and v.stage == target:
            stage = "Archived"
        if stage != v.stage:
            moved.append((v.version, v.stage, stage))
        after.append(replace(v, stage=stage))
    verdict = policy.stage(RegisteredModelRecord(name=message.name, versions=tuple(after)))
    when = now_utc()
    entries = [
        AuditEntry(
            time=when,
            user=user,
            event="stage",
            version=v,
            from_=old,
            to=new,
            cause=None if v == version else "archive_existing_versions",
        )
        # the requested version first, then the ones its promotion archived
        for v, old, new in sorted(moved, key=lambda move: move[0] != version)
    ]
    return Pending(
        verdict,
        lambda _: _tag_version(message.name, version, verdict),
        audit=entries,
        model=message.name,
        stage_changed=version,
    )


def _alias_target(name: str, alias: str) -> str | None:
    try:
        return str(_registry().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def set_alias(policy: Policy, user: str) -> Pending | None:
    message = _get_request_message(SetRegisteredModelAlias())
    old = _alias_target(message.name, message.alias)
    if old == str(message.version):
        return None
    entry = AuditEntry(
        time=now_utc(), user=user, event="alias", alias=message.alias, from_=old,
        to=str(message.version), version=str(message.version),
    )  # fmt: skip
    return Pending(Verdict(), audit=[entry], model=message.name)


def delete_alias(policy: Policy, user: str) -> Pending | None:
    message = _get_request_message(DeleteRegisteredModelAlias())
    old = _alias_target(message.name, message.alias)
    if old is None:
        return None
    entry = AuditEntry(
        time=now_utc(), user=user, event="alias", alias=message.alias, from_=old, to=None,
        version=old,
    )  # fmt: skip
    return Pending(Verdict(), audit=[entry], model=message.name)


def record(pending: Pending) -> None:
    """After MLflow made the change: the audit entries and the stage's start time."""
    if pending.model is None:
        return
    for index, entry in enumerate(pending.audit):
        key, value = entry.to_tag(index)
        _registry().set_registered_model_tag(pending.model, RegisteredModelTag(key, value))
    if pending.stage_changed is not None:
        tag = ModelVersionTag(TAG_STAGE_SINCE, now_utc().isoformat(timespec="seconds"))
        _registry().set_model_version_tag(pending.model, pending.stage_changed, tag)
    _log.info("mlflow-guard: %d audit entries on %s", len(pending.audit), pending.model)


#: a check gets the policy and who is asking (the audit trail records the latter)
Check = Callable[[Policy, str], "Pending | None"]

#: request class -> check
CHECKS: dict[type, Check] = {
    CreateExperiment: create_experiment,
    UpdateExperiment: update_experiment,
    CreateRun: create_run,
    SetTag: set_tag,
    LogBatch: log_batch,
    UpdateRun: update_run,
    CreateRegisteredModel: create_registered_model,
    RenameRegisteredModel: rename_registered_model,
    CreateModelVersion: create_model_version,
    TransitionModelVersionStage: transition_stage,
    SetRegisteredModelAlias: set_alias,
    DeleteRegisteredModelAlias: delete_alias,
}
AUDITED = frozenset(
    {TransitionModelVersionStage, SetRegisteredModelAlias, DeleteRegisteredModelAlias}
)

"""Plain records of what a tracking store holds: the rule engine's only input.

These are built by ``pytest_mlflow_guard.mlflow_io.reader`` from MLflow entities (or by tests and
rule-case data files directly). They import neither MLflow nor pytest, so the rule engine and the
reporters can be exercised on plain data. Times are timezone-aware UTC datetimes.

``workspace`` names the MLflow workspace an object lives in, on a store that has more than one
(MLflow 3.10+ with workspaces enabled); ``None`` on every other store, so its reports read as
they always have.

A ``None`` in a ``has_*`` field means "could not be determined". When the reader tried and
failed (artifact unreadable, permission denied, file missing) the matching ``*_unreadable`` field
says why, and the rule that needed the fact reports it as unchecked (MLG004): what could not be
checked is never counted as a pass. A ``None`` without a reason (a record built by hand) is not
reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pytest_mlflow_guard.vocabulary import TAG_GIT_COMMIT, TAG_SOURCE_COMMAND, TAG_SOURCE_WORKDIR


@dataclass(frozen=True)
class WorkspaceRecord:
    """A workspace the reader could not read (all of it, or from some point on): never skipped
    in silence, it becomes an MLG004 finding."""

    name: str
    unreadable: str


@dataclass(frozen=True)
class ExperimentRecord:
    experiment_id: str
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    lifecycle_stage: str = "active"
    creation_time: datetime | None = None
    workspace: str | None = None


@dataclass(frozen=True)
class LoggedModelRecord:
    """A model a run logged: an MLflow 3 LoggedModel, or an MLflow 2 ``MLmodel`` run artifact."""

    model_id: str
    experiment_id: str
    run_id: str | None
    name: str
    has_signature: bool | None = None
    has_input_example: bool | None = None
    flavors: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    #: why the model's ``MLmodel`` file could not be read (then ``has_*`` are None)
    unreadable: str | None = None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    experiment_id: str
    experiment_name: str
    run_name: str | None
    status: str  # RUNNING, SCHEDULED, FINISHED, FAILED, KILLED
    start_time: datetime | None = None
    end_time: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    metric_keys: frozenset[str] = frozenset()
    #: whether ``environment/requirements.txt`` is among the run's artifacts (None: unknown)
    has_requirements: bool | None = None
    logged_models: tuple[LoggedModelRecord, ...] = ()
    #: whether ``run_name`` is one MLflow made up for an unnamed run (from its word lists); None
    #: when that cannot be told (rules then fall back to the shape of the name)
    name_generated: bool | None = None
    #: why the run's artifacts could not be listed (then ``has_requirements`` is None)
    requirements_unreadable: str | None = None
    workspace: str | None = None


@dataclass(frozen=True)
class ModelVersionRecord:
    name: str
    version: str
    stage: str = "None"  # None, Staging, Production, Archived
    aliases: tuple[str, ...] = ()
    run_id: str | None = None
    source: str = ""
    has_signature: bool | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    creation_time: datetime | None = None
    last_updated_time: datetime | None = None
    #: the version's source run, when the reader could fetch it; ``source_run_missing`` is True
    #: when the version names a run that no longer exists (deleted or never there).
    source_run: RunRecord | None = None
    source_run_missing: bool = False
    #: why the version's ``MLmodel`` could not be read (then ``has_signature`` is None)
    signature_unreadable: str | None = None
    #: why the version's source run could not be fetched (then ``source_run`` is None)
    source_run_unreadable: str | None = None
    workspace: str | None = None

    @property
    def object_id(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class RegisteredModelRecord:
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias -> version
    versions: tuple[ModelVersionRecord, ...] = ()
    workspace: str | None = None


Record = ExperimentRecord | RunRecord | RegisteredModelRecord | WorkspaceRecord


@dataclass(frozen=True)
class RunFacts:
    """What a run recorded, as ``reproduce`` needs it (read by ``mlflow_io.replay``)."""

    run_id: str
    run_name: str
    experiment_id: str
    experiment_name: str
    status: str
    start_time_ms: int
    tags: Mapping[str, str]
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    requirements: str | None = None  # environment/requirements.txt
    python_version: str | None = None

    @property
    def commit(self) -> str | None:
        return self.tags.get(TAG_GIT_COMMIT) or None

    @property
    def command(self) -> str | None:
        return self.tags.get(TAG_SOURCE_COMMAND) or None

    @property
    def workdir(self) -> str:
        return self.tags.get(TAG_SOURCE_WORKDIR) or "."

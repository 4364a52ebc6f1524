"""What the rule engine produces and the reporters consume (plain data: no MLflow, no pytest)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pytest_mlflow_guard.vocabulary import ObjectType, Severity


@dataclass(frozen=True, slots=True)  # a large store has a finding per run or more
class Finding:
    rule: str  # stable code, e.g. "MLG201"
    name: str  # readable rule name, e.g. "required-tag"
    severity: Severity
    object_type: ObjectType
    object_id: str  # run id, experiment id, logged model id, model name, or "name/version"
    message: str
    experiment_id: str | None = None
    run_id: str | None = None
    url: str | None = None  # link to the object in the MLflow UI, when a UI base URL is known
    object_name: str | None = None  # human label (experiment name, run name) for grouping in text
    #: the store the object is in, when it is not the report's own (a pytest session also checks
    #: the stores its tests pointed MLflow at); credential-free
    store: str | None = None
    #: the MLflow workspace the object is in, on a store with workspaces (names repeat across
    #: them: a model "churn" may be in two)
    workspace: str | None = None

    def fingerprint(self) -> str:
        """Identity used by baselines: stable across message wording changes (and, on a store
        without workspaces, the same as before workspaces existed)."""
        where = self.object_id if self.workspace is None else f"{self.workspace}:{self.object_id}"
        return f"{self.rule}|{self.object_type}|{where}|{self.message_key}"

    @property
    def message_key(self) -> str:
        # MLG201 reports one finding per missing tag on the same run; the tag name (first quoted
        # token of the message) keeps those apart in a baseline.
        if "'" in self.message:
            return self.message.split("'")[1]
        return ""


@dataclass(frozen=True)
class CheckedObject:
    """One object the gate looked at (JUnit renders one testcase per checked object)."""

    object_type: ObjectType
    object_id: str
    label: str  # experiment name, run name, "model/version"...
    experiment_id: str | None = None
    workspace: str | None = None


@dataclass(frozen=True)
class RuleInfo:
    """Rule metadata for listings, SARIF and the README table (taken from the rule classes)."""

    code: str
    name: str
    default_severity: Severity
    summary: str  # first line of the docstring
    doc: str  # the whole docstring: what, why, anti-pattern, fix


@dataclass
class Report:
    tracking_uri: str
    checked: Mapping[
        str, int
    ]  # experiments, runs, logged_models, registered_models, model_versions
    findings: Sequence[Finding]
    objects: Sequence[CheckedObject] = ()
    rules: Sequence[RuleInfo] = ()
    baseline_fixed: int | None = None  # baselined findings no longer present, when --baseline used
    baseline_suppressed: int | None = None  # findings hidden because they are in the baseline
    notes: list[str] = field(default_factory=list)
    #: when the check began reading the store (what ``--since-last`` records once the report
    #: is out)
    started_at: datetime | None = None
    #: experiment id -> name of every experiment checked: a finding on a run carries only its
    #: experiment's id, and the page formats group by experiment
    experiment_names: Mapping[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        counts = {"error": 0, "warning": 0}
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

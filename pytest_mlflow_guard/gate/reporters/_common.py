"""Helpers every reporter shares: object labels, counts, ordering (plain data, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pytest_mlflow_guard.gate.findings import CheckedObject, Finding, Report
from pytest_mlflow_guard.vocabulary import CHECKED_KEYS, OBJECT_TYPES, SEVERITIES

SEVERITY_ORDER = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def type_label(object_type: str) -> str:
    """``logged_model`` -> ``logged model`` (for prose; the machine formats keep the raw type)."""
    return object_type.replace("_", " ")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def checked_counts(report: Report) -> dict[str, int]:
    """The five standard counts (0 when missing) followed by any extra keys, sorted."""
    counts = {key: int(report.checked.get(key, 0)) for key in CHECKED_KEYS}
    for key in sorted(report.checked):
        if key not in counts:
            counts[key] = int(report.checked[key])
    return counts


def checked_line(report: Report) -> str:
    """``checked 3 experiments, 120 runs, 0 logged models, ...``"""
    parts = []
    for key, count in checked_counts(report).items():
        noun = key.replace("_", " ")
        # The keys are plural nouns; "1 runs" reads badly, so drop the trailing "s" for one.
        if count == 1 and noun.endswith("s"):
            noun = noun[:-1]
        parts.append(f"{count} {noun}")
    return "checked " + ", ".join(parts)


def totals_line(report: Report) -> str:
    summary = report.summary()
    return f"{plural(summary['error'], 'error')}, {plural(summary['warning'], 'warning')}"


def baseline_line(report: Report) -> str | None:
    """``N findings hidden by the baseline, M baselined findings fixed`` (only the parts set)."""
    parts = []
    if report.baseline_suppressed is not None:
        parts.append(f"{plural(report.baseline_suppressed, 'finding')} hidden by the baseline")
    if report.baseline_fixed is not None:
        parts.append(f"{plural(report.baseline_fixed, 'baselined finding')} fixed")
    return ", ".join(parts) if parts else None


def finding_sort_key(finding: Finding) -> tuple[int, str]:
    """Errors before warnings, then by rule code: the order in which a reader should fix them."""
    return (SEVERITY_ORDER.get(finding.severity, len(SEVERITY_ORDER)), finding.rule)


@dataclass
class ObjectGroup:
    """One checked object with the findings reported on it (possibly none)."""

    object_type: str
    object_id: str
    label: str
    experiment_id: str | None = None
    url: str | None = None
    findings: list[Finding] = field(default_factory=list)
    store: str | None = None  # when not the report's own store
    workspace: str | None = None  # on a store with workspaces (names repeat across them)

    @property
    def where(self) -> str:
        """`` in workspace team-b`` / `` in store ...``: what places the object, or ""."""
        where = f" in workspace {self.workspace}" if self.workspace else ""
        return where + (f" in store {self.store}" if self.store else "")

    @property
    def display_name(self) -> str:
        """``'train-lr' (3f2a...)``, or just the id when the label adds nothing."""
        if not self.label or self.label == self.object_id:
            # Model names are free text ("churn model"); quote them so the name's end is clear.
            if self.object_type in ("registered_model", "model_version"):
                return repr(self.object_id)
            return self.object_id
        return f"{self.label!r} ({self.object_id})"


def group_by_object(
    findings: Iterable[Finding], objects: Sequence[CheckedObject] = ()
) -> list[ObjectGroup]:
    """Group findings by ``(object_type, object_id)``.

    Checked objects come first in ``objects`` order (so JUnit lists every object, clean or not);
    findings on objects the report does not list get a synthesized group, in first-seen order, so
    nothing is lost when a caller builds a report without ``objects``.
    """
    Key = tuple[str | None, str | None, str, str]
    groups: dict[Key, ObjectGroup] = {}
    for obj in objects:
        key: Key = (None, obj.workspace, obj.object_type, obj.object_id)
        if key not in groups:
            groups[key] = ObjectGroup(
                obj.object_type, obj.object_id, obj.label, obj.experiment_id,
                workspace=obj.workspace,
            )  # fmt: skip
    for finding in findings:
        # experiment ids restart at 1 in every store, and model names repeat across the
        # workspaces of one: both are part of an object's identity
        key = (finding.store, finding.workspace, finding.object_type, finding.object_id)
        group = groups.get(key)
        if group is None:
            group = ObjectGroup(
                finding.object_type,
                finding.object_id,
                finding.object_name or finding.object_id,
                finding.experiment_id,
                store=finding.store,
                workspace=finding.workspace,
            )
            groups[key] = group
        if not group.label and finding.object_name:
            group.label = finding.object_name
        if group.experiment_id is None:
            group.experiment_id = finding.experiment_id
        if group.url is None:
            group.url = finding.url
        group.findings.append(finding)
    for group in groups.values():
        group.findings.sort(key=finding_sort_key)
    return list(groups.values())


def sort_groups(groups: list[ObjectGroup]) -> list[ObjectGroup]:
    """Hierarchy order (experiments, runs, ...) keeping first-seen order inside a kind."""
    rank: dict[str, int] = {name: index for index, name in enumerate(OBJECT_TYPES)}
    return sorted(groups, key=lambda group: rank.get(group.object_type, len(rank)))

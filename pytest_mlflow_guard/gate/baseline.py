"""Baselines: accept today's findings so the gate fails only on new ones.

A baseline file records the fingerprint of every finding at one point in time. Later checks drop
findings whose fingerprint is in the baseline and count baseline entries that no longer occur
("fixed"), so the file can be regenerated as the store gets cleaner. Fingerprints
(``Finding.fingerprint``) ignore message wording, so rewording a rule does not void a baseline.

File format (JSON, sorted so it diffs well under version control)::

    {"version": 1, "findings": [{"fingerprint": ..., "rule": ..., "object_type": ...,
                                 "object_id": ..., "message": ...}, ...]}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.gate.findings import Finding
from pytest_mlflow_guard.gate.report_files import write_text

__all__ = ["BASELINE_VERSION", "Baseline", "apply_baseline", "load_baseline", "write_baseline"]

BASELINE_VERSION = 1
_FIELDS = ("fingerprint", "rule", "object_type", "object_id", "message")


@dataclass(frozen=True)
class BaselineEntry:
    fingerprint: str
    rule: str = ""
    object_type: str = ""
    object_id: str = ""
    message: str = ""


@dataclass(frozen=True)
class Baseline:
    entries: tuple[BaselineEntry, ...]
    path: Path | None = None

    def counts(self) -> Counter[str]:
        """How many times each fingerprint is accepted (two findings may share one)."""
        return Counter(entry.fingerprint for entry in self.entries)


def _entry(finding: Finding) -> dict[str, str]:
    return {
        "fingerprint": finding.fingerprint(),
        "rule": finding.rule,
        "object_type": finding.object_type,
        "object_id": finding.object_id,
        "message": finding.message,
    }


def write_baseline(path: Path | str, findings: Iterable[Finding]) -> int:
    """Write a baseline accepting ``findings``; return how many entries it holds.

    Written to a temporary file first and then renamed, so an interrupted run never leaves a
    half-written baseline that would make the next check fail to load it.
    """
    target = Path(path)
    entries = sorted(
        (_entry(finding) for finding in findings),
        key=lambda entry: tuple(entry[field] for field in _FIELDS),
    )
    document = {"version": BASELINE_VERSION, "findings": entries}
    target.parent.mkdir(parents=True, exist_ok=True)
    write_text(target, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return len(entries)


def load_baseline(path: Path | str) -> Baseline:
    """Read a baseline file; ``ConfigError`` naming the file if it is missing or malformed."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"baseline file not found: {source} (write one first)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"baseline file {source}: cannot be read: {exc}") from None
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"baseline file {source}: not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("findings"), list):
        raise ConfigError(
            f"baseline file {source}: expected an object with a 'findings' list "
            "(was it written by mlflow-guard?)"
        )
    if document.get("version") != BASELINE_VERSION:
        raise ConfigError(
            f"baseline file {source}: unsupported version {document.get('version')!r} "
            f"(this mlflow-guard reads version {BASELINE_VERSION})"
        )
    entries = []
    for i, raw in enumerate(document["findings"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("fingerprint"), str):
            raise ConfigError(f"baseline file {source}: findings[{i}] has no 'fingerprint' string")
        values = {field: raw.get(field, "") for field in _FIELDS}
        if not all(isinstance(value, str) for value in values.values()):
            raise ConfigError(f"baseline file {source}: findings[{i}] has a non-string field")
        entries.append(BaselineEntry(**values))
    return Baseline(tuple(entries), source)


def apply_baseline(
    findings: Iterable[Finding], baseline: Baseline
) -> tuple[list[Finding], int, int]:
    """Split off findings the baseline accepts.

    Returns ``(new_findings, suppressed_count, fixed_count)``: the findings not in the baseline
    (in their original order), how many were dropped because the baseline has them, and how many
    baseline entries matched nothing (problems fixed since the baseline was written). Matching
    counts multiplicity: a fingerprint listed once accepts one finding, not every finding that
    happens to share it.
    """
    remaining = baseline.counts()
    new: list[Finding] = []
    suppressed = 0
    for finding in findings:
        fingerprint = finding.fingerprint()
        if remaining[fingerprint] > 0:
            remaining[fingerprint] -= 1
            suppressed += 1
        else:
            new.append(finding)
    return new, suppressed, sum(remaining.values())

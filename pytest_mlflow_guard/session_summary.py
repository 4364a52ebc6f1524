"""The ``mlflow-guard`` section of pytest's terminal summary, as plain lines (no pytest here)."""

from __future__ import annotations

from collections.abc import Iterable

from .findings import Finding
from .guard_session import GuardSession


def finding_line(finding: Finding, test: str | None = None) -> str:
    label = finding.object_name or finding.object_id
    where = f"{finding.object_type.replace('_', ' ')} {label}"
    if finding.object_type == "run" and finding.object_name:
        where += f" ({finding.object_id[:8]})"
    line = f"{finding.rule} {finding.name} [{finding.severity}] {where}"
    if test:
        line += f" [made by {test}]"
    line += f": {finding.message}"
    if finding.url:
        line += f"\n    {finding.url}"
    return line


def findings_block(findings: Iterable[Finding], tests: dict[str, str] | None = None) -> str:
    tests = tests or {}
    return "\n".join(finding_line(f, tests.get(f.run_id or "")) for f in findings)


def summary_lines(guard: GuardSession) -> list[str]:
    lines: list[str] = []
    if guard.problem:
        verdict = "the build fails" if guard.settings.mode == "enforce" else "warn mode"
        lines.append(f"mlflow-guard could not check this session ({verdict}): {guard.problem}")
    if guard.session_run_id:
        lines.append(
            f"session run {guard.session_run_id} in experiment {guard.experiment!r}: "
            f"{guard.status or 'RUNNING'}"
        )
    if guard.swept:
        lines.append(
            f"ended {len(guard.swept)} run(s) left RUNNING as KILLED: "
            + ", ".join(guard.swept[:10])
        )
    report = guard.report
    if report is None:
        return lines
    if report.findings:
        lines.append(findings_block(report.findings, guard.run_tests))
    counts = report.summary()
    checked = report.checked
    lines.append(
        f"{counts['error']} error(s), {counts['warning']} warning(s) in "
        f"{checked.get('runs', 0)} run(s), {checked.get('model_versions', 0)} model version(s) "
        f"(scope {guard.settings.scope}, mode {guard.settings.mode})"
    )
    if counts["error"] and guard.settings.mode == "enforce":
        lines.append("mlflow-guard: convention errors fail this session (enforce mode)")
    return lines

"""The ``mlflow-guard`` section of pytest's terminal summary, as plain lines (no pytest here).

Names, ids and messages come from the store: each goes through
:func:`~pytest_mlflow_guard.display.clean`, so every line here is one line of plain text.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.gate.findings import Finding
from pytest_mlflow_guard.pytest_plugin.session import GuardSession


def finding_line(finding: Finding, test: str | None = None) -> str:
    label = finding.object_name or finding.object_id
    where = f"{finding.object_type.replace('_', ' ')} {clean(label)}"
    if finding.object_type == "run" and finding.object_name:
        where += f" ({clean(finding.object_id[:8])})"
    if finding.store and finding.object_type != "store":
        where += f" in store {clean(finding.store)}"
    line = f"{finding.rule} {finding.name} [{finding.severity}] {where}"
    if test:
        line += f" [made by {clean(test)}]"
    line += f": {clean(finding.message)}"
    if finding.url:
        line += f"\n    {clean(finding.url)}"
    return line


def findings_block(findings: Iterable[Finding], tests: dict[str, str] | None = None) -> str:
    tests = tests or {}
    return "\n".join(finding_line(f, tests.get(f.run_id or "")) for f in findings)


def summary_lines(guard: GuardSession) -> list[str]:
    lines: list[str] = []
    if guard.problem:
        verdict = "the build fails" if guard.settings.mode == "enforce" else "warn mode"
        lines.append(
            f"mlflow-guard could not check this session ({verdict}): {clean(guard.problem)}"
        )
    if guard.session_run_id:
        lines.append(
            f"session run {guard.session_run_id} in experiment {clean(repr(guard.experiment))}: "
            f"{guard.status or 'RUNNING'}"
        )
    if guard.interrupted:
        lines.append("mlflow-guard: interrupted while the session ended (exit status 2)")
    if guard.swept:
        lines.append(
            f"ended {len(guard.swept)} run(s) left RUNNING as KILLED: "
            + ", ".join(clean(run_id) for run_id in guard.swept[:10])
        )
    report = guard.report
    if report is None:
        return lines
    if report.findings:
        lines.append(findings_block(report.findings, guard.run_tests))
    lines.extend(f"note: {clean(note)}" for note in report.notes)
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

"""Human-readable report for terminals and CI logs.

Findings are grouped by the object they are about (experiment, run, logged model, registered
model, model version), errors before warnings, followed by totals and what was checked::

    run 'train-lr' (3f2a9c) in experiment 1
      http://mlflow.example.com/#/experiments/1/runs/3f2a9c
      error    MLG201 required-tag  run has no 'owner' tag

    1 error, 0 warnings
    checked 1 experiment, 1 run, 0 logged models, 0 registered models, 0 model versions

ANSI colour is used only when the caller asks for it (the CLI passes ``isatty()``), so logs and
files never get escape codes. Every string that comes from the store is shown through
:func:`~pytest_mlflow_guard.display.clean`: one line, no control characters, no CI command, no
credentials.
"""

from __future__ import annotations

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters._common import (
    baseline_line,
    checked_line,
    group_by_object,
    sort_groups,
    totals_line,
    type_label,
)

_RESET = "\x1b[0m"
_STYLES = {
    "error": "\x1b[1;31m",  # bold red
    "warning": "\x1b[33m",  # yellow
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
    "green": "\x1b[32m",
}
# Width of the severity column: "warning" plus a space, so rule codes line up.
_SEVERITY_WIDTH = len("warning") + 1


class _Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        if not self.enabled or not text:
            return text
        return f"{_STYLES[style]}{text}{_RESET}"


def _finding_line(finding: Finding, paint: _Painter) -> str:
    severity = paint(finding.severity.ljust(_SEVERITY_WIDTH), finding.severity)
    rule = f"{paint(finding.rule, 'bold')} {finding.name}"
    # one line, whatever the message holds: a newline in a tag value must not start a line
    # that a CI runner reads as a command
    return f"  {severity} {rule}  {clean(finding.message)}"


def render(report: Report, *, color: bool = False) -> str:
    paint = _Painter(color)
    lines: list[str] = [f"mlflow-guard: {clean(report.tracking_uri)}", ""]

    groups = sort_groups(
        [g for g in group_by_object(report.findings, report.objects) if g.findings]
    )
    for group in groups:
        header = f"{type_label(group.object_type)} {clean(group.display_name)}"
        if group.experiment_id and group.object_type != "experiment":
            header += f" in experiment {clean(group.experiment_id)}"
        header += clean(group.where)
        lines.append(paint(header, "bold"))
        if group.url:
            lines.append("  " + paint(clean(group.url), "dim"))
        for finding in group.findings:
            lines.append(_finding_line(finding, paint))
        lines.append("")

    summary = report.summary()
    if not report.findings:
        lines.append(paint("No findings.", "green"))
    else:
        totals = totals_line(report)
        style = "error" if summary["error"] else "warning"
        lines.append(paint(totals, style))
    lines.append(checked_line(report))
    baseline = baseline_line(report)
    if baseline:
        lines.append(baseline)
    lines.extend(f"note: {clean(note)}" for note in report.notes)
    return "\n".join(lines) + "\n"

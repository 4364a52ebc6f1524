"""GitHub Actions workflow commands: findings as annotations on the workflow run.

Each finding becomes ``::error title=MLG201 required-tag::<message> (run <id>)`` (or
``::warning``). GitHub shows at most 10 error and 10 warning annotations per step and silently
drops the rest, so this reporter picks which ones are shown instead of leaving it to chance:
errors first, ordered by rule code, at most 10; then at most 10 warnings, same order. A final
plain line gives the true totals and says when annotations were capped, e.g.::

    mlflow-guard: 37 errors, 12 warnings (10 errors and 10 warnings annotated; see the full report)

Escaping follows ``@actions/core``: in the message ``%``, ``\\r`` and ``\\n`` are
percent-encoded (GitHub decodes them back, so multi-line messages survive); property values such
as the title additionally encode ``:`` and ``,``, which would otherwise end the property.
"""

from __future__ import annotations

from pytest_mlflow_guard.display import printable
from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters._common import (
    baseline_line,
    plural,
    totals_line,
    type_label,
)
from pytest_mlflow_guard.redact import redact_text

#: GitHub's per-step display limit for each annotation type.
MAX_ANNOTATIONS = 10
NEWLINES = "\r\n"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    command = "error" if finding.severity == "error" else "warning"
    title = escape_property(printable(f"{finding.rule} {finding.name}"))
    message = f"{finding.message} ({type_label(finding.object_type)} {finding.object_id})"
    if finding.workspace and finding.object_type != "workspace":
        message += f" in workspace {finding.workspace}"
    if finding.store:
        message += f" in store {finding.store}"
    if finding.url:
        message += f" {finding.url}"
    # printable() keeps a stray ESC in a tag value from recolouring the rest of the log; line
    # breaks stay, percent-encoded by escape_data, so the whole message is one command line
    return (
        f"::{command} title={title}::{escape_data(printable(redact_text(message), keep=NEWLINES))}"
    )


def render(report: Report, *, max_per_type: int = MAX_ANNOTATIONS) -> str:
    by_rule = sorted(report.findings, key=lambda finding: finding.rule)  # stable: keeps ties
    errors = [f for f in by_rule if f.severity == "error"]
    warnings = [f for f in by_rule if f.severity != "error"]
    shown_errors = errors[:max_per_type]
    shown_warnings = warnings[:max_per_type]

    lines = [annotation(finding) for finding in shown_errors + shown_warnings]

    if not report.findings:
        summary = "mlflow-guard: no findings"
    else:
        summary = f"mlflow-guard: {totals_line(report)}"
        if len(shown_errors) < len(errors) or len(shown_warnings) < len(warnings):
            shown = (
                f"{plural(len(shown_errors), 'error')} and "
                f"{plural(len(shown_warnings), 'warning')} annotated"
            )
            summary += f" ({shown}; see the full report)"
    baseline = baseline_line(report)
    if baseline:
        summary += f"; {baseline}"
    lines.append(summary)
    return "\n".join(lines) + "\n"

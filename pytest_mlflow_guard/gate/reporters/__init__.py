"""Render a :class:`~pytest_mlflow_guard.gate.findings.Report` in one of the supported formats.

``render(fmt, report, color=...)`` returns the whole document as a string ending in a newline;
the caller decides where it goes (stdout, ``--output`` file, ``$GITHUB_STEP_SUMMARY``...).

============  ============================================================================
``text``      grouped by object, for terminals and CI logs (ANSI colour only if ``color``)
``json``      versioned machine-readable schema (see :mod:`.json_report`)
``junit``     JUnit XML, one testcase per checked object, for CI test dashboards
``sarif``     SARIF 2.1.0, for GitHub code scanning and other SARIF viewers
``github``    GitHub Actions ``::error``/``::warning`` annotations plus a summary line
``markdown``  verdict, counts per rule and the first findings as tables, for
              ``$GITHUB_STEP_SUMMARY`` and merge-request comments (under GitHub's
              65,536-character limit; see :mod:`.markdown`)
``html``      one self-contained page: counts, charts per rule and per experiment, every
              finding in a filterable table; loads nothing (see :mod:`.html`)
============  ============================================================================

Like the rule engine, this package imports neither MLflow nor pytest. Every format gets the
report through the redaction policy (:mod:`..redact`) first: a credential in a tag value, a URL
or an error message never reaches a report file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters import (
    github,
    html,
    json_report,
    junit,
    markdown,
    sarif,
    text,
)
from pytest_mlflow_guard.redact import redact_text

FORMATS: tuple[str, ...] = ("text", "json", "junit", "sarif", "github", "markdown", "html")

__all__ = ["FORMATS", "render", "render_chunks"]


def render(fmt: str, report: Report, *, color: bool = False) -> str:
    """Render ``report`` as ``fmt`` (one of :data:`FORMATS`); ``color`` affects ``text`` only."""
    report = redacted(report)
    if fmt == "text":
        return text.render(report, color=color)
    if fmt == "json":
        return json_report.render(report)
    if fmt == "junit":
        return junit.render(report)
    if fmt == "sarif":
        return sarif.render(report)
    if fmt == "github":
        return github.render(report)
    if fmt == "markdown":
        return markdown.render(report)
    if fmt == "html":
        return html.render(report)
    raise ValueError(f"unknown report format {fmt!r}; expected one of: {', '.join(FORMATS)}")


def render_chunks(fmt: str, report: Report, *, color: bool = False) -> Iterator[str]:
    """``render`` in pieces, for writing a large report: JSON comes a finding at a time, each
    redacted as it goes, so memory does not grow with the document."""
    if fmt == "json":
        yield from json_report.chunks(_redacted_head(report), clean=_finding)
    else:
        yield render(fmt, report, color=color)


def _clean(value: str | None) -> str | None:
    return None if value is None else redact_text(value)


def _finding(finding: Finding) -> Finding:
    return replace(
        finding,
        message=redact_text(finding.message),
        object_name=_clean(finding.object_name),
        url=_clean(finding.url),
        store=_clean(finding.store),
        workspace=_clean(finding.workspace),
    )


def _redacted_head(report: Report) -> Report:
    """``report`` with its own free-text fields redacted, its findings as they are."""
    return replace(
        report,
        tracking_uri=redact_text(report.tracking_uri),
        notes=[redact_text(note) for note in report.notes],
        experiment_names={k: redact_text(v) for k, v in report.experiment_names.items()},
    )


def redacted(report: Report) -> Report:
    """``report`` with every free-text field passed through the redaction policy."""
    return replace(_redacted_head(report), findings=[_finding(f) for f in report.findings])

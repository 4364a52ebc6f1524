"""Render a :class:`~pytest_mlflow_guard.findings.Report` in one of the supported formats.

``render(fmt, report, color=...)`` returns the whole document as a string ending in a newline;
the caller decides where it goes (stdout, ``--output`` file, ``$GITHUB_STEP_SUMMARY``...).

==========  ==============================================================================
``text``    grouped by object, for terminals and CI logs (ANSI colour only if ``color``)
``json``    versioned machine-readable schema (see :mod:`.json_report`)
``junit``   JUnit XML, one testcase per checked object, for CI test dashboards
``sarif``   SARIF 2.1.0, for GitHub code scanning and other SARIF viewers
``github``  GitHub Actions ``::error``/``::warning`` annotations plus a summary line
==========  ==============================================================================

Like the rule engine, this package imports neither MLflow nor pytest.
"""

from __future__ import annotations

from ..findings import Report
from . import github, json_report, junit, sarif, text

FORMATS: tuple[str, ...] = ("text", "json", "junit", "sarif", "github")

__all__ = ["FORMATS", "render"]


def render(fmt: str, report: Report, *, color: bool = False) -> str:
    """Render ``report`` as ``fmt`` (one of :data:`FORMATS`); ``color`` affects ``text`` only."""
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
    raise ValueError(f"unknown report format {fmt!r}; expected one of: {', '.join(FORMATS)}")

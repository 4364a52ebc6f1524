"""What the two page formats (``markdown`` and ``html``) share: the verdict, finding counts per
rule (or per anything else), object labels and the one decision of which URLs may become links.
Plain data, no I/O; each format escapes the strings these return in its own way."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters._common import ObjectGroup, type_label
from pytest_mlflow_guard.redact import redact_text

#: the only schemes a report links to: ``javascript:``, ``data:``, ``file:`` and friends in a
#: store string must never become something a reader clicks
LINK_SCHEMES = ("http", "https")


def verdict(report: Report) -> str:
    """``failed`` when there is an error (``mlflow-guard check`` then exits 1), else ``passed``."""
    return "failed" if report.summary()["error"] else "passed"


@dataclass
class Tally:
    """How many findings share a key (a rule code, an experiment), split by severity."""

    key: str
    name: str = ""  # the rule name beside a rule code; empty otherwise
    error: int = 0
    warning: int = 0

    @property
    def total(self) -> int:
        return self.error + self.warning


def tally(findings: Iterable[Finding], key: Callable[[Finding], tuple[str, str]]) -> list[Tally]:
    """Findings counted per ``key(finding)`` (a ``(key, name)`` pair), the largest count first
    and ties by key: the order a reader should look at them, and the same on every run."""
    tallies: dict[tuple[str, str], Tally] = {}
    for finding in findings:
        group = key(finding)
        counted = tallies.get(group)
        if counted is None:
            counted = tallies[group] = Tally(*group)
        if finding.severity == "error":
            counted.error += 1
        else:
            counted.warning += 1
    return sorted(tallies.values(), key=lambda counted: (-counted.total, counted.key))


def per_rule(report: Report) -> list[Tally]:
    return tally(report.findings, lambda finding: (finding.rule, finding.name))


def object_label(
    object_type: str,
    object_id: str,
    name: str | None = None,
    store: str | None = None,
    workspace: str | None = None,
) -> str:
    """``run 'train-lr' (3f2a9c)``, ``registered model 'churn' in workspace team-b``: as the
    text report names it."""
    group = ObjectGroup(object_type, object_id, name or "", store=store, workspace=workspace)
    return f"{type_label(object_type)} {group.display_name}{group.where}"


def finding_object(finding: Finding) -> str:
    return object_label(
        finding.object_type,
        finding.object_id,
        finding.object_name,
        finding.store,
        finding.workspace,
    )


def link(url: str | None) -> str | None:
    """``url`` (redacted) when it may become a link: an absolute http(s) URL with a host, all
    printable. None for anything else: other schemes, relative and protocol-relative references,
    and URLs with spaces or control characters (which browsers strip or split, so the target
    would not be what the reader sees)."""
    if not url:
        return None
    url = redact_text(url)  # the dispatcher redacts already; a direct render() call may not
    if not url.isprintable() or " " in url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[::1": malformed, so no link
        return None
    if parts.scheme.lower() not in LINK_SCHEMES or not parts.hostname:
        return None
    return url

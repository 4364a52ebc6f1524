"""Markdown report for ``$GITHUB_STEP_SUMMARY`` and merge-request comments (GitHub, GitLab)::

    ## ❌ mlflow-guard: failed

    - **Store:** http\\:&#8203;//mlflow\\.example\\.com
    - **Result:** 4 errors, 2 warnings
    - checked 1 experiment, 2 runs, 1 logged model, 1 registered model, 1 model version

    ### Findings per rule

    | Code | Rule | Findings |
    | --- | --- | ---: |
    | `MLG201` | required\\-tag | 2 |

    ### Findings

    | Severity | Rule | Object | Message |
    | --- | --- | --- | --- |
    | error | `MLG201` required\\-tag | [run 'train\\-lr' \\(3f2a\\)](http://...) | no 'owner' tag |

The findings table lists the first :data:`MAX_FINDINGS`, errors first, then says how many more
there are. GitHub refuses a comment longer than :data:`MAX_CHARS` characters, so rows stop
earlier when the next one would not fit (the document says so), and one cell holds at most
:data:`MAX_CELL` characters of a message.

Escaping. Every store string (messages, object names, the store, notes) is first
:func:`~pytest_mlflow_guard.display.clean` (redacted, one line, control characters shown as
``\\x1b``), then every ASCII punctuation character that means something somewhere in Markdown
is backslash-escaped: all but ``'",;%/=?^`` (``$`` too: it opens maths on GitHub). CommonMark
makes an escaped character literal, so no value can end a table cell (``|``), open a code span,
a link (``[x](javascript:...)``), an HTML tag or an entity, or start a list. Only http(s) URLs
become links. GitHub finds ``@mentions``, ``#123`` references and bare URLs *after* the Markdown
is parsed, where escapes no longer show, so a zero-width space (``&#8203;``) goes after ``@``,
``#``, the ``:`` of ``://`` and ``www.``: the text reads the same, nobody is pinged and nothing
is linked.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters._common import (
    baseline_line,
    checked_line,
    finding_sort_key,
    plural,
    totals_line,
)
from pytest_mlflow_guard.gate.reporters._pages import finding_object, link, per_rule, verdict

#: findings listed in the table (the rest are counted, not shown)
MAX_FINDINGS = 50
#: GitHub's limit on a comment body; the document stays below it
MAX_CHARS = 65_536
#: characters of one store string in a cell, before escaping (a 6,000-character tag value
#: quoted in a message would otherwise crowd out every other finding)
MAX_CELL = 1_000
#: notes listed (they say what could not be checked; a broken store can have many)
MAX_NOTES = 20

_ZWSP = "&#8203;"
# ASCII punctuation, which CommonMark lets a backslash escape, but for the characters that mean
# nothing anywhere in GitHub's or GitLab's Markdown (quotes, commas, slashes...): those stay
# as they are, so the raw document stays readable too
_PUNCTUATION = re.compile(r"[!#$&()*+\-.:<>@\[\\\]_`{|}~]")
# what a URL keeps in a link destination: everything but the characters that end it or the
# table cell, and backslash (which Markdown would read as an escape)
_URL_SAFE = "!#$%&*+,-./:;=?@[]^_{}~"
_ICONS = {"passed": "✅", "failed": "❌"}


def _escape(match: re.Match[str]) -> str:
    char, text = match[0], match.string
    escaped = "\\" + char
    breaks_pattern = (
        char in "@#"
        or (char == ":" and text.startswith("//", match.end()))
        or (char == "." and text[max(0, match.start() - 3) : match.start()].lower() == "www")
    )
    return escaped + _ZWSP if breaks_pattern else escaped


def md_text(value: object, limit: int = MAX_CELL) -> str:
    """A store string as inert Markdown text, at most ``limit`` characters before escaping."""
    text = clean(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _PUNCTUATION.sub(_escape, text)


def _code(value: str) -> str:
    """A rule code in a code span, when it is a plain identifier (a code span cannot escape)."""
    return f"`{value}`" if re.fullmatch(r"[A-Za-z0-9_.-]+", value) else md_text(value)


def _object_cell(finding: Finding) -> str:
    label = md_text(finding_object(finding))
    url = link(finding.url)
    return f"[{label}]({quote(url, safe=_URL_SAFE)})" if url else label


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _finding_row(finding: Finding) -> str:
    return _row(
        md_text(finding.severity),
        f"{_code(finding.rule)} {md_text(finding.name)}",
        _object_cell(finding),
        md_text(finding.message),
    )


def _head(report: Report) -> list[str]:
    state = verdict(report)
    lines = [
        f"## {_ICONS[state]} mlflow-guard: {state}",
        "",
        f"- **Store:** {md_text(report.tracking_uri)}",
        f"- **Result:** {totals_line(report) if report.findings else 'no findings'}",
        f"- {md_text(checked_line(report))}",
    ]
    baseline = baseline_line(report)
    if baseline:
        lines.append(f"- {baseline}")
    tallies = per_rule(report)
    if tallies:
        lines += ["", "### Findings per rule", "", _row("Code", "Rule", "Findings")]
        lines.append("| --- | --- | ---: |")
        lines += [_row(_code(t.key), md_text(t.name), str(t.total)) for t in tallies]
    return lines


def _notes(report: Report) -> list[str]:
    if not report.notes:
        return []
    lines = ["", "### Notes", ""]
    lines += [f"- {md_text(note)}" for note in report.notes[:MAX_NOTES]]
    if len(report.notes) > MAX_NOTES:
        lines.append(f"- … and {len(report.notes) - MAX_NOTES} more")
    return lines


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)  # each line with its newline


def render(report: Report, *, max_findings: int = MAX_FINDINGS) -> str:
    head, tail = _head(report), _notes(report)
    if not report.findings:
        return "\n".join([*head, *tail]) + "\n"

    table = ["", "### Findings", "", _row("Severity", "Rule", "Object", "Message")]
    table.append("| --- | --- | --- | --- |")
    # room kept for the "and K more" line (under 200 characters, whatever K is)
    budget = MAX_CHARS - 1 - _size(head) - _size(tail) - _size(table) - 200
    rows: list[str] = []
    cut_for_size = False
    for finding in sorted(report.findings, key=finding_sort_key)[:max_findings]:
        row = _finding_row(finding)
        if len(row) + 1 > budget:
            cut_for_size = True
            break
        budget -= len(row) + 1
        rows.append(row)
    table += rows

    hidden = len(report.findings) - len(rows)
    if hidden:
        more = f"… and {plural(hidden, 'more finding')}"
        if cut_for_size:
            more += f": only {len(rows)} fit in GitHub's {MAX_CHARS:,}-character limit on a comment"
        table += ["", more + " (the `json` and `html` formats list every finding)."]
    return "\n".join([*head, *table, *tail]) + "\n"

"""One self-contained HTML page: open it from a CI artifact, a mail attachment or ``file://``.

The page holds the verdict, the counts by severity and of what was checked, two bar charts
(findings per rule and per experiment, errors and warnings stacked) and every finding in a
table, errors first, each object linked to the MLflow UI when its URL is known. A text filter
and severity and rule selects hide rows; the filter can be given in the fragment
(``report.html#q=churn&severity=error&rule=MLG201``).

It loads nothing: the stylesheet and script are inline (:mod:`.html_assets`), the charts are
plain elements sized here in Python (so they show with JavaScript off), and a
Content-Security-Policy forbids every fetch (script, stylesheet, image, font, frame, XHR), so
even an escaping mistake could not load anything from a server.

Escaping. Every store string is :func:`~pytest_mlflow_guard.display.clean` (redacted, one line,
control and bidi characters shown as ``\\x1b``-style escapes), then escaped with
:func:`html.escape`, quotes included, wherever it goes (text or attribute). No store string is
ever put inside the ``<script>`` (so there is no JSON to escape for it): the script reads what
it filters from the table itself. Only http(s) URLs become links, opened with
``rel="noopener noreferrer"``.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters import html_assets
from pytest_mlflow_guard.gate.reporters._common import (
    baseline_line,
    checked_counts,
    finding_sort_key,
    plural,
    totals_line,
)
from pytest_mlflow_guard.gate.reporters._pages import (
    Tally,
    finding_object,
    link,
    object_label,
    per_rule,
    tally,
    verdict,
)

#: bars per chart: a store with thousands of experiments gets its largest ones and a count
MAX_BARS = 25
#: the per-experiment bar of findings on objects outside any experiment (registered models
#: and their versions live in the registry, beside the experiments)
NO_EXPERIMENT = "outside any experiment"


def _e(value: object) -> str:
    """A store string as HTML text or as an attribute value (quotes escaped too)."""
    return escape(clean(value), quote=True)


# --------------------------------------------------------------------------- experiments


def _experiment_names(report: Report) -> dict[tuple[str | None, str], str]:
    """``(store, experiment id) -> name``, from the experiments the check read and from
    findings on experiments (a finding on a run carries its experiment's id, not its name)."""
    names: dict[tuple[str | None, str], str] = {
        (None, exp_id): name for exp_id, name in report.experiment_names.items()
    }
    for finding in report.findings:
        if finding.object_type == "experiment" and finding.object_name:
            names.setdefault((finding.store, finding.object_id), finding.object_name)
    return names


def _experiment_of(report: Report) -> Callable[[Finding], str]:
    """What names a finding's experiment in the report: ``experiment 'churn' (3)``."""
    names = _experiment_names(report)

    def label(finding: Finding) -> str:
        experiment_id = (
            finding.object_id if finding.object_type == "experiment" else finding.experiment_id
        )
        if experiment_id is None:
            return NO_EXPERIMENT
        name = names.get((finding.store, experiment_id))
        return object_label("experiment", experiment_id, name, finding.store)

    return label


# --------------------------------------------------------------------------- page parts


def _chart(title: str, tallies: list[Tally], noun: str) -> str:
    """Horizontal bars, errors then warnings, scaled to the largest count."""
    if not tallies:
        return ""
    top = max(t.total for t in tallies)
    rows = []
    for t in tallies[:MAX_BARS]:
        label = f"<code>{_e(t.key)}</code> {_e(t.name)}" if t.name else _e(t.key)
        detail = f"{plural(t.error, 'error')}, {plural(t.warning, 'warning')}"
        rows.append(
            f'<tr><th scope="row">{label}</th>'
            f'<td><div class="track" title="{detail}">'
            f'<span class="error" style="width:{100 * t.error / top:.2f}%"></span>'
            f'<span class="warning" style="width:{100 * t.warning / top:.2f}%"></span>'
            f'</div></td><td class="num">{t.total}</td></tr>'
        )
    rest = tallies[MAX_BARS:]
    if rest:
        count = sum(t.total for t in rest)
        rows.append(
            f'<tr><th scope="row">… and {plural(len(rest), noun)}</th><td></td>'
            f'<td class="num">{count}</td></tr>'
        )
    return (
        f'<section><h2>{escape(title)}</h2><table class="chart">{"".join(rows)}</table></section>'
    )


def _summary(report: Report) -> str:
    state = verdict(report)
    summary = report.summary()
    cards = [
        f'<div class="card error"><span class="n">{summary["error"]}</span>errors</div>',
        f'<div class="card warning"><span class="n">{summary["warning"]}</span>warnings</div>',
    ]
    cards += [
        f'<div class="card"><span class="n">{count}</span>{_e(key.replace("_", " "))} checked</div>'
        for key, count in checked_counts(report).items()
    ]
    meta = [totals_line(report) if report.findings else "no findings"]
    baseline = baseline_line(report)
    if baseline:
        meta.append(baseline)
    if report.started_at is not None:
        meta.append(f"checked at {report.started_at.isoformat(timespec='seconds')}")
    notes = "".join(f"<li>{_e(note)}</li>" for note in report.notes)
    return (
        f'<header class="verdict {state}"><h1>mlflow-guard: <span class="state">{state}</span>'
        f'</h1><p class="store">Store: <code>{_e(report.tracking_uri)}</code></p>'
        f'<p class="meta">{escape("; ".join(meta))}</p></header>'
        f'<div class="cards">{"".join(cards)}</div>'
        + (f"<section><h2>Notes</h2><ul>{notes}</ul></section>" if notes else "")
    )


def _filters(rules: list[Tally]) -> str:
    options = "".join(
        f'<option value="{_e(t.key)}">{_e(t.key)} {_e(t.name)} ({t.total})</option>'
        for t in sorted(rules, key=lambda t: t.key)
    )
    return (
        '<form id="filters" role="search" hidden>'
        '<label>Filter <input id="q" type="search" autocomplete="off" '
        'placeholder="text in any column"></label>'
        '<label>Severity <select id="severity"><option value="">all</option>'
        '<option value="error">error</option><option value="warning">warning</option>'
        "</select></label>"
        f'<label>Rule <select id="rule"><option value="">all</option>{options}</select></label>'
        '<output id="shown"></output></form>'
        "<noscript><p>Filtering needs JavaScript; every finding is listed below.</p></noscript>"
    )


def _finding_row(finding: Finding, experiment: str) -> str:
    label = _e(finding_object(finding))
    url = link(finding.url)
    if url:
        label = (
            f'<a href="{escape(url, quote=True)}" target="_blank" '
            f'rel="noopener noreferrer">{label}</a>'
        )
    severity = _e(finding.severity)
    return (
        f'<tr data-severity="{severity}" data-rule="{_e(finding.rule)}">'
        f'<td><span class="sev {severity}">{severity}</span></td>'
        f"<td><code>{_e(finding.rule)}</code> {_e(finding.name)}</td>"
        f"<td>{label}</td><td>{_e(experiment)}</td><td>{_e(finding.message)}</td></tr>"
    )


def _findings(report: Report, experiment: Callable[[Finding], str], rules: list[Tally]) -> str:
    if not report.findings:
        return "<section><h2>Findings</h2><p>No findings.</p></section>"
    rows = "\n".join(
        _finding_row(finding, experiment(finding))
        for finding in sorted(report.findings, key=finding_sort_key)
    )
    return (
        f"<section><h2>Findings ({len(report.findings)})</h2>{_filters(rules)}"
        '<table class="findings" id="findings"><thead><tr><th>Severity</th><th>Rule</th>'
        "<th>Object</th><th>Experiment</th><th>Message</th></tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table></section>"
    )


def render(report: Report) -> str:
    rules = per_rule(report)
    experiment = _experiment_of(report)
    by_experiment = tally(report.findings, lambda finding: (experiment(finding), ""))
    charts = _chart("Findings per rule", rules, "more rule") + _chart(
        "Findings per experiment", by_experiment, "more experiment"
    )
    legend = (
        '<p class="legend"><span class="error">errors</span>'
        '<span class="warning">warnings</span></p>'
        if charts
        else ""
    )
    state = verdict(report)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html_assets.CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>mlflow-guard: {state}: {_e(report.tracking_uri)}</title>\n"
        f"<style>{html_assets.STYLE}</style></head>\n<body>\n"
        f"{_summary(report)}\n{legend}<div class='charts'>{charts}</div>\n"
        f"{_findings(report, experiment, rules)}\n"
        f"<script>{html_assets.SCRIPT}</script>\n</body></html>\n"
    )

"""The constant parts of the HTML report: its Content-Security-Policy, stylesheet and script.

Nothing here depends on the report, so no store string can ever reach the ``<style>`` or
``<script>`` block: the script reads the findings from the table the page already shows (its
rows' ``data-severity`` and ``data-rule`` attributes and their text).
"""

from __future__ import annotations

#: the page loads nothing: no fetch, font, frame, form target or ``<base>``, whatever a store
#: string manages to smuggle into it; only the inline style and script below run
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)

STYLE = """
:root {
  --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa; --line: #d1d9e0;
  --error: #cf222e; --warning: #bf8700; --passed: #1a7f37; --link: #0969da;
}
@media (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23; --line: #3d444d;
    --error: #f85149; --warning: #d29922; --passed: #3fb950; --link: #4493f8;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0 auto; padding: 24px; max-width: 1280px; color: var(--fg); background: var(--bg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif;
}
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; }
a { color: var(--link); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.verdict { border-left: 6px solid var(--passed); padding: 8px 16px; background: var(--panel); }
.verdict.failed { border-color: var(--error); }
.verdict .state { color: var(--passed); }
.verdict.failed .state { color: var(--error); }
.store, .meta { color: var(--muted); margin: 4px 0; overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 16px; }
.card {
  border: 1px solid var(--line); border-radius: 6px; padding: 8px 16px; min-width: 120px;
  background: var(--panel);
}
.card .n { display: block; font-size: 22px; font-weight: 600; }
.card.error .n { color: var(--error); }
.card.warning .n { color: var(--warning); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 24px; }
.chart { width: 100%; border-collapse: collapse; }
.chart th { text-align: left; font-weight: normal; padding: 2px 8px 2px 0; width: 40%;
  overflow-wrap: anywhere; }
.chart td { padding: 2px 0; }
.chart .num { text-align: right; width: 4em; font-variant-numeric: tabular-nums; }
.track { display: flex; height: 14px; background: var(--panel); border-radius: 3px; }
.track span { display: block; height: 100%; }
.track .error { background: var(--error); }
.track .warning { background: var(--warning); }
.legend span::before {
  content: ""; display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px;
}
.legend .error::before { background: var(--error); }
.legend .warning::before { background: var(--warning); }
#filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; margin: 8px 0; }
#filters[hidden] { display: none; }
#filters input, #filters select {
  font: inherit; padding: 4px 8px; color: var(--fg); background: var(--bg);
  border: 1px solid var(--line); border-radius: 6px;
}
#filters input { width: 24em; }
#shown { color: var(--muted); }
.findings { width: 100%; border-collapse: collapse; }
.findings th, .findings td {
  text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line);
}
.findings thead th { position: sticky; top: 0; background: var(--panel); }
.findings td { overflow-wrap: anywhere; }
.findings td:nth-child(-n+2) { white-space: nowrap; }  /* severity and rule: short, aligned */
.findings tr[hidden] { display: none; }
.sev { font-weight: 600; }
.sev.error { color: var(--error); }
.sev.warning { color: var(--warning); }
"""

# Plain ES5-compatible DOM code, no dependency. The filter state lives in the fragment
# (#q=MLG201&severity=error&rule=MLG201), so a filtered view can be shared as a link and a
# headless browser can be pointed at one.
SCRIPT = """
(function () {
  "use strict";
  var form = document.getElementById("filters");
  if (!form) { return; }
  var query = document.getElementById("q");
  var severity = document.getElementById("severity");
  var rule = document.getElementById("rule");
  var shown = document.getElementById("shown");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#findings tbody tr"));
  var texts = rows.map(function (row) { return row.textContent.toLowerCase(); });

  function choose(select, value) {
    select.value = value || "";
    if (select.value !== (value || "")) { select.value = ""; }  // not an option: show all
  }
  function fromHash() {
    var params = new URLSearchParams(location.hash.slice(1));
    query.value = params.get("q") || "";
    choose(severity, params.get("severity"));
    choose(rule, params.get("rule"));
  }
  function toHash() {
    var params = new URLSearchParams();
    if (query.value) { params.set("q", query.value); }
    if (severity.value) { params.set("severity", severity.value); }
    if (rule.value) { params.set("rule", rule.value); }
    var hash = params.toString();
    try {
      history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
    } catch (ignored) { /* some file:// contexts refuse; the filter still works */ }
  }
  function apply() {
    var needle = query.value.trim().toLowerCase();
    var count = 0;
    rows.forEach(function (row, index) {
      var match = (!severity.value || row.getAttribute("data-severity") === severity.value) &&
        (!rule.value || row.getAttribute("data-rule") === rule.value) &&
        (!needle || texts[index].indexOf(needle) !== -1);
      row.hidden = !match;
      if (match) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " findings shown";
  }

  form.hidden = false;  // without JavaScript the controls would do nothing, so they stay hidden
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  form.addEventListener("input", function () { apply(); toHash(); });
  form.addEventListener("change", function () { apply(); toHash(); });
  window.addEventListener("hashchange", function () { fromHash(); apply(); });
  fromHash();
  apply();
})();
"""

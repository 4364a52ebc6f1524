"""The page formats, ``markdown`` and ``html``: what they show, that no store string can break
out of its place in them, and the HTML page in a real headless Chromium (its script filters,
nothing injected runs, the screenshot is a rendered page)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_cli import StoreBuilder
from test_reporters import FINDINGS, URL, _finding, make_report

from pytest_mlflow_guard.cli import main
from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.gate.findings import Report
from pytest_mlflow_guard.gate.reporters import FORMATS, html_assets, markdown, render
from pytest_mlflow_guard.gate.reporters import html as html_reporter

ZWSP = "&#8203;"
#: what a store string may try: end a table cell, start a line, open a tag, a link, a mention
HOSTILE = (
    "a|b\nc <script>document.title='pwned'</script> @channel [x](javascript:alert(1)) "
    "`tick` *bold* https://evil.example/p www.evil.example #12 $x$ "
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
)
SECRET_URL = "https://alice:hunter2@mlflow.example.com/#/experiments/1/runs/r-9"
# a quote cannot leave the href; a javascript: URL is never a link
QUOTED_URL = 'https://mlflow.example.com/#/runs/"onmouseover="alert(1)'
HOSTILE_FINDINGS = (
    *FINDINGS,
    _finding("MLG202", "error", "run", "r-9", experiment_id="1", message=HOSTILE, url=SECRET_URL),
    _finding("MLG202", "error", "run", "r-8", object_name="<b>x</b>|@here", url=QUOTED_URL),
    _finding("MLG202", "warning", "run", "r-7", message="see it", url="javascript:alert(1)"),
)

#: the rule codes of FINDINGS as both formats list them: errors first, then by code
ORDER = ["MLG101", "MLG201", "MLG201", "MLG999", "MLG305", "MLG305"]


def hostile_report() -> Report:
    return make_report(findings=HOSTILE_FINDINGS, notes=[f"could not read {SECRET_URL}"])


# --- reading the documents back -----------------------------------------------------------


def md_tables(document: str) -> list[list[list[str]]]:
    """Each Markdown table's body rows, as cells split where GFM splits them (an unescaped |)."""
    tables: list[list[list[str]]] = []
    lines = document.split("\n")
    for index, line in enumerate(lines):
        if line.startswith("| ---"):
            body = []
            for row in lines[index + 1 :]:
                if not row.startswith("|"):
                    break
                body.append([cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]])
            tables.append(body)
    return tables


def raw_chars(markdown_text: str) -> set[str]:
    """The characters of ``markdown_text`` no backslash escapes (the ZWSP entity left out)."""
    tokens = re.findall(r"\\.|.", markdown_text.replace(ZWSP, ""), re.S)
    return {token for token in tokens if len(token) == 1}


def md_plain(markdown_text: str) -> str:
    """What a reader sees of escaped Markdown text."""
    return re.sub(r"\\(.)", r"\1", markdown_text.replace(ZWSP, ""))


@dataclass
class Row:
    attrs: dict[str, str | None]
    cells: list[str] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)


class Page(HTMLParser):
    """Every element, the text of ``<script>``/``<style>``, and each table's rows."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.raw: dict[str, str] = {"script": "", "style": "", "title": ""}
        self.tables: dict[str, list[Row]] = {}
        self._raw: str | None = None
        self._table: list[Row] | None = None
        self._in_cell = False
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag in self.raw:
            self._raw = tag
        elif tag == "table":
            key = attributes.get("id") or f"{attributes.get('class')}-{len(self.tables)}"
            self._table = self.tables.setdefault(key, [])
        elif self._table is not None and tag == "tr":
            self._table.append(Row(attributes))
        elif self._table and tag in ("td", "th"):
            self._table[-1].cells.append("")
            self._in_cell = True
        elif self._table and tag == "a":
            self._table[-1].links.append(attributes.get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._raw:
            self._raw = None
        elif tag == "table":
            self._table = None
        elif tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._raw:
            self.raw[self._raw] += data
        elif self._table and self._in_cell:
            self._table[-1].cells[-1] += data

    def findings(self) -> list[Row]:
        return [row for row in self.tables.get("findings", []) if "data-severity" in row.attrs]

    def charts(self) -> list[dict[str, int]]:
        return [
            {row.cells[0]: int(row.cells[-1]) for row in rows}
            for key, rows in self.tables.items()
            if key.startswith("chart")
        ]


# --- dispatch -------------------------------------------------------------------------------


def test_both_formats_are_registered_after_github() -> None:
    assert FORMATS[FORMATS.index("github") :] == ("github", "markdown", "html")
    for fmt in ("markdown", "html"):
        assert render(fmt, make_report()).endswith("\n")


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_secrets_are_redacted(fmt: str) -> None:
    report = replace(hostile_report(), tracking_uri="postgresql://app:hunter2@db/mlflow")
    out = render(fmt, report)
    assert "hunter2" not in out and "alice" not in out
    assert "mlflow.example.com" in out and "db/mlflow" in out
    # the reporters clean what they show themselves too: called directly, still no secret
    direct = (markdown if fmt == "markdown" else html_reporter).render(report)
    assert "hunter2" not in direct and "alice" not in direct


# --- markdown -------------------------------------------------------------------------------


def test_markdown_verdict_counts_and_tables() -> None:
    out = render("markdown", make_report())
    assert out.startswith("## ❌ mlflow-guard: failed\n")
    assert "- **Result:** 4 errors, 2 warnings" in out
    assert "checked 1 experiment, 2 runs, 1 logged model" in out
    per_rule, findings = md_tables(out)
    # most findings first, ties by code
    assert per_rule == [
        ["`MLG201`", "required\\-tag", "2"],
        ["`MLG305`", "signature", "2"],
        ["`MLG101`", "experiment\\-name", "1"],
        ["`MLG999`", "custom\\-rule", "1"],
    ]
    assert [row[0] for row in findings] == ["error"] * 4 + ["warning"] * 2
    assert [row[1].split()[0] for row in findings] == [f"`{code}`" for code in ORDER]
    linked = [row[2] for row in findings if "](" in row[2]]
    assert linked == [f"[run 'train\\-lr' \\(run\\-1\\)]({URL})"]
    assert "more finding" not in out


def test_markdown_passes_with_warnings_only_and_without_findings() -> None:
    warnings = [f for f in FINDINGS if f.severity == "warning"]
    assert render("markdown", make_report(findings=warnings)).startswith(
        "## ✅ mlflow-guard: passed"
    )
    empty = render("markdown", make_report(findings=(), baseline_suppressed=3))
    assert "- **Result:** no findings" in empty and "3 findings hidden by the baseline" in empty
    assert md_tables(empty) == []


def test_markdown_lists_the_first_findings_errors_first() -> None:
    many = [_finding("MLG305", "warning", "run", f"w{i}") for i in range(70)]
    many += [_finding("MLG201", "error", "run", f"e{i}") for i in range(50)]
    out = render("markdown", make_report(findings=many))
    rows = md_tables(out)[1]
    assert len(rows) == markdown.MAX_FINDINGS == 50
    assert {row[0] for row in rows} == {"error"}
    assert "… and 70 more findings (the `json` and `html` formats list every finding)." in out
    assert md_tables(out)[0] == [
        ["`MLG305`", "signature", "70"],
        ["`MLG201`", "required\\-tag", "50"],
    ]


def test_markdown_stays_under_githubs_comment_limit() -> None:
    # escaping doubles every character of these messages: 50 rows would be ~100,000 characters
    wide = [_finding("MLG201", "error", "run", f"r{i}", message="<|>" * 2000) for i in range(60)]
    out = render("markdown", make_report(findings=wide))
    assert len(out) < markdown.MAX_CHARS
    rows = md_tables(out)[1]
    assert 10 < len(rows) < 50
    assert f"… and {60 - len(rows)} more findings: only {len(rows)} fit in GitHub's 65,536" in out
    # one message is cut to MAX_CELL characters before escaping, and says so
    assert md_plain(rows[0][3]) == ("<|>" * 2000)[: markdown.MAX_CELL - 1] + "…"


def test_markdown_escapes_hostile_store_strings() -> None:
    out = render("markdown", hostile_report())
    rows = md_tables(out)[1]
    assert all(len(row) == 4 for row in rows)  # no | split a cell, no newline ended a row
    assert all(line.startswith(("|", "#", "-", "…")) or not line for line in out.split("\n"))
    hostile = next(row for row in rows if "pwned" in row[3])
    # nothing in it is markup: every special character is escaped, and it reads as it was
    assert raw_chars(hostile[3]) & set("|<>[]`*_&#@$:!") == set()
    assert md_plain(hostile[3]) == clean(HOSTILE)
    # GitHub links mentions, #refs and bare URLs after parsing: a zero-width space breaks them
    for pattern in ("@channel", "@here", "#12", "https\\://", "www\\.evil"):
        assert pattern not in out
    assert "@" + ZWSP + "channel" in out and "https\\:" + ZWSP + "//evil" in out
    # links: the redacted http(s) one, the quote percent-encoded; never javascript:
    targets = re.findall(r"\]\(([^)]*)\)", out)
    assert targets == [
        URL,
        "https://mlflow.example.com/#/experiments/1/runs/r-9",
        "https://mlflow.example.com/#/runs/%22onmouseover=%22alert%281%29",
    ]
    assert "javascript" not in "".join(targets)
    assert "notes" in out.lower() and "could not read https\\:" in out


@given(st.text())
def test_markdown_text_is_inert_and_reads_as_written(value: str) -> None:
    escaped = markdown.md_text(value, limit=10 * len(value) + 1)  # cleaning can grow it
    assert not raw_chars(escaped) & set("\\|<>[]`*_&#@$!~")
    assert md_plain(escaped) == clean(value)


# --- html -----------------------------------------------------------------------------------


def test_html_summary_charts_and_every_finding() -> None:
    page = Page(render("html", make_report()))
    assert "mlflow-guard: failed" in page.raw["title"]
    rows = page.findings()
    assert len(rows) == len(FINDINGS)
    assert [row.attrs["data-rule"] for row in rows] == ORDER
    assert all("hidden" not in row.attrs for row in rows)  # without JavaScript, all are shown
    by_rule, by_experiment = page.charts()
    assert by_rule == {
        "MLG201 required-tag": 2,
        "MLG305 signature": 2,
        "MLG101 experiment-name": 1,
        "MLG999 custom-rule": 1,
    }
    assert by_experiment == {"experiment 'Scratch' (1)": 4, "outside any experiment": 2}
    # bars are sized here, not by a script: the largest count fills its track
    widths = [a["style"] for tag, a in page.elements if tag == "span" and a.get("style")]
    # (each bar: an error part, then a warning part)
    assert widths[:4] == ["width:100.00%", "width:0.00%", "width:0.00%", "width:100.00%"]
    assert widths[4:6] == ["width:50.00%", "width:0.00%"]
    run = next(row for row in rows if row.links)
    assert run.links == [URL] and run.cells[2] == "run 'train-lr' (run-1)"


def test_html_names_the_experiment_of_a_run_finding() -> None:
    # the finding carries the experiment's id only; the report knows the names it read
    finding = _finding("MLG201", "error", "run", "r1", experiment_id="7")
    report = replace(make_report(findings=[finding], objects=()), experiment_names={"7": "a/b"})
    assert Page(render("html", report)).charts()[1] == {"experiment 'a/b' (7)": 1}


def test_html_caps_the_experiment_chart() -> None:
    many = [_finding("MLG201", "error", "run", f"r{i}", experiment_id=str(i)) for i in range(40)]
    by_experiment = Page(render("html", make_report(findings=many, objects=()))).charts()[1]
    assert len(by_experiment) == 26
    assert by_experiment["… and 15 more experiments"] == 15


def test_html_empty_report_passes() -> None:
    page = Page(render("html", make_report(findings=(), objects=())))
    assert "mlflow-guard: passed" in page.raw["title"] and page.findings() == []
    assert ("header", {"class": "verdict passed"}) in page.elements


def test_html_escapes_hostile_store_strings() -> None:
    page = Page(render("html", hostile_report()))
    assert [tag for tag, _ in page.elements].count("script") == 1
    assert page.raw["script"] == html_assets.SCRIPT and page.raw["style"] == html_assets.STYLE
    assert not any(tag in ("img", "b", "svg") for tag, _ in page.elements)
    assert not any(name.startswith("on") for _, attrs in page.elements for name in attrs)
    rows = page.findings()
    hostile = next(row for row in rows if "pwned" in row.cells[4])
    assert hostile.cells[4] == clean(HOSTILE)  # shown as text, exactly
    assert next(row for row in rows if "@here" in row.cells[2]).links == [QUOTED_URL]
    assert next(row for row in rows if row.cells[4] == "see it").links == []  # javascript:


def test_html_loads_nothing_but_links_to_findings() -> None:
    document = render("html", hostile_report())
    page = Page(document)
    linked = {URL, QUOTED_URL, "https://mlflow.example.com/#/experiments/1/runs/r-9"}
    for tag, attrs in page.elements:
        assert tag not in ("link", "img", "iframe", "object", "embed", "base", "source")
        for name, value in attrs.items():
            assert name not in ("src", "srcset", "action", "formaction", "poster", "ping")
            if name == "href":
                assert tag == "a" and value in linked
                assert attrs["rel"] == "noopener noreferrer"
            elif value:
                assert not re.search(r"(?i)(https?:)?//|url\(", value), (tag, name, value)
    for text in (page.raw["script"], page.raw["style"]):
        assert not re.search(r"(?i)https?:|url\(|@import|fetch\(|XMLHttpRequest", text)
    csp = next(
        a["content"] for t, a in page.elements if a.get("http-equiv") == "Content-Security-Policy"
    )
    assert csp is not None
    for directive in (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "script-src 'unsafe-inline'",
        "img-src data:",
    ):
        assert directive in csp
    assert document.index("Content-Security-Policy") < document.index("<style>")


# --- end to end: mlflow-guard check on a real store ---------------------------------------


@pytest.fixture(scope="module")
def violating_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    import mlflow

    root = tmp_path_factory.mktemp("pages")
    config = root / "guard.toml"
    config.write_text(
        "[tool.mlflow-guard]\n"
        'ui-url = "https://bob:hunter2@mlflow.example.com"\n'
        'run-name-pattern = "[a-z0-9_-]+"\n'
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # MLflow's default artifact root is ./mlruns
        builder = StoreBuilder(f"sqlite:///{root / 'mlflow.db'}", root)
        experiment = builder.experiment("guard/pages")
        builder.experiment("Bad Experiment")  # MLG101
        builder.run(experiment, name="20260101-000000_alice")  # clean
        builder.run(experiment, tags={"run.mode": "<script>alert(1)</script>|@channel"})
        builder.run(experiment, name="<b>x</b>|@here")  # MLG102
        builder.run(experiment, tags={"git.commit": "https://bob:hunter2@git.example.com"})
        builder.run(experiment, drop=("model.type",))  # MLG201
    mlflow.set_tracking_uri(None)
    return builder.uri, config


def test_check_writes_markdown_and_html(
    violating_store: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri, config = violating_store
    args = ["check", "--tracking-uri", uri, "--config", str(config)]
    for fmt in ("json", "html", "markdown"):
        args += ["--format", fmt, "--output", str(tmp_path / f"report.{fmt}")]
    assert main(args) == 1
    capsys.readouterr()
    findings = json.loads((tmp_path / "report.json").read_text())["findings"]
    rules = Counter(f["rule"] for f in findings)
    assert {"MLG101", "MLG102", "MLG201", "MLG202", "MLG203"} <= set(rules)

    page_text = (tmp_path / "report.html").read_text()
    page = Page(page_text)
    rows = page.findings()
    assert Counter(row.attrs["data-rule"] for row in rows) == rules
    links = [link for row in rows for link in row.links]
    assert links and all(
        str(link).startswith("https://mlflow.example.com/#/experiments/") for link in links
    )
    assert "alert(1)" in page_text and [t for t, _ in page.elements].count("script") == 1
    assert not any(tag == "b" for tag, _ in page.elements)

    md = (tmp_path / "report.markdown").read_text()
    per_rule, md_rows = md_tables(md)
    assert {row[0].strip("`"): int(row[2]) for row in per_rule} == rules
    assert len(md_rows) == len(findings) and all(len(row) == 4 for row in md_rows)
    assert "@" + ZWSP + "channel" in md and "\\<script\\>" in md
    assert not raw_chars(md) & {"<", ">"}
    for document in (page_text, md):
        assert "hunter2" not in document and "bob" not in document


# --- in a real browser ----------------------------------------------------------------------

REQUIRE_BROWSER = "MLFLOW_GUARD_REQUIRE_BROWSER"


class Chromium:
    """Debian's headless Chromium, one fresh profile per call, bounded in time."""

    FLAGS = (
        "--headless",
        "--no-sandbox",  # root in CI, and no user namespaces in most containers
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--mute-audio",
        # run the page's script and let layout settle before the dump or screenshot, on a
        # virtual clock: no sleeping, the same on a slow machine
        "--virtual-time-budget=5000",
    )

    def __init__(self, executable: str, root: Path) -> None:
        self.executable = executable
        self.root = root  # its HOME, and the profiles: nothing outside the test's folder
        self.root.mkdir()
        self.calls = 0

    def __call__(self, *args: str) -> str:
        self.calls += 1
        profile = self.root / f"profile-{self.calls}"
        done = subprocess.run(
            [self.executable, *self.FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HOME": str(self.root)},
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout


@pytest.fixture
def chromium(tmp_path: Path) -> Chromium:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        reason = "Chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail(f"{reason} ({REQUIRE_BROWSER} is set: CI must run the browser tests)")
        pytest.skip(reason)
    return Chromium(executable, tmp_path / "chromium")


def _visible(dom: str) -> list[str]:
    return [
        row.attrs["data-rule"] or "" for row in Page(dom).findings() if "hidden" not in row.attrs
    ]


@pytest.mark.browser
def test_html_report_in_a_real_browser(chromium: Chromium, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(render("html", hostile_report()), encoding="utf-8")
    url = path.as_uri()

    dom = chromium("--dump-dom", url)
    page = Page(dom)
    assert len(page.findings()) == len(HOSTILE_FINDINGS)
    # the script ran (it shows the filters and counts), and nothing the store wrote did
    assert ("form", {"id": "filters", "role": "search"}) in page.elements
    assert f"{len(HOSTILE_FINDINGS)} of {len(HOSTILE_FINDINGS)} findings shown" in dom
    assert "pwned" not in page.raw["title"]
    assert not any("data-pwned" in attrs for _, attrs in page.elements)
    assert all(
        set(attrs) == {"href", "target", "rel"} for tag, attrs in page.elements if tag == "a"
    )

    # the filter, given in the fragment, hides the other rows
    assert _visible(chromium("--dump-dom", url + "#q=MLG101")) == ["MLG101"]
    assert _visible(chromium("--dump-dom", url + "#severity=warning")) == [
        "MLG202",
        "MLG305",
        "MLG305",
    ]
    assert _visible(chromium("--dump-dom", url + "#rule=MLG305&q=churn")) == ["MLG305"]
    assert _visible(chromium("--dump-dom", url + "#rule=NOPE")) == _visible(dom)

    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,2000", url)
    print(f"screenshot: {shot}")
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        counted = image.convert("RGB").getcolors(maxcolors=1280 * 2000) or []
    colours = {colour: count for count, colour in counted}
    assert shot.stat().st_size > 20_000 and len(colours) > 50
    # the chart's error bars are drawn (light or dark scheme: the page follows the system)
    assert colours.get((0xCF, 0x22, 0x2E), 0) + colours.get((0xF8, 0x51, 0x49), 0) > 2_000

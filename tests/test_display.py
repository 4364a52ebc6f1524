"""Store strings never control a terminal or a CI log: ``display.clean`` and every human-facing
output that uses it (text report, pytest summary, reproduce report, replay steps)."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_mlflow_guard.display import clean, one_line
from pytest_mlflow_guard.gate.findings import Finding, Report
from pytest_mlflow_guard.gate.reporters import render

# what a hostile store string looks like: a terminal title (OSC), colours, a carriage return
# that overwrites the line, a newline followed by a GitHub workflow command, the legacy form
# anywhere in a line, a bidi override, a zero-width space
EVIL = (
    "evil\x1b]0;pwned\x07\x1b[31mred\rgone\n::error::injected ##[set-env name=X;]1\u202eabc\u200b"
)
_FORBIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def assert_safe_lines(text: str) -> None:
    for line in text.split("\n"):
        assert not any(unicodedata.category(c) in _FORBIDDEN_CATEGORIES for c in line), line
        assert "##[" not in line, line
        assert not line.lstrip().startswith("::"), line


def test_clean_shows_what_it_hides() -> None:
    shown = clean(EVIL)
    assert_safe_lines(shown)
    assert "\n" not in shown
    assert "\\x1b]0;pwned\\x07" in shown and "\\r" in shown and "\\n" in shown
    assert "\\u202e" in shown and "\\u200b" in shown
    assert "#\\x23[set-env" in shown
    assert one_line("::warning::x") == "\\x3a:warning::x"
    assert one_line("  ::warning::x") == "  \\x3a:warning::x"  # runners trim leading spaces


@given(st.text())
def test_clean_is_safe_and_idempotent_for_any_text(text: str) -> None:
    shown = clean(text)
    assert_safe_lines(shown)
    assert "\n" not in shown
    assert clean(shown) == shown


def test_every_non_printable_code_point_is_escaped() -> None:
    # not only the ones anyone thought of: every control, format and separator character of
    # this Python's Unicode database
    bad = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] in "CZ"]
    bad = [c for c in bad if c != " " and unicodedata.category(c) != "Cs"]
    shown = one_line("".join(bad))
    assert all(c.isprintable() for c in shown)


def _nasty_report() -> Report:
    findings = [
        Finding("MLG102", "run-name", "error", "run", "r1", f"run name {EVIL!r}", "1", "r1",
                object_name=EVIL),
        Finding("MLG202", "tag-value", "error", "run", "r2", f"tag 'run.mode' has value {EVIL}",
                "1", "r2"),
        Finding("MLG101", "experiment-name", "error", "experiment", "1", "bad name", "1",
                object_name=EVIL, store="sqlite:////tmp/x\n::error::y.db"),
    ]  # fmt: skip
    return Report(
        tracking_uri="sqlite:///m.db", checked={"runs": 2}, findings=findings, notes=[EVIL]
    )


def test_text_report_keeps_store_strings_on_their_line() -> None:
    out = render("text", _nasty_report())
    assert_safe_lines(out)
    # every line is one the reporter started: a header, a finding, a count, a note
    starts = ("mlflow-guard:", "run ", "experiment ", "  error", "3 errors", "checked", "note:")
    assert all(line.startswith(starts) for line in out.splitlines() if line), out


def test_github_format_stays_one_command_per_finding() -> None:
    out = render("github", _nasty_report())
    lines = out.splitlines()
    assert all(line.startswith(("::error ", "::warning ", "mlflow-guard:")) for line in lines)
    assert len(lines) == 4 and "\x1b" not in out and "\r" not in out


def test_pytest_summary_lines_are_safe(tmp_path: Path) -> None:
    from pytest_mlflow_guard.pytest_plugin.options import Settings
    from pytest_mlflow_guard.pytest_plugin.session import GuardSession
    from pytest_mlflow_guard.pytest_plugin.summary import findings_block, summary_lines

    report = _nasty_report()
    block = findings_block(report.findings, {"r1": "tests/test_x.py::test_y\n::error::z"})
    assert_safe_lines(block)
    guard = GuardSession(Settings(enabled=True), tmp_path, [])
    guard.report, guard.problem, guard.swept = report, f"store down: {EVIL}", [EVIL]
    guard.session_run_id, guard.status = "abc", "FAILED"
    lines = summary_lines(guard)
    assert_safe_lines("\n".join(lines))


def test_reproduce_text_and_steps_are_safe() -> None:
    from pytest_mlflow_guard.records import RunFacts
    from pytest_mlflow_guard.reproduce.compare import ParamRow
    from pytest_mlflow_guard.reproduce.preflight import Check
    from pytest_mlflow_guard.reproduce.report import Reproduction, render_text
    from pytest_mlflow_guard.reproduce.steps import shell_steps

    result = Reproduction(
        "r1",
        "cannot_replay",
        reason=EVIL,
        run_name=EVIL,
        experiment=EVIL,
        checks=[Check("command", "fail", EVIL, (EVIL,))],
        params=[ParamRow(EVIL, EVIL, "x", "differs")],
    )
    assert_safe_lines(render_text(result))
    run = RunFacts(
        run_id="r1",
        run_name=EVIL,
        experiment_id="1",
        experiment_name="e",
        status="FINISHED",
        start_time_ms=0,
        tags={"git.commit": "HEAD\nrm -rf ~", "source.command": f"python x.py\n{EVIL}"},
        params={EVIL: EVIL},
        metrics={},
    )
    steps = shell_steps(run, "sqlite:///m.db")
    assert_safe_lines(steps)
    assert "git checkout HEAD" not in steps  # not a SHA: not offered as one
    assert not any(line.startswith("rm ") for line in steps.splitlines())


@pytest.mark.parametrize("fmt", ["json", "junit", "sarif"])
def test_machine_formats_carry_no_raw_escape(fmt: str) -> None:
    out = render(fmt, _nasty_report())
    assert "\x1b" not in out and "\x07" not in out

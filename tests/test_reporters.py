"""Reporters: every format renders a realistic report into a document its consumer can read."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from pytest_mlflow_guard.gate.findings import CheckedObject, Finding, Report, RuleInfo
from pytest_mlflow_guard.gate.reporters import FORMATS, json_report, render, render_chunks
from pytest_mlflow_guard.gate.reporters import github as github_reporter

ANSI = re.compile(r"\x1b\[[0-9;]*m")
NASTY = "tag 'owner' is \"empty\" <b> & 100% sure\nsecond line"
URL = "http://mlflow.example.com/#/experiments/1/runs/run-1"

RULES = (
    RuleInfo(
        "MLG101",
        "experiment-name",
        "error",
        "Experiment names follow the team pattern.",
        "Experiment names follow the team pattern.\n\n"
        "Why: names are how people find work.\n"
        "Anti-pattern: ``mlflow.set_experiment('test')``\n"
        "Fix: use ``<team>/<project>``.",
    ),
    RuleInfo(
        "MLG201",
        "required-tag",
        "error",
        "Runs carry the required tags.",
        "Runs carry the required tags.\n\nWhy: ownership.\nAnti-pattern: no tags.\nFix: tag.",
    ),
    RuleInfo("MLG305", "signature", "warning", "Logged models have a signature.", ""),
)


def _finding(rule: str, severity: str, object_type: str, object_id: str, **kw: Any) -> Finding:
    names = {"MLG101": "experiment-name", "MLG201": "required-tag", "MLG305": "signature"}
    kw.setdefault("message", f"{rule} on {object_id}")
    return Finding(
        rule=rule,
        name=names.get(rule, "custom-rule"),
        severity=severity,  # type: ignore[arg-type]
        object_type=object_type,  # type: ignore[arg-type]
        object_id=object_id,
        **kw,
    )


FINDINGS = (
    _finding("MLG101", "error", "experiment", "1", experiment_id="1", object_name="Scratch"),
    _finding(
        "MLG201",
        "error",
        "run",
        "run-1",
        experiment_id="1",
        run_id="run-1",
        url=URL,
        object_name="train-lr",
        message="run has no 'owner' tag",
    ),
    _finding("MLG201", "error", "run", "run-1", experiment_id="1", run_id="run-1", message=NASTY),
    _finding("MLG305", "warning", "logged_model", "m-1", experiment_id="1", run_id="run-1"),
    _finding("MLG305", "warning", "model_version", "churn/3", run_id="run-1"),
    # Not among report.objects: reporters must still show it.
    _finding("MLG999", "error", "registered_model", "orphan model"),
)

OBJECTS = (
    CheckedObject("experiment", "1", "Scratch"),
    CheckedObject("run", "run-1", "train-lr", experiment_id="1"),
    CheckedObject("run", "run-2", "clean-run", experiment_id="1"),
    CheckedObject("logged_model", "m-1", "model", experiment_id="1"),
    CheckedObject("model_version", "churn/3", "churn/3"),
)


def make_report(**kw: Any) -> Report:
    base: dict[str, Any] = {
        "tracking_uri": "http://mlflow.example.com",
        "checked": {
            "experiments": 1,
            "runs": 2,
            "logged_models": 1,
            "registered_models": 1,
            "model_versions": 1,
        },
        "findings": FINDINGS,
        "objects": OBJECTS,
        "rules": RULES,
    }
    base.update(kw)
    return Report(**base)


ERRORS = [f for f in FINDINGS if f.severity == "error"]


# --- dispatch -------------------------------------------------------------------------------


def test_formats_and_unknown_format() -> None:
    assert FORMATS == ("text", "json", "junit", "sarif", "github", "markdown", "html")
    with pytest.raises(ValueError, match=r"'yaml'.*text, json, junit, sarif, github, markdown"):
        render("yaml", make_report())


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_full_and_empty_reports(fmt: str) -> None:
    for report in (make_report(), make_report(findings=(), objects=())):
        out = render(fmt, report)
        assert out.endswith("\n")
        assert "\x1b" not in out


# --- text -----------------------------------------------------------------------------------


def _two_workspaces() -> Report:
    """The same model name in two workspaces, and a workspace that could not be read."""
    findings = [
        _finding("MLG999", "error", "registered_model", "churn", workspace="team-b"),
        _finding("MLG999", "error", "registered_model", "churn", workspace="team-c"),
        _finding("MLG201", "error", "run", "run-9", experiment_id="7", workspace="team-b"),
        _finding("MLG004", "error", "workspace", "team-d", workspace="team-d"),
    ]
    return Report(tracking_uri="http://mlflow:5000", checked={}, findings=findings, rules=RULES)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_names_the_workspace_of_each_finding(fmt: str) -> None:
    output = render(fmt, _two_workspaces())
    shown = output.replace("\\", "") if fmt == "markdown" else output  # Markdown escapes "-"
    for workspace in ("team-b", "team-c", "team-d"):
        assert workspace in shown, (fmt, workspace)
    if fmt == "json":
        data = json.loads(output)
        placed = [(f["object_id"], f.get("workspace")) for f in data["findings"]]
        assert placed == [
            ("churn", "team-b"), ("churn", "team-c"), ("run-9", "team-b"), ("team-d", "team-d"),
        ]  # fmt: skip
        assert "workspace" not in json.loads(render("json", make_report()))["findings"][0]
    if fmt == "sarif":
        results = json.loads(output)["runs"][0]["results"]
        paths = [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in results]
        assert paths[:3] == [
            "workspace/team-b/registered_model/churn",
            "workspace/team-c/registered_model/churn",
            "workspace/team-b/experiment/7/run/run-9",
        ]
        # the two models are two objects: their fingerprints differ
        assert len({str(r["partialFingerprints"]) for r in results[:2]}) == 2
    if fmt == "text":
        assert "registered model 'churn' in workspace team-b" in output
        assert "registered model 'churn' in workspace team-c" in output


def test_text_names_rule_object_message_and_url() -> None:
    out = render("text", make_report())
    assert "run 'train-lr' (run-1) in experiment 1" in out
    assert "experiment 'Scratch' (1)" in out
    assert URL in out
    assert "MLG201 required-tag" in out
    assert "run has no 'owner' tag" in out
    assert "registered model 'orphan model'" in out  # synthesized group
    assert "4 errors, 2 warnings" in out
    assert (
        "checked 1 experiment, 2 runs, 1 logged model, 1 registered model, 1 model version" in out
    )
    # Multi-line message: the continuation is indented under the finding.
    # a store string never starts a line of its own: the newline is shown, not printed
    assert "100% sure\\nsecond line" in out
    assert not any(line.startswith("second line") for line in out.splitlines())
    assert "hidden by the baseline" not in out


def test_text_colour_only_on_request() -> None:
    assert not ANSI.search(render("text", make_report(), color=False))
    coloured = render("text", make_report(), color=True)
    assert ANSI.search(coloured)
    assert ANSI.sub("", coloured) == render("text", make_report())


def test_text_neutralises_escape_sequences_in_messages() -> None:
    finding = _finding("MLG201", "error", "run", "r", message="tag '\x1b[31mred'")
    out = render("text", make_report(findings=(finding,)))
    assert "\x1b" not in out and "\\x1b[31mred" in out


def test_text_empty_report_and_baseline() -> None:
    out = render("text", make_report(findings=(), baseline_suppressed=5, baseline_fixed=1))
    assert "No findings." in out
    assert "checked 1 experiment, 2 runs" in out
    assert "5 findings hidden by the baseline, 1 baselined finding fixed" in out


# --- json -----------------------------------------------------------------------------------

FINDING_KEYS = [
    "rule",
    "name",
    "severity",
    "object_type",
    "object_id",
    "experiment_id",
    "run_id",
    "message",
    "url",
]


def test_json_schema() -> None:
    out = render("json", make_report())
    data = json.loads(out)
    assert list(data) == ["version", "tracking_uri", "checked", "findings", "summary"]
    assert data["version"] == 1
    assert data["tracking_uri"] == "http://mlflow.example.com"
    assert list(data["checked"]) == [
        "experiments",
        "runs",
        "logged_models",
        "registered_models",
        "model_versions",
    ]
    assert data["summary"] == {"error": 4, "warning": 2}
    assert len(data["findings"]) == len(FINDINGS)
    for item in data["findings"]:
        assert list(item) == FINDING_KEYS
    assert data["findings"][1]["url"] == URL
    assert data["findings"][2]["message"] == NASTY
    assert data["findings"][0]["run_id"] is None
    assert out.startswith('{\n  "version": 1,')  # indent=2, fixed key order
    assert render("json", make_report()) == out  # deterministic


@pytest.mark.parametrize(
    "report",
    [
        make_report(notes=["a note", 'its "quoted" line'], baseline_suppressed=4, baseline_fixed=1),
        make_report(findings=[]),
        make_report(findings=[FINDINGS[1]]),
    ],
    ids=["full", "no-findings", "one"],
)
def test_json_written_a_finding_at_a_time_is_the_same_document(report: Report) -> None:
    whole = json.dumps(json_report.to_dict(report), indent=2, ensure_ascii=False) + "\n"
    assert "".join(json_report.chunks(report)) == whole
    assert "".join(render_chunks("json", report)) == render("json", report)


def test_json_in_chunks_redacts_each_finding() -> None:
    secret = "https://alice:hunter2@mlflow.example/#/runs/1"
    report = make_report(
        findings=[_finding("MLG201", "error", "run", "r", message=f"see {secret}")],
        notes=[f"read {secret}"],
        tracking_uri=secret,
    )
    text = "".join(render_chunks("json", report))
    assert "hunter2" not in text and text == render("json", report)


def test_json_baseline_only_when_set() -> None:
    data = json.loads(render("json", make_report(findings=(), baseline_suppressed=3)))
    assert data["baseline"] == {"suppressed": 3, "fixed": None}
    assert data["summary"] == {"error": 0, "warning": 0}
    assert "baseline" not in json.loads(render("json", make_report()))


# --- junit ----------------------------------------------------------------------------------


def test_junit_structure() -> None:
    out = render("junit", make_report())
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(out)
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("name") == "mlflow-guard"
    suite = suites[0]
    cases = suite.findall("testcase")
    # Every checked object plus the synthesized one for the orphan finding.
    assert len(cases) == len(OBJECTS) + 1 == int(suite.get("tests", ""))
    failures = suite.findall("testcase/failure")
    assert len(failures) == len(ERRORS)
    assert sorted(f.get("type", "") for f in failures) == sorted(f.rule for f in ERRORS)
    failed_cases = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures", "")) == len(failed_cases) == 3

    by_name = {case.get("name"): case for case in cases}
    run_case = by_name["train-lr (run-1)"]
    assert run_case.get("classname") == "mlflow-guard.run"
    messages = [f.get("message") for f in run_case.findall("failure")]
    assert NASTY in messages  # quotes, <, &, %, newline all survive the round trip
    assert URL in (run_case.findall("failure")[0].text or "")
    assert by_name["clean-run (run-2)"].find("failure") is None

    # Warnings never fail a testcase; they are listed in its system-out.
    model_case = by_name["model (m-1)"]
    assert model_case.find("failure") is None
    assert "MLG305 signature" in (model_case.findtext("system-out") or "")
    assert by_name["orphan model"].get("classname") == "mlflow-guard.registered_model"


def test_junit_survives_characters_xml_cannot_carry() -> None:
    finding = _finding("MLG201", "error", "run", "r\x00", message="bad \x01 byte \ud800")
    root = ET.fromstring(render("junit", make_report(findings=(finding,), objects=())))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == "bad \\u0001 byte \\ud800"


def test_junit_empty_report() -> None:
    suite = ET.fromstring(render("junit", make_report(findings=()))).find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(OBJECTS)) and suite.get("failures") == "0"


# --- sarif ----------------------------------------------------------------------------------

# A hand-written subset of the SARIF 2.1.0 schema: the properties this reporter emits and that
# consumers (GitHub code scanning in particular) require. No schema download in tests.
SARIF_SUBSET: dict[str, Any] = {
    "top": {"$schema", "version", "runs"},
    "run": {"tool", "results"},
    "driver": {"name", "informationUri", "rules"},
    "rule": {"id", "name", "shortDescription", "fullDescription", "help", "defaultConfiguration"},
    "result": {"ruleId", "ruleIndex", "level", "message", "locations", "partialFingerprints"},
    "levels": {"none", "note", "warning", "error"},
}


def test_sarif_document() -> None:
    data = json.loads(render("sarif", make_report()))
    assert SARIF_SUBSET["top"] <= set(data)
    assert data["version"] == "2.1.0"
    assert data["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    run = data["runs"][0]
    assert SARIF_SUBSET["run"] <= set(run)
    driver = run["tool"]["driver"]
    assert SARIF_SUBSET["driver"] <= set(driver)
    assert driver["name"] == "mlflow-guard"

    rules = driver["rules"]
    # Report.rules first, then a fallback descriptor for the rule the report did not list.
    assert [r["id"] for r in rules] == ["MLG101", "MLG201", "MLG305", "MLG999"]
    for rule in rules:
        assert SARIF_SUBSET["rule"] <= set(rule)
        assert rule["defaultConfiguration"]["level"] in SARIF_SUBSET["levels"]
    assert rules[1]["name"] == "RequiredTag"
    assert rules[1]["shortDescription"]["text"] == "Runs carry the required tags."
    assert "Why: ownership." in rules[1]["help"]["text"]
    assert (
        "tags.\n\n**Why:** ownership.\n\n**Anti-pattern:** no tags." in rules[1]["help"]["markdown"]
    )
    assert rules[0]["fullDescription"]["text"].startswith("Experiment names follow")

    results = run["results"]
    assert len(results) == len(FINDINGS)
    assert [r["ruleId"] for r in results] == [f.rule for f in FINDINGS]
    for result, finding in zip(results, FINDINGS, strict=True):
        assert SARIF_SUBSET["result"] <= set(result)
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == finding.severity
        expected = f"{finding.message} {finding.url}" if finding.url else finding.message
        assert result["message"]["text"] == expected
        assert result.get("hostedViewerUri") == finding.url
        (location,) = result["locations"]
        # GitHub rejects an upload if any result lacks an artifact URI, and also when that URI
        # is absolute with another scheme than file (github/codeql-action#754): always relative
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact["uri"] and "://" not in artifact["uri"]
        assert artifact["uriBaseId"] == "MLFLOW_TRACKING"
        (logical,) = location["logicalLocations"]
        assert logical["name"] == finding.object_id
        assert logical["kind"] == finding.object_type

    assert results[1]["hostedViewerUri"] == URL and results[1]["properties"]["url"] == URL
    run_loc = results[2]["locations"][0]
    assert run_loc["logicalLocations"][0]["fullyQualifiedName"] == "experiment/1/run/run-1"
    assert run_loc["physicalLocation"]["artifactLocation"] == {
        "uri": "experiment/1/run/run-1",
        "uriBaseId": "MLFLOW_TRACKING",
    }
    # an https base would make every location absolute again: described, not given as a URI
    assert "uri" not in run["originalUriBaseIds"]["MLFLOW_TRACKING"]
    assert (
        "http://mlflow.example.com"
        in run["originalUriBaseIds"]["MLFLOW_TRACKING"]["description"]["text"]
    )
    orphan = results[5]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert orphan == "registered_model/orphan%20model"


def test_sarif_fingerprints_are_stable_and_unique() -> None:
    first = json.loads(render("sarif", make_report()))["runs"][0]["results"]
    again = json.loads(render("sarif", make_report()))["runs"][0]["results"]
    prints = [r["partialFingerprints"]["mlflowGuardFinding/v1"] for r in first]
    assert prints == [r["partialFingerprints"]["mlflowGuardFinding/v1"] for r in again]
    assert len(set(prints)) == len(prints)
    # Same identity, different numbers in the message: the alert keeps its fingerprint.
    a = _finding("MLG201", "error", "run", "r", message="run lacks 'owner' (3 days)")
    b = _finding("MLG201", "error", "run", "r", message="run lacks 'owner' (4 days)")
    fa, fb = (
        json.loads(render("sarif", make_report(findings=(f,))))["runs"][0]["results"][0][
            "partialFingerprints"
        ]
        for f in (a, b)
    )
    assert fa == fb


# --- github ---------------------------------------------------------------------------------


def test_github_annotations_and_escaping() -> None:
    lines = render("github", make_report()).splitlines()
    assert lines[0] == "::error title=MLG101 experiment-name::MLG101 on 1 (experiment 1)"
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == len(FINDINGS)
    # Errors first, ordered by rule code; warnings after.
    kinds = [line.split(" ", 1)[0] for line in commands]
    assert kinds == ["::error"] * 4 + ["::warning"] * 2
    nasty = next(line for line in commands if "second line" in line)
    assert "%0A" in nasty and "100%25 sure" in nasty and "\n" not in nasty
    assert f"(run run-1) {URL}" in lines[1]
    assert lines[-1] == "mlflow-guard: 4 errors, 2 warnings"


def test_github_property_escaping() -> None:
    assert github_reporter.escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    assert github_reporter.escape_data("a:b,c%d\r\n") == "a:b,c%25d%0D%0A"


def test_github_caps_annotations_per_type() -> None:
    many = [_finding(f"MLG{200 + i % 7}", "error", "run", f"r{i}") for i in range(37)]
    many += [_finding("MLG305", "warning", "run", f"w{i}") for i in range(12)]
    lines = render("github", make_report(findings=tuple(reversed(many)))).splitlines()
    errors = [line for line in lines if line.startswith("::error ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert len(errors) == 10 and len(warnings) == 10
    codes = [line.split("title=")[1][:6] for line in errors]
    assert codes == sorted(codes) and codes[0] == "MLG200"
    assert lines.index(warnings[0]) > lines.index(errors[-1])
    assert lines[-1] == (
        "mlflow-guard: 37 errors, 12 warnings "
        "(10 errors and 10 warnings annotated; see the full report)"
    )


def test_github_empty_and_baseline() -> None:
    out = render("github", make_report(findings=(), baseline_suppressed=2, baseline_fixed=0))
    assert out == (
        "mlflow-guard: no findings; 2 findings hidden by the baseline, 0 baselined findings fixed\n"
    )

"""Rule behaviour, driven by the data files in ``tests/rule_cases``.

Each case is a JSON merge patch over the clean records of ``rule_cases/_base.json`` plus the
rule codes expected. Every case runs twice: with only its rule selected, and with every rule
(where, unless the case says otherwise in ``expect_all``, the same findings and nothing else must
come out, so a "clean" record is clean under the whole catalogue).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_mlflow_guard.config import (
    EXPERIMENT_NAME_PATTERN,
    REGISTERED_MODEL_NAME_PATTERN,
    REQUIRED_TAGS,
    GuardConfig,
    from_mapping,
)
from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.gate.engine import Engine
from pytest_mlflow_guard.gate.findings import Finding
from pytest_mlflow_guard.gate.rules import (
    ALL_RULES,
    doc_sections,
    get_rule,
    resolve_selector,
    rule_infos,
)
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    Record,
    RegisteredModelRecord,
    RunRecord,
)

CASES_DIR = Path(__file__).parent / "rule_cases"
BASE: dict[str, Any] = json.loads((CASES_DIR / "_base.json").read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(BASE["now"])
RECORD_KEYS = ("experiment", "run", "registered_model")


# --- building records from case data ---------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: null deletes, objects merge, anything else replaces."""
    if not isinstance(patch, dict) or "$repeat" in patch:
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def expand(value: Any) -> Any:
    """Resolve ``{"$repeat": [text, n]}`` (long values would drown the data files)."""
    if isinstance(value, dict):
        if "$repeat" in value:
            text, times = value["$repeat"]
            return text * times
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def build_run(patch: dict[str, Any]) -> RunRecord:
    data = expand(merge_patch(BASE["run"], patch))
    models = tuple(
        build_logged_model(merge_patch(BASE["logged_model"], item), data)
        for item in data.get("logged_models", [])
    )
    return RunRecord(
        run_id=data["run_id"],
        experiment_id=data["experiment_id"],
        experiment_name=data["experiment_name"],
        run_name=data.get("run_name"),
        status=data["status"],
        start_time=when(data.get("start_time")),
        end_time=when(data.get("end_time")),
        tags=data.get("tags", {}),
        params=data.get("params", {}),
        metric_keys=frozenset(data.get("metric_keys", [])),
        has_requirements=data.get("has_requirements"),
        logged_models=models,
        name_generated=data.get("name_generated"),
        requirements_unreadable=data.get("requirements_unreadable"),
    )


def build_logged_model(data: dict[str, Any], run: dict[str, Any]) -> LoggedModelRecord:
    return LoggedModelRecord(
        model_id=data["model_id"],
        experiment_id=data.get("experiment_id", run["experiment_id"]),
        run_id=data.get("run_id", run["run_id"]),
        name=data["name"],
        has_signature=data.get("has_signature"),
        has_input_example=data.get("has_input_example"),
        flavors=tuple(data.get("flavors", [])),
        tags=data.get("tags", {}),
        unreadable=data.get("unreadable"),
    )


def build_experiment(patch: dict[str, Any]) -> ExperimentRecord:
    data = expand(merge_patch(BASE["experiment"], patch))
    return ExperimentRecord(
        experiment_id=data["experiment_id"], name=data["name"], tags=data.get("tags", {})
    )


def build_registered_model(patch: dict[str, Any]) -> RegisteredModelRecord:
    data = expand(merge_patch(BASE["registered_model"], patch))
    versions = []
    for item in data.get("versions", []):
        version = merge_patch(BASE["model_version"], item)
        # the source run is itself a patch over the base run: keep its nulls for build_run
        source_run = item["source_run"] if "source_run" in item else version.get("source_run")
        versions.append(
            ModelVersionRecord(
                name=data["name"],
                version=version["version"],
                stage=version["stage"],
                aliases=tuple(version.get("aliases", [])),
                run_id=version.get("run_id"),
                source=version.get("source", ""),
                has_signature=version.get("has_signature"),
                tags=version.get("tags", {}),
                creation_time=when(version.get("creation_time")),
                last_updated_time=when(version.get("last_updated_time")),
                source_run=build_run(source_run) if source_run is not None else None,
                source_run_missing=version.get("source_run_missing", False),
                signature_unreadable=version.get("signature_unreadable"),
                source_run_unreadable=version.get("source_run_unreadable"),
            )
        )
    return RegisteredModelRecord(
        name=data["name"],
        tags=data.get("tags", {}),
        aliases={alias: v.version for v in versions for alias in v.aliases},
        versions=tuple(versions),
    )


def build_record(case: dict[str, Any]) -> Record:
    (key,) = [key for key in RECORD_KEYS if key in case]
    if key == "experiment":
        return build_experiment(case[key])
    if key == "run":
        return build_run(case[key])
    return build_registered_model(case[key])


def load_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(CASES_DIR.glob("*.json")):
        if path.name.startswith("_"):
            continue
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            yield f"{path.stem}:{case['rule']}:{case['id']}", case


CASES = list(load_cases())
CASE_PARAMS = [pytest.param(case, id=case_id) for case_id, case in CASES]


def run_case(case: dict[str, Any], select: list[str]) -> list[Finding]:
    config = from_mapping({**case.get("config", {}), "select": select})
    return list(Engine(config, now=NOW).check([build_record(case)]))


def codes(findings: list[Finding]) -> list[str]:
    return sorted(finding.rule for finding in findings)


def assert_messages(case: dict[str, Any], findings: list[Finding]) -> None:
    messages = [finding.message for finding in findings]
    for expected in case.get("messages", []):
        assert any(expected in message for message in messages), (expected, messages)


# --- the data-driven cases -------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_case_with_only_its_rule(case: dict[str, Any]) -> None:
    # MLG004 findings come from the rule that could not decide: such cases name it in "select"
    findings = run_case(case, case.get("select", [case["rule"]]))
    assert codes(findings) == sorted(case["expect"])
    assert_messages(case, findings)
    for finding in findings:
        # a finding always points at an object of the kind its rule checks
        assert finding.object_type in get_rule(finding.rule).kinds


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_case_with_all_rules(case: dict[str, Any]) -> None:
    findings = run_case(case, ["ALL"])
    assert codes(findings) == sorted(case.get("expect_all", case["expect"]))
    if "expect_all" not in case:
        assert_messages(case, findings)


def test_every_rule_has_a_violating_and_a_passing_case() -> None:
    violating = {case["rule"] for _, case in CASES if case["rule"] in case["expect"]}
    passing = {case["rule"] for _, case in CASES if not case["expect"]}
    all_codes = {rule.code for rule in ALL_RULES}
    assert all_codes - violating == set()
    assert all_codes - passing == set()


def test_case_files_name_only_known_rules_and_unique_ids() -> None:
    ids = [case_id for case_id, _ in CASES]
    assert len(ids) == len(set(ids))
    for _, case in CASES:
        get_rule(case["rule"])
        for code in case["expect"] + case.get("expect_all", []):
            get_rule(code)


def test_base_records_are_clean_under_all_rules() -> None:
    records: list[Record] = [
        build_experiment({}),
        build_run({"logged_models": [{}]}),
        build_registered_model({}),
    ]
    engine = Engine(GuardConfig(), now=NOW)
    assert list(engine.check(records)) == []
    assert engine.checked == {
        "experiments": 1,
        "runs": 1,
        "logged_models": 1,
        "registered_models": 1,
        "model_versions": 1,
    }


# --- the catalogue and its documentation ----------------------------------------------------


def test_codes_and_names_are_unique_and_well_formed() -> None:
    rule_codes = [rule.code for rule in ALL_RULES]
    names = [rule.name for rule in ALL_RULES]
    assert len(set(rule_codes)) == len(rule_codes)
    assert len(set(names)) == len(names)
    assert rule_codes == sorted(rule_codes)
    assert all(re.fullmatch(r"MLG\d{3}", code) for code in rule_codes)
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", name) for name in names)


def test_catalogue_matches_the_documented_table() -> None:
    table = {
        "MLG001": ("unused-suppression", "warning"),
        "MLG002": ("unknown-suppression", "warning"),
        "MLG004": ("unchecked", "error"),
        "MLG101": ("experiment-name", "error"),
        "MLG102": ("run-name", "error"),
        "MLG103": ("registered-model-name", "error"),
        "MLG201": ("required-tag", "error"),
        "MLG202": ("tag-value", "error"),
        "MLG203": ("git-commit", "error"),
        "MLG204": ("dirty-tree", "warning"),
        "MLG301": ("model-signature", "error"),
        "MLG302": ("input-example", "warning"),
        "MLG303": ("version-signature", "error"),
        "MLG304": ("version-source-run", "error"),
        "MLG401": ("single-production", "error"),
        "MLG402": ("stale-staging", "warning"),
        "MLG403": ("stage-alias", "warning"),
        "MLG501": ("environment-recorded", "error"),
        "MLG502": ("source-command", "warning"),
        "MLG503": ("params-logged", "warning"),
        "MLG601": ("stale-running", "warning"),
        "MLG602": ("truncated-value", "warning"),
    }
    for code, (name, severity) in table.items():
        rule = get_rule(code)
        assert (rule.name, rule.default_severity) == (name, severity)


def test_readme_rules_table_is_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    # the README's table is `mlflow-guard rules --format markdown`, pasted: a new or renamed
    # rule must show up there too
    from pytest_mlflow_guard.cli import main

    main(["rules", "--format", "markdown"])
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("| code | name |")
    table = readme[start : readme.index("<!-- /rules-table -->", start)]
    assert table == capsys.readouterr().out


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.code)
def test_docstring_has_summary_why_antipattern_fix(rule: Any) -> None:
    sections = doc_sections(rule.__doc__ or "")
    assert set(sections) == {"summary", "why", "anti-pattern", "fix"}
    summary = sections["summary"]
    assert summary.endswith(".") and len(summary) <= 100
    assert len(sections["why"].split()) >= 15, "Why should explain, not just restate"
    assert sections["anti-pattern"].strip()
    assert sections["fix"].strip()


def test_rule_infos_come_from_the_classes() -> None:
    infos = rule_infos()
    assert [info.code for info in infos] == [rule.code for rule in ALL_RULES]
    for info, rule in zip(infos, ALL_RULES, strict=True):
        assert info.name == rule.name
        assert info.default_severity == rule.default_severity
        assert info.doc.splitlines()[0] == info.summary
        assert "Why:" in info.doc and "Fix:" in info.doc
        assert not info.doc.startswith(" ")  # cleaned, ready to print


def test_doc_sections_parses_indented_code() -> None:
    doc = """Summary.

    Why:
    Because.

    Anti-pattern:
        bad()

    Fix:
    Do this:
        good()
    """
    assert doc_sections(doc) == {
        "summary": "Summary.",
        "why": "Because.",
        "anti-pattern": "bad()",
        "fix": "Do this:\n    good()",
    }


@pytest.mark.parametrize("key", ["MLG201", "mlg201", "required-tag", "REQUIRED-TAG", " MLG201 "])
def test_get_rule_is_case_insensitive_by_code_or_name(key: str) -> None:
    assert get_rule(key).code == "MLG201"


def test_get_rule_unknown_names_the_value_and_lists_codes() -> None:
    with pytest.raises(ConfigError) as excinfo:
        get_rule("MLG999")
    message = str(excinfo.value)
    assert "'MLG999'" in message
    assert all(rule.code in message for rule in ALL_RULES)


def test_resolve_selector_all_code_name_and_unknown() -> None:
    assert resolve_selector("all") == ALL_RULES
    assert [rule.code for rule in resolve_selector("dirty-tree")] == ["MLG204"]
    assert [rule.code for rule in resolve_selector("mlg204")] == ["MLG204"]
    for unknown in ("MLG2", "MLG7", "", "dirty"):
        with pytest.raises(ConfigError, match=f"'{unknown}'"):
            resolve_selector(unknown)


# --- properties -----------------------------------------------------------------------------

HEX = "0123456789abcdefABCDEF"


def run_with(**changes: Any) -> RunRecord:
    return build_run(changes)


def check_run(run: RunRecord, select: str, config: GuardConfig | None = None) -> list[Finding]:
    engine = Engine(replace(config or GuardConfig(), select=(select,)), now=NOW)
    return list(engine.check([run]))


@given(st.sampled_from([40, 64]).flatmap(lambda n: st.text(HEX, min_size=n, max_size=n)))
def test_git_commit_accepts_any_full_sha(sha: str) -> None:
    assert check_run(run_with(tags={"git.commit": sha}), "MLG203") == []


@given(
    st.text(HEX, min_size=1, max_size=80).filter(lambda text: len(text) not in (40, 64))
    | st.text(min_size=1).filter(
        lambda text: text.strip() != "" and not re.fullmatch(f"[{HEX}]*", text)
    )
)
def test_git_commit_rejects_anything_else(value: str) -> None:
    findings = check_run(run_with(tags={"git.commit": value}), "MLG203")
    assert [finding.rule for finding in findings] == ["MLG203"]
    assert findings[0].message_key == "git.commit"


@given(st.from_regex(r"[a-z]+-[a-z]+-\d{1,4}", fullmatch=True))
def test_generated_run_names_are_reported(name: str) -> None:
    findings = check_run(run_with(run_name=name), "MLG102")
    assert [finding.message for finding in findings] == [
        f"run name '{name}' looks generated by MLflow; give the run a descriptive name"
    ]


@given(st.from_regex(r"[a-z]+_[a-z0-9]+", fullmatch=True))
def test_names_without_the_generated_shape_pass(name: str) -> None:
    assert check_run(run_with(run_name=name), "MLG102") == []


@given(st.from_regex(EXPERIMENT_NAME_PATTERN, fullmatch=True))
def test_experiment_names_matching_the_pattern_pass(name: str) -> None:
    engine = Engine(GuardConfig(select=("MLG101",)))
    assert list(engine.check([build_experiment({"name": name})])) == []


@given(
    st.from_regex(EXPERIMENT_NAME_PATTERN, fullmatch=True), st.integers(min_value=0, max_value=30)
)
def test_experiment_names_with_a_capital_fail(name: str, where: int) -> None:
    position = where % len(name)
    bad = name[:position] + "X" + name[position + 1 :]
    engine = Engine(GuardConfig(select=("MLG101",)))
    findings = list(engine.check([build_experiment({"name": bad})]))
    assert [finding.rule for finding in findings] == ["MLG101"]


@given(
    st.from_regex(REGISTERED_MODEL_NAME_PATTERN, fullmatch=True),
    st.sampled_from([" ", "-", ".", "/"]),
)
def test_registered_model_names_with_separators_fail(name: str, separator: str) -> None:
    engine = Engine(GuardConfig(select=("MLG103",)))
    good = list(engine.check([build_registered_model({"name": name})]))
    bad = list(engine.check([build_registered_model({"name": name + separator + "v2"})]))
    assert good == []
    assert [finding.rule for finding in bad] == ["MLG103"]


@given(st.sets(st.sampled_from(REQUIRED_TAGS)))
def test_required_tag_reports_exactly_the_missing_tags_in_config_order(missing: set[str]) -> None:
    run = run_with(tags=dict.fromkeys(missing))  # null in a merge patch deletes the tag
    findings = check_run(run, "MLG201")
    assert [finding.message_key for finding in findings] == [
        tag for tag in REQUIRED_TAGS if tag in missing
    ]
    fingerprints = Counter(finding.fingerprint() for finding in findings)
    assert all(count == 1 for count in fingerprints.values())  # one baseline entry per tag


@given(st.floats(min_value=0, max_value=400, allow_nan=False))
def test_stale_running_threshold(hours_ago: float) -> None:
    run = run_with(
        status="RUNNING",
        start_time=(NOW - timedelta(hours=hours_ago)).isoformat(),
    )
    findings = check_run(run, "MLG601")
    assert bool(findings) == (hours_ago > 24)


@given(st.integers(min_value=0, max_value=9000), st.booleans())
def test_truncated_value_is_exactly_the_limit(length: int, as_param: bool) -> None:
    value = "v" * length
    run = run_with(params={"p": value}) if as_param else run_with(tags={"t": value})
    findings = check_run(run, "MLG602")
    limit = 6000 if as_param else 8000
    assert bool(findings) == (length == limit)


def test_naive_and_aware_times_agree() -> None:
    aware = run_with(status="RUNNING", start_time="2025-05-31T06:00:00+00:00")
    naive = run_with(status="RUNNING", start_time="2025-05-31T06:00:00")
    assert naive.start_time is not None and naive.start_time.tzinfo is None
    assert [f.message for f in check_run(aware, "MLG601")] == [
        f.message for f in check_run(naive, "MLG601")
    ]
    assert NOW.tzinfo == timezone.utc

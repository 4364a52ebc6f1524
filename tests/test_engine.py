"""The engine: selection, severities, overrides, suppressions, MLG304, streaming, finding fields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from pytest_mlflow_guard.config import GuardConfig, from_mapping
from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.gate.engine import Engine
from pytest_mlflow_guard.gate.findings import CheckedObject, Finding
from pytest_mlflow_guard.gate.rules import ALL_RULES
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    Record,
    RegisteredModelRecord,
    RunRecord,
)
from pytest_mlflow_guard.vocabulary import TAG_IGNORE as IGNORE_TAG
from pytest_mlflow_guard.vocabulary import TAG_IGNORE_REASON as IGNORE_REASON_TAG

NOW = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
SHA = "0123456789abcdef0123456789abcdef01234567"
CLEAN_TAGS = {
    "os.user": "alice",
    "git.commit": SHA,
    "source.type": "script",
    "model.type": "xgboost",
    "run.mode": "training",
    "source.command": "python train.py",
}


def make_run(
    run_id: str = "r1",
    experiment: str = "fraud/scoring",
    experiment_id: str = "1",
    *,
    drop: tuple[str, ...] = (),
    **changes: Any,
) -> RunRecord:
    tags = {k: v for k, v in {**CLEAN_TAGS, **changes.pop("tags", {})}.items() if k not in drop}
    run = RunRecord(
        run_id=run_id,
        experiment_id=experiment_id,
        experiment_name=experiment,
        run_name="xgb-baseline",
        status="FINISHED",
        start_time=NOW - timedelta(hours=2),
        tags=tags,
        params={"max_depth": "6"},
        has_requirements=True,
    )
    return replace(run, **changes)


def make_model(
    model_id: str = "m-1", run_id: str | None = "r1", **changes: Any
) -> LoggedModelRecord:
    model = LoggedModelRecord(
        model_id=model_id,
        experiment_id="1",
        run_id=run_id,
        name="model",
        has_signature=True,
        has_input_example=True,
    )
    return replace(model, **changes)


def make_version(version: str = "1", **changes: Any) -> ModelVersionRecord:
    base = ModelVersionRecord(
        name="fraud_scorer",
        version=version,
        stage="None",
        run_id="r1",
        source="runs:/r1/model",
        has_signature=True,
        last_updated_time=NOW - timedelta(days=1),
    )
    return replace(base, **changes)


def make_registered(*versions: ModelVersionRecord, **changes: Any) -> RegisteredModelRecord:
    return replace(RegisteredModelRecord(name="fraud_scorer", versions=versions), **changes)


def check(records: list[Record], **config: Any) -> list[Finding]:
    return list(Engine(from_mapping(config), now=NOW).check(records))


def rules_of(findings: list[Finding]) -> list[str]:
    return [finding.rule for finding in findings]


# a run breaking MLG102 (error), MLG201 (error), MLG204 (warning), MLG502 (warning)
MESSY = make_run(
    run_name="bold-hawk-42", drop=("os.user", "source.command"), tags={"git.dirty": "true"}
)


# --- selection and severity ------------------------------------------------------------------


def test_default_reports_every_rule_in_code_order() -> None:
    assert rules_of(check([MESSY])) == ["MLG102", "MLG201", "MLG204", "MLG502"]


@pytest.mark.parametrize(
    "select", [["MLG201", "MLG204"], ["required-tag", "DIRTY-TREE"], ["mlg201", "dirty-tree"]]
)
def test_select_by_code_or_name(select: list[str]) -> None:
    assert rules_of(check([MESSY], select=select)) == ["MLG201", "MLG204"]


@pytest.mark.parametrize("ignore", [["MLG204", "MLG502"], ["dirty-tree", "Source-Command"]])
def test_ignore_by_code_or_name(ignore: list[str]) -> None:
    assert rules_of(check([MESSY], ignore=ignore)) == ["MLG102", "MLG201"]


def test_ignore_wins_over_select() -> None:
    assert rules_of(check([MESSY], select=["MLG201", "MLG204"], ignore=["MLG201"])) == ["MLG204"]


def test_severity_overrides_by_code_and_name_and_off() -> None:
    findings = check(
        [MESSY], severity={"MLG204": "error", "required-tag": "warning", "run-name": "off"}
    )
    assert [(f.rule, f.severity) for f in findings] == [
        ("MLG201", "warning"),
        ("MLG204", "error"),
        ("MLG502", "warning"),
    ]


def test_default_severities_are_used_without_overrides() -> None:
    severities = {f.rule: f.severity for f in check([MESSY])}
    assert severities == {
        "MLG102": "error",
        "MLG201": "error",
        "MLG204": "warning",
        "MLG502": "warning",
    }


@pytest.mark.parametrize(
    ("config", "unknown", "where"),
    [
        ({"select": ["MLG201", "MLG999"]}, "MLG999", "select"),
        ({"select": ["required-tag", "tag-valu"]}, "tag-valu", "select"),
        ({"select": ["MLG2"]}, "MLG2", "select"),  # no code prefixes: a typo as often as a wish
        ({"ignore": ["MLG999"]}, "MLG999", "ignore"),
        ({"severity": {"MLG999": "error"}}, "MLG999", "severity"),
        (
            {"overrides": [{"experiments": ["x/*"], "select": ["MLG999"]}]},
            "MLG999",
            "overrides]] #1 select",
        ),
        (
            {"overrides": [{"experiments": ["x/*"], "severity": {"MLG999": "off"}}]},
            "MLG999",
            "overrides]] #1 severity",
        ),
    ],
)
def test_unknown_rule_is_a_config_error_naming_it(
    config: dict[str, Any], unknown: str, where: str
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Engine(from_mapping(config))
    message = str(excinfo.value)
    assert f"unknown rule {unknown!r}" in message
    assert where in message
    assert "MLG201" in message and "MLG602" in message  # lists the valid codes


def test_unknown_severity_level_is_a_config_error() -> None:
    # from_mapping validates levels too; the engine must also cope with a hand-built config
    with pytest.raises(ConfigError, match="'fatal'"):
        Engine(GuardConfig(severity={"MLG201": "fatal"}))


def test_all_is_accepted_in_select_in_any_case() -> None:
    assert Engine(from_mapping({"select": ["all"]})).enabled_codes == tuple(
        rule.code for rule in ALL_RULES
    )


# --- per-experiment overrides ----------------------------------------------------------------


def test_overrides_apply_only_to_matching_experiments() -> None:
    config = {
        "overrides": [
            {"experiments": ["sandbox/*"], "severity": {"MLG201": "off", "MLG102": "warning"}}
        ]
    }
    sandbox = replace(MESSY, run_id="r-sandbox", experiment_name="sandbox/alice")
    findings = check([MESSY, sandbox], **config)
    by_run = {(f.object_id, f.rule): f.severity for f in findings}
    assert by_run[("r1", "MLG201")] == "error"
    assert by_run[("r1", "MLG102")] == "error"
    assert ("r-sandbox", "MLG201") not in by_run
    assert by_run[("r-sandbox", "MLG102")] == "warning"


def test_override_selection_and_the_experiment_record_itself() -> None:
    config = {"overrides": [{"experiments": ["Default"], "ignore": ["experiment-name"]}]}
    default = ExperimentRecord("0", "Default")
    other = ExperimentRecord("2", "Scratch")
    assert [(f.object_id, f.rule) for f in check([default, other], **config)] == [("2", "MLG101")]


def test_override_config_reaches_rule_parameters() -> None:
    config = {"overrides": [{"experiments": ["batch/*"], "stale-running-hours": 72}]}
    stuck: dict[str, Any] = {"status": "RUNNING", "start_time": NOW - timedelta(hours=30)}
    findings = check(
        [make_run("r-a", **stuck), make_run("r-b", "batch/nightly", **stuck)],
        select=["MLG601"],
        **config,
    )
    assert [f.object_id for f in findings] == ["r-a"]


# --- suppressions ----------------------------------------------------------------------------


def suppress(value: str, reason: str | None = "agreed in DS-1") -> dict[str, str]:
    tags = {IGNORE_TAG: value}
    if reason is not None:
        tags[IGNORE_REASON_TAG] = reason
    return tags


def test_suppression_exempts_only_the_listed_rules() -> None:
    run = replace(MESSY, tags={**MESSY.tags, **suppress("MLG204, run-name")})
    assert rules_of(check([run])) == ["MLG201", "MLG502"]


def test_unused_and_unknown_entries_are_reported_on_the_object() -> None:
    run = make_run(tags=suppress("MLG204,MLG2O1"))
    findings = check([run])
    assert [(f.rule, f.object_type, f.object_id, f.severity) for f in findings] == [
        ("MLG001", "run", "r1", "warning"),
        ("MLG002", "run", "r1", "warning"),
    ]
    assert findings[0].message_key == "MLG204"
    assert findings[1].message_key == "MLG2O1"


def test_meta_rules_can_be_ignored_or_suppressed() -> None:
    run = make_run(tags=suppress("MLG204, nope"))
    assert check([run], ignore=["MLG001", "MLG002"]) == []
    quiet = make_run(tags=suppress("MLG204, nope, MLG001, MLG002"))
    assert check([quiet]) == []


def test_missing_reason_is_reported() -> None:
    run = make_run(tags={**suppress("MLG204", reason=None), "git.dirty": "true"})
    assert rules_of(check([run])) == ["MLG003"]


def test_suppression_on_logged_model_version_model_and_experiment() -> None:
    run = make_run(
        logged_models=(
            make_model(has_signature=False, tags=suppress("MLG301")),
            make_model("m-2", has_input_example=False),
        )
    )
    model = make_registered(
        make_version("1", stage="Production", has_signature=False, tags=suppress("MLG303")),
        make_version("2", stage="Production"),
        tags=suppress("MLG401,MLG403"),
    )
    experiment = ExperimentRecord("7", "Default", tags=suppress("MLG101"))
    findings = check([experiment, run, model])
    assert [(f.rule, f.object_id) for f in findings] == [("MLG302", "m-2")]


def test_run_suppression_covers_logged_models_and_counts_as_used() -> None:
    run = make_run(tags=suppress("MLG301"), logged_models=(make_model(has_signature=False),))
    assert check([run]) == []
    # without a model to cover the entry is stale, and the message says which object holds it
    lone = make_run(tags=suppress("MLG301"))
    (finding,) = check([lone])
    assert (finding.rule, finding.object_type) == ("MLG001", "run")


def test_an_entry_repeated_on_the_child_is_used_on_both() -> None:
    # MLflow 3 stamps a run's context tags onto the models it logs, so a suppression that reaches
    # the run through the run-context provider (the pytest marker) is on the model too: neither
    # copy is stale. Seen with @pytest.mark.mlflow_guard(ignore=["MLG301"]) and a real store.
    run = make_run(
        tags=suppress("MLG301"),
        logged_models=(make_model(has_signature=False, tags=suppress("MLG301")),),
    )
    assert check([run]) == []


def test_switched_off_rule_entries_are_judged_by_running_the_rule() -> None:
    dirty = make_run(tags={**suppress("MLG204"), "git.dirty": "true"})
    clean = make_run("r2", tags=suppress("MLG204"))
    findings = check([dirty, clean], severity={"MLG204": "off"})
    assert [(f.rule, f.object_id) for f in findings] == [("MLG001", "r2")]


# --- MLG304 version-source-run ---------------------------------------------------------------


def version_findings(version: ModelVersionRecord, *records: Record, **config: Any) -> list[str]:
    model = make_registered(replace(version, stage="Production"))
    return [
        f.message
        for f in check([*records, model], **config)
        if f.rule == "MLG304" and f.object_type == "model_version"
    ]


def test_source_run_attached_with_an_error() -> None:
    version = make_version(source_run=make_run(drop=("git.commit",)))
    assert version_findings(version) == ["source run 'r1' has error findings: MLG201"]


def test_source_run_attached_and_clean() -> None:
    assert version_findings(make_version(source_run=make_run())) == []


def test_source_run_missing() -> None:
    version = make_version(source_run_missing=True)
    assert version_findings(version) == ["source run 'r1' no longer exists"]


def test_source_run_remembered_from_this_scan() -> None:
    bad_run = make_run("r-bad", drop=("git.commit",))
    clean_run = make_run("r-ok")
    bad = version_findings(make_version(run_id="r-bad"), bad_run, clean_run)
    ok = version_findings(make_version(run_id="r-ok"), bad_run, clean_run)
    unseen = version_findings(make_version(run_id="r-elsewhere"), bad_run, clean_run)
    assert bad == ["source run 'r-bad' has error findings: MLG201"]
    assert ok == []
    assert unseen == []  # not in the scan and not attached: unknown, not a finding


def test_source_run_judged_by_all_rules_even_when_only_mlg304_is_selected() -> None:
    bad_run = make_run("r-bad", drop=("git.commit",))
    assert version_findings(make_version(run_id="r-bad"), bad_run, select=["MLG304"]) == [
        "source run 'r-bad' has error findings: MLG201"
    ]
    attached = make_version(source_run=bad_run, run_id="r-bad")
    assert version_findings(attached, select=["MLG304"]) != []
    assert version_findings(attached, select=["MLG304"], ignore=["MLG201"]) == []


def test_source_run_warnings_and_suppressed_errors_do_not_count() -> None:
    warned = make_run("r-w", tags={"git.dirty": "true"})
    excused = make_run("r-x", drop=("git.commit",), tags=suppress("MLG201"))
    assert version_findings(make_version(run_id="r-w"), warned) == []
    assert version_findings(make_version(run_id="r-x"), excused) == []


def test_error_memory_holds_only_runs_with_errors() -> None:
    engine = Engine(GuardConfig(), now=NOW)
    runs = [make_run(f"r{i}") for i in range(50)] + [make_run("bad", drop=("os.user",))]
    list(engine.check(runs))
    assert engine._error_runs == {"bad": ("MLG201",)}
    off = Engine(GuardConfig(ignore=("MLG304",)), now=NOW)
    list(off.check(runs))
    assert off._error_runs == {}  # nobody would read it


# --- streaming -------------------------------------------------------------------------------


def test_input_is_consumed_lazily() -> None:
    pulled: list[str] = []

    def stream() -> Iterator[Record]:
        for i in range(1000):
            pulled.append(f"r{i}")
            yield make_run(f"r{i}", drop=("os.user",))

    findings = Engine(GuardConfig(), now=NOW).check(stream())
    assert pulled == []  # nothing happens until the first finding is asked for
    first = next(findings)
    assert first.object_id == "r0"
    assert pulled == ["r0"]
    assert next(findings).object_id == "r1"
    assert len(pulled) == 2


def test_counts_and_collected_objects() -> None:
    records: list[Record] = [
        ExperimentRecord("1", "fraud/scoring"),
        make_run(logged_models=(make_model(), make_model("m-2"))),
        make_run("r2", run_name=None),
        make_registered(make_version("1"), make_version("2")),
    ]
    engine = Engine(GuardConfig(), now=NOW, collect_objects=True)
    findings = list(engine.check(records))
    assert rules_of(findings) == ["MLG102"]
    assert engine.checked == {
        "experiments": 1,
        "runs": 2,
        "logged_models": 2,
        "registered_models": 1,
        "model_versions": 2,
    }
    assert engine.objects == [
        CheckedObject("experiment", "1", "fraud/scoring", "1"),
        CheckedObject("run", "r1", "xgb-baseline", "1"),
        CheckedObject("logged_model", "m-1", "model", "1"),
        CheckedObject("logged_model", "m-2", "model", "1"),
        CheckedObject("run", "r2", "r2", "1"),
        CheckedObject("registered_model", "fraud_scorer", "fraud_scorer", None),
        CheckedObject("model_version", "fraud_scorer/1", "fraud_scorer/1", None),
        CheckedObject("model_version", "fraud_scorer/2", "fraud_scorer/2", None),
    ]
    assert Engine(GuardConfig()).objects == []


def test_objects_are_not_collected_by_default() -> None:
    engine = Engine(GuardConfig(), now=NOW)
    list(engine.check([make_run()]))
    assert engine.objects == []
    assert engine.checked["runs"] == 1


def test_unknown_record_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="LoggedModelRecord"):
        list(Engine(GuardConfig()).check([make_model()]))  # type: ignore[list-item]


# --- finding fields --------------------------------------------------------------------------


def test_finding_fields_for_every_object_kind() -> None:
    urls: list[str] = []

    def url_for(obj: object, workspace: str | None) -> str:
        assert workspace is None  # a store without workspaces
        label = type(obj).__name__
        urls.append(label)
        return f"http://ui/{label}"

    experiment = ExperimentRecord("9", "Bad Name")
    run = make_run(
        "r9",
        "fraud/scoring",
        "9",
        drop=("os.user",),
        logged_models=(make_model("m-9", run_id=None, has_signature=False),),
    )
    source = make_run("r9", experiment_id="9")
    model = make_registered(
        make_version("3", stage="Production", has_signature=False, run_id="r9", source_run=source),
        make_version("4", stage="Production", run_id="r9"),
    )
    clean = make_run("r-clean")
    # two versions in Production for MLG401; their missing aliases (MLG403) are not the point
    engine = Engine(GuardConfig(ignore=("MLG403",)), now=NOW, url_for=url_for)
    findings = list(engine.check([experiment, run, clean, model]))
    fields = [
        (f.rule, f.object_type, f.object_id, f.experiment_id, f.run_id, f.object_name, f.url)
        for f in findings
    ]
    assert fields == [
        ("MLG101", "experiment", "9", "9", None, "Bad Name", "http://ui/ExperimentRecord"),
        ("MLG201", "run", "r9", "9", "r9", "xgb-baseline", "http://ui/RunRecord"),
        ("MLG301", "logged_model", "m-9", "1", "r9", "model", "http://ui/LoggedModelRecord"),
        (
            "MLG401",
            "registered_model",
            "fraud_scorer",
            None,
            None,
            "fraud_scorer",
            "http://ui/RegisteredModelRecord",
        ),
        (
            "MLG303",
            "model_version",
            "fraud_scorer/3",
            "9",
            "r9",
            "fraud_scorer",
            "http://ui/ModelVersionRecord",
        ),
        (
            "MLG304",
            "model_version",
            "fraud_scorer/4",
            None,
            "r9",
            "fraud_scorer",
            "http://ui/ModelVersionRecord",
        ),
    ]
    # once per object with findings: the clean run costs no lookup
    assert urls == [
        "ExperimentRecord",
        "RunRecord",
        "LoggedModelRecord",
        "RegisteredModelRecord",
        "ModelVersionRecord",
        "ModelVersionRecord",
    ]
    assert findings[3].message == "2 versions are in stage Production: 3, 4"


def test_findings_name_the_workspace_of_their_object() -> None:
    from dataclasses import replace

    from pytest_mlflow_guard.records import WorkspaceRecord

    run = replace(
        make_run("r7", drop=("os.user",), logged_models=(make_model("m-7", has_signature=False),)),
        workspace="team-b",
    )
    model = replace(
        make_registered(
            make_version("1", stage="Production"), make_version("2", stage="Production")
        ),
        workspace="team-b",
    )
    same_name = replace(model, workspace="team-c")
    seen: list[tuple[str, str | None]] = []

    def url_for(obj: object, workspace: str | None) -> str:
        seen.append((type(obj).__name__, workspace))
        return f"http://ui/{workspace}"

    engine = Engine(GuardConfig(ignore=("MLG403", "MLG304")), now=NOW, url_for=url_for)
    unreadable = WorkspaceRecord("team-d", "reading it failed: Permission denied")
    findings = list(engine.check([run, model, same_name, unreadable]))
    assert {(f.rule, f.object_id, f.workspace) for f in findings} == {
        ("MLG201", "r7", "team-b"),
        ("MLG301", "m-7", "team-b"),  # a logged model is in its run's workspace
        ("MLG401", "fraud_scorer", "team-b"),
        ("MLG401", "fraud_scorer", "team-c"),
        ("MLG004", "team-d", "team-d"),
    }
    assert all(f.url == f"http://ui/{f.workspace}" for f in findings if f.rule != "MLG004")
    # the same model in two workspaces is two objects, for baselines too
    prints = {f.fingerprint() for f in findings if f.rule == "MLG401"}
    assert len(prints) == 2
    (lost,) = (f for f in findings if f.rule == "MLG004")
    assert lost.object_type == "workspace" and lost.severity == "error"
    assert "workspace 'team-d' could not be checked: reading it failed" in lost.message
    # without workspaces a fingerprint is what it always was (baselines written before stay)
    plain = next(f for f in Engine(GuardConfig()).check([make_run("r8", drop=("os.user",))]))
    assert plain.fingerprint() == f"MLG201|run|r8|{plain.message_key}"


def test_findings_within_an_object_are_ordered_by_code() -> None:
    run = make_run(
        run_name="",
        drop=("source.command", "git.commit"),
        tags={"git.dirty": "true", "run.mode": "training", "a": "x" * 8000},
        params={},
        status="RUNNING",
        start_time=NOW - timedelta(days=3),
        has_requirements=False,
    )
    findings = check([run])
    assert rules_of(findings) == sorted(rules_of(findings))
    assert rules_of(findings) == [
        "MLG102",
        "MLG201",
        "MLG204",
        "MLG501",
        "MLG502",
        "MLG503",
        "MLG601",
        "MLG602",
    ]
    # the engine's own meta findings take their place by code too
    stale = make_run(drop=("os.user",), tags=suppress("MLG204"))
    assert rules_of(check([stale])) == ["MLG001", "MLG201"]
    # run first, then its logged models in their order
    with_models = make_run(
        drop=("os.user",),
        logged_models=(
            make_model("m-b", has_signature=False),
            make_model("m-a", has_input_example=False),
        ),
    )
    assert [(f.object_id, f.rule) for f in check([with_models])] == [
        ("r1", "MLG201"),
        ("m-b", "MLG301"),
        ("m-a", "MLG302"),
    ]


def test_now_defaults_to_an_aware_current_time() -> None:
    engine = Engine(GuardConfig())
    assert engine.now.tzinfo is not None
    assert abs(datetime.now(timezone.utc) - engine.now) < timedelta(minutes=1)
    naive = Engine(GuardConfig(), now=datetime(2025, 1, 1))
    assert naive.now == datetime(2025, 1, 1, tzinfo=timezone.utc)

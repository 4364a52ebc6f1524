"""``mlflow-guard fix`` and ``check --annotate`` on a real sqlite store.

The store is what a team has before it adopts the guard: runs made by MLflow's own client, which
recorded the commit, the user and the source type under MLflow's tag names but not the team's,
and versions moved between stages by the bare client, without the aliases.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_mlflow_guard.cli import main
from pytest_mlflow_guard.edits import Edit, check_edit
from tests.reference_store import tiny_model, tracking

SHA = "89abcdef0123456789abcdef0123456789abcdef"
MLFLOW_CONTEXT = {  # what MLflow's context providers record for a script run from a checkout
    "mlflow.user": "alice",
    "mlflow.source.type": "LOCAL",
    "mlflow.source.name": "train.py",
    "mlflow.source.git.commit": SHA,
}
TEAM = {"run.mode": "training", "source.command": "python train.py"}


@dataclass
class Legacy:
    uri: str
    full: str  # MLflow's tags, a model: everything derivable
    partial: str  # its own os.user, a notebook, a short commit, no model
    blank: str  # source.type present but blank
    running: str  # still RUNNING
    clean: str  # the team's tags already


def _run(client: Any, exp: str, name: str, tags: dict[str, str], *, end: bool = True) -> str:
    run_id: str = client.create_run(exp, run_name=name, tags=tags).info.run_id
    client.log_param(run_id, "C", "1.0")
    client.log_text(run_id, "scikit-learn\n", "environment/requirements.txt")
    if end:
        client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture
def legacy(store: str, tmp_path: Path) -> Iterator[Legacy]:
    import mlflow
    from mlflow.models import infer_signature

    model, x = tiny_model()
    with tracking(store) as client:
        exp = client.create_experiment("legacy/train", artifact_location=str(tmp_path / "art"))
        full = _run(client, exp, "train-full", {**MLFLOW_CONTEXT, **TEAM}, end=False)
        with mlflow.start_run(run_id=full):
            mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(x, model.predict(x)),
                input_example=x[:2],
                serialization_format="cloudpickle",
            )
        client.set_terminated(full, "FINISHED")
        partial = _run(
            client,
            exp,
            "train-partial",
            {
                **MLFLOW_CONTEXT,
                **TEAM,
                "mlflow.source.type": "NOTEBOOK",
                "mlflow.source.git.commit": "abc123",
                "os.user": "bob",
            },
        )
        blank = _run(client, exp, "train-blank", {**MLFLOW_CONTEXT, **TEAM, "source.type": " "})
        running = _run(client, exp, "train-running", {**MLFLOW_CONTEXT, **TEAM}, end=False)
        clean_tags = {
            **TEAM,
            "os.user": "carol",
            "git.commit": SHA,
            "source.type": "script",
            "model.type": "none",
        }
        clean = _run(client, exp, "train-clean", clean_tags)
        client.create_registered_model("legacy_model")
        source = f"runs:/{full}/model"
        for _ in range(3):
            client.create_model_version("legacy_model", source, full)
        client.transition_model_version_stage("legacy_model", "1", "Production")
        client.transition_model_version_stage("legacy_model", "2", "Staging")
        client.set_registered_model_alias("legacy_model", "staging", "3")  # someone's choice
    yield Legacy(store, full, partial, blank, running, clean)


def dump(uri: str) -> dict[str, Any]:
    """Every tag, alias and stage in the store."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    client = MlflowClient(uri)
    exps = client.search_experiments(view_type=ViewType.ALL)
    runs = client.search_runs([e.experiment_id for e in exps], run_view_type=ViewType.ALL)
    models = client.search_registered_models()
    return {
        "experiments": {e.experiment_id: e.tags for e in exps},
        "runs": {r.info.run_id: (r.data.tags, r.info.status) for r in runs},
        "models": {m.name: (m.tags, m.aliases) for m in models},
        "versions": {
            f"{v.name}/{v.version}": (v.tags, v.current_stage)
            for v in client.search_model_versions()
        },
    }


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def findings(capsys: pytest.CaptureFixture[str], uri: str, *extra: str) -> list[tuple[str, ...]]:
    code, out, _ = cli(capsys, "check", "--tracking-uri", uri, "--format", "json", *extra)
    assert code in (0, 1)
    return sorted(
        (f["rule"], f["object_id"], f["message"].split("'")[1] if "'" in f["message"] else "")
        for f in json.loads(out)["findings"]
    )


def test_dry_run_prints_the_plan_and_writes_nothing(
    legacy: Legacy, capsys: pytest.CaptureFixture[str]
) -> None:
    before = dump(legacy.uri)
    code, out, _ = cli(capsys, "fix", "--tracking-uri", legacy.uri)
    assert code == 0
    assert dump(legacy.uri) == before
    assert "dry run, nothing written" in out
    assert out.splitlines()[2].split() == ["object", "field", "current", "new", "source"]
    rows = [line.split()[:6] for line in out.splitlines()[3:12]]
    assert ["run", legacy.full, "model.type", "-", "sklearn", "logged"] in rows
    (blank,) = [line for line in out.splitlines() if f"{legacy.blank}  source.type" in line]
    assert "  ' '  " in blank and "  script  " in blank  # a blank value counts as missing
    assert ["model_version", "legacy_model/1", "@production", "-", "1", "stage"] in rows
    assert "9 fields on 4 objects (5 runs and 3 model versions looked at)" in out


def test_apply_fills_only_what_is_missing_and_the_findings_go(
    legacy: Legacy, capsys: pytest.CaptureFixture[str]
) -> None:
    before_findings = findings(capsys, legacy.uri)
    before = dump(legacy.uri)
    code, out, err = cli(capsys, "fix", "--tracking-uri", legacy.uri, "--apply", "--format", "json")
    assert (code, err) == (0, "")
    plan = json.loads(out)
    assert plan["applied"] is True
    after = dump(legacy.uri)
    tags = {run_id: after["runs"][run_id][0] for run_id in after["runs"]}

    full = tags[legacy.full]
    assert (full["git.commit"], full["os.user"], full["source.type"]) == (SHA, "alice", "script")
    assert full["model.type"] == "sklearn"
    assert full["mlflow_guard.fixed_by"].startswith("mlflow-guard fix ")
    assert "git.commit, os.user, source.type, model.type" in full["mlflow_guard.fixed_by"]

    partial = tags[legacy.partial]
    assert partial["os.user"] == "bob"  # its own value, not MLflow's "alice"
    assert partial["source.type"] == "notebook"
    assert "git.commit" not in partial  # "abc123" is no commit SHA: left for a human
    assert "model.type" not in partial  # no model logged: nothing to derive it from

    assert tags[legacy.blank]["source.type"] == "script"
    assert tags[legacy.running] == before["runs"][legacy.running][0]
    assert tags[legacy.clean] == before["runs"][legacy.clean][0]  # nothing to do: untouched

    _, aliases = after["models"]["legacy_model"]
    assert aliases == {"production": 1, "staging": 3}  # @staging stays where it was put
    assert "mlflow_guard.fixed_by" in after["versions"]["legacy_model/1"][0]
    assert "mlflow_guard.fixed_by" not in after["versions"]["legacy_model/2"][0]
    # only tags were added: every value that was there is there still
    for run_id, (old_tags, _) in before["runs"].items():
        assert {k: tags[run_id][k] for k in old_tags if old_tags[k].strip()} == {
            k: v for k, v in old_tags.items() if v.strip()
        }

    # the findings that went are exactly the ones the fix answered; none came
    gone = Counter(before_findings) - Counter(findings(capsys, legacy.uri))
    assert not Counter(findings(capsys, legacy.uri)) - Counter(before_findings)
    assert sorted(gone) == sorted(
        [
            *(("MLG201", legacy.full, t) for t in ("git.commit", "os.user", "source.type")),
            ("MLG201", legacy.full, "model.type"),
            ("MLG201", legacy.partial, "source.type"),
            ("MLG201", legacy.blank, "source.type"),
            ("MLG201", legacy.blank, "git.commit"),
            ("MLG201", legacy.blank, "os.user"),
            ("MLG403", "legacy_model/1", "production"),
            # the versions' source run passes now (MLG304 judges it by the error rules)
            *(("MLG304", f"legacy_model/{v}", legacy.full) for v in (1, 2, 3)),
        ]
    )


def test_a_second_apply_changes_nothing(legacy: Legacy, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "fix", "--tracking-uri", legacy.uri, "--apply")[0] == 0
    once = dump(legacy.uri)
    code, out, _ = cli(capsys, "fix", "--tracking-uri", legacy.uri, "--apply")
    assert code == 0
    assert "0 fields on 0 objects" in out
    assert dump(legacy.uri) == once


def test_the_plan_says_what_it_left_alone(
    legacy: Legacy, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = cli(capsys, "fix", "--tracking-uri", legacy.uri)
    left = out[out.index("left as they are") :]
    assert "git.commit: mlflow.source.git.commit 'abc123' is not a full commit SHA (1)" in left
    assert "@staging: @staging points at version 3: move it by hand (1)" in left
    assert "the run is still RUNNING" in left


def test_scope_options_are_the_checks(legacy: Legacy, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "fix", "--tracking-uri", legacy.uri, "--experiment", "other/*")
    assert code == 0
    # the registry is listed whole, but a scoped fix leaves versions of other runs alone
    assert "(0 runs and 0 model versions looked at)" in out
    assert "@production" not in out
    code, _, err = cli(capsys, "fix", "--tracking-uri", legacy.uri, "--since", "yesterday-ish")
    assert code == 2
    assert "--since" in err and "yesterday-ish" in err


def test_a_value_set_after_the_plan_is_not_overwritten(
    legacy: Legacy, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    from pytest_mlflow_guard.mlflow_io.edit_writer import apply_edits

    planned = [
        Edit("run", legacy.full, "tag", "os.user", None, "alice", "mlflow.user"),
        Edit("run", legacy.full, "tag", "git.commit", None, SHA, "mlflow.source.git.commit"),
        Edit("run", legacy.partial, "tag", "source.type", None, "notebook", "x"),
    ]
    MlflowClient(legacy.uri).set_tag(legacy.full, "os.user", "dave")  # between plan and write
    written = apply_edits(legacy.uri, planned)
    assert written.objects == 1
    assert written.conflicts == [f"run {legacy.full}: 'os.user' is now 'dave', the plan saw None"]
    tags = MlflowClient(legacy.uri).get_run(legacy.full).data.tags
    assert tags["os.user"] == "dave"
    assert "git.commit" not in tags  # the object is written whole or not at all


@pytest.mark.parametrize(
    "edit",
    [
        Edit("run", "r", "tag", "os.user", "bob", "alice", "x"),
        Edit("run", "r", "tag", "os.user", "bob", None, "x"),
        Edit("model_version", "m/1", "alias", "production", "2", "1", "x"),
        Edit("run", "r", "tag", "mlflow_guard.ignore", "MLG201", None, "x"),  # a person's
        Edit("model_version", "m/1", "alias", "mlflow_guard.status", "2", "1", "x"),
    ],
    ids=["replace", "delete", "move-alias", "guard-prefix-not-own", "own-name-as-alias"],
)
def test_no_edit_may_replace_what_the_guard_did_not_write(edit: Edit) -> None:
    with pytest.raises(ValueError, match="refusing to replace"):
        check_edit(edit)
    check_edit(Edit("run", "r", "tag", "mlflow_guard.status", "fail", "pass", "x"))  # its own


def _annotations(uri: str) -> dict[str, tuple[str | None, str | None]]:
    runs = dump(uri)["runs"]
    return {
        run_id: (tags.get("mlflow_guard.status"), tags.get("mlflow_guard.findings"))
        for run_id, (tags, _) in runs.items()
    }


def test_annotate_tags_pass_and_fail_and_follows_a_fix(
    legacy: Legacy, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    code, _, err = cli(capsys, "check", "--tracking-uri", legacy.uri, "--annotate")
    assert code == 1
    assert "mlflow-guard: annotated 5 runs (5 changed)" in err
    first = _annotations(legacy.uri)
    assert first[legacy.clean] == ("pass", None)
    assert first[legacy.full] == ("fail", "MLG201")
    assert first[legacy.partial] == ("fail", "MLG201")
    # the UI's run table filter finds exactly the failing runs
    failing = MlflowClient(legacy.uri).search_runs(
        [MlflowClient(legacy.uri).get_experiment_by_name("legacy/train").experiment_id],
        filter_string="tags.mlflow_guard.status = 'fail'",
    )
    assert {r.info.run_id for r in failing} == {
        run_id for run_id, (status, _) in first.items() if status == "fail"
    }

    assert cli(capsys, "fix", "--tracking-uri", legacy.uri, "--apply")[0] == 0
    code, _, err = cli(capsys, "check", "--tracking-uri", legacy.uri, "--annotate")
    second = _annotations(legacy.uri)
    assert second[legacy.full] == ("pass", None)  # fixed: status updated, stale codes removed
    assert second[legacy.clean] == ("pass", None)
    # only "full" changed: "blank" still misses model.type (MLG201), the rest said so already
    assert "annotated 5 runs (1 changed)" in err
    _, _, err = cli(capsys, "check", "--tracking-uri", legacy.uri, "--annotate")
    assert "annotated 5 runs (0 changed)" in err  # nothing to say twice


def test_annotate_lists_warnings_but_passes_the_run(
    legacy: Legacy, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    MlflowClient(legacy.uri).delete_tag(legacy.clean, "source.command")  # MLG502: a warning
    cli(capsys, "check", "--tracking-uri", legacy.uri, "--annotate")
    assert _annotations(legacy.uri)[legacy.clean] == ("pass", "MLG502")


def test_the_plan_shows_store_strings_cleaned_and_redacted() -> None:
    from pytest_mlflow_guard.gate.fix_report import render_json, render_text
    from pytest_mlflow_guard.gate.fixes import FixPlan

    hostile = "\x1b]0;owned\x07https://bob:hunter2@mlflow.example.com"
    plan = FixPlan(
        edits=[
            Edit("run", "r1", "tag", "os.user", None, hostile, "mlflow.user"),
            Edit("model_version", f"{hostile}/1", "alias", "production", None, "1", "stage"),
        ]
    )
    conflict = f"run r1: 'os.user' is now {hostile!r}, the plan saw None"
    text = render_text(plan, "https://u:pw@host", applied=True, conflicts=[conflict])
    assert "\x1b" not in text and "\x07" not in text
    assert "hunter2" not in text and ":pw@" not in text
    assert "not written, changed since the plan (1):" in text
    document = render_json(plan, "https://u:pw@host", applied=True, conflicts=[conflict])
    assert "hunter2" not in document and json.loads(document)["conflicts"]


def test_annotate_is_the_whole_checks_verdict(
    legacy: Legacy, capsys: pytest.CaptureFixture[str]
) -> None:
    # a check of one rule would tag every run "pass" and drop the codes the full check found
    for option in ("--select", "--ignore"):
        args = ("check", "--tracking-uri", legacy.uri, "--annotate", option, "MLG101")
        code, _, err = cli(capsys, *args)
        assert code == 2
        assert f"not with {option} 'MLG101'" in err
    assert all(status is None for status, _ in _annotations(legacy.uri).values())


def test_a_run_made_under_pytest_gets_pytest_and_no_commit(
    legacy: Legacy, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(legacy.uri)
    exp = client.get_experiment_by_name("legacy/train").experiment_id
    tags = {**MLFLOW_CONTEXT, **TEAM, "mlflow.source.name": "/venv/lib/pytest/__main__.py"}
    run_id = _run(client, exp, "under-pytest", tags)
    _, out, _ = cli(capsys, "fix", "--tracking-uri", legacy.uri, "--format", "json")
    edits = {e["field"]: e["new"] for e in json.loads(out)["edits"] if e["object_id"] == run_id}
    assert edits["source.type"] == "pytest"
    assert "git.commit" not in edits  # MLflow's detection followed pytest's script
    skipped = [s for s in json.loads(out)["skipped"] if s["object_id"] == run_id]
    assert [s["field"] for s in skipped] == ["git.commit"]


def test_a_write_the_store_refuses_leaves_that_object_and_goes_on(legacy: Legacy) -> None:
    from mlflow import MlflowClient

    from pytest_mlflow_guard.mlflow_io.edit_writer import apply_edits

    planned = [
        Edit("run", legacy.full, "tag", "os.user", None, "alice", "mlflow.user"),
        Edit("run", legacy.partial, "tag", "source.type", None, "notebook", "x"),
    ]
    MlflowClient(legacy.uri).delete_run(legacy.full)  # MLflow refuses tags on a deleted run
    written = apply_edits(legacy.uri, planned)
    assert written.objects == 1
    (conflict,) = written.conflicts
    assert conflict.startswith(f"run {legacy.full}: not written: ")
    assert MlflowClient(legacy.uri).get_run(legacy.partial).data.tags["source.type"] == "notebook"


def test_an_alias_is_not_set_on_a_version_moved_since_the_plan(legacy: Legacy) -> None:
    from mlflow import MlflowClient

    from pytest_mlflow_guard.mlflow_io.edit_writer import apply_edits

    client = MlflowClient(legacy.uri)
    planned = [Edit("model_version", "legacy_model/1", "alias", "production", None, "1", "x")]
    client.transition_model_version_stage("legacy_model", "1", "Archived")
    written = apply_edits(legacy.uri, planned)
    assert written.conflicts == [
        "model_version legacy_model/1: the version is now in stage Archived"
    ]
    assert "production" not in client.get_registered_model("legacy_model").aliases


def test_the_plan_counts_read_as_english() -> None:
    from pytest_mlflow_guard.gate.fix_report import render_text
    from pytest_mlflow_guard.gate.fixes import FixPlan

    plan = FixPlan(looked_at={"runs": 1, "model_versions": 1})
    assert "0 fields on 0 objects (1 run and 1 model version looked at)" in render_text(
        plan, "sqlite:///m.db", applied=False
    )

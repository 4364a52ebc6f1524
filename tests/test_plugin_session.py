"""The guarded session end to end, in pytester subprocesses: with and without xdist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from guard_testing import GuardedProject, git

XDIST = [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist")]

PARAMS_TESTS = """
import mlflow

def test_one(mlflow_run):
    mlflow.log_param("alpha", 0.1)
    mlflow.log_metric("score", 0.9)

def test_two(mlflow_run):
    mlflow.log_params({"depth": 3, "seed": 7})

def test_tracked(tracker):
    with tracker.start_run(run_name="tracked-run") as run:
        tracker.log_params({"lr": 0.01})
        tracker.log_metrics({"loss": 0.5})

def test_no_mlflow():
    assert 1 + 1 == 2
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_session_run_once_with_tags_and_children(
    guarded: GuardedProject, monkeypatch: pytest.MonkeyPatch, xdist: tuple[str, ...]
) -> None:
    guarded.pytester.makepyfile(test_params=PARAMS_TESTS)
    commit = guarded.commit()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REPOSITORY", "team/mushroom")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_NEVER_LOGGED")
    result = guarded.run(*xdist)
    result.assert_outcomes(passed=4)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "mlflow-guard: on (ini), mode=enforce (default), "
            "tracking=sqlite:*(env MLFLOW_TRACKING_URI)*"
        ]
    )
    result.stdout.fnmatch_lines(["*= mlflow-guard =*", "0 error(s), 0 warning(s) in 4 run(s)*"])
    assert "INTERNALERROR" not in result.stdout.str()

    runs = guarded.runs()
    sessions = [r for r in runs if "pytest.args" in r.data.tags]
    assert len(sessions) == 1  # once, on the controller, never per worker
    session = sessions[0]
    tags = session.data.tags
    assert session.info.status == "FINISHED"
    assert tags["git.commit"] == commit
    assert tags["git.branch"] == "main"
    assert tags["git.dirty"] == "false"
    assert tags["source.type"] == "pytest"
    assert tags["run.mode"] == "validation"
    assert tags["os.user"]
    assert tags["ci.run_url"] == "https://github.com/team/mushroom/actions/runs/4242"
    assert "test.nodeid" not in tags
    assert guarded.client().get_experiment(session.info.experiment_id).name == "mushroom/tests"
    metrics = session.data.metrics
    assert metrics["tests.passed"] == 4
    assert metrics["tests.failed"] == 0
    assert metrics["tests.duration_seconds"] > 0
    report_dir = guarded.client().download_artifacts(session.info.run_id, "mlflow_guard")
    report = json.loads((Path(report_dir) / "report.json").read_text())
    assert report["findings"] == []
    for run in runs:  # no secret from the environment reaches any tag
        assert not any("ghp_NEVER_LOGGED" in v for v in run.data.tags.values())

    children = {r.info.run_name: r for r in runs if r is not session}
    assert set(children) == {"test_one", "test_two", "tracked-run"}
    for run in children.values():
        assert run.data.tags["mlflow.parentRunId"] == session.info.run_id
        assert run.data.tags["mlflow_guard.session"] == tags["mlflow_guard.session"]
        assert run.info.status == "FINISHED"
    assert children["test_one"].data.tags["test.nodeid"] == "test_params.py::test_one"
    assert children["test_one"].data.tags["test.outcome"] == "passed"
    assert children["test_one"].data.params == {"alpha": "0.1"}
    assert children["tracked-run"].data.tags["test.nodeid"] == "test_params.py::test_tracked"


UNSIGNED_MODEL = """
import mlflow
import numpy as np
from sklearn.linear_model import LogisticRegression

def test_logs_unsigned_model(mlflow_run):
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    mlflow.sklearn.log_model(model, name="model")

def test_clean(mlflow_run):
    mlflow.log_param("k", 1)
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_model_without_signature_fails_enforce_not_warn(
    guarded: GuardedProject, xdist: tuple[str, ...]
) -> None:
    guarded.pytester.makepyfile(test_model=UNSIGNED_MODEL)
    guarded.commit()
    enforce = guarded.run(*xdist)
    assert enforce.ret == 1
    # the test passed, its runs did not: an error at its teardown, so JUnit names the test
    enforce.assert_outcomes(passed=2, errors=1)
    enforce.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_logs_unsigned_model*",
            "*MLG301 model-signature*[made by test_model.py::test_logs_unsigned_model]*",
            "mlflow-guard: convention errors fail this session (enforce mode)",
        ]
    )
    run = next(r for r in guarded.runs() if r.info.run_name == "test_logs_unsigned_model")
    assert run.data.tags["model.type"] == "sklearn"  # filled in from the logged model
    session = next(r for r in guarded.runs() if "pytest.args" in r.data.tags)
    assert session.info.status == "FAILED"

    warn = guarded.run(*xdist, "--mlflow-guard-mode", "warn")
    assert warn.ret == 0
    warn.assert_outcomes(passed=2)
    warn.stdout.fnmatch_lines(["*mode=warn (cli)*", "*MLG301 model-signature*"])


SUBPROCESS_TEST = """
import subprocess, sys, textwrap

SCRIPT = textwrap.dedent('''
    import mlflow
    mlflow.set_experiment("Mushroom Scratch")
    with mlflow.start_run(run_name="from-a-subprocess"):
        mlflow.log_param("p", 1)
''')

def test_calls_a_script():
    subprocess.run([sys.executable, "-c", SCRIPT], check=True)
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_runs_of_subprocesses_are_caught_older_runs_are_not(
    guarded: GuardedProject, xdist: tuple[str, ...]
) -> None:
    # made before the session, breaking every rule it can: must not be reported
    client = guarded.client()
    old_experiment = client.create_experiment("Old Bad Experiment")
    client.create_run(old_experiment, run_name="ancient")
    guarded.pytester.makepyfile(test_sub=SUBPROCESS_TEST)
    guarded.commit()
    result = guarded.run(*xdist)
    assert result.ret == 1
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*MLG101 experiment-name*Mushroom Scratch*",
            "*from-a-subprocess*[made by test_sub.py::test_calls_a_script]*",
        ]
    )
    assert "ancient" not in out and "Old Bad Experiment" not in out
    run = next(r for r in guarded.runs() if r.info.run_name == "from-a-subprocess")
    assert run.data.tags["source.type"] == "script"  # the subprocess is a script, not pytest
    assert run.data.tags["test.nodeid"] == "test_sub.py::test_calls_a_script"


PLAIN_START_RUN = """
import mlflow

TAGS = {"run.mode": "validation", "model.type": "none"}

def test_users_own_run():
    mlflow.set_experiment("mushroom/exploration")
    with mlflow.start_run(run_name="manual", tags=TAGS):
        mlflow.log_param("x", 1)
    assert mlflow.active_run() is None

def test_own_run_next_to_tracker(tracker):
    mlflow.set_experiment("mushroom/exploration")
    with mlflow.start_run(run_name="manual-2", tags=TAGS):
        mlflow.log_param("y", 2)
    with tracker.start_run(run_name="tracked"):
        tracker.log_params({"z": 3})
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_user_calling_start_run_itself_still_passes(
    guarded: GuardedProject, xdist: tuple[str, ...]
) -> None:
    guarded.pytester.makepyfile(test_plain=PLAIN_START_RUN)
    guarded.commit()
    result = guarded.run(*xdist)
    result.assert_outcomes(passed=2)
    assert result.ret == 0, result.stdout.str()
    names = {r.info.run_name: r for r in guarded.runs()}
    assert {"manual", "manual-2", "tracked"} <= set(names)
    manual = names["manual"]
    # the run-context provider stamped the user's own run with the conventions and the session
    assert manual.data.tags["git.commit"] and manual.data.tags["source.type"] == "pytest"
    assert manual.data.tags["test.nodeid"] == "test_plain.py::test_users_own_run"
    assert "mlflow.parentRunId" not in manual.data.tags  # the user's run is left where it was


@pytest.mark.fresh_interpreter  # its subject is what the process imports
def test_plugin_off_by_default_does_not_import_mlflow(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_nothing_imported():
            assert "mlflow" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["mlflow-guard: mode=not switched on (fixtures only)*"])
    removed = pytester.runpytest_subprocess("-p", "no:mlflow_guard", "-p", "no:cacheprovider")
    removed.assert_outcomes(passed=1)
    assert "mlflow-guard" not in removed.stdout.str()


def test_isolated_store_leaves_the_project_store_alone(guarded: GuardedProject) -> None:
    guarded.pytester.makepyfile(PARAMS_TESTS)
    guarded.commit()
    result = guarded.run("--mlflow-guard-isolated")
    result.assert_outcomes(passed=4)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*tracking=isolated throwaway sqlite:*"])
    assert not (guarded.path / "mlflow.db").exists()
    assert not (guarded.path / "mlruns").exists()


def test_marker_ignores_experiment_and_tags(guarded: GuardedProject) -> None:
    guarded.pytester.makepyfile(
        """
        import mlflow
        import numpy as np
        import pytest
        from sklearn.linear_model import LogisticRegression

        @pytest.mark.mlflow_guard(ignore=["MLG301"], experiment="mushroom/markers",
                                  tags={"team": "growth"}, reason="signature-less on purpose")
        def test_marked(mlflow_run):
            model = LogisticRegression().fit(np.array([[0.0], [1.0]]), [0, 1])
            mlflow.sklearn.log_model(model, name="model")

        @pytest.mark.mlflow_guard(colour="red")
        def test_bad_marker():
            pass
        """
    )
    guarded.commit()
    result = guarded.run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unknown argument 'colour'*"])
    assert "MLG301" not in result.stdout.str()
    run = next(r for r in guarded.runs() if r.info.run_name == "test_marked")
    assert run.data.tags["team"] == "growth"
    assert run.data.tags["mlflow_guard.ignore"] == "MLG301"
    assert guarded.client().get_experiment(run.info.experiment_id).name == "mushroom/markers"


def test_report_files_and_bad_options(guarded: GuardedProject) -> None:
    guarded.pytester.makepyfile(UNSIGNED_MODEL)
    guarded.commit()
    out = guarded.path / "reports"
    result = guarded.run(
        f"--mlflow-guard-report=sarif:{out / 'guard.sarif'}",
        f"--mlflow-guard-report=json:{out / 'guard.json'}",
    )
    assert result.ret == 1
    sarif = json.loads((out / "guard.sarif").read_text())
    assert any(r["ruleId"] == "MLG301" for r in sarif["runs"][0]["results"])
    data = json.loads((out / "guard.json").read_text())
    assert any(f["rule"] == "MLG301" for f in data["findings"])

    bad = guarded.run("--mlflow-guard-report=pdf:x.pdf")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--mlflow-guard-report*'pdf:x.pdf' is not FORMAT:PATH*"])
    assert "INTERNALERROR" not in bad.stderr.str() + bad.stdout.str()
    guarded.pytester.makefile(
        ".ini", pytest="[pytest]\nmlflow_guard = true\nmlflow_guard_mode = strict\n"
    )
    bad_ini = guarded.run()
    assert bad_ini.ret == pytest.ExitCode.USAGE_ERROR
    bad_ini.stderr.fnmatch_lines(["*ini option mlflow_guard_mode: 'strict' is not one of*"])


def test_fixture_clash_with_an_mlflow_plugin_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        mlflow_fake_fixtures="""
        import pytest

        @pytest.fixture
        def mlflow_run():
            return "theirs"
        """
    )
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "mlflow_fake_fixtures", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*also defines the fixture 'mlflow_run'*"])


def test_git_metadata_from_a_dirty_tree(guarded: GuardedProject) -> None:
    guarded.pytester.makepyfile(PARAMS_TESTS)
    guarded.commit()
    (guarded.path / "pyproject.toml").write_text(
        (guarded.path / "pyproject.toml").read_text() + "\n# edited\n"
    )
    result = guarded.run("-k", "one")
    assert result.ret == 0  # MLG204 dirty-tree is a warning: reported, not failing
    result.stdout.fnmatch_lines(["*MLG204 dirty-tree*"])
    session = next(r for r in guarded.runs() if "pytest.args" in r.data.tags)
    assert session.data.tags["git.dirty"] == "true"
    assert session.data.tags["git.commit"] == git(guarded.path, "rev-parse", "HEAD")


def test_experiment_scope_with_a_baseline_of_accepted_findings(guarded: GuardedProject) -> None:
    # a run already in the session experiment, made before the session and breaking MLG201
    client = guarded.client()
    experiment_id = client.create_experiment("mushroom/tests")
    client.set_terminated(client.create_run(experiment_id, run_name="legacy").info.run_id)
    guarded.pytester.makepyfile(PARAMS_TESTS)
    guarded.commit()
    session_scope = guarded.run()
    assert session_scope.ret == 0  # the legacy run is not this session's business

    experiment_scope = guarded.run("--mlflow-guard-scope=experiment")
    assert experiment_scope.ret == 1
    experiment_scope.stdout.fnmatch_lines(["*MLG201 required-tag*run legacy*"])

    baseline = guarded.path / "baseline.json"
    from pytest_mlflow_guard.cli import main

    assert main(["check", "--tracking-uri", guarded.uri, "--write-baseline", str(baseline)]) == 0
    accepted = guarded.run("--mlflow-guard-scope=experiment", f"--mlflow-guard-baseline={baseline}")
    assert accepted.ret == 0, accepted.stdout.str()
    assert "MLG201" not in accepted.stdout.str()


def test_relative_sqlite_store_survives_a_test_changing_directory(
    guarded: GuardedProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")  # relative to the rootdir
    guarded.pytester.makepyfile(
        """
        import os
        import mlflow

        def test_moves_away(tmp_path):
            os.chdir(tmp_path)
            mlflow.set_experiment("Somewhere Else")
            with mlflow.start_run(run_name="after-chdir"):
                mlflow.log_param("a", 1)
        """
    )
    guarded.commit()
    result = guarded.run()
    assert result.ret == 1  # caught: the run went to the session's store, not ./mlflow.db there
    result.stdout.fnmatch_lines(["*MLG101 experiment-name*Somewhere Else*"])
    assert any(r.info.run_name == "after-chdir" for r in guarded.runs())

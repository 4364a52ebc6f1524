"""The guarded pytest session as a hostile reviewer tries it, in real pytest processes: no secret
and no store-controlled escape in its output, no run left where the gate cannot see it, every
interrupt ending every run. (What needs no pytest process is tested in-process elsewhere.)"""

from __future__ import annotations

import sqlite3
import unicodedata
from pathlib import Path

import pytest
from guard_testing import GuardedProject, faulty_server

XDIST = [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist")]
SECRET = "s3cr3tPW"
TAGS = "{'run.mode': 'validation', 'model.type': 'none'}"


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def session_experiment_runs(project: GuardedProject) -> dict[str, list[str]]:
    """Run names by experiment name, for every run in the project's store."""
    c = project.client()
    names = {e.experiment_id: e.name for e in c.search_experiments()}
    found: dict[str, list[str]] = {}
    for run in project.runs():
        found.setdefault(names.get(run.info.experiment_id, "?"), []).append(run.info.run_name)
    return found


# --- secrets ----------------------------------------------------------------------------------


def test_a_failing_store_is_reported_without_its_credentials(guarded: GuardedProject) -> None:
    # /health and the probe answer; MLflow's own requests are dropped, so its exception text
    # (which holds the full request URL) becomes the "store unusable" message
    probe = "/api/2.0/mlflow/experiments/search?max_results=1"
    guarded.pytester.makepyfile(
        test_x="def test_needs_the_store(mlflow_run):\n    pass\n\ndef test_plain():\n    pass\n"
    )
    guarded.commit()
    with faulty_server("drop", healthy_paths=("/health", probe)) as url:
        uri = url.replace("http://", f"http://alice:{SECRET}@")
        result = guarded.run(f"--mlflow-guard-tracking-uri={uri}")
    text = output(result)
    assert SECRET not in text
    assert "unusable" in text and url.removeprefix("http://") in text
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "INTERNALERROR" not in text


# --- injection --------------------------------------------------------------------------------

EVIL_TESTS = """
import mlflow

EVIL = "evil\\x1b]0;pwned\\x07\\x1b[2J\\r\\n::error::injected ##[set-env name=X;]1"

def test_writes_a_hostile_run():
    with mlflow.start_run(run_name=EVIL, tags={"run.mode": EVIL, "model.type": "none"}):
        mlflow.log_param("x", 1)
"""


def test_store_strings_never_control_the_terminal(guarded: GuardedProject) -> None:
    guarded.pytester.makepyfile(test_evil=EVIL_TESTS)
    guarded.commit()
    result = guarded.run("--color=no")  # pytest's own colours are not what is looked for
    text = output(result)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # MLG102 on the name, MLG202 on the tag
    assert "MLG202 tag-value" in text and "mlflow-guard" in text
    for line in text.split("\n"):
        assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in line), repr(line)
        assert not line.lstrip().startswith("::"), line
        assert "##[" not in line, line


# --- nothing lands where the gate does not look ----------------------------------------------

NO_EXPERIMENT_TESTS = f"""
import json, subprocess, sys
import mlflow

def test_plain_start_run():
    with mlflow.start_run(run_name="plain", tags={TAGS}):
        mlflow.log_param("x", 1)

def test_nested_inside_the_fixture(mlflow_run):
    with mlflow.start_run(run_name="nested", nested=True, tags={TAGS}):
        mlflow.log_param("y", 2)

def test_a_subprocess():
    code = (
        "import mlflow\\n"
        "with mlflow.start_run(run_name='from-subprocess', tags={TAGS}):\\n"
        "    mlflow.log_param('z', 3)\\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
"""

# Two xdist workers setting the same new experiment race in MLflow: the loser of
# `create_experiment` gets RESOURCE_ALREADY_EXISTS, and `mlflow.set_experiment` then returns
# without making the experiment active (mlflow/tracking/fluent.py), so the next start_run used
# to land in "Default" (MLG101). This is that race, made deterministic.
LOST_RACE_TESTS = f"""
import mlflow
from mlflow.tracking._tracking_service.client import TrackingServiceClient

def test_set_experiment_loses_the_creation_race(monkeypatch):
    mlflow.MlflowClient().create_experiment("mushroom/exploration")  # the other worker won
    real = TrackingServiceClient.get_experiment_by_name
    calls = []

    def not_yet_visible(self, name):
        calls.append(name)
        return None if len(calls) == 1 else real(self, name)

    monkeypatch.setattr(TrackingServiceClient, "get_experiment_by_name", not_yet_visible)
    mlflow.set_experiment("mushroom/exploration")
    monkeypatch.undo()
    with mlflow.start_run(run_name="after-the-race", tags={TAGS}):
        mlflow.log_param("w", 4)
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_runs_without_an_experiment_go_to_the_session_experiment(
    guarded: GuardedProject, xdist: tuple[str, ...]
) -> None:
    guarded.pytester.makepyfile(test_free=NO_EXPERIMENT_TESTS, test_race=LOST_RACE_TESTS)
    guarded.commit()
    result = guarded.run(*xdist)
    result.assert_outcomes(passed=4)
    assert result.ret == 0, output(result)
    runs = session_experiment_runs(guarded)
    assert "Default" not in runs  # not one run there
    assert {"plain", "nested", "from-subprocess", "after-the-race"} <= set(runs["mushroom/tests"])


MLFLOW_TEST_PLUGIN = """
import mlflow

@mlflow.test
def test_with_mlflows_own_plugin():
    assert mlflow.active_run() is not None
"""


def test_mlflows_own_pytest_plugin_and_the_guard_agree(guarded: GuardedProject) -> None:
    pytest.importorskip("mlflow.pytest.plugin", reason="@mlflow.test needs MLflow 3.14+")
    guarded.pytester.makepyfile(test_mlflow_test=MLFLOW_TEST_PLUGIN)
    guarded.commit()
    result = guarded.run("-p", "mlflow.pytest.plugin")
    result.assert_outcomes(passed=1)
    assert result.ret == 0, output(result)
    (session,) = guarded.session_runs()
    (test_run,) = [r for r in guarded.runs() if r.data.tags.get("mlflow.runType") == "test"]
    tags = test_run.data.tags
    assert test_run.info.experiment_id == session.info.experiment_id  # not "Default"
    assert tags["mlflow.parentRunId"] == session.info.run_id
    assert tags["run.mode"] == "validation" and tags["model.type"] == "none"
    assert test_run.info.run_name.endswith("_mlflow-test")  # not a name MLflow made up
    assert "test.nodeid" not in tags  # it belongs to the session, not to its first test
    assert test_run.info.status == "FINISHED"


OWN_STORE_TESTS = f"""
import os, subprocess, sys, tempfile
import mlflow

def test_a_subprocess_dies_inside_a_run_in_its_own_store():
    code = (
        "import mlflow, os\\n"
        f"mlflow.set_tracking_uri('sqlite:///{{os.getcwd()}}/dying.db')\\n"
        "mlflow.start_run(run_name='dies-running', tags={TAGS})\\n"
        "os._exit(0)\\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

def test_in_a_store_of_its_own(tmp_path):
    mlflow.set_tracking_uri(f"sqlite:///{{tmp_path}}/own.db")
    with mlflow.start_run(run_name="own-store", tags={{"run.mode": "train", "model.type": "none"}}):
        mlflow.log_param("x", 1)

def test_in_a_store_that_is_gone_at_the_end():
    with tempfile.TemporaryDirectory() as folder:
        mlflow.set_tracking_uri(f"sqlite:///{{folder}}/gone.db")
        with mlflow.start_run(run_name="gone-store", tags={TAGS}):
            mlflow.log_param("y", 2)
"""


def test_runs_in_stores_the_tests_chose_are_checked_there(guarded: GuardedProject) -> None:
    guarded.pytester.makepyfile(test_stores=OWN_STORE_TESTS)
    guarded.commit()
    result = guarded.run()
    text = output(result)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, text
    # the bad run.mode in the test's own store is found, at teardown and in the summary
    assert "MLG202 tag-value" in text and "own.db" in text
    # the store that vanished is named, never counted as checked
    assert "MLG004 unchecked" in text and "gone.db" in text and "could not be checked" in text
    result.assert_outcomes(passed=3, errors=2)
    # the run the dead subprocess left RUNNING in its own store was ended by the session
    from mlflow import MlflowClient

    dying = MlflowClient(tracking_uri=f"sqlite:///{guarded.path / 'dying.db'}")
    (run,) = dying.search_runs([e.experiment_id for e in dying.search_experiments()])
    assert run.info.run_name == "dies-running" and run.info.status == "KILLED"


# --- interrupts -------------------------------------------------------------------------------

INTERRUPT_CONFTEST = """
import os, signal, time
import pytest_mlflow_guard.pytest_plugin.session as guard_session
from pytest_mlflow_guard.mlflow_io import session_run

WHERE = os.environ["INTERRUPT_AT"]

def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)  # the KeyboardInterrupt arrives during this

if WHERE == "gate":
    real_gate = guard_session.GuardSession._gate
    def gate(self, *args, **kwargs):
        ctrl_c()
        return real_gate(self, *args, **kwargs)
    guard_session.GuardSession._gate = gate
else:
    real_close = session_run.SessionStore.finish_session_run
    def close(self, *args, **kwargs):
        ctrl_c()
        return real_close(self, *args, **kwargs)
    session_run.SessionStore.finish_session_run = close
"""


@pytest.mark.parametrize("where", ["gate", "closing"])
def test_ctrl_c_while_the_session_ends(
    guarded: GuardedProject, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    guarded.pytester.makeconftest(INTERRUPT_CONFTEST)
    guarded.pytester.makepyfile(test_a="def test_a(mlflow_run):\n    pass\n")
    guarded.commit()
    monkeypatch.setenv("INTERRUPT_AT", where)
    result = guarded.run()
    text = output(result)
    assert result.ret == pytest.ExitCode.INTERRUPTED, text
    assert "Traceback" not in text and "INTERNALERROR" not in text
    assert "interrupted while the session ended" in text
    statuses = {r.info.run_name: r.info.status for r in guarded.runs()}
    assert "RUNNING" not in statuses.values(), statuses
    (session,) = guarded.session_runs()
    # interrupted during the gate: KILLED; during the close: the status it was closing with
    assert session.info.status == ("KILLED" if where == "gate" else "FINISHED")


# --- a run's outcome says what happened to its test -------------------------------------------

UNSIGNED_MODEL_TEST = """
import mlflow
import numpy as np
from sklearn.linear_model import LogisticRegression

def test_logs_a_model_without_signature(mlflow_run):
    X = np.random.default_rng(0).random((20, 3))
    model = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    mlflow.sklearn.log_model(model, name="model")
"""


def test_a_test_errored_by_the_guard_says_so_on_its_run(guarded: GuardedProject) -> None:
    guarded.pytester.makepyfile(test_model=UNSIGNED_MODEL_TEST)
    guarded.commit()
    result = guarded.run()
    result.assert_outcomes(passed=1, errors=1)
    (run,) = [r for r in guarded.runs() if r.info.run_name == "test_logs_a_model_without_signature"]
    assert run.data.tags["test.outcome"] == "error"
    assert run.info.status == "FAILED"


def test_a_report_option_never_replaces_the_store(guarded: GuardedProject) -> None:
    db = Path(guarded.uri.split("sqlite:///", 1)[1])
    sqlite3.connect(db).execute("CREATE TABLE keep (x)").connection.commit()
    before = db.read_bytes()
    guarded.pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = guarded.run(f"--mlflow-guard-report=json:{db}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "refusing to overwrite" in output(result) and "INTERNALERROR" not in output(result)
    assert db.read_bytes() == before


@pytest.mark.server
def test_a_server_uri_with_credentials_never_reaches_the_output(
    guarded: GuardedProject, server: str
) -> None:
    # -s: nothing captured, so MLflow's own "View run ... at: <url>" lines would show
    guarded.pytester.makepyfile(
        test_s="import mlflow\n\ndef test_logs(mlflow_run):\n    mlflow.log_param('a', 1)\n"
    )
    guarded.commit()
    uri = server.replace("http://", f"http://alice:{SECRET}@")
    result = guarded.run("-s", f"--mlflow-guard-tracking-uri={uri}")
    assert result.ret == 0, output(result)
    assert SECRET not in output(result)

"""The guarded session's decisions, in-process: the session object built on a real sqlite store,
its hooks called the way the plugin calls them (no pytester subprocess).

What needs a real pytest process (xdist, signals, terminal output) stays in test_plugin_*.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from guard_testing import git

from pytest_mlflow_guard.pytest_plugin.options import Settings
from pytest_mlflow_guard.pytest_plugin.session import GuardSession
from pytest_mlflow_guard.vocabulary import (
    ENV_LEDGER,
    ENV_SESSION_ID,
    ENV_SESSION_RUN_ID,
    TAG_PYTEST_ARGS,
    TAG_RUN_MODE,
    TAG_SESSION,
    TAG_TEST_NODEID,
)

NODE = "tests/test_train.py::test_fit"


@pytest.fixture
def settings(store: str) -> Settings:
    return Settings(enabled=True, mode="enforce", tracking_uri=store)


@pytest.fixture(autouse=True)
def _pytest_keeps_its_test_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # start() drops PYTEST_CURRENT_TEST (in a real session it can only be inherited from an
    # outer pytest); here that outer pytest is the one running this test, and needs it back
    monkeypatch.setattr(GuardSession, "start", _start_keeping_the_variable(GuardSession.start))


def _start_keeping_the_variable(start: Any) -> Any:
    def wrapped(self: GuardSession) -> None:
        ours = os.environ.get("PYTEST_CURRENT_TEST")
        start(self)
        if ours is not None:
            os.environ["PYTEST_CURRENT_TEST"] = ours

    return wrapped


@pytest.fixture
def session(settings: Settings, git_repo: Path) -> Iterator[GuardSession]:
    guard = GuardSession(settings, git_repo, ["-q", "--password", "hunter2"])
    yield guard
    guard.close()


def _client(guard: GuardSession) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=guard.tracking_uri)


# the project's test code: it lives (committed) in the project's repository, where the run's git
# facts come from
_TEST_CODE = """
import mlflow

def make_run(experiment_id, tags):
    with mlflow.start_run(experiment_id=experiment_id, run_name="fit-check", tags=tags) as run:
        mlflow.log_param("lr", "0.1")
    return run.info.run_id
"""


def _run_in_test(guard: GuardSession, monkeypatch: pytest.MonkeyPatch, **tags: str) -> str:
    """A run made the way a test makes one: plain ``mlflow.start_run`` from the project's code
    while pytest says which test is running (the run-context provider adds the session's tags
    and notes the ledger)."""
    import runpy

    code = guard.rootpath / "tests" / "make_run.py"
    if not code.exists():
        code.parent.mkdir()
        code.write_text(_TEST_CODE)
        git(guard.rootpath, "add", "-A")
        git(guard.rootpath, "commit", "-q", "-m", "test code")
    ours = os.environ["PYTEST_CURRENT_TEST"]
    monkeypatch.setenv("PYTEST_CURRENT_TEST", f"{NODE} (call)")
    run_id = runpy.run_path(str(code))["make_run"](guard.experiment_id, tags)
    monkeypatch.setenv("PYTEST_CURRENT_TEST", ours)
    return str(run_id)


def test_start_opens_the_session_run_and_exports_it(session: GuardSession) -> None:
    before = {k: os.environ.get(k) for k in (ENV_SESSION_ID, ENV_SESSION_RUN_ID, ENV_LEDGER)}
    session.start()
    assert session.active and session.problem is None
    assert os.environ[ENV_SESSION_ID] == session.session_id
    assert os.environ[ENV_SESSION_RUN_ID] == session.session_run_id
    run = _client(session).get_run(session.session_run_id)
    assert run.info.status == "RUNNING"
    assert run.data.tags[TAG_RUN_MODE] == "validation"
    assert run.data.tags[TAG_PYTEST_ARGS] == "-q --password '***'"
    assert run.data.tags["git.commit"] and len(run.data.tags["git.commit"]) == 40
    session.close()
    assert {k: os.environ.get(k) for k in before} == before


def test_a_test_without_runs_is_not_checked(session: GuardSession) -> None:
    session.start()
    session.begin_test(NODE, None)
    assert session.end_test(NODE) == []
    assert session.active


def test_the_per_test_check_finds_what_the_test_made(
    session: GuardSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.start()
    session.begin_test(NODE, None)
    run_id = _run_in_test(session, monkeypatch)  # no run.mode, no model.type
    findings = session.end_test(NODE)
    assert {(f.rule, f.run_id) for f in findings} >= {("MLG201", run_id)}
    assert all(f.run_id != session.session_run_id for f in findings)
    tags = _client(session).get_run(run_id).data.tags
    assert tags[TAG_SESSION] == session.session_id and tags[TAG_TEST_NODEID] == NODE

    session.begin_test("tests/test_train.py::test_next", None)
    assert session.end_test("tests/test_train.py::test_next") == []  # the earlier run is not its


def test_a_worker_attached_to_the_session_checks_its_tests(
    session: GuardSession, settings: Settings, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.start()
    worker = GuardSession.attach(settings, git_repo, [], session.worker_state())
    assert worker.active and worker.session_run_id == session.session_run_id
    worker.begin_test(NODE, None)
    run_id = _run_in_test(session, monkeypatch)
    assert any(f.run_id == run_id for f in worker.end_test(NODE))


def test_finish_ends_leftover_runs_gates_and_closes_the_session_run(
    session: GuardSession, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    session.start()
    c = _client(session)
    good = _run_in_test(session, monkeypatch, **{"run.mode": "validation", "model.type": "none"})
    left = c.create_run(session.experiment_id, tags={TAG_SESSION: str(session.session_id)})
    ledger = Path(os.environ[ENV_LEDGER])
    for outcome in ("passed", "passed", "failed"):
        session.record("call", outcome, xfail=False)

    assert session.finish(exitstatus=1, interrupted=False) is True  # the leftover run: MLG201
    assert session.status == "FAILED"
    assert left.info.run_id in session.swept
    assert c.get_run(left.info.run_id).info.status == "KILLED"
    assert c.get_run(good).info.status == "FINISHED"
    assert session.report is not None
    assert {f.run_id for f in session.report.findings if f.severity == "error"} == {
        left.info.run_id
    }
    final = c.get_run(session.session_run_id)
    assert final.info.status == "FAILED"
    assert final.data.metrics["tests.passed"] == 2 and final.data.metrics["tests.failed"] == 1
    assert {a.path for a in c.list_artifacts(session.session_run_id, "mlflow_guard")} == {
        "mlflow_guard/report.json",
        "mlflow_guard/report.txt",
    }
    assert not ledger.exists() and ENV_SESSION_ID not in os.environ


def test_a_clean_session_finishes_and_passes(
    session: GuardSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.start()
    _run_in_test(session, monkeypatch, **{"run.mode": "validation", "model.type": "none"})
    session.record("call", "passed", xfail=False)
    assert session.finish(exitstatus=0, interrupted=False) is False
    assert session.status == "FINISHED"
    assert _client(session).get_run(session.session_run_id).info.status == "FINISHED"


def test_an_interrupted_session_ends_killed(session: GuardSession) -> None:
    session.start()
    session.finish(exitstatus=2, interrupted=True)
    assert session.status == "KILLED"
    assert _client(session).get_run(session.session_run_id).info.status == "KILLED"


class _InterruptedWhileClosing:
    """The real session store, but Ctrl-C arrives while the session's runs are being closed."""

    def __init__(self, uri: str) -> None:
        from pytest_mlflow_guard.mlflow_io.session_run import SessionStore

        self._store = SessionStore(uri)

    def close_out(self, *args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_ctrl_c_during_the_gate_still_ends_the_session_run(
    settings: Settings, git_repo: Path
) -> None:
    guard = GuardSession(settings, git_repo, [], open_store=_InterruptedWhileClosing)  # type: ignore[arg-type]
    guard.start()
    assert guard.finish(exitstatus=0, interrupted=False) is True
    assert guard.interrupted and guard.status == "KILLED"
    assert guard.problem == "interrupted while checking the session: it was not checked"
    assert _client(guard).get_run(guard.session_run_id).info.status == "KILLED"


@pytest.mark.parametrize("mode, fails", [("enforce", True), ("warn", False)])
def test_an_unusable_store_is_reported_and_fails_only_in_enforce_mode(
    git_repo: Path, mode: str, fails: bool
) -> None:
    from guard_testing import _free_port

    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    guard = GuardSession(Settings(enabled=True, mode=mode, tracking_uri=uri), git_repo, [])
    guard.start()
    assert not guard.active and guard.problem is not None
    assert guard.problem.startswith(f"tracking store {uri} unusable:")
    assert guard.store_failed(RuntimeError("later")) == guard.problem  # the first reason stays
    assert guard.finish(exitstatus=0, interrupted=False) is fails

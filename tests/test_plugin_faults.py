"""Interrupted sessions, crashing workers, concurrent fresh stores, servers, dead stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from guard_testing import GuardedProject, _free_port, running_server

XDIST = [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist")]


def assert_nothing_running(project: GuardedProject) -> list[object]:
    runs = project.runs()
    assert runs, "the session made no run at all"
    running = [(r.info.run_name, r.info.status) for r in runs if r.info.status == "RUNNING"]
    assert running == []
    return runs


@pytest.mark.parametrize("xdist", XDIST)
def test_x_and_pytest_exit_leave_no_run_running(
    guarded: GuardedProject, xdist: tuple[str, ...]
) -> None:
    guarded.pytester.makepyfile(
        test_stop="""
        import mlflow
        import pytest

        def test_fails(mlflow_run):
            mlflow.log_param("a", 1)
            assert False

        def test_exits(mlflow_run):
            mlflow.set_experiment("mushroom/left-open")
            mlflow.start_run(run_name="never-ended", nested=True)
            pytest.exit("stopping the session")
        """
    )
    guarded.commit()
    failed_fast = guarded.run(*xdist, "-x", "-k", "test_fails")
    # xdist turns -x into an interrupted session (exit 2); either way the runs are ended
    assert failed_fast.ret == (
        pytest.ExitCode.INTERRUPTED if xdist else pytest.ExitCode.TESTS_FAILED
    )
    runs = assert_nothing_running(guarded)
    assert {r.info.run_name: r.info.status for r in runs}["test_fails"] == "FAILED"

    exited = guarded.run("-k", "test_exits")  # pytest.exit is a serial affair
    assert exited.ret == pytest.ExitCode.INTERRUPTED
    assert "INTERNALERROR" not in exited.stdout.str()
    runs = assert_nothing_running(guarded)
    sessions = [r for r in runs if "pytest.args" in r.data.tags]
    assert sorted(r.info.status for r in sessions) == sorted(
        ["KILLED", "KILLED" if xdist else "FAILED"]
    )


@pytest.mark.parametrize("xdist", XDIST)
def test_ctrl_c_leaves_no_run_running(guarded: GuardedProject, xdist: tuple[str, ...]) -> None:
    started = guarded.path / "started"
    guarded.pytester.makepyfile(
        test_slow=f"""
        import time
        from pathlib import Path
        import mlflow

        def test_slow(mlflow_run):
            mlflow.log_param("a", 1)
            Path({str(started)!r}).write_text("x")
            time.sleep(120)
        """
    )
    guarded.commit()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *xdist],
        cwd=guarded.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C in a terminal signals the whole process group
    )
    deadline = time.monotonic() + 90
    while not started.exists():
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        assert time.monotonic() < deadline, "the test never started"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    text = out.decode()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, text
    assert "INTERNALERROR" not in text
    runs = assert_nothing_running(guarded)
    statuses = {r.info.run_name: r.info.status for r in runs}
    assert statuses["test_slow"] in ("KILLED", "FAILED")
    session = next(r for r in runs if "pytest.args" in r.data.tags)
    assert session.info.status == "KILLED"


def test_crashing_worker_leaves_no_run_running(guarded: GuardedProject) -> None:
    guarded.pytester.makepyfile(
        test_crash="""
        import os
        import mlflow

        def test_crashes(mlflow_run):
            mlflow.log_param("a", 1)
            os._exit(3)

        def test_fine(mlflow_run):
            mlflow.log_param("b", 2)
        """
    )
    guarded.commit()
    result = guarded.run("-n", "2")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*ended 1 run(s) left RUNNING as KILLED*"])
    statuses = {r.info.run_name: r.info.status for r in assert_nothing_running(guarded)}
    assert statuses["test_crashes"] == "KILLED"
    assert statuses["test_fine"] == "FINISHED"


def test_fresh_sqlite_store_with_four_workers(guarded: GuardedProject) -> None:
    assert not (guarded.path / "mlflow.db").exists()
    guarded.pytester.makepyfile(
        test_many="""
        import mlflow
        import pytest

        @pytest.mark.parametrize("i", range(8))
        def test_logs(mlflow_run, i):
            mlflow.log_params({"i": i, "double": 2 * i})
            mlflow.log_metric("value", i / 10)
        """
    )
    guarded.commit()
    result = guarded.run("-n", "4")
    result.assert_outcomes(passed=8)
    assert result.ret == 0
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out and "OperationalError" not in out
    runs = assert_nothing_running(guarded)
    assert len(runs) == 9  # 8 tests and one session run


def test_against_a_real_mlflow_server(
    guarded: GuardedProject, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    guarded.pytester.makepyfile(
        test_remote="""
        import mlflow
        import numpy as np
        from mlflow.models import infer_signature
        from sklearn.linear_model import LogisticRegression

        def test_params(mlflow_run):
            mlflow.log_param("a", 1)

        def test_model(mlflow_run):
            X = np.array([[0.0], [1.0], [2.0], [3.0]])
            model = LogisticRegression().fit(X, [0, 0, 1, 1])
            mlflow.sklearn.log_model(model, name="model", input_example=X[:2],
                                     signature=infer_signature(X, model.predict(X)))

        def test_tracker(tracker):
            with tracker.start_run(run_name="remote-tracked"):
                tracker.log_metrics({"m": 1.0})
        """
    )
    guarded.commit()
    result = guarded.run("-n", "2")
    result.assert_outcomes(passed=3)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"*tracking={server} (env MLFLOW_TRACKING_URI)*"])
    client = MlflowClient(tracking_uri=server)
    experiment = client.get_experiment_by_name("mushroom/tests")
    mine = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if r.data.tags.get("pytest.rootdir") == guarded.path.name
        or r.data.tags.get("test.nodeid", "").startswith("test_remote.py")
    ]
    assert {r.info.run_name for r in mine} >= {"test_params", "test_model", "remote-tracked"}
    assert all(r.info.status == "FINISHED" for r in mine)
    model_run = next(r for r in mine if r.info.run_name == "test_model")
    assert model_run.data.tags["model.type"] == "sklearn"
    assert "environment" in {a.path for a in client.list_artifacts(model_run.info.run_id)}


def test_unreachable_tracking_store_is_reported_once_and_quickly(
    guarded: GuardedProject,
) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    guarded.pytester.makepyfile(
        test_dead="""
        def test_plain():
            assert True

        def test_needs_a_run(mlflow_run):
            pass
        """
    )
    guarded.commit()
    started = time.monotonic()
    result = guarded.run(f"--mlflow-guard-tracking-uri={dead}")
    elapsed = time.monotonic() - started
    out = result.stdout.str()
    assert "INTERNALERROR" not in out + result.stderr.str()
    result.assert_outcomes(passed=1, errors=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [f"*mlflow-guard could not check this session (the build fails): tracking store {dead}*"]
    )
    assert elapsed < 90, f"took {elapsed:.0f} s"

    warn = guarded.run(f"--mlflow-guard-tracking-uri={dead}", "--mlflow-guard-mode=warn", "-k",
                       "plain")  # fmt: skip
    assert warn.ret == 0
    warn.stdout.fnmatch_lines(["*could not check this session (warn mode)*"])


def test_server_dying_mid_session_is_reported_once_without_hanging(
    guarded: GuardedProject, _template_db: Path, tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    with running_server(tmp_path_factory.mktemp("dying"), _template_db) as (url, process):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.setenv("DYING_SERVER_PGID", str(process.pid))
        guarded.pytester.makepyfile(
            test_dying="""
            import os, signal, time
            import mlflow

            def test_1_before(mlflow_run):
                mlflow.log_param("a", 1)

            def test_2_the_server_dies():
                os.killpg(int(os.environ["DYING_SERVER_PGID"]), signal.SIGKILL)
                time.sleep(1)

            def test_3_after(mlflow_run):
                mlflow.log_param("b", 2)

            def test_4_after(mlflow_run):
                mlflow.log_param("c", 3)

            def test_5_plain():
                assert True
            """
        )
        guarded.commit()
        started = time.monotonic()
        result = guarded.run()
        elapsed = time.monotonic() - started
    out = result.stdout.str()
    assert "INTERNALERROR" not in out + result.stderr.str()
    result.assert_outcomes(passed=3, errors=2)
    assert result.ret == 1
    assert out.count("mlflow-guard could not check this session") == 1
    assert elapsed < 120, f"took {elapsed:.0f} s"

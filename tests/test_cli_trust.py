"""`mlflow-guard check` under bad input and faults: exit 2 naming the option and the value,
nothing written where it must not be, no secret printed, bounded time against a hanging server."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from guard_testing import faulty_server

from pytest_mlflow_guard.cli import main

SECRET = "s3cr3tPW"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what the test printed while it built its store is not the CLI's
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _store_with_a_run(uri: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("team/trust")
    run = client.create_run(experiment, run_name="20260101-000000_alice")
    client.set_terminated(run.info.run_id)


# --- bad values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "named", "shown"),
    [
        ("stale-running-hours = inf", "stale-running-hours", "inf"),
        ("stale-running-hours = nan", "stale-running-hours", "nan"),
        ("stale-running-hours = 1e12", "stale-running-hours", "1000000000000.0"),
        ("stale-staging-days = inf", "stale-staging-days", "inf"),
        ('required-tags = [""]', "required-tags", "''"),
        ('allowed-values = {"run.mode" = []}', "allowed-values.run.mode", "empty list"),
        ('artifacts-server = "ftp://x"', "artifacts-server", "ftp://x"),
    ],
)
def test_config_values_that_would_crash_later_exit_2(
    setting: str,
    named: str,
    shown: str,
    store: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _store_with_a_run(store)
    config = tmp_path / "guard.toml"
    config.write_text(f"[tool.mlflow-guard]\n{setting}\n")
    code, out, err = run_cli(capsys, "check", "--tracking-uri", store, "--config", str(config))
    assert code == 2, (out, err)
    assert named in err and shown in err, err
    assert "Traceback" not in err and out == ""


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "99999999d"], "--since"),
        (["--since", "2024-13-45"], "--since"),
        (["--workers", "0"], "--workers"),
        (["--tracking-uri", f"http://u:{SECRET}@[::1"], "--tracking-uri"),
        (["--tracking-uri", "http://127.0.0.1:notaport"], "--tracking-uri"),
        (["--reader", "fast"], "--reader"),
    ],
)
def test_option_values_exit_2_naming_the_option(
    args: list[str], named: str, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "check", *args)
    assert code == 2 and named in err and "Traceback" not in err
    assert args[1].split("@")[-1] in err  # the value, without its credentials
    assert SECRET not in err and out == ""


def test_reader_sql_on_a_server_exits_2_naming_the_option(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "check", "--tracking-uri", server, "--reader", "sql")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "--reader sql" in err and server in err and "not a database URI" in err


def test_an_unreachable_database_exits_2_at_once_without_credentials(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    uri = f"postgresql://alice:{SECRET}@127.0.0.1:{port}/mlflow"
    began = time.monotonic()
    code, out, err = run_cli(capsys, "check", "--tracking-uri", uri)
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"127.0.0.1:{port}/mlflow" in err and "database error" in err and SECRET not in err
    assert time.monotonic() - began < 30  # MLflow's own client retries for about 100 s


def test_a_since_last_file_that_is_no_state_exits_2_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "notes.json"
    foreign.write_text("[1, 2, 3]\n")
    missing_store = f"sqlite:///{tmp_path / 'nowhere.db'}"  # never reached: refused first
    code, _, err = run_cli(
        capsys, "check", "--tracking-uri", missing_store, "--since-last", str(foreign)
    )
    assert code == 2 and "--since-last" in err and str(foreign) in err
    assert "not an mlflow-guard state file" in err and "nowhere.db" not in err
    assert foreign.read_text() == "[1, 2, 3]\n"


# --- report outputs never replace the store -------------------------------------------------


def _db_path(uri: str) -> Path:
    return Path(uri.split("sqlite:///", 1)[1])


@pytest.mark.parametrize("option", [["--format", "json", "--output"], ["--write-baseline"]])
def test_outputs_never_replace_the_database_being_checked(
    option: list[str], store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_with_a_run(store)
    db = _db_path(store)
    before = db.read_bytes()
    code, _, err = run_cli(capsys, "check", "--tracking-uri", store, *option, str(db))
    assert code == 2 and "refusing to overwrite" in err and str(db) in err
    assert db.read_bytes() == before  # still the store, not a JSON file


def test_outputs_never_go_into_the_artifact_root_or_another_database(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_with_a_run(store)
    root = Path.cwd() / "mlruns"  # the sqlite store's default artifact root (cwd of the check)
    (root / "1").mkdir(parents=True, exist_ok=True)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    other_bytes = other.read_bytes()
    for target in (root / "1" / "report.json", other):
        code, _, err = run_cli(
            capsys, "check", "--tracking-uri", store, "--format", "json", "--output", str(target)
        )
        assert code == 2 and "refusing to overwrite" in err, err
    assert not (root / "1" / "report.json").exists()
    assert other.read_bytes() == other_bytes
    # the same file twice would lose the first report
    target = str(tmp_path / "r.json")
    code, _, err = run_cli(
        capsys, "check", "--tracking-uri", store, "--format", "json", "--output", target,
        "--format", "sarif", "--output", target,
    )  # fmt: skip
    assert code == 2 and "already the target" in err


def test_config_file_being_read_is_not_overwritten(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.mlflow-guard]\n")
    code, _, err = run_cli(
        capsys, "check", "--tracking-uri", store, "--config", str(config), "--format", "json",
        "--output", str(config),
    )  # fmt: skip
    assert code == 2 and "configuration file" in err
    assert config.read_text() == "[tool.mlflow-guard]\n"


def test_report_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlflow_guard.gate.report_files import write_text

    target = tmp_path / "report.json"
    target.write_text("old report\n")
    os.chmod(target, 0o640)

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing the new report

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text(target, "new report\n" * 1000)
    assert target.read_text() == "old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temporary left
    monkeypatch.undo()
    write_text(target, "new report\n")
    assert target.read_text() == "new report\n"
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_normal_report_file_is_replaced(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _store_with_a_run(store)
    target = tmp_path / "report.json"
    target.write_text("yesterday's report")
    code, _, err = run_cli(
        capsys, "check", "--tracking-uri", store, "--format", "json", "--output", str(target)
    )
    assert code in (0, 1), err
    assert json.loads(target.read_text())["version"] == 1


def test_an_output_that_is_no_regular_file_is_written_into_not_replaced(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--output /dev/null`` used to rename a temporary file over the device, turning
    /dev/null into a plain file for the whole machine. A named pipe stands in for it here."""
    import threading

    _store_with_a_run(store)
    pipe = tmp_path / "report.pipe"
    os.mkfifo(pipe)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_text()), daemon=True)
    reader.start()
    code, _, err = run_cli(
        capsys, "check", "--tracking-uri", store, "--format", "json", "--output", str(pipe)
    )
    reader.join(30)
    assert code in (0, 1), err
    assert stat.S_ISFIFO(pipe.stat().st_mode)  # still the pipe, not a file renamed over it
    assert json.loads(received[0])["version"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pipe", "store"]


# --- secrets and faults over HTTP -------------------------------------------------------------


def test_a_server_that_hangs_behind_a_healthy_health_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with faulty_server("hang") as url:
        started = time.monotonic()
        code, _, err = run_cli(
            capsys, "check", "--tracking-uri", url.replace("http://", f"http://bob:{SECRET}@")
        )
        elapsed = time.monotonic() - started
    assert code == 2
    assert "did not answer within 10 s although /health answers" in err
    assert elapsed < 25  # the probe's 10 s, not MLflow's minutes of retries
    assert SECRET not in err


def test_a_server_that_fails_mid_check_is_bounded_and_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # /health and the probe's request answer; every request MLflow makes hangs
    probe = "/api/2.0/mlflow/experiments/search?max_results=1"
    with faulty_server("hang", healthy_paths=("/health", probe)) as url:
        started = time.monotonic()
        code, _, err = run_cli(
            capsys, "check", "--tracking-uri", url.replace("http://", f"http://bob:{SECRET}@")
        )
        elapsed = time.monotonic() - started
    assert code == 2, err
    # one request of 15 s, retried once (about 31 s); MLflow's defaults take minutes, and
    # waiting twice (as listing the registry first once did) takes 62
    assert elapsed < 50
    assert SECRET not in err and "Traceback" not in err
    assert url.removeprefix("http://") in err


# --- unreadable evidence is reported, never passed --------------------------------------------


@pytest.mark.server
def test_a_database_uri_whose_artifacts_only_the_server_serves(
    server: str,
    server_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import uuid

    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    monkeypatch.chdir(tmp_path)
    name = f"team/unreadable_{uuid.uuid4().hex[:8]}"  # the server is shared: our own experiment
    X = np.random.default_rng(0).random((20, 3))
    model = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    mlflow.set_tracking_uri(server)
    try:  # not set_experiment: it would leave MLFLOW_EXPERIMENT_ID behind for the next test
        experiment = mlflow.MlflowClient().create_experiment(name)
        with mlflow.start_run(
            experiment_id=experiment,
            run_name="20260101-000000_alice",
            tags={"run.mode": "validation"},
        ):
            mlflow.sklearn.log_model(model, name="model")  # no signature: MLG301
    finally:
        mlflow.set_tracking_uri(None)
    capsys.readouterr()  # MLflow's own "View run" lines
    args = ["check", "--tracking-uri", server_database, "--experiment", name, "--format", "json"]

    code, out, err = run_cli(capsys, *args)
    assert code == 1, err  # it used to say "No findings" here, exit 0
    report = json.loads(out)
    rules = {f["rule"] for f in report["findings"]}
    assert "MLG004" in rules and "MLG301" not in rules
    unchecked = [f for f in report["findings"] if f["rule"] == "MLG004"]
    assert any("MLG301 model-signature" in f["message"] for f in unchecked)
    assert all(f["severity"] == "error" for f in unchecked)
    assert any("--artifacts-server" in f["message"] for f in unchecked)
    assert report["summary"]["error"] >= len(unchecked)

    code, out, err = run_cli(capsys, *args, "--artifacts-server", server)
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert code == 1 and "MLG301" in rules and "MLG004" not in rules, err


# --- the same values and faults seen from the pytest plugin (in-process) ----------------------


@pytest.mark.parametrize(
    "setting", ["stale-running-hours = inf", 'required-tags = [""]', 'ui-url = "x"']
)
def test_the_plugin_refuses_the_same_values_before_the_session(
    setting: str, tmp_path: Path
) -> None:
    from pytest_mlflow_guard.errors import ConfigError
    from pytest_mlflow_guard.pytest_plugin.options import Settings
    from pytest_mlflow_guard.pytest_plugin.session import GuardSession

    config = tmp_path / "guard.toml"
    config.write_text(f"[tool.mlflow-guard]\n{setting}\n")
    with pytest.raises(ConfigError, match=setting.split(" = ")[0]):
        GuardSession(Settings(enabled=True, config=str(config)), tmp_path, [])


def test_the_plugin_reports_a_hanging_server_within_the_probe(tmp_path: Path) -> None:
    from pytest_mlflow_guard.pytest_plugin.options import Settings
    from pytest_mlflow_guard.pytest_plugin.session import GuardSession

    with faulty_server("hang") as url:
        guard = GuardSession(Settings(enabled=True, tracking_uri=url), tmp_path, [])
        started = time.monotonic()
        try:
            guard.start()
        finally:
            guard.close()
        elapsed = time.monotonic() - started
    assert guard.problem is not None and "did not answer within 10 s" in guard.problem
    assert guard.session_run_id is None and elapsed < 25


def test_a_probe_timeout_reads_the_same_whichever_timer_fires_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The probe's socket timeout and its overall deadline end together; whichever the
    scheduler lets fire first, the user reads the same reason (this once flaked in CI)."""
    import threading
    import types

    from pytest_mlflow_guard.errors import GuardError
    from pytest_mlflow_guard.mlflow_io import connect

    class SocketFirst(threading.Thread):
        def join(self, timeout: float | None = None) -> None:
            super().join(None if timeout is None else timeout + 2)  # the socket's timer wins

    # only the probe's own thread: connect sees a threading module whose Thread joins late
    monkeypatch.setattr(connect, "threading", types.SimpleNamespace(Thread=SocketFirst))
    with faulty_server("hang") as url, pytest.raises(GuardError) as raised:
        connect.probe(url, timeout_s=1)
    assert "its API did not answer within 1 s although /health answers" in str(raised.value)

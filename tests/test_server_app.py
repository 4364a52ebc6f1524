"""``mlflow server --app-name mlflow-guard``: a real server refuses non-conforming writes from
every client (MlflowClient, fluent ``mlflow.*``, the UI's ajax routes), records who moved which
version where, and under ``mlflow-guard-basic-auth`` knows who that was."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from guard_testing import running_server
from sklearn.linear_model import LogisticRegression

from pytest_mlflow_guard import ExperimentTracker

pytestmark = pytest.mark.server

EXAMPLE = Path(__file__).resolve().parents[1] / "example_project"
ADMIN = ("admin", "admin-Pa55word-long")
BOB = ("bob", "bob-Pa55word-long-enough")


@pytest.fixture(scope="module")
def _servers(_template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started: dict[str, Any] = {}
    stack: list[Any] = []

    def start(name: str, app: str, workers: int = 1, **env: str) -> str:
        if name not in started:
            root = tmp_path_factory.mktemp(name)
            context = running_server(root, _template_db, app_name=app, env=env, workers=workers)
            url, _ = context.__enter__()
            stack.append(context)
            started[name] = (url, root)
        return str(started[name][0])

    yield start, started
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def enforcing(_servers: Any) -> str:
    return str(_servers[0]("enforce", "mlflow-guard"))


@pytest.fixture
def warning(_servers: Any) -> str:
    return str(_servers[0]("warn", "mlflow-guard", MLFLOW_GUARD_SERVER_MODE="warn"))


@pytest.fixture
def with_basic_auth(_servers: Any) -> str:
    return str(
        _servers[0](
            "auth",
            "mlflow-guard-basic-auth",
            MLFLOW_FLASK_SERVER_SECRET_KEY="not-a-real-secret",
            MLFLOW_AUTH_ADMIN_USERNAME=ADMIN[0],
            MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN[1],
        )
    )


def test_basic_auth_workers_bootstrap_one_at_a_time(tmp_path: Path) -> None:
    # MLflow's CLI migrates the auth database before it starts workers, but only for the app
    # named basic-auth; workers of the combined app doing it at once raced (seen with the
    # default four: all but one crashed at start). Holding the lock must hold a worker back.
    import fcntl

    from pytest_mlflow_guard.server.app import bootstrap_lock

    env = {
        **os.environ,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "not-a-real-secret",
        "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1],
    }
    # the worker's whole start (before MLflow 3.16, basic-auth's own create_app migrates)
    code = "from pytest_mlflow_guard.server.app import create_basic_auth_app as c; c()"
    with bootstrap_lock("sqlite:///basic_auth.db").open("a") as held:  # basic-auth's default
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env)
        with pytest.raises(subprocess.TimeoutExpired):
            worker.wait(timeout=8)  # waiting for the lock, not migrating beside another
        assert not (tmp_path / "basic_auth.db").exists()
    assert worker.wait(timeout=120) == 0
    assert (tmp_path / "basic_auth.db").exists()


@pytest.fixture(autouse=True)
def _fresh_client_state(monkeypatch: pytest.MonkeyPatch, git_repo: Path) -> Iterator[None]:
    import mlflow

    monkeypatch.chdir(git_repo)  # runs record its commit (MLG201 wants git.commit)
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.setenv(variable, "")  # recorded, so what MLflow sets here is undone
        monkeypatch.delenv(variable)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _client(url: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=url, registry_uri=url)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def _post(
    url: str, path: str, body: dict[str, Any], auth: tuple[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    try:
        return status, dict(json.loads(text or b"{}"))
    except ValueError:  # basic-auth answers 401 in plain text
        return status, {"text": text.decode(errors="replace")}


def _train(tracker: ExperimentTracker, model_name: str) -> None:
    X = np.random.default_rng(0).random((30, 3))
    model = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    with tracker.start_run():
        tracker.log_params({"C": 1.0})
        tracker.log_environment()  # before registering: the version's run must pass (MLG304)
        tracker.log_model(
            model, input_example=X[:2], registered_model_name=model_name, stage="None"
        )


def _history(uri: str, model: str, *args: str) -> str:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_mlflow_guard.cli",
            "history",
            model,
            "--tracking-uri",
            uri,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_experiments_and_runs_are_refused_for_every_client(enforcing: str) -> None:
    import mlflow
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    client = _client(enforcing)
    with pytest.raises(MlflowException, match="MLG101 experiment-name: experiment name 'Bad Name'"):
        client.create_experiment("Bad Name")
    status, body = _post(enforcing, "/ajax-api/2.0/mlflow/experiments/create", {"name": "Bad Name"})
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "MLG101" in body["message"]
    assert client.get_experiment_by_name("Bad Name") is None
    experiment_id = client.create_experiment(_unique("mushroom/server_ok"))

    with pytest.raises(
        MlflowException, match=re.escape("MLG202 tag-value: tag 'run.mode' has value 'train'")
    ):
        client.create_run(experiment_id, tags={"run.mode": "train"})
    assert client.search_runs([experiment_id], run_view_type=ViewType.ALL) == []
    run = client.create_run(experiment_id, tags={"run.mode": "training"})
    with pytest.raises(MlflowException, match="MLG202"):
        client.set_tag(run.info.run_id, "run.mode", "bogus")
    client.set_terminated(run.info.run_id)
    assert client.get_run(run.info.run_id).data.tags["run.mode"] == "training"

    # the fluent API: the refusal ends the run FAILED, never leaves it RUNNING
    mlflow.set_tracking_uri(enforcing)
    with (
        pytest.raises(MlflowException, match="MLG202"),
        mlflow.start_run(experiment_id=experiment_id) as fluent,
    ):
        mlflow.set_tag("run.mode", "bogus")
    assert client.get_run(fluent.info.run_id).info.status == "FAILED"


def test_promotions_are_judged_and_recorded_with_who_and_when(
    enforcing: str, _servers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "carol")  # what the request says
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-checked-without-auth")
    client = _client(enforcing)
    with pytest.raises(MlflowException, match="MLG103"):
        client.create_registered_model("BadModel")
    name = _unique("server_model")
    tracker = ExperimentTracker("mushroom/server_registry", tracking_uri=enforcing)
    _train(tracker, name)
    _train(tracker, name)
    client.transition_model_version_stage(name, "1", "Production")
    with pytest.raises(MlflowException, match="MLG401 single-production: 2 versions are in stage"):
        client.transition_model_version_stage(name, "2", "Production")
    assert client.get_model_version(name, "2").current_stage == "None"
    client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    assert client.get_model_version(name, "1").current_stage == "Archived"

    database = f"sqlite:///{_servers[1]['enforce'][1] / 'mlflow.db'}"
    for uri in (enforcing, database):  # the trail reads the same through the server and the db
        entries = json.loads(_history(uri, name, "--format", "json"))["history"]
        moves = [
            (e["version"], e["from"], e["to"], e["cause"]) for e in entries if e["event"] == "stage"
        ]
        assert moves == [
            ("1", "None", "Production", None),
            ("2", "None", "Production", None),
            ("1", "Production", "Archived", "archive_existing_versions"),
        ]
        assert {e["user"] for e in entries} == {"carol"}
    text = _history(enforcing, name, "--version", "1")
    assert "carol  version 1: None -> Production" in text
    assert "version 2" not in text


def test_warn_mode_accepts_the_same_writes_and_tags_them(warning: str) -> None:
    client = _client(warning)
    experiment_id = client.create_experiment("Bad Name")
    assert client.get_experiment(experiment_id).tags["mlflow_guard.findings"] == "MLG101"
    run = client.create_run(experiment_id, tags={"run.mode": "train"})
    assert client.get_run(run.info.run_id).data.tags["mlflow_guard.findings"] == "MLG202"
    client.set_terminated(run.info.run_id)
    client.create_registered_model("BadModel")
    assert client.get_registered_model("BadModel").tags["mlflow_guard.findings"] == "MLG103"


def test_basic_auth_first_then_the_policy_with_the_users_name(
    with_basic_auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException

    status, _ = _post(
        with_basic_auth, "/api/2.0/mlflow/experiments/create", {"name": "mushroom/anon"}
    )
    assert status == 401  # nobody: basic-auth answers before the policy
    status, body = _post(
        with_basic_auth,
        "/api/2.0/mlflow/users/create",
        {"username": BOB[0], "password": BOB[1]},
        auth=ADMIN,
    )
    assert status == 200, body
    status, body = _post(
        with_basic_auth, "/api/2.0/mlflow/experiments/create", {"name": "Bad Name"}, auth=BOB
    )
    assert status == 400 and "MLG101" in body["message"]
    status, body = _post(
        with_basic_auth, "/api/2.0/mlflow/experiments/create", {"name": "Bad Name"}, auth=ADMIN
    )
    assert status == 400 and "MLG101" in body["message"]  # admins skip permissions, not conventions

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", BOB[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", BOB[1])
    name = _unique("auth_model")
    _train(ExperimentTracker(_unique("mushroom/auth"), tracking_uri=with_basic_auth), name)
    client = _client(with_basic_auth)
    client.transition_model_version_stage(name, "1", "Staging")
    client.set_registered_model_alias(name, "champion", "1")
    with pytest.raises(MlflowException, match="MLG103"):
        client.create_registered_model("Bad Model")
    text = _history(with_basic_auth, name)
    assert "bob  version 1: None -> Staging" in text
    assert "bob  alias @champion: (none) -> v1" in text


def test_the_example_project_runs_unchanged_against_a_guarded_server(
    enforcing: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTEST_"))}
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT="0",
        MLFLOW_TRACKING_URI=enforcing,
        MLFLOW_GUARD_ISOLATED="false",
    )
    demo = subprocess.run(
        [sys.executable, "src/scripts/examples/mlflow_train_demo.py"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--mlflow-guard-mode=enforce"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-2000:]
    assert f"tracking={enforcing}" in suite.stdout

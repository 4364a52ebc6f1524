"""Shared fixtures: real sqlite MLflow stores and real git repositories in temporary folders."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Never let MLflow send telemetry from a test: its own test detection runs when it is imported,
# before pytest sets PYTEST_CURRENT_TEST. Subprocesses (mlflow server, pytester) inherit this.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

pytest_plugins = ["pytester"]


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real git repository with one commit (and a remote URL carrying a fake token)."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("demo\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    git(
        repo, "remote", "add", "origin", "https://alice:ghp_SECRET123@git.example.com/team/proj.git"
    )
    return repo


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Creating MLflow's schema takes a second or two per database; copy an initialised one instead.
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path: Path, _template_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``MLFLOW_TRACKING_URI`` pointing at a fresh sqlite store; artifacts beside it."""
    import mlflow

    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(_template_db, db)
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(None)  # forget a URI an earlier test set (this also unsets the env)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(db.parent)  # default artifact root ./mlruns lands in tmp, not the repo
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def server(_template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (sqlite backend, served artifacts), for the session."""
    root = tmp_path_factory.mktemp("server")
    shutil.copy(_template_db, root / "mlflow.db")
    port = _free_port()
    log = (root / "server.log").open("wb")
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=root
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited:\n{(root / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not up:\n{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        if process.poll() is None:  # the whole process group: gunicorn/uvicorn workers too
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        log.close()


class GuardedProject:
    """A pytester project under git, with a pyproject switching the guard on, and its store."""

    def __init__(self, pytester: pytest.Pytester, uri: str) -> None:
        self.pytester = pytester
        self.path = pytester.path
        self.uri = uri

    def commit(self) -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", "tests", "--allow-empty")
        return git(self.path, "rev-parse", "HEAD")

    def run(self, *args: str, timeout: float = 240) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=timeout)

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    def runs(self) -> list[Any]:
        """Every run in the store, oldest first."""
        from mlflow.entities import ViewType

        c = self.client()
        ids = [e.experiment_id for e in c.search_experiments(view_type=ViewType.ALL)]
        return list(
            c.search_runs(ids, run_view_type=ViewType.ALL, order_by=["attributes.start_time ASC"])
        )

    def session_runs(self) -> list[Any]:
        return [r for r in self.runs() if r.info.run_name and "mlflow.parentRunId" not in
                r.data.tags and "pytest.args" in r.data.tags]  # fmt: skip


GUARDED_PYPROJECT = """\
[project]
name = "mushroom-growth"
version = "0.0.1"

[tool.pytest.ini_options]
mlflow_guard = true

[tool.mlflow-guard.scope]
experiments = ["mushroom/*"]
"""


# The real cache, read before pytester points HOME at a temporary folder: every pytester session
# would otherwise migrate its own store template (1.4 s) instead of copying the shared one.
_CACHE_HOME = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


@pytest.fixture(scope="session")
def _mlflow_loaded(_template_db: Path) -> None:
    """Import what the assertions use *before* pytester snapshots ``sys.modules``: modules first
    imported inside a pytester test are dropped at its teardown, which leaves MLflow's lazily
    imported package half-initialised for the next test in the worker."""
    import mlflow.sklearn  # noqa: F401
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{_template_db}")
    client.search_runs(["0"])
    client.search_registered_models()


@pytest.fixture
def guarded(
    _mlflow_loaded: None, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> GuardedProject:
    """A guarded test project in a fresh git repository; its store is a new sqlite file."""
    monkeypatch.setenv("XDG_CACHE_HOME", _CACHE_HOME)
    git(pytester.path, "init", "-q", "-b", "main")
    (pytester.path / "pyproject.toml").write_text(GUARDED_PYPROJECT)
    uri = f"sqlite:///{pytester.path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for var in ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CI", "MLFLOW_GUARD_MODE"):
        monkeypatch.delenv(var, raising=False)
    project = GuardedProject(pytester, uri)
    project.commit()
    return project

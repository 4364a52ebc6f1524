"""Shared fixtures: real sqlite MLflow stores and real git repositories in temporary folders."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

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

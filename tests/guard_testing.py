"""Helpers shared by the test modules (imported by name: see conftest.py for why)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

__all__ = ["GUARDED_PYPROJECT", "GuardedProject", "_free_port", "free_port", "git"]


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


free_port = _free_port


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

"""Helpers shared by the test modules (imported by name: see conftest.py for why)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "GUARDED_PYPROJECT",
    "GuardedProject",
    "_free_port",
    "faulty_server",
    "git",
    "running_server",
    "stop_server",
]


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


@contextmanager
def running_server(
    root: Path,
    template: Path,
    app_name: str | None = None,
    env: dict[str, str] | None = None,
    workers: int = 1,
    backend_uri: str | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `mlflow server` on 127.0.0.1 (served artifacts) in ``root``: on a copy of the
    sqlite ``template``, or on ``backend_uri`` (a PostgreSQL database, say). Optionally with
    ``--app-name`` and extra environment variables."""
    if backend_uri is None:
        shutil.copy(template, root / "mlflow.db")
        backend_uri = f"sqlite:///{root / 'mlflow.db'}"
    port = _free_port()
    log = (root / "server.log").open("wb")
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_uri,
        "--serve-artifacts", "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        *(("--app-name", app_name) if app_name else ()),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=root,
        env={**os.environ, **(env or {})},
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
        yield url, process
    finally:
        stop_server(process)
        log.close()


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:  # the whole process group: gunicorn/uvicorn workers too
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@contextmanager
def faulty_server(fault: str, healthy_paths: tuple[str, ...] = ("/health",)) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 that answers ``healthy_paths`` like MLflow's and, for every
    other request, ``fault``: "hang" (never answers) or "drop" (closes the connection).

    The faults real servers have: a worker stuck behind a healthy /health, a proxy that resets
    the connection. Yields its URL."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            if self.path.split("?", 1)[0] in healthy_paths or self.path in healthy_paths:
                body = b"OK" if self.path == "/health" else b"{}"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif fault == "hang":
                release.wait(120)
            else:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        do_GET = do_POST = do_PATCH = do_DELETE = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


#: set by ``.ci/matrix.py`` when it tries a release whose schema the SQL reader was not tested on:
#: the installed schema counts as tested for this run, so the parity tests decide whether its
#: revision can join ``sql_schema.TESTED_REVISIONS``
TRY_SCHEMA = "MLFLOW_GUARD_TRY_SCHEMA"


def template_revision(template: Path) -> str:
    """The alembic revision of a migrated MLflow sqlite database."""
    import sqlite3

    with sqlite3.connect(template) as conn:
        (found,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(found)

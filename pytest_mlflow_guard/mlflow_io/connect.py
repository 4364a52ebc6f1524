"""Reaching a tracking store: fail fast when it is not there. Standard library only.

MLflow's own HTTP client retries for minutes against a dead server; the gate should say within
seconds that it cannot reach it, and never silently check an empty store it just created.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import GuardError
from .links import redact_uri

__all__ = ["bounded_http", "probe"]


def probe(tracking_uri: str, timeout_s: float = 10.0) -> None:
    """Raise ``GuardError`` when the store cannot be reached; return quietly when it can.

    An http(s) server gets one GET of ``<uri>/health``, bounded by ``timeout_s`` in total, name
    resolution included; any HTTP answer below 500 counts as reachable (``/health`` may sit behind
    authentication). A ``sqlite:`` database file must exist and hold MLflow's tables (it is
    opened read-only, so nothing is written), and a local store directory must exist: MLflow
    would otherwise create an empty store and the gate would pass on nothing. Other schemes
    (postgresql, databricks...) are left to the first real request.
    """
    parsed = urllib.parse.urlsplit(tracking_uri)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        _probe_http(tracking_uri, timeout_s)
    elif scheme == "sqlite":
        path = _sqlite_path(tracking_uri)
        if path:
            _probe_sqlite(tracking_uri, path)
    elif scheme in ("", "file") and tracking_uri:
        local = urllib.request.url2pathname(parsed.path) if scheme == "file" else tracking_uri
        if not os.path.isdir(local):
            raise GuardError(f"no MLflow store at {tracking_uri}: {local} is not a directory")


def _sqlite_path(uri: str) -> str | None:
    """The database file of a ``sqlite:`` URI (SQLAlchemy rules: ``sqlite:////abs``,
    ``sqlite:///relative``), or None for an in-memory or ``file:`` URI database."""
    rest = uri.split(":", 1)[1]
    if not rest.startswith("//"):
        return None
    path = rest[2:].split("?", 1)[0]
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return urllib.parse.unquote(path)


def _probe_sqlite(tracking_uri: str, path: str) -> None:
    """The file must be a SQLite database holding MLflow's ``experiments`` table. Opened with
    ``mode=ro``: an empty file stays empty (MLflow itself would create its schema in it)."""
    where = f"no MLflow store at {redact_uri(tracking_uri)}"
    if not os.path.isfile(path):
        raise GuardError(f"{where}: {path} does not exist")
    try:
        connection = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'experiments'"
            ).fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise GuardError(f"{where}: cannot read {path} as a SQLite database: {exc}") from None
    if found is None:
        raise GuardError(f"{where}: {path} has no MLflow tables")


def _probe_http(tracking_uri: str, timeout_s: float) -> None:
    safe = redact_uri(tracking_uri)
    health = safe.rstrip("/") + "/health"
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            with urllib.request.urlopen(health, timeout=timeout_s) as response:
                response.read(64)
            outcome.append(None)
        except urllib.error.HTTPError as exc:
            outcome.append(None if exc.code < 500 else f"HTTP {exc.code} {exc.reason}")
        except urllib.error.URLError as exc:
            outcome.append(str(exc.reason))
        except Exception as exc:
            outcome.append(str(exc) or type(exc).__name__)

    thread = threading.Thread(target=attempt, name="mlflow-guard-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)  # also bounds name resolution, which urlopen's timeout does not
    if not outcome:
        raise GuardError(f"cannot reach tracking server {safe}: no answer within {timeout_s:g} s")
    if outcome[0] is not None:
        raise GuardError(f"cannot reach tracking server {safe}: {outcome[0]}")


@contextmanager
def bounded_http(max_retries: int = 2, timeout_s: float = 30.0) -> Iterator[None]:
    """Cap MLflow's HTTP retries and per-request timeout while the block runs (MLflow reads these
    per request; its defaults retry for minutes). Values already set in the environment win."""
    wanted = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, int(timeout_s))),
    }
    added = [key for key in wanted if key not in os.environ]
    for key in added:
        os.environ[key] = wanted[key]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)

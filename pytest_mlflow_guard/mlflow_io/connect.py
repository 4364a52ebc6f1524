"""Reaching a tracking store: fail fast when it is not there. Standard library only.

MLflow's own HTTP client retries for minutes against a dead server; the gate should say within
seconds that it cannot reach it, and never silently check an empty store it just created.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.mlflow_io.uris import sqlite_path
from pytest_mlflow_guard.redact import redact_text

__all__ = ["BOUNDED_HTTP", "bounded_http", "check_uri", "probe"]


def probe(tracking_uri: str, timeout_s: float = 10.0) -> None:
    """Raise ``GuardError`` when the store cannot be reached; return quietly when it can.

    An http(s) server gets one GET of ``<uri>/health``, bounded by ``timeout_s`` in total, name
    resolution included; any HTTP answer below 500 counts as reachable (``/health`` may sit behind
    authentication). A ``sqlite:`` database file must exist and hold MLflow's tables (it is
    opened read-only, so nothing is written), and a local store directory must exist: MLflow
    would otherwise create an empty store and the gate would pass on nothing. Other schemes
    (postgresql, databricks...) are left to the first real request.
    """
    parsed = urllib.parse.urlsplit(check_uri("tracking URI", tracking_uri))
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        _probe_http(tracking_uri, timeout_s)
    elif scheme == "sqlite":
        path = sqlite_path(tracking_uri)
        if path:
            _probe_sqlite(tracking_uri, path)
    elif scheme in ("", "file") and tracking_uri:
        local = urllib.request.url2pathname(parsed.path) if scheme == "file" else tracking_uri
        if not os.path.isdir(local):
            raise GuardError(f"no MLflow store at {tracking_uri}: {local} is not a directory")


def _probe_sqlite(tracking_uri: str, path: str) -> None:
    """The file must be a SQLite database holding MLflow's ``experiments`` table. Opened with
    ``mode=ro``: an empty file stays empty (MLflow itself would create its schema in it)."""
    where = f"no MLflow store at {redact_text(tracking_uri)}"
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


_API_PROBE = "/api/2.0/mlflow/experiments/search?max_results=1"
_NO_ANSWER = "no answer"  # the request timed out


def _probe_http(tracking_uri: str, timeout_s: float) -> None:
    """``/health``, then one cheap API request, within ``timeout_s`` in all: a server whose
    health check answers while its API hangs (a stuck worker, a dead database behind it) must
    be reported now, not after MLflow's retries of every request."""
    safe = redact_text(tracking_uri).split("?", 1)[0].split("#", 1)[0].rstrip("/")
    deadline = time.monotonic() + timeout_s
    outcome: list[str | None] = []
    step = ["/health"]

    def get(path: str) -> str | None:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            with urllib.request.urlopen(safe + path, timeout=remaining) as response:
                response.read(64)
        except urllib.error.HTTPError as exc:
            # any answer below 500 counts: the endpoint may sit behind authentication
            return None if exc.code < 500 else f"HTTP {exc.code} {exc.reason}"
        except TimeoutError:
            return _NO_ANSWER
        except urllib.error.URLError as exc:
            return _NO_ANSWER if isinstance(exc.reason, TimeoutError) else str(exc.reason)
        except Exception as exc:
            return str(exc) or type(exc).__name__
        return None

    def attempt() -> None:
        problem = get("/health")
        if problem is None:
            step.append(_API_PROBE)
            problem = get(_API_PROBE)
        outcome.append(problem)

    thread = threading.Thread(target=attempt, name="mlflow-guard-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)  # also bounds name resolution, which urlopen's timeout does not
    # no outcome yet, or the socket's own timeout (which fires at about the same moment, so
    # either may come first): the same finding, said the same way
    if not outcome or outcome[0] == _NO_ANSWER:
        what = "its API" if len(step) > 1 else "/health"
        hint = " although /health answers" if len(step) > 1 else ""
        raise GuardError(
            f"cannot use tracking server {safe}: {what} did not answer within {timeout_s:g} s{hint}"
        )
    if outcome[0] is not None:
        raise GuardError(f"cannot reach tracking server {safe}: {outcome[0]}")


def check_uri(where: str, uri: str) -> str:
    """``uri`` when it can be a tracking URI at all; ``GuardError`` naming ``where`` otherwise
    (a malformed ``http://u:p@[::1`` would raise deep inside MLflow)."""
    try:
        parsed = urllib.parse.urlsplit(uri)
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise GuardError(f"{where} {redact_text(uri)!r}: not a valid URI ({exc})") from None
    if parsed.scheme.lower() in ("http", "https") and not parsed.hostname:
        raise GuardError(f"{where} {redact_text(uri)!r}: no host in the URL")
    return uri


#: MLflow's HTTP settings while the guard talks to a server: one request waits at most 15 s and
#: is retried once after a second, so a hanging server costs about 30 s, not MLflow's default
#: minutes of retries. Values the user set win.
BOUNDED_HTTP = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}


@contextmanager
def bounded_http(settings: Mapping[str, str] = BOUNDED_HTTP) -> Iterator[None]:
    """:data:`BOUNDED_HTTP` (or ``settings``) in the environment while the block runs: MLflow
    reads them at every request."""
    added = [key for key in settings if key not in os.environ]
    for key in added:
        os.environ[key] = settings[key]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)

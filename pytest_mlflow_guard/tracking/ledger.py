"""The session's ledger: one line per run started anywhere during a guarded pytest session.

Every process that starts a run (the tracker, the run-context provider in a test, an xdist
worker, a subprocess a test started) appends the test it belongs to and the store it writes to.
Teardown reads the lines a test added to know whether, and where, to look for its runs; the end
of the session reads them all to find every store the session wrote to. Standard library only.

The file is created by the session with mode 0600 (a tracking URI may carry credentials) and
removed when the session ends. Each entry is one short ``write()`` on an ``O_APPEND`` file,
which is atomic between processes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pytest_mlflow_guard.tracking import session_env
from pytest_mlflow_guard.vocabulary import ENV_LEDGER

__all__ = ["Entry", "create", "entries", "note", "note_run", "size"]


@dataclass(frozen=True)
class Entry:
    test: str | None  # node id of the test that made the run, None outside a test
    tracking_uri: str  # absolute (a relative sqlite path means a different file per cwd)


def create(path: Path) -> Path:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.close(fd)
    return path


def note(test: str | None, tracking_uri: str) -> None:
    """Append one entry to the ledger of the current session (no-op outside one)."""
    path = os.environ.get(ENV_LEDGER)
    if not path:
        return
    line = json.dumps({"test": test, "uri": tracking_uri}, ensure_ascii=True) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except OSError:
        return  # a missing ledger only costs the per-test report, never the run
    try:
        os.write(fd, line.encode("ascii"))
    except OSError:
        pass
    finally:
        os.close(fd)


def size(path: str | Path | None) -> int:
    try:
        return os.stat(path).st_size if path else 0
    except OSError:
        return 0


def entries(path: str | Path | None, offset: int = 0) -> list[Entry]:
    """The entries from byte ``offset`` on; lines that do not parse are skipped."""
    if not path:
        return []
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return []
    found: list[Entry] = []
    for raw in data.splitlines():
        try:
            item = json.loads(raw)
            found.append(Entry(item.get("test") or None, str(item["uri"])))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return found


def note_run(tracking_uri: str) -> None:
    """Tell the guarded session (if any) that a run is being made in ``tracking_uri``: the
    test's teardown then knows it has runs to check, and where. Called by whoever starts a run
    (the tracker, the run-context provider), right after computing its tags."""
    if session_env.session_id() is None:
        return
    from pytest_mlflow_guard.mlflow_io.uris import absolute_tracking_uri
    from pytest_mlflow_guard.tracking.context.runtime import (
        current_test,
        started_by_mlflow_test_plugin,
    )

    # MLflow's own session run belongs to no single test
    test = None if started_by_mlflow_test_plugin() else current_test()
    note(test, absolute_tracking_uri(tracking_uri))

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # tests never phone home


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store these tests write to.

    Under the guard (this project's pytest config switches it on, with an isolated throwaway
    store) that is the session's store, so the gate sees every run the tests make. When the guard
    is off (``-p no:mlflow_guard``, or the repository's own test run) each test gets a private
    sqlite file instead: the team's store never receives test runs either way.
    """
    import mlflow

    if os.environ.get("MLFLOW_GUARD_SESSION_ID"):
        yield mlflow.get_tracking_uri()
        return
    mlflow.set_tracking_uri(None)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    yield uri
    mlflow.set_tracking_uri(None)

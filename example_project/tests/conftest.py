from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # tests never phone home


@pytest.fixture
def mlflow_guard_tracking_uri(
    mlflow_guard_tracking_uri: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The store these tests (and the guard's ``tracker`` and ``mlflow_run``) write to.

    Under the guard (this project's pytest config switches it on, with an isolated throwaway
    store) that is the session's store, so the gate sees every run the tests make. When the guard
    is off (the repository's own test run leaves it off), the plugin's fixture gives None and
    each test gets a private sqlite file instead: the team's store never receives test runs.
    """
    if mlflow_guard_tracking_uri is not None:
        yield mlflow_guard_tracking_uri
        return
    import mlflow

    mlflow.set_tracking_uri(None)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    yield uri
    mlflow.set_tracking_uri(None)


@pytest.fixture
def tracking_uri(mlflow_guard_tracking_uri: str) -> str:
    return mlflow_guard_tracking_uri

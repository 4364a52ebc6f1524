"""Stores the plugin creates: never another project's folder, never someone's file replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_mlflow_guard.mlflow_io import stores


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


def _default_location(uri: str) -> str:
    from mlflow import MlflowClient

    return str(MlflowClient(tracking_uri=uri).get_experiment("0").artifact_location)


def test_created_stores_keep_default_artifacts_under_their_own_root(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "project-a"
    second = tmp_path / "project-b"
    for project in (first, second):
        project.mkdir()
    monkeypatch.chdir(first)  # the template is built here, on first use
    assert stores.ensure_sqlite_store(f"sqlite:///{first / 'mlflow.db'}")
    monkeypatch.chdir(second)
    uri = f"sqlite:///{second / 'mlflow.db'}"
    assert stores.ensure_sqlite_store(uri)  # copied from the template project-a built
    assert _default_location(uri).startswith(str(second / "mlruns"))

    isolated = stores.IsolatedStore()
    try:
        monkeypatch.setenv(stores.ARTIFACT_ROOT_ENV, str(isolated.artifacts))
        assert _default_location(isolated.tracking_uri).startswith(str(isolated.artifacts))
    finally:
        isolated.close()


def test_an_existing_file_is_never_replaced(cache: Path, tmp_path: Path) -> None:
    empty = tmp_path / "placeholder.db"
    empty.touch()
    inode = empty.stat().st_ino
    assert not stores.ensure_sqlite_store(f"sqlite:///{empty}")
    assert empty.stat().st_ino == inode  # the same file, not unlinked and replaced
    link = tmp_path / "link.db"
    os.symlink(tmp_path / "nowhere.db", link)  # a dangling link is someone's too
    assert not stores.ensure_sqlite_store(f"sqlite:///{link}")
    assert link.is_symlink() and not (tmp_path / "nowhere.db").exists()

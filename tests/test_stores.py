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
        location = _default_location(isolated.tracking_uri).removeprefix("file://")
        assert location.startswith(str(isolated.artifacts))
        # MLflow before 3.10 cannot be told where other new experiments go: the session says so
        assert (isolated.note is None) == stores.honours_artifact_root()
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


def test_an_mlflow_without_the_artifact_root_variable_still_keeps_default_inside(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow before 3.10 never reads the variable: "Default" is made with the store's own root
    # up front, and what still escapes (experiments created later) is said in a note
    monkeypatch.setattr(stores, "honours_artifact_root", lambda: False)
    monkeypatch.chdir(tmp_path)
    isolated = stores.IsolatedStore()
    try:
        location = _default_location(isolated.tracking_uri).removeprefix("file://")
        assert location.startswith(str(isolated.artifacts))
        assert isolated.note is not None and "./mlruns" in isolated.note
        # (MLflow before 3.10 makes an empty ./mlruns whenever a client opens a sqlite store)
        assert not [p for p in (tmp_path / "mlruns").rglob("*") if p.is_file()]
    finally:
        isolated.close()


def test_building_the_template_leaves_the_process_logging_as_it_was(cache: Path) -> None:
    # MLflow before 3.8 applies its alembic.ini to the process while it migrates: a root
    # handler on the stderr of the moment, which under pytest is a capture file closed after
    # the test ("--- Logging error ---" in every later warning). Runs on both ends of CI.
    import logging

    root = logging.getLogger()
    before = (list(root.handlers), root.level, logging.getLogger("alembic").level)
    assert not list(cache.glob("**/*.db"))  # a fresh cache: the template is migrated now
    stores.template_db()
    assert (list(root.handlers), root.level, logging.getLogger("alembic").level) == before

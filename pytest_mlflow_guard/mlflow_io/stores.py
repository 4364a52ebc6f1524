"""Preparing sqlite stores before tests write to them: fast, and race free under xdist.

Creating MLflow's schema runs ~60 alembic migrations (about 1.4 s here), and several processes
migrating one new database at once fail (4 xdist workers on a fresh store: 10 failures in 12
tries). So a migrated, empty database is built once per MLflow version into a cache directory
and *copied*: into a fresh throwaway store per session (isolated mode), or into place when the
configured sqlite file does not exist yet, by the xdist controller before any worker starts.

The template holds no experiment at all: MLflow creates "Default" when it first opens a store
that lacks it, with an artifact location under *that* store's artifact root. (A template that
kept its own Default would send every later store's Default artifacts to the folder where the
template happened to be built: another project's folder.) Nothing that exists is ever replaced:
a database file already in place, even an empty one, is left to MLflow.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_mlflow_guard.mlflow_io.uris import sqlite_path

__all__ = ["IsolatedStore", "ensure_sqlite_store", "template_db"]

# MLflow reads this when it builds a sqlite store without an artifact root of its own (it is
# how `mlflow server` passes its root down); the throwaway store keeps its artifacts beside it
# instead of in ./mlruns of whatever directory a test runs in.
ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "mlflow-guard"


def template_db() -> Path:
    """A migrated empty MLflow database for the installed MLflow (built on first use)."""
    import mlflow
    from mlflow import MlflowClient

    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / "mlflow-guard-cache"):
        # v2: without a "Default" experiment (templates of earlier versions carried one)
        target = folder / f"store-template-v2-mlflow-{mlflow.__version__}.db"
        if target.is_file() and target.stat().st_size > 0:
            return target
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".building-", suffix=".db", dir=folder)
        except OSError:
            continue  # read-only home: try the temp directory
        os.close(fd)
        os.unlink(tmp)  # sqlite must create the file itself
        try:
            with _logging_left_alone():
                MlflowClient(tracking_uri=f"sqlite:///{tmp}").search_experiments(max_results=1)
            _drop_experiments(Path(tmp))
            # Two sessions building at once both succeed; os.replace keeps one, atomically.
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target
    raise OSError("no writable cache directory for the MLflow store template")


#: the loggers MLflow's migrations configure from their alembic.ini (MLflow before 3.8)
_MIGRATION_LOGGERS = ("", "sqlalchemy.engine", "alembic")


@contextmanager
def _logging_left_alone() -> Iterator[None]:
    """Migrating a database makes MLflow before 3.8 apply its alembic.ini's logging setup to
    the whole process: a handler on the root logger bound to the ``sys.stderr`` of the moment
    (under pytest, a capture file closed after the test). The guard migrates in the user's own
    process (their pytest session): how their logging is set up is theirs, so it is put back."""
    saved = []
    for name in _MIGRATION_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, list(logger.handlers), logger.propagate))
    try:
        yield
    finally:
        for logger, level, handlers, propagate in saved:
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate


def _drop_experiments(db: Path) -> None:
    """Remove the "Default" experiment MLflow created while migrating: see the module doc."""
    connection = sqlite3.connect(db)
    try:
        with connection:
            connection.execute("DELETE FROM experiment_tags")
            connection.execute("DELETE FROM experiments")
    finally:
        connection.close()


def _copy_into_place(template: Path, target: Path) -> bool:
    """Copy ``template`` to ``target`` unless something is already there (never overwrite)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".mlflow-guard-", suffix=".db", dir=target.parent)
    os.close(fd)
    try:
        shutil.copyfile(template, tmp)
        _open_once(tmp)
        try:
            os.link(tmp, target)  # fails if target exists: a concurrent creator wins
            return True
        except FileExistsError:
            return False
        except OSError:  # no hard links on this filesystem: create exclusively, then fill
            try:
                with open(target, "xb") as out, open(tmp, "rb") as src:
                    shutil.copyfileobj(src, out)
            except FileExistsError:
                return False
            return True
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _open_once(db: str) -> None:
    """Let MLflow create "Default" in the copy before anyone can see it: MLflow before 3.15
    creates it unguarded when it opens a store that lacks it, and processes opening a fresh
    store together then fail on each other's row. Its artifact location is what any process
    here would give it: the client's default root does not depend on the database's path."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments(max_results=1)


def ensure_sqlite_store(tracking_uri: str) -> bool:
    """For a ``sqlite:`` URI whose file does not exist, put a migrated database there.

    Returns True when a database was created. Other URIs and existing files (an empty one
    included: it is not ours to replace) are left alone; MLflow creates or migrates the schema
    in them on first open, which the controller does once before any worker starts.
    """
    if not tracking_uri.lower().startswith("sqlite:"):
        return False
    raw = sqlite_path(tracking_uri)
    if raw is None:
        return False
    path = Path(raw)
    if os.path.lexists(path):
        return False
    return _copy_into_place(template_db(), path)


def honours_artifact_root() -> bool:
    """Whether the installed MLflow builds a sqlite store's default artifact root from
    ``ARTIFACT_ROOT_ENV`` (3.10 and later); before, every client store uses ./mlruns."""
    from mlflow.tracking._tracking_service import utils

    return hasattr(utils, "_SERVER_ARTIFACT_ROOT_ENV_VAR")


class IsolatedStore:
    """A throwaway sqlite store and artifact folder for one session; ``close()`` removes it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-guard-session-"))
        self.db = self.root / "mlflow.db"
        self.artifacts = self.root / "artifacts"
        self.artifacts.mkdir()
        shutil.copyfile(template_db(), self.db)
        self.tracking_uri = f"sqlite:///{self.db}"
        #: what the session should say about this store, if anything
        self.note: str | None = None
        if not honours_artifact_root():
            self.note = self._default_experiment_here()

    def _default_experiment_here(self) -> str:
        """Create "Default" with its artifacts in this store's folder (the store MLflow builds
        with an explicit root does that), so runs of tests that name no experiment stay here;
        experiments created later without a location still go to ./mlruns: said, not hidden."""
        import mlflow
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = SqlAlchemyStore(self.tracking_uri, self.artifacts.as_uri())  # type: ignore[no-untyped-call]
        store.engine.dispose()
        return (
            f"MLflow {mlflow.__version__} ignores the isolated store's artifact root (before "
            "3.10): experiments the tests create without an artifact location keep their "
            "artifacts in ./mlruns of the working directory, which MLflow creates"
        )

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

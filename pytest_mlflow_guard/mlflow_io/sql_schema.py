"""MLflow's tables as the SQL reader sees them: read-only connections and the tested revisions.

MLflow's schema is internal and changes with its releases. Everything the SQL reader assumes of
it is here: the columns it reads (lightweight ``sqlalchemy.table`` constructs: no ``MetaData``,
so nothing here can create a table) and the few statements it sends as text. It is used only on
a database whose alembic revision is one it was tested on; any other revision is read through
MLflow's client instead.

Connections are read-only at the database's own level where it has one (SQLite ``mode=ro``,
PostgreSQL and MySQL read-only transactions), so a user with SELECT alone is enough, and a read
replica works.
"""

from __future__ import annotations

import importlib.util
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.mlflow_io.uris import sqlite_path
from pytest_mlflow_guard.mlflow_io.workspaces import DEFAULT_WORKSPACE
from pytest_mlflow_guard.redact import redact_text

__all__ = [
    "DATABASE_SCHEMES",
    "LOGGED_MODELS_SQL",
    "LOGGED_MODEL_TAGS_SQL",
    "RUN_CHILDREN_SQL",
    "TESTED_REVISIONS",
    "Schema",
    "T",
    "is_database_uri",
    "open_readonly",
    "read_schema",
    "require_driver",
    "revision",
    "with_installed_driver",
]

DATABASE_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")

#: alembic revisions of MLflow's schema the SQL reader's parity tests ran on, and the release
#: that brought each. Add one only after ``tests/test_sql_reader.py`` passed on it (CI runs it
#: on the two ends of the supported range, ``constraints/floor.txt`` and ``latest.txt``).
TESTED_REVISIONS = {"dc11669786a5": "MLflow 3.17", "f4a9b2c7d1e6": "MLflow 3.18"}


def _t(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns))


class T:
    """The tables and columns read (nothing else of MLflow's schema is assumed)."""

    experiments = _t(
        "experiments",
        "experiment_id",
        "name",
        "lifecycle_stage",
        "creation_time",
        "last_update_time",
        "workspace",
    )
    experiment_tags = _t("experiment_tags", "experiment_id", "key", "value")
    runs = _t(
        "runs",
        "run_uuid",
        "experiment_id",
        "name",
        "status",
        "start_time",
        "end_time",
        "artifact_uri",
        "lifecycle_stage",
    )
    registered_models = _t("registered_models", "name", "workspace", "last_updated_time")
    registered_model_tags = _t("registered_model_tags", "name", "workspace", "key", "value")
    registered_model_aliases = _t(
        "registered_model_aliases", "name", "workspace", "alias", "version"
    )
    model_versions = _t(
        "model_versions",
        "name",
        "workspace",
        "version",
        "creation_time",
        "last_updated_time",
        "current_stage",
        "source",
        "run_id",
        "storage_location",
    )
    model_version_tags = _t("model_version_tags", "name", "workspace", "version", "key", "value")


#: the child rows of a page of runs, for ``sql_runs.fetch_by_keys`` (``{keys}``: the key test);
#: a metric's key is all the gate reads of it
RUN_CHILDREN_SQL = {
    "tags": "SELECT run_uuid, key, value FROM tags WHERE run_uuid {keys}",
    "params": "SELECT run_uuid, key, value FROM params WHERE run_uuid {keys}",
    "latest_metrics": "SELECT run_uuid, key, NULL FROM latest_metrics WHERE run_uuid {keys}",
}
#: MLflow 3 LoggedModels of runs, logged in the run's own experiment and not deleted, in MLflow's
#: listing order (newest first, nulls last, ties by id)
LOGGED_MODELS_SQL = (
    "SELECT m.model_id, m.experiment_id, m.name, m.artifact_location, m.source_run_id "
    "FROM logged_models m JOIN runs r ON r.run_uuid = m.source_run_id "
    "WHERE m.source_run_id {keys} AND m.experiment_id = r.experiment_id "
    "AND m.lifecycle_stage <> 'deleted' "
    "ORDER BY CASE WHEN m.creation_timestamp_ms IS NULL THEN 1 ELSE 0 END, "
    "m.creation_timestamp_ms DESC, m.model_id"
)
LOGGED_MODEL_TAGS_SQL = (
    "SELECT model_id, tag_key, tag_value FROM logged_model_tags WHERE model_id {keys}"
)


def is_database_uri(uri: str) -> bool:
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    return scheme.split("+", 1)[0] in DATABASE_SCHEMES


_DRIVER_MODULES = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pymysql": "pymysql"}


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def require_driver(uri: str) -> None:
    """A clear error when the database driver SQLAlchemy will pick for ``uri`` is missing.

    ``postgresql://`` names no driver: SQLAlchemy 2.1 reads it with psycopg 3, 2.0 (what
    MLflow before 3.9 needs) with psycopg2. A user with the other one installed would otherwise
    get a bare ``ModuleNotFoundError`` from deep inside MLflow.
    """
    try:
        url = make_url(uri)
        driver = url.get_dialect().driver
    except ImportError as exc:
        driver = getattr(exc, "name", None) or str(exc)
    except Exception:
        return  # not a URL SQLAlchemy knows: the store's own error says more
    module = _DRIVER_MODULES.get(driver)
    if module is None or _installed(module):
        return
    shown = redact_text(uri)
    if module in ("psycopg", "psycopg2"):
        wanted = "psycopg 3" if module == "psycopg" else "psycopg2"
        hint = (
            "pip install 'pytest-mlflow-guard[postgres]' (psycopg 3)"
            if module == "psycopg"
            else "pip install psycopg2-binary"
        )
        other = "psycopg2" if module == "psycopg" else "psycopg"
        if _installed(other):
            hint += f", or name the driver you have: postgresql+{other}://..."
        raise GuardError(
            f"tracking URI {shown}: SQLAlchemy {sa.__version__} reads postgresql:// URIs with "
            f"the {wanted} driver, which is not installed: {hint}"
        )
    raise GuardError(f"tracking URI {shown}: the {module} driver is not installed")


def with_installed_driver(uri: str) -> str:
    """``uri`` for the guard's own engine: a ``postgresql://`` that names no driver is read
    with whichever PostgreSQL driver is installed when SQLAlchemy's choice is not (the
    ``postgres`` extra installs psycopg 3; SQLAlchemy 2.0 would want psycopg2)."""
    try:
        url = make_url(uri)
        if url.drivername != "postgresql":
            return uri
        default = url.get_dialect().driver
    except Exception:
        return uri
    if _installed(_DRIVER_MODULES.get(default, default)):
        return uri
    for driver in ("psycopg", "psycopg2"):
        if driver != default and _installed(driver):
            return url.set(drivername=f"postgresql+{driver}").render_as_string(False)
    return uri


def _readonly_url(uri: str) -> tuple[str, dict[str, Any]]:
    """The URL to connect with and ``connect_args`` that make the connection read-only."""
    url = make_url(uri)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(uri)
        if path is not None:
            return f"sqlite:///{Path(path).resolve().as_uri()}?mode=ro&uri=true", {}
        database = url.database or ""
        if database.startswith("file:") and url.query.get("uri") == "true":
            # SQLAlchemy's URI form (sqlite:///file:PATH?...&uri=true): made read-only too
            return url.update_query_dict({"mode": "ro"}).render_as_string(False), {}
        raise GuardError(f"{redact_text(uri)}: the SQL reader needs a sqlite database file")
    if backend == "postgresql":
        return uri, {"options": "-c default_transaction_read_only=on"}
    return uri, {}


def open_readonly(uri: str) -> Engine:
    """An engine on ``uri`` whose sessions cannot write. Connecting is left to the first query."""
    uri = with_installed_driver(uri)
    require_driver(uri)
    target, connect_args = _readonly_url(uri)
    engine = sa.create_engine(target, connect_args=connect_args, poolclass=sa.pool.NullPool)
    if engine.dialect.name == "mysql":

        @sa.event.listens_for(engine, "connect")
        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.close()

    return engine


@dataclass(frozen=True)
class Schema:
    """What the SQL reader must know of a store's schema beyond its tested revision."""

    revision: str
    #: the ``workspace`` columns (MLflow 3.10+): without them, everything is one store
    workspace_columns: bool
    #: every workspace the store has (its catalog, and any a row names): sorted; ``()``
    #: without the columns
    workspaces: tuple[str, ...] = ()


def read_schema(connection: sa.Connection, found: str) -> Schema:
    """The schema facts of a store at revision ``found``."""
    inspector = sa.inspect(connection)
    columns = {c["name"] for c in inspector.get_columns("experiments")}
    if "workspace" not in columns:
        return Schema(found, workspace_columns=False)
    names = {DEFAULT_WORKSPACE}  # MLflow's migration seeds it; a catalog may lack it
    if inspector.has_table("workspaces"):
        names.update(connection.execute(sa.text("SELECT name FROM workspaces")).scalars())
    # no foreign key ties a row to the catalog (workspace providers may live elsewhere)
    for table in (T.experiments, T.registered_models):
        names.update(connection.execute(sa.select(table.c.workspace).distinct()).scalars())
    return Schema(found, workspace_columns=True, workspaces=tuple(sorted(n for n in names if n)))


def revision(connection: sa.Connection) -> str | None:
    """The store's alembic revision, or None when it has no ``alembic_version`` table. Any
    other error (a locked or unreachable database) is raised: it is no answer about the schema."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    return str(rows[0][0]) if len(rows) == 1 else None

"""Run records from rows of MLflow's ``runs`` table: a query per child table for a page of runs.

Shared by the SQL reader's runs pass and its fetch of model versions' source runs; the record
itself is built by ``builders.run_record``, as the client reader's are. The artifact facts
(requirements file, each model's ``MLmodel``) are read there, on the reader's bounded pool when
they are remote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa

from pytest_mlflow_guard.mlflow_io.artifacts import local_path
from pytest_mlflow_guard.mlflow_io.builders import LoggedModelFields, run_record
from pytest_mlflow_guard.mlflow_io.sql_schema import (
    LOGGED_MODEL_TAGS_SQL,
    LOGGED_MODELS_SQL,
    RUN_CHILDREN_SQL,
    T,
)
from pytest_mlflow_guard.records import RunRecord

__all__ = ["IN_LIMIT", "DbRow", "RunBuilder", "chunks", "run_columns"]

X = TypeVar("X")
#: a result row, read by column name (SQLAlchemy 2.1 types ``Row`` by every column's type)
DbRow = Any
IN_LIMIT = 900  # ids per IN list: below every backend's bound-parameter limit


def chunks(items: Iterable[X], size: int) -> Iterator[list[X]]:
    chunk: list[X] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_columns() -> tuple[sa.ColumnClause[Any], ...]:
    """The columns of ``runs`` that :meth:`RunBuilder.records` reads from each row."""
    r = T.runs
    return (
        r.c.run_uuid,
        r.c.experiment_id,
        r.c.name,
        r.c.status,
        r.c.start_time,
        r.c.end_time,
        r.c.artifact_uri,
    )


def fetch_by_keys(conn: sa.Connection, sql: str, keys: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (whose ``{keys}`` is the key column's test) for these keys, fetched
    with the driver's own cursor: SQLAlchemy's rows and bound-parameter rendering cost more than
    the query for a page of a few thousand keys. PostgreSQL gets the keys as one array
    (``= ANY(%s)``), other drivers as a list of placeholders (``IN (?, ...)``), a chunk at a
    time. The SQL names only MLflow's fixed tables and columns; values are always bound."""
    if not keys:
        return []
    dialect = conn.dialect
    if dialect.name == "postgresql":
        batches: list[tuple[str, tuple[Any, ...]]] = [(sql.format(keys="= ANY(%s)"), (list(keys),))]
    else:
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        batches = [
            (sql.format(keys=f"IN ({', '.join([mark] * len(chunk))})"), tuple(chunk))
            for chunk in chunks(keys, IN_LIMIT)
        ]
    found: list[tuple[Any, ...]] = []
    cursor = conn.connection.cursor()
    try:
        for statement, params in batches:
            try:
                cursor.execute(statement, params)
            except dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy would report it
                raise sa.exc.DBAPIError.instance(
                    statement, params, exc, dialect.loaded_dbapi.Error
                ) from exc
            found.extend(cursor.fetchall())
    finally:
        cursor.close()
    return found


@dataclass
class RunBuilder:
    tracking_uri: str
    artifacts_server: str | None
    #: every experiment's name by id, deleted experiments too
    names: dict[str, str] = field(default_factory=dict)
    #: every experiment's workspace by id, on a store with several (else empty: None)
    workspaces: dict[str, str] = field(default_factory=dict)
    pool: ThreadPoolExecutor | None = None

    def _children(
        self, conn: sa.Connection, table: str, ids: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for run_id, key, val in fetch_by_keys(conn, RUN_CHILDREN_SQL[table], ids):
            found.setdefault(run_id, {})[key] = val
        return found

    def records(self, conn: sa.Connection, rows: Sequence[DbRow]) -> list[RunRecord]:
        """The records of a page of run rows: a query per child table for the whole page."""
        ids = [row.run_uuid for row in rows]
        tags = self._children(conn, "tags", ids)
        params = self._children(conn, "params", ids)
        metrics = self._children(conn, "latest_metrics", ids)
        models = self._logged_models(conn, ids)

        def build(row: DbRow) -> RunRecord:
            experiment_id = str(row.experiment_id)
            return run_record(
                run_id=row.run_uuid,
                experiment_id=experiment_id,
                experiment_name=self.names.get(experiment_id, ""),
                run_name=row.name,
                status=row.status,
                start_ms=row.start_time,
                end_ms=row.end_time,
                artifact_uri=row.artifact_uri,
                tags=tags.get(row.run_uuid, {}),
                params=params.get(row.run_uuid, {}),
                metric_keys=metrics.get(row.run_uuid, ()),
                models=models.get(row.run_uuid, []),
                tracking_uri=self.tracking_uri,
                artifacts_server=self.artifacts_server,
                workspace=self.workspaces.get(experiment_id),
            )

        # only artifact reads are left to do here: threads pay off when they wait on a remote
        # artifact store, and only contend for the GIL on local files
        io_bound = any(local_path(row.artifact_uri or "") is None for row in rows)
        return list(self.map(build, rows) if io_bound else map(build, rows))

    def _logged_models(
        self, conn: sa.Connection, run_ids: Sequence[str]
    ) -> dict[str, list[LoggedModelFields]]:
        """MLflow 3 LoggedModels of these runs (logged in the run's own experiment, not deleted),
        in MLflow's listing order: newest first, ties by model id."""
        rows = fetch_by_keys(conn, LOGGED_MODELS_SQL, run_ids)
        model_tags: dict[str, dict[str, str]] = {}
        model_ids = [row[0] for row in rows]
        for model_id, key, value in fetch_by_keys(conn, LOGGED_MODEL_TAGS_SQL, model_ids):
            model_tags.setdefault(model_id, {})[key] = value
        found: dict[str, list[LoggedModelFields]] = {}
        for model_id, experiment_id, name, location, run_id in rows:
            fields = LoggedModelFields(
                model_id, experiment_id, name, location, run_id, model_tags.get(model_id, {})
            )
            found.setdefault(run_id, []).append(fields)
        return found

    def map(self, fn: Callable[[Any], X], items: Sequence[Any]) -> Iterable[X]:
        if self.pool is None or len(items) < 2:
            return map(fn, items)
        return self.pool.map(fn, items)

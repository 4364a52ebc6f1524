"""Run records from rows of MLflow's ``runs`` table: a query per child table for a page of runs.

Shared by the SQL reader's runs pass and its fetch of model versions' source runs, so that a run
is built one way. The artifact facts (requirements file, each model's ``MLmodel``) are read by
the same functions as the client reader's, on the reader's bounded pool when they are remote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa

from pytest_mlflow_guard.mlflow_io.artifacts import has_requirements, local_path
from pytest_mlflow_guard.mlflow_io.model_records import logged_model_record, mlflow2_models
from pytest_mlflow_guard.mlflow_io.paging import generated_run_name, to_utc
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


class _Model(NamedTuple):
    model_id: str
    experiment_id: int
    name: str
    artifact_location: str
    source_run_id: str


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
            return self._run_record(
                row,
                tags.get(row.run_uuid, {}),
                params.get(row.run_uuid, {}),
                frozenset(metrics.get(row.run_uuid, ())),
                models.get(row.run_uuid, []),
            )

        # only artifact reads are left to do here: threads pay off when they wait on a remote
        # artifact store, and only contend for the GIL on local files
        io_bound = any(local_path(row.artifact_uri or "") is None for row in rows)
        return list(self.map(build, rows) if io_bound else map(build, rows))

    def _logged_models(
        self, conn: sa.Connection, run_ids: Sequence[str]
    ) -> dict[str, list[tuple[DbRow, dict[str, str]]]]:
        """MLflow 3 LoggedModels of these runs (logged in the run's own experiment, not deleted),
        in MLflow's listing order: newest first, ties by model id."""
        rows = [_Model(*row) for row in fetch_by_keys(conn, LOGGED_MODELS_SQL, run_ids)]
        model_tags: dict[str, dict[str, str]] = {}
        model_ids = [r.model_id for r in rows]
        for model_id, key, value in fetch_by_keys(conn, LOGGED_MODEL_TAGS_SQL, model_ids):
            model_tags.setdefault(model_id, {})[key] = value
        found: dict[str, list[tuple[DbRow, dict[str, str]]]] = {}
        for row in rows:
            found.setdefault(row.source_run_id, []).append((row, model_tags.get(row.model_id, {})))
        return found

    def _run_record(
        self,
        row: DbRow,
        tags: dict[str, str],
        params: dict[str, str],
        metric_keys: frozenset[str],
        models: Sequence[tuple[DbRow, dict[str, str]]],
    ) -> RunRecord:
        experiment_id = str(row.experiment_id)
        artifact_uri = row.artifact_uri or ""
        logged = [
            logged_model_record(
                model_id=m.model_id,
                experiment_id=str(m.experiment_id),
                run_id=m.source_run_id,
                name=m.name,
                artifact_location=m.artifact_location,
                tags=model_tags,
                tracking_uri=self.tracking_uri,
                artifacts_server=self.artifacts_server,
            )
            for m, model_tags in models
        ]
        logged.extend(
            mlflow2_models(
                row.run_uuid,
                experiment_id,
                artifact_uri,
                tags,
                self.tracking_uri,
                self.artifacts_server,
            )
        )
        requirements, unreadable = has_requirements(
            artifact_uri, self.tracking_uri, self.artifacts_server
        )
        return RunRecord(
            run_id=row.run_uuid,
            experiment_id=experiment_id,
            experiment_name=self.names.get(experiment_id, ""),
            run_name=row.name,
            status=str(row.status),
            start_time=to_utc(row.start_time),
            end_time=to_utc(row.end_time),
            tags=tags,
            params=params,
            metric_keys=metric_keys,
            has_requirements=requirements,
            requirements_unreadable=unreadable,
            logged_models=tuple(logged),
            name_generated=generated_run_name(row.name),
        )

    def map(self, fn: Callable[[Any], X], items: Sequence[Any]) -> Iterable[X]:
        if self.pool is None or len(items) < 2:
            return map(fn, items)
        return self.pool.map(fn, items)

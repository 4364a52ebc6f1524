"""Run records from rows of MLflow's ``runs`` table: a query per child table for a page of runs.

Shared by the SQL reader's runs pass and its fetch of model versions' source runs, so that a run
is built one way. The artifact facts (requirements file, each model's ``MLmodel``) are read by
the same functions as the client reader's, on the reader's bounded pool when they are remote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa

from pytest_mlflow_guard.mlflow_io.artifacts import has_requirements, local_path
from pytest_mlflow_guard.mlflow_io.model_records import logged_model_record, mlflow2_models
from pytest_mlflow_guard.mlflow_io.paging import generated_run_name, to_utc
from pytest_mlflow_guard.mlflow_io.sql_schema import T
from pytest_mlflow_guard.records import RunRecord

__all__ = ["IN_LIMIT", "DbRow", "RunBuilder", "chunks"]

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


@dataclass
class RunBuilder:
    tracking_uri: str
    artifacts_server: str | None
    #: whether the store is a networked database (artifact reads then go to the pool)
    remote: bool
    #: every experiment's name by id, deleted experiments too
    names: dict[str, str] = field(default_factory=dict)
    pool: ThreadPoolExecutor | None = None

    def _children(
        self, conn: sa.Connection, table: sa.TableClause, ids: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        values = table.c.value if "value" in table.c else sa.null()
        query = sa.select(table.c.run_uuid, table.c.key, values).where(table.c.run_uuid.in_(ids))
        found: dict[str, dict[str, str]] = {}
        # fetched whole (a page of runs' rows): row by row, SQLAlchemy's per-row fetch costs
        # more than the query
        for run_id, key, value in conn.execute(query).tuples().all():
            found.setdefault(run_id, {})[key] = value
        return found

    def records(self, conn: sa.Connection, rows: Sequence[DbRow]) -> list[RunRecord]:
        """The records of a page of run rows: a query per child table for the whole page."""
        tags: dict[str, dict[str, str]] = {}
        params: dict[str, dict[str, str]] = {}
        metrics: dict[str, dict[str, str]] = {}
        models: dict[str, list[tuple[DbRow, dict[str, str]]]] = {}
        for chunk in chunks(rows, IN_LIMIT):
            ids = [row.run_uuid for row in chunk]
            tags.update(self._children(conn, T.tags, ids))
            params.update(self._children(conn, T.params, ids))
            metrics.update(self._children(conn, T.latest_metrics, ids))
            for run_id, found in self._logged_models(conn, ids).items():
                models.setdefault(run_id, []).extend(found)

        def build(row: DbRow) -> RunRecord:
            return self._run_record(
                row,
                tags.get(row.run_uuid, {}),
                params.get(row.run_uuid, {}),
                frozenset(metrics.get(row.run_uuid, ())),
                models.get(row.run_uuid, []),
            )

        io_bound = self.remote or any(local_path(row.artifact_uri or "") is None for row in rows)
        return list(self.map(build, rows) if io_bound else map(build, rows))

    def _logged_models(
        self, conn: sa.Connection, run_ids: Sequence[str]
    ) -> dict[str, list[tuple[DbRow, dict[str, str]]]]:
        """MLflow 3 LoggedModels of these runs (logged in the run's own experiment, not deleted),
        in MLflow's listing order: newest first, ties by model id."""
        m, r, t = T.logged_models, T.runs, T.logged_model_tags
        query = (
            sa.select(
                m.c.model_id, m.c.experiment_id, m.c.name, m.c.artifact_location, m.c.source_run_id
            )
            .join(r, r.c.run_uuid == m.c.source_run_id)
            .where(m.c.source_run_id.in_(run_ids))
            .where(m.c.experiment_id == r.c.experiment_id)
            .where(m.c.lifecycle_stage != "deleted")
            .order_by(
                sa.case((m.c.creation_timestamp_ms.is_(None), 1), else_=0).asc(),
                m.c.creation_timestamp_ms.desc(),
                m.c.model_id.asc(),
            )
        )
        rows = list(conn.execute(query))
        model_tags: dict[str, dict[str, str]] = {}
        for chunk in chunks([row.model_id for row in rows], IN_LIMIT):
            q = sa.select(t.c.model_id, t.c.tag_key, t.c.tag_value).where(t.c.model_id.in_(chunk))
            for model_id, key, value in conn.execute(q):
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

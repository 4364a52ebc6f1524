"""Read a database-backed MLflow store with plain SQL: the same records as ``StoreReader``.

For ``sqlite:``, ``postgresql:`` and ``mysql:`` tracking URIs whose schema revision is tested
(``sql_schema.TESTED_REVISIONS``). MLflow's client costs a query per table per page of 1,000
runs and pages by OFFSET, so a full audit of a large store re-sorts it once per page. Here:

* the store's runs come from one ordered query, streamed (a server-side cursor on PostgreSQL),
  never re-run and never offset; memory is bounded by ``page_size`` rows;
* their tags, params, metric keys and logged models are fetched by key, one query per table per
  page of runs (the ``run_uuid`` and ``source_run_id`` indexes MLflow keeps);
* the registry is paged by name (keyset, on its primary key), a few queries per 100 models.

The output is record for record what ``StoreReader`` yields on the same store, in the same order:
experiments as MLflow lists them (newest first), each followed by its runs (newest first, ties by
run id), then the registered models by name with their versions newest-updated first; on a store
with workspaces, the experiments of each workspace in turn (by name), then the registries. The
parity tests in ``tests/test_sql_reader.py`` hold the two to that. Records are built by
``builders``, for both readers; artifact facts are read by the same functions as the client
path, on the same bounded pool.

Schemas: the revisions in ``sql_schema.TESTED_REVISIONS``, with or without MLflow 3.10's
``workspace`` columns.

Nothing here writes: see ``sql_schema.open_readonly``. MLflow's ``SqlAlchemyStore`` is never
constructed (it would insist on its exact revision and create tables in an empty database).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from itertools import chain, groupby

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pytest_mlflow_guard.config import Scope
from pytest_mlflow_guard.errors import GuardError, environment_error
from pytest_mlflow_guard.mlflow_io.builders import experiment_record
from pytest_mlflow_guard.mlflow_io.paging import changed_at
from pytest_mlflow_guard.mlflow_io.scope import run_filter, since_datetime
from pytest_mlflow_guard.mlflow_io.sql_registry import SqlRegistry, in_workspace
from pytest_mlflow_guard.mlflow_io.sql_runs import IN_LIMIT, DbRow, RunBuilder, chunks, run_columns
from pytest_mlflow_guard.mlflow_io.sql_schema import Schema, T, read_schema, revision
from pytest_mlflow_guard.mlflow_io.workspaces import Pass, plan
from pytest_mlflow_guard.records import Record, RunRecord
from pytest_mlflow_guard.redact import redact_text

__all__ = ["ShardPlan", "SqlStoreReader"]

_DEFAULT_EXPERIMENT_ID = "0"


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


@dataclass(frozen=True)
class ShardPlan:
    """What ``gate.sharded`` deals out: the in-scope experiments in listing order, with their
    names and in-scope run counts."""

    experiment_ids: tuple[str, ...]
    names: dict[str, str]
    run_counts: dict[str, int]


class SqlStoreReader:
    """Streams the records of one database-backed store, read with SQL (see the module doc)."""

    def __init__(
        self,
        tracking_uri: str,
        engine: Engine,
        scope: Scope | None = None,
        *,
        max_workers: int = 8,
        page_size: int = 2000,
        now: datetime | None = None,
        include_registry: bool = True,
        experiment_ids: Collection[str] | None = None,
        artifacts_server: str | None = None,
        changed_since: datetime | None = None,
        workspaces: Sequence[str] = (),
        schema: Schema | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.engine = engine
        self.scope = scope or Scope()
        self.max_workers = max(1, max_workers)
        self.page_size = max(1, page_size)
        self.include_registry = include_registry
        #: only these experiments (by id), within the scope's globs
        self.experiment_ids = None if experiment_ids is None else frozenset(experiment_ids)
        self.artifacts_server = artifacts_server
        self.changed_since = changed_since
        #: the workspaces asked for (``--workspace``); all of them when empty
        self.workspaces = tuple(workspaces)
        self.schema = schema
        run_filter(self.scope, now)  # the client path's errors for a bad scope, word for word
        self._since = since_datetime(self.scope.since, now)
        self._statuses = tuple(s.upper() for s in self.scope.statuses)
        self._runs = RunBuilder(tracking_uri, artifacts_server)
        self._wanted: set[str] = set()  # run ids model versions name
        #: the records of those runs, kept from the runs pass for the registry's
        self._cache: dict[str, RunRecord] = {}

    # ----------------------------------------------------------------- public API

    def iter_records(self) -> Iterator[Record]:
        """Every in-scope experiment then its runs, then every registered model (with versions).
        A database error surfaces as ``GuardError`` naming the (redacted) store."""
        return self._read(True, self.include_registry)

    def iter_registry(self) -> Iterator[Record]:
        """The registered models alone (the experiments and runs read elsewhere)."""
        return self._read(False, True)

    def _read(self, include_runs: bool, include_registry: bool) -> Iterator[Record]:
        try:
            with (
                ThreadPoolExecutor(self.max_workers, thread_name_prefix="mlflow-guard") as pool,
                self.engine.connect() as conn,
            ):
                passes = self._prepare(conn)
                self._runs.pool = pool
                registry = SqlRegistry(self._runs, self._cache, self.changed_since)
                try:
                    if include_registry:
                        self._wanted = registry.version_run_ids(conn, passes)
                    if include_runs:
                        for part in passes:
                            yield from self._experiments_and_runs(conn, part)
                    if include_registry:
                        for part in passes:
                            yield from registry.registered_models(conn, part)
                finally:
                    self._runs.pool = None
                    self._wanted, self._cache = set(), {}
        except sa.exc.SQLAlchemyError as exc:
            raise GuardError(f"reading {self._where()} failed: {environment_error(exc)}") from exc

    def shard_plan(self) -> ShardPlan:
        """The in-scope experiments (every workspace read), for dealing out to processes."""
        try:
            with self.engine.connect() as conn:
                passes = self._prepare(conn)
                rows = [row for part in passes for row in self._experiments(conn, part)]
                counts = self._run_counts(conn)
        except sa.exc.SQLAlchemyError as exc:
            raise GuardError(f"reading {self._where()} failed: {environment_error(exc)}") from exc
        return ShardPlan(
            tuple(str(row.experiment_id) for row in rows),
            {str(row.experiment_id): str(row.name) for row in rows},
            counts,
        )

    def _where(self) -> str:
        return redact_text(self.tracking_uri)

    def _prepare(self, conn: sa.Connection) -> list[Pass]:
        """The store's schema, every experiment's name (and workspace), and the passes."""
        if self.schema is None:
            self.schema = read_schema(conn, revision(conn) or "")
        passes = plan(
            self.schema.workspaces,
            self.workspaces,
            self._where(),
            select_default=self.schema.workspace_columns,
        )
        e = T.experiments
        labelled = any(part.label is not None for part in passes)
        columns = [e.c.experiment_id, e.c.name, *([e.c.workspace] if labelled else [])]
        names, workspaces = {}, {}
        for row in conn.execute(sa.select(*columns)):
            names[str(row.experiment_id)] = row.name
            if labelled:
                workspaces[str(row.experiment_id)] = row.workspace
        self._runs.names, self._runs.workspaces = names, workspaces
        return passes

    # ----------------------------------------------------------------- experiments and runs

    def _experiments(self, conn: sa.Connection, part: Pass) -> list[DbRow]:
        """The pass's in-scope experiments' rows (id, name, times), in MLflow's listing order."""
        e = T.experiments
        query = (
            sa.select(e.c.experiment_id, e.c.name, e.c.creation_time, e.c.last_update_time)
            .where(e.c.lifecycle_stage == "active", *in_workspace(e, part))
            .order_by(e.c.creation_time.desc(), e.c.experiment_id.asc())
        )
        globs, ids = self.scope.experiments, self.experiment_ids
        return [
            row
            for row in conn.execute(query)
            if (not globs or any(fnmatchcase(row.name, g) for g in globs))
            and (ids is None or str(row.experiment_id) in ids)
        ]

    def _run_counts(self, conn: sa.Connection) -> dict[str, int]:
        """In-scope runs per experiment id (one scan of ``runs``)."""
        r = T.runs
        query = (
            sa.select(r.c.experiment_id, sa.func.count())
            .where(*self._run_clauses())
            .group_by(r.c.experiment_id)
        )
        return {str(exp_id): int(count) for exp_id, count in conn.execute(query)}

    def _run_clauses(self) -> list[sa.ColumnElement[bool]]:
        r = T.runs
        clauses: list[sa.ColumnElement[bool]] = [r.c.lifecycle_stage == "active"]
        if self._since is not None:
            clauses.append(r.c.start_time >= _ms(self._since))
        if self._statuses:
            clauses.append(r.c.status.in_(sorted(set(self._statuses))))
        if self.changed_since is not None:
            since = _ms(self.changed_since)
            clauses.append(sa.or_(r.c.start_time >= since, r.c.end_time >= since))
        return clauses

    def _experiments_and_runs(self, conn: sa.Connection, part: Pass) -> Iterator[Record]:
        experiments = self._experiments(conn, part)
        tags = self._experiment_tags(conn, [str(row.experiment_id) for row in experiments])
        r, e = T.runs, T.experiments
        query = (
            sa.select(*run_columns())
            .join(e, e.c.experiment_id == r.c.experiment_id)
            .where(*self._run_clauses())
            .where(e.c.lifecycle_stage == "active", *in_workspace(e, part))
            # the order MLflow lists experiments and then each one's runs in
            .order_by(
                e.c.creation_time.desc(),
                e.c.experiment_id.asc(),
                r.c.start_time.desc(),
                r.c.run_uuid.asc(),
            )
        )
        if (self.scope.experiments or self.experiment_ids is not None) and len(
            experiments
        ) <= IN_LIMIT:
            query = query.where(r.c.experiment_id.in_([row.experiment_id for row in experiments]))
        # one query for every run of the store, streamed: a server-side cursor on PostgreSQL
        # and MySQL, SQLite's own lazy stepping otherwise
        streamed = conn.execution_options(stream_results=True, yield_per=self.page_size)
        rows = (row for page in streamed.execute(query).partitions() for row in page)
        groups = groupby(rows, key=lambda row: str(row.experiment_id))
        group = next(groups, None)
        selected = {str(row.experiment_id) for row in experiments}
        for exp in experiments:
            exp_id = str(exp.experiment_id)
            # the stream is in the experiments' order; groups of experiments the globs left
            # out (when no IN list narrowed the query) are passed over
            while group is not None and group[0] not in selected:
                group = next(groups, None)
            runs = group[1] if group is not None and group[0] == exp_id else iter(())
            first = next(runs, None)
            if first is None:
                if exp_id == _DEFAULT_EXPERIMENT_ID:
                    continue  # "Default" breaks no convention until someone logs into it
                if self.changed_since is not None and not changed_at(
                    exp.last_update_time, self.changed_since
                ):
                    continue  # neither it nor any of its runs changed since the last check
            yield experiment_record(
                experiment_id=exp_id,
                name=exp.name,
                tags=tags.get(exp_id, {}),
                lifecycle_stage="active",
                created_ms=exp.creation_time,
                workspace=part.label,
            )
            if first is None:
                continue
            for page in chunks(chain([first], runs), self.page_size):
                for record in self._runs.records(conn, page):
                    if record.run_id in self._wanted:
                        self._cache[record.run_id] = record
                    yield record
            group = next(groups, None)

    def _experiment_tags(
        self, conn: sa.Connection, ids: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        t = T.experiment_tags
        found: dict[str, dict[str, str]] = {}
        for chunk in chunks(ids, IN_LIMIT):
            query = sa.select(t.c.experiment_id, t.c.key, t.c.value).where(
                t.c.experiment_id.in_([int(i) for i in chunk])
            )
            for exp_id, key, value in conn.execute(query):
                found.setdefault(str(exp_id), {})[key] = value
        return found

    # ----------------------------------------------------------------- registry

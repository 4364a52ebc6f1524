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
run id), then the registered models by name with their versions newest-updated first. The
parity tests in ``tests/test_sql_reader.py`` hold the two to that. Artifact facts are read by the
same functions as the client path, on the same bounded pool.

Nothing here writes: see ``sql_schema.open_readonly``. MLflow's ``SqlAlchemyStore`` is never
constructed (it would insist on its exact revision and create tables in an empty database).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from fnmatch import fnmatchcase
from itertools import chain, groupby

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from pytest_mlflow_guard.config import Scope
from pytest_mlflow_guard.errors import GuardError, environment_error
from pytest_mlflow_guard.mlflow_io.model_records import runs_uri_run, version_signature
from pytest_mlflow_guard.mlflow_io.paging import changed_at, model_changed, to_utc, version_run_id
from pytest_mlflow_guard.mlflow_io.scope import run_filter, since_datetime
from pytest_mlflow_guard.mlflow_io.sql_runs import IN_LIMIT, DbRow, RunBuilder, chunks, run_columns
from pytest_mlflow_guard.mlflow_io.sql_schema import T
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    ModelVersionRecord,
    Record,
    RegisteredModelRecord,
    RunRecord,
)
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.vocabulary import MLFLOW_PROMPT_TAG

__all__ = ["SqlStoreReader"]

_DEFAULT_EXPERIMENT_ID = "0"
_DEFAULT_WORKSPACE = "default"
_REGISTRY_PAGE = 100


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


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
        include_runs: bool = True,
        experiment_ids: Collection[str] | None = None,
        artifacts_server: str | None = None,
        changed_since: datetime | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.engine = engine
        self.scope = scope or Scope()
        self.max_workers = max(1, max_workers)
        self.page_size = max(1, page_size)
        self.include_registry = include_registry
        #: False: the registry alone (experiments and runs checked elsewhere: ``gate.sharded``)
        self.include_runs = include_runs
        #: only these experiments (by id), within the scope's globs
        self.experiment_ids = None if experiment_ids is None else frozenset(experiment_ids)
        self.artifacts_server = artifacts_server
        self.changed_since = changed_since
        run_filter(self.scope, now)  # the client path's errors for a bad scope, word for word
        self._since = since_datetime(self.scope.since, now)
        self._statuses = tuple(s.upper() for s in self.scope.statuses)
        self._runs = RunBuilder(tracking_uri, artifacts_server)
        self._wanted: set[str] = set()  # run ids model versions name
        self._cache: dict[str, RunRecord] = {}
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact location (runs:/ URIs)

    # ----------------------------------------------------------------- public API

    def iter_records(self) -> Iterator[Record]:
        """Every in-scope experiment then its runs, then every registered model (with versions).
        A database error surfaces as ``GuardError`` naming the (redacted) store."""
        try:
            with (
                ThreadPoolExecutor(self.max_workers, thread_name_prefix="mlflow-guard") as pool,
                self.engine.connect() as conn,
            ):
                self._runs.pool = pool
                try:
                    self._runs.names = {
                        str(i): n
                        for i, n in conn.execute(
                            sa.select(T.experiments.c.experiment_id, T.experiments.c.name)
                        )
                    }
                    if self.include_registry:
                        self._wanted = self._version_run_ids(conn)
                    if self.include_runs:
                        yield from self._experiments_and_runs(conn)
                    if self.include_registry:
                        yield from self._registered_models(conn)
                finally:
                    self._runs.pool = None
                    self._wanted, self._cache, self._artifact_uris = set(), {}, {}
        except sa.exc.SQLAlchemyError as exc:
            where = redact_text(self.tracking_uri)
            raise GuardError(f"reading {where} failed: {environment_error(exc)}") from exc

    # ----------------------------------------------------------------- experiments and runs

    def experiments(self, conn: sa.Connection) -> list[DbRow]:
        """The in-scope experiments' rows (id, name, times), in MLflow's listing order."""
        e = T.experiments
        query = (
            sa.select(e.c.experiment_id, e.c.name, e.c.creation_time, e.c.last_update_time)
            .where(e.c.lifecycle_stage == "active")
            .where(sa.or_(e.c.workspace.is_(None), e.c.workspace == _DEFAULT_WORKSPACE))
            .order_by(e.c.creation_time.desc(), e.c.experiment_id.asc())
        )
        globs, ids = self.scope.experiments, self.experiment_ids
        return [
            row
            for row in conn.execute(query)
            if (not globs or any(fnmatchcase(row.name, g) for g in globs))
            and (ids is None or str(row.experiment_id) in ids)
        ]

    def run_counts(self, conn: sa.Connection) -> dict[str, int]:
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

    def _experiments_and_runs(self, conn: sa.Connection) -> Iterator[Record]:
        experiments = self.experiments(conn)
        tags = self._experiment_tags(conn, [str(row.experiment_id) for row in experiments])
        r, e = T.runs, T.experiments
        query = (
            sa.select(*run_columns())
            .join(e, e.c.experiment_id == r.c.experiment_id)
            .where(*self._run_clauses())
            .where(e.c.lifecycle_stage == "active")
            .where(sa.or_(e.c.workspace.is_(None), e.c.workspace == _DEFAULT_WORKSPACE))
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
        rows = (row for part in streamed.execute(query).partitions() for row in part)
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
            yield ExperimentRecord(
                experiment_id=exp_id,
                name=exp.name,
                tags=tags.get(exp_id, {}),
                lifecycle_stage="active",
                creation_time=to_utc(exp.creation_time),
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

    def _version_run_ids(self, conn: sa.Connection) -> set[str]:
        v = T.model_versions
        query = sa.select(v.c.run_id, v.c.source).where(v.c.workspace == _DEFAULT_WORKSPACE)
        return {run_id for row in conn.execute(query) if (run_id := version_run_id(row))}

    def _registered_models(self, conn: sa.Connection) -> Iterator[RegisteredModelRecord]:
        """Registered models by name, a keyset page at a time (prompts excluded)."""
        rm, tags = T.registered_models, T.registered_model_tags
        prompts = (
            sa.select(tags.c.name)
            .where(tags.c.workspace == _DEFAULT_WORKSPACE)
            .where(tags.c.key == MLFLOW_PROMPT_TAG, tags.c.value == "true")
        )
        last: str | None = None
        while True:
            query = (
                sa.select(rm.c.name, rm.c.last_updated_time)
                .where(rm.c.workspace == _DEFAULT_WORKSPACE)
                .where(rm.c.name.not_in(prompts))
                .order_by(rm.c.name.asc())
                .limit(_REGISTRY_PAGE)
            )
            if last is not None:
                query = query.where(rm.c.name > last)
            page = list(conn.execute(query))
            if not page:
                return
            last = page[-1].name
            yield from self._model_page(conn, page)
            if len(page) < _REGISTRY_PAGE:
                return

    def _model_page(
        self, conn: sa.Connection, page: Sequence[DbRow]
    ) -> Iterator[RegisteredModelRecord]:
        names = [row.name for row in page]
        rm_tags = self._keyed(conn, T.registered_model_tags, names)
        aliases: dict[str, dict[str, list[str]]] = {}
        a = T.registered_model_aliases
        query = sa.select(a.c.name, a.c.alias, a.c.version).where(
            a.c.workspace == _DEFAULT_WORKSPACE, a.c.name.in_(names)
        )
        for name, alias, version in conn.execute(query):
            aliases.setdefault(name, {}).setdefault(str(version), []).append(alias)
        v, vt = T.model_versions, T.model_version_tags
        query = (
            sa.select(v)
            .where(v.c.workspace == _DEFAULT_WORKSPACE, v.c.name.in_(names))
            # MLflow's default version order: last updated first, then name, then newest
            .order_by(v.c.last_updated_time.desc(), v.c.name.asc(), v.c.version.desc())
        )
        versions = list(conn.execute(query))
        version_tags: dict[tuple[str, str], dict[str, str]] = {}
        tag_query = sa.select(vt.c.name, vt.c.version, vt.c.key, vt.c.value).where(
            vt.c.workspace == _DEFAULT_WORKSPACE, vt.c.name.in_(names)
        )
        for name, version, key, value in conn.execute(tag_query):
            version_tags.setdefault((name, str(version)), {})[key] = value
        self._fetch_source_runs(conn, versions)
        items = [
            (mv, tuple(sorted(aliases.get(mv.name, {}).get(str(mv.version), []))))
            for mv in versions
        ]
        records = list(self._runs.map(lambda item: self._version_record(item, version_tags), items))
        by_model: dict[str, list[ModelVersionRecord]] = {}
        for record in records:
            by_model.setdefault(record.name, []).append(record)
        for row in page:
            model_versions = tuple(by_model.get(row.name, ()))
            if self.changed_since is not None and not model_changed(
                row.last_updated_time, model_versions, self.changed_since
            ):
                continue
            yield RegisteredModelRecord(
                name=row.name,
                tags=rm_tags.get(row.name, {}),
                aliases={alias: mv.version for mv in model_versions for alias in mv.aliases},
                versions=model_versions,
            )

    def _keyed(
        self, conn: sa.Connection, table: sa.TableClause, names: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        query = sa.select(table.c.name, table.c.key, table.c.value).where(
            table.c.workspace == _DEFAULT_WORKSPACE, table.c.name.in_(names)
        )
        found: dict[str, dict[str, str]] = {}
        for name, key, value in conn.execute(query):
            found.setdefault(name, {})[key] = value
        return found

    def _fetch_source_runs(self, conn: sa.Connection, versions: Sequence[DbRow]) -> None:
        """What the page's versions need of runs, in one go: the records of source runs the
        runs pass did not see (out of scope, or deleted: then they stay out of the cache and
        the version's run is missing), and the artifact location of every run a ``runs:/``
        download URI names."""
        sources = {run_id for mv in versions if (run_id := version_run_id(mv))}
        uris = {run_id for mv in versions if (run_id := runs_uri_run(_download_uri(mv)))}
        wanted = (sources - set(self._cache)) | (uris - set(self._artifact_uris))
        r = T.runs
        for chunk in chunks(sorted(wanted), IN_LIMIT):
            query = sa.select(*run_columns(), r.c.lifecycle_stage).where(r.c.run_uuid.in_(chunk))
            rows = list(conn.execute(query))
            for row in rows:
                self._artifact_uris[row.run_uuid] = row.artifact_uri or ""
            fetch = [
                row
                for row in rows
                if row.lifecycle_stage != "deleted"
                and row.run_uuid in sources
                and row.run_uuid not in self._cache
            ]
            for record in self._runs.records(conn, fetch):
                self._cache[record.run_id] = record

    def _version_record(
        self,
        item: tuple[DbRow, tuple[str, ...]],
        version_tags: dict[tuple[str, str], dict[str, str]],
    ) -> ModelVersionRecord:
        mv, aliases = item
        run_id = version_run_id(mv)
        source_run = self._cache.get(run_id) if run_id else None
        has_signature, unreadable = version_signature(
            _download_uri(mv), self._artifact_uris.get, self.tracking_uri, self.artifacts_server
        )
        return ModelVersionRecord(
            name=mv.name,
            version=str(mv.version),
            stage=mv.current_stage or "None",
            aliases=aliases,
            run_id=run_id,
            source=mv.source or "",
            has_signature=has_signature,
            tags=version_tags.get((mv.name, str(mv.version)), {}),
            creation_time=to_utc(mv.creation_time),
            last_updated_time=to_utc(mv.last_updated_time),
            source_run=source_run,
            source_run_missing=bool(run_id) and source_run is None,
            signature_unreadable=unreadable,
        )


def _download_uri(mv: DbRow) -> str:
    """What MLflow's ``get_model_version_download_uri`` answers for the version."""
    return str(mv.storage_location or mv.source or "")

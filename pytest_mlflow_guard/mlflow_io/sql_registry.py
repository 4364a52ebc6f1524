"""The registry half of the SQL reader: the registered models of a workspace, a keyset page
at a time, with their versions, aliases, tags and source runs. Records are built by
``builders``, as the client reader's are."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import sqlalchemy as sa

from pytest_mlflow_guard.mlflow_io.builders import (
    SourceRun,
    registered_model_record,
    runs_uri_run,
    version_record,
    version_run_id,
    version_signature,
)
from pytest_mlflow_guard.mlflow_io.paging import model_changed
from pytest_mlflow_guard.mlflow_io.sql_runs import IN_LIMIT, DbRow, RunBuilder, chunks, run_columns
from pytest_mlflow_guard.mlflow_io.sql_schema import T
from pytest_mlflow_guard.mlflow_io.workspaces import Pass
from pytest_mlflow_guard.records import ModelVersionRecord, RegisteredModelRecord, RunRecord
from pytest_mlflow_guard.vocabulary import MLFLOW_PROMPT_TAG

__all__ = ["SqlRegistry", "in_workspace"]

_REGISTRY_PAGE = 100


def in_workspace(table: sa.TableClause, part: Pass) -> list[sa.ColumnElement[bool]]:
    """The pass's workspace test on ``table`` (none on a schema without workspaces)."""
    return [] if part.name is None else [table.c.workspace == part.name]


class SqlRegistry:
    """Registered models read with SQL, for one read of the store."""

    def __init__(
        self, runs: RunBuilder, cache: dict[str, RunRecord], changed_since: datetime | None
    ) -> None:
        self.runs = runs
        #: records of the runs versions name, kept by the runs pass (and added to here)
        self.cache = cache
        self.changed_since = changed_since
        self._artifact_uris: dict[str, str] = {}  # run id -> artifact location (runs:/ URIs)

    def version_run_ids(self, conn: sa.Connection, passes: Sequence[Pass]) -> set[str]:
        """The run ids the passes' model versions name (the runs pass keeps their records)."""
        v = T.model_versions
        query = sa.select(v.c.run_id, v.c.source)
        places = [part.name for part in passes if part.name is not None]
        if places:
            query = query.where(v.c.workspace.in_(places))
        return {run_id for row in conn.execute(query) if (run_id := version_run_id(*row))}

    def registered_models(self, conn: sa.Connection, part: Pass) -> Iterator[RegisteredModelRecord]:
        """The pass's registered models by name, a keyset page at a time (prompts excluded)."""
        rm, tags = T.registered_models, T.registered_model_tags
        prompts = sa.select(tags.c.name).where(
            tags.c.key == MLFLOW_PROMPT_TAG, tags.c.value == "true", *in_workspace(tags, part)
        )
        last: str | None = None
        while True:
            query = (
                sa.select(rm.c.name, rm.c.last_updated_time)
                .where(rm.c.name.not_in(prompts), *in_workspace(rm, part))
                .order_by(rm.c.name.asc())
                .limit(_REGISTRY_PAGE)
            )
            if last is not None:
                query = query.where(rm.c.name > last)
            page = list(conn.execute(query))
            if not page:
                return
            last = page[-1].name
            yield from self._model_page(conn, page, part)
            if len(page) < _REGISTRY_PAGE:
                return

    def _model_page(
        self, conn: sa.Connection, page: Sequence[DbRow], part: Pass
    ) -> Iterator[RegisteredModelRecord]:
        names = [row.name for row in page]
        rm_tags = self._keyed(conn, T.registered_model_tags, names, part)
        aliases: dict[str, dict[str, list[str]]] = {}
        a = T.registered_model_aliases
        query = sa.select(a.c.name, a.c.alias, a.c.version).where(
            a.c.name.in_(names), *in_workspace(a, part)
        )
        for name, alias, version in conn.execute(query):
            aliases.setdefault(name, {}).setdefault(str(version), []).append(alias)
        v, vt = T.model_versions, T.model_version_tags
        query = (
            sa.select(
                v.c.name,
                v.c.version,
                v.c.creation_time,
                v.c.last_updated_time,
                v.c.current_stage,
                v.c.source,
                v.c.run_id,
                v.c.storage_location,
            )
            .where(v.c.name.in_(names), *in_workspace(v, part))
            # MLflow's default version order: last updated first, then name, then newest
            .order_by(v.c.last_updated_time.desc(), v.c.name.asc(), v.c.version.desc())
        )
        versions = list(conn.execute(query))
        version_tags: dict[tuple[str, str], dict[str, str]] = {}
        tag_query = sa.select(vt.c.name, vt.c.version, vt.c.key, vt.c.value).where(
            vt.c.name.in_(names), *in_workspace(vt, part)
        )
        for name, version, key, value in conn.execute(tag_query):
            version_tags.setdefault((name, str(version)), {})[key] = value
        self._fetch_source_runs(conn, versions)

        def build(mv: DbRow) -> ModelVersionRecord:
            return self._version_record(
                mv,
                aliases.get(mv.name, {}).get(str(mv.version), []),
                version_tags.get((mv.name, str(mv.version)), {}),
                part.label,
            )

        records = list(self.runs.map(build, versions))
        by_model: dict[str, list[ModelVersionRecord]] = {}
        for record in records:
            by_model.setdefault(record.name, []).append(record)
        for row in page:
            model_versions = by_model.get(row.name, [])
            if self.changed_since is not None and not model_changed(
                row.last_updated_time, model_versions, self.changed_since
            ):
                continue
            yield registered_model_record(
                name=row.name,
                tags=rm_tags.get(row.name, {}),
                versions=model_versions,
                workspace=part.label,
            )

    def _keyed(
        self, conn: sa.Connection, table: sa.TableClause, names: Sequence[str], part: Pass
    ) -> dict[str, dict[str, str]]:
        query = sa.select(table.c.name, table.c.key, table.c.value).where(
            table.c.name.in_(names), *in_workspace(table, part)
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
        sources = {run_id for mv in versions if (run_id := version_run_id(mv.run_id, mv.source))}
        uris = {run_id for mv in versions if (run_id := runs_uri_run(_download_uri(mv)))}
        wanted = (sources - set(self.cache)) | (uris - set(self._artifact_uris))
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
                and row.run_uuid not in self.cache
            ]
            for record in self.runs.records(conn, fetch):
                self.cache[record.run_id] = record

    def _version_record(
        self,
        mv: DbRow,
        aliases: Sequence[str],
        tags: dict[str, str],
        workspace: str | None,
    ) -> ModelVersionRecord:
        run_id = version_run_id(mv.run_id, mv.source)
        source_run = self.cache.get(run_id) if run_id else None
        signature = version_signature(
            _download_uri(mv),
            self._artifact_uris.get,
            self.runs.tracking_uri,
            self.runs.artifacts_server,
        )
        return version_record(
            name=mv.name,
            version=mv.version,
            stage=mv.current_stage,
            run_id=mv.run_id,
            source=mv.source,
            tags=tags,
            created_ms=mv.creation_time,
            updated_ms=mv.last_updated_time,
            aliases=aliases,
            workspace=workspace,
            source_run=SourceRun(source_run, missing=bool(run_id) and source_run is None),
            signature=signature,
        )


def _download_uri(mv: DbRow) -> str:
    """What MLflow's ``get_model_version_download_uri`` answers for the version."""
    return str(mv.storage_location or mv.source or "")

"""Read an MLflow tracking store into plain records: the only place MLflow entities become them.

``StoreReader.iter_records()`` streams, in this order: each in-scope experiment followed by its
runs, then every registered model with all its versions. Listing is paged (``page_size``), so
memory is bounded by a page, never by the store. What a listing does not carry (does
``environment/requirements.txt`` exist, what does a model's small ``MLmodel`` file say) is read
concurrently on a bounded thread pool, output order preserved. Model weights are never
downloaded: only a model's ``MLmodel`` YAML file is read.

Requests stay few: one logged-model scan per experiment (not one query per run), and the source
runs of model versions are remembered from the runs pass instead of fetched again.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from fnmatch import fnmatchcase
from functools import partial
from typing import Any, TypeVar

import mlflow
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from pytest_mlflow_guard.config import Scope
from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.mlflow_io.artifacts import local_path
from pytest_mlflow_guard.mlflow_io.builders import (
    LoggedModelFields,
    SourceRun,
    aliases_by_version,
    experiment_record,
    registered_model_record,
    run_record,
    version_from_entity,
    version_run_id,
    version_signature,
)
from pytest_mlflow_guard.mlflow_io.logged_models import (
    logged_model_pages,
    run_logged_models,
)
from pytest_mlflow_guard.mlflow_io.paging import (
    ModelsByRun,
    and_filter,
    changed_at,
    model_changed,
    pages,
    prefetched,
    window_pages,
)
from pytest_mlflow_guard.mlflow_io.scope import run_filter
from pytest_mlflow_guard.mlflow_io.versions import version_run_ids, versions_of
from pytest_mlflow_guard.mlflow_io.workspaces import NO_WORKSPACE, Pass, listed, plan, selected
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    ModelVersionRecord,
    Record,
    RegisteredModelRecord,
    RunRecord,
    WorkspaceRecord,
)
from pytest_mlflow_guard.redact import redact_text

__all__ = ["StoreReader"]


_log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

DEFAULT_EXPERIMENT_ID = "0"  # the "Default" experiment every MLflow store starts with
_REGISTRY_PAGE = 100  # registered models per page (each carries all its versions)
_HTTP_PAGE = 5000  # runs per request to a server (MLflow allows up to 50,000)


# --------------------------------------------------------------------------- the reader


class StoreReader:
    """Streams the records of one tracking store (and its model registry)."""

    def __init__(
        self,
        tracking_uri: str,
        scope: Scope | None = None,
        *,
        max_workers: int = 8,
        page_size: int | None = None,
        now: datetime | None = None,
        registry_uri: str | None = None,
        include_registry: bool = True,
        artifacts_server: str | None = None,
        changed_since: datetime | None = None,
        workspaces: Sequence[str] = (),
    ) -> None:
        self.tracking_uri = tracking_uri
        #: the workspaces asked for (``--workspace``); all of them when empty
        self.workspaces = tuple(workspaces)
        #: an incremental check: only what started, ended or was updated since then
        self.changed_since = changed_since
        #: the server that resolves ``mlflow-artifacts:`` URIs when the store is a database
        self.artifacts_server = artifacts_server
        self.scope = scope or Scope()
        self.max_workers = max(1, max_workers)
        scheme = urllib.parse.urlsplit(tracking_uri).scheme.lower()
        self._http = scheme in ("http", "https")
        # large pages from a server: each request costs a round trip and a query
        self.page_size = max(1, page_size or (_HTTP_PAGE if self._http else 1000))
        self.include_registry = include_registry
        self.client = mlflow.MlflowClient(
            tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri
        )
        self._filter = run_filter(self.scope, now)  # validate the scope before any request
        self._pool: ThreadPoolExecutor | None = None
        self._experiment_names: dict[str, str] = {}
        self._names_lock = threading.Lock()
        # Source runs of model versions, kept from the runs pass so that the registry pass needs
        # no request per version: bounded by the number of versions, not of runs.
        self._wanted_runs: set[str] = set()
        self._run_cache: dict[str, RunRecord] = {}
        # a server or a networked database: requests wait on I/O, so concurrency pays off
        self._remote_store = scheme not in ("", "file", "sqlite")

    # ----------------------------------------------------------------- public API

    def iter_records(self) -> Iterator[Record]:
        """Every in-scope experiment then its runs, then every registered model (with versions);
        on a store with workspaces, the experiments of each in turn, then the registries.

        MLflow errors while listing surface as ``GuardError`` naming the (redacted) store; on a
        store with workspaces, an error inside one of them becomes a ``WorkspaceRecord`` (an
        MLG004 finding) and the check goes on with the next.
        """
        try:
            with ThreadPoolExecutor(self.max_workers, thread_name_prefix="mlflow-guard") as pool:
                self._pool = pool
                try:
                    parts = self._passes()
                    failed: set[str | None] = set()
                    if self.include_registry:
                        for part in parts:
                            yield from self._guarded(part, self._note_version_runs, failed)
                    for part in parts:
                        yield from self._guarded(part, self._experiments_and_runs, failed)
                    if self.include_registry:
                        for part in parts:
                            yield from self._guarded(part, self.iter_registered_models, failed)
                finally:
                    self._pool = None
                    self._wanted_runs, self._run_cache = set(), {}
        except MlflowException as exc:
            where = redact_text(self.tracking_uri)
            raise GuardError(f"reading {where} failed: {exc.message}") from exc

    def _passes(self) -> list[Pass]:
        """The workspaces this read goes through, one part each."""
        known = listed(self.client, self.tracking_uri)
        where = redact_text(self.tracking_uri)
        return plan(known, self.workspaces, where, select_default=False)

    def _guarded(
        self,
        part: Pass,
        read: Callable[[Pass], Iterator[Record]],
        failed: set[str | None],
    ) -> Iterator[Record]:
        """``read(part)`` in the part's workspace. A workspace that fails is reported once and
        not read further; on a store without workspaces the error stays the check's own."""
        if part.label is None:
            yield from read(part)
            return
        if part.name in failed:
            return
        try:
            with selected(part.name):
                yield from read(part)
        except MlflowException as exc:
            failed.add(part.name)
            _log.debug("cannot read workspace %s: %s", part.name, exc)
            yield WorkspaceRecord(part.label, redact_text(f"reading it failed: {exc.message}"))

    def _note_version_runs(self, part: Pass) -> Iterator[Record]:
        """Remember the runs the part's model versions name (their records are kept from the
        runs pass: no request per version later). Yields nothing."""
        self._wanted_runs |= self._version_run_ids()
        return iter(())

    def _experiments_and_runs(self, part: Pass) -> Iterator[Record]:
        for experiment in list(self.iter_experiments(part)):
            yield experiment
            yield from self.iter_runs(experiment)

    def iter_experiments(self, part: Pass = NO_WORKSPACE) -> Iterator[ExperimentRecord]:
        """Active experiments whose name matches a scope glob (all when there are none)."""
        globs = self.scope.experiments
        for page in pages(
            lambda token: self.client.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=self.page_size, page_token=token
            )
        ):
            for exp in page:
                with self._names_lock:
                    self._experiment_names[exp.experiment_id] = exp.name
                if globs and not any(fnmatchcase(exp.name, g) for g in globs):
                    continue
                if exp.experiment_id == DEFAULT_EXPERIMENT_ID and not self._has_runs(exp):
                    # MLflow creates "Default" in every store; it only breaks the naming
                    # convention once someone logs into it.
                    continue
                if self.changed_since is not None and not (
                    changed_at(exp.last_update_time, self.changed_since) or self._has_runs(exp)
                ):
                    continue  # neither it nor any of its runs changed since the last check
                yield experiment_record(
                    experiment_id=exp.experiment_id,
                    name=exp.name,
                    tags=exp.tags or {},
                    lifecycle_stage=exp.lifecycle_stage,
                    created_ms=exp.creation_time,
                    workspace=part.label,
                )

    def _has_runs(self, exp: Any) -> bool:
        return any(
            list(
                self.client.search_runs(
                    [exp.experiment_id],
                    filter_string=filter_string,
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=1,
                )
            )
            for filter_string in self._run_filters()
        )

    def iter_runs(self, experiment: ExperimentRecord) -> Iterator[RunRecord]:
        """The experiment's active runs in scope, newest first, a page at a time. Against a server
        (or networked database) the next page is fetched while this one's artifacts are read on
        the pool; against sqlite and local artifacts, threads would only contend for the GIL."""
        models_by_run = ModelsByRun(
            logged_model_pages(self.client, experiment.experiment_id, self.page_size)
        )
        run_pages = self._run_pages(experiment.experiment_id)
        if self._pool is not None and self._remote_store:
            run_pages = prefetched(run_pages, self._pool.submit)
        for runs in run_pages:
            models = models_by_run.take(runs)
            io_bound = self._remote_store or any(
                local_path(r.info.artifact_uri) is None for r in runs
            )
            build = partial(self._run_record_in, experiment, models)
            for record in self._map(build, runs) if io_bound else map(build, runs):
                if record.run_id in self._wanted_runs:
                    self._run_cache[record.run_id] = record
                yield record

    def _run_filters(self) -> list[str]:
        """The scope's filter; for an incremental check, split in two (MLflow's filters have no
        OR): runs started since, then runs started before but ended since. Newest first still."""
        if self.changed_since is None:
            return [self._filter]
        since = int(self.changed_since.timestamp() * 1000)
        return [
            and_filter(self._filter, f"attributes.start_time >= {since}"),
            and_filter(
                self._filter,
                f"attributes.start_time < {since}",
                f"attributes.end_time >= {since}",
            ),
        ]

    def _run_pages(self, experiment_id: str) -> Iterator[list[Any]]:
        def fetch(filter_string: str, token: str | None) -> Any:
            return self.client.search_runs(
                [experiment_id],
                filter_string=filter_string,
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=self.page_size,
                order_by=["attributes.start_time DESC"],  # what ModelsByRun relies on
                page_token=token,
            )

        for filter_string in self._run_filters():
            if self._http:  # a server pages by offset: windows of start time instead
                yield from window_pages(fetch, filter_string)
            else:
                yield from pages(partial(fetch, filter_string))

    def iter_registered_models(self, part: Pass = NO_WORKSPACE) -> Iterator[RegisteredModelRecord]:
        """Every registered model (prompts excluded) with all its versions and aliases."""
        for page in pages(
            lambda token: self.client.search_registered_models(
                max_results=min(self.page_size, _REGISTRY_PAGE), page_token=token
            )
        ):
            version_lists = list(self._map(self._model_versions, [rm.name for rm in page]))
            flat: list[tuple[Any, tuple[str, ...], str | None]] = []
            for rm, versions in zip(page, version_lists, strict=True):
                by_version = aliases_by_version(rm)
                for mv in versions:
                    names = {*(mv.aliases or ()), *by_version.get(str(mv.version), ())}
                    flat.append((mv, tuple(names), part.label))
            records = iter(list(self._map(self._version_record, flat)))
            for rm, versions in zip(page, version_lists, strict=True):
                version_records = [next(records) for _ in versions]
                if self.changed_since is not None and not model_changed(
                    rm.last_updated_timestamp, version_records, self.changed_since
                ):
                    continue
                yield registered_model_record(
                    name=rm.name,
                    tags=rm.tags or {},
                    versions=version_records,
                    workspace=part.label,
                )

    # ----------------------------------------------------------------- runs

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterable[R]:
        if self._pool is None or len(items) < 2:
            return map(fn, items)
        return self._pool.map(fn, items)

    def _run_record_in(
        self, experiment: ExperimentRecord, models: dict[str, list[Any]], run: Any
    ) -> RunRecord:
        return self._run_record(
            run, experiment.name, models.get(run.info.run_id, []), experiment.workspace
        )

    def _run_record(
        self, run: Any, experiment_name: str, models: Sequence[Any], workspace: str | None
    ) -> RunRecord:
        info, data = run.info, run.data
        return run_record(
            run_id=info.run_id,
            experiment_id=info.experiment_id,
            experiment_name=experiment_name,
            run_name=info.run_name,
            status=info.status,
            start_ms=info.start_time,
            end_ms=info.end_time,
            artifact_uri=info.artifact_uri,
            tags=data.tags or {},
            params=data.params or {},
            metric_keys=data.metrics or {},
            models=[_logged_model_fields(m) for m in models],
            tracking_uri=self.tracking_uri,
            artifacts_server=self.artifacts_server,
            workspace=workspace,
        )

    # ----------------------------------------------------------------- registry

    def _version_run_ids(self) -> set[str]:
        return version_run_ids(self.client, self.page_size)

    def _model_versions(self, name: str) -> list[Any]:
        return versions_of(self.client, name, self.page_size)

    def _version_record(self, item: tuple[Any, tuple[str, ...], str | None]) -> ModelVersionRecord:
        mv, aliases, workspace = item
        run_id = version_run_id(mv.run_id, mv.source)
        source = self.source_run(run_id, workspace) if run_id else SourceRun()
        model_id = getattr(mv, "model_id", None)
        known = [
            m
            for m in (source.record.logged_models if source.record else ())
            if m.model_id == model_id
        ]
        if known:  # an MLflow 3 version shares its LoggedModel's files, read with the run
            signature = known[0].has_signature, known[0].unreadable
        else:
            try:
                uri = self.client.get_model_version_download_uri(mv.name, mv.version)
            except MlflowException as exc:
                why = redact_text(f"no download URI for the version: {exc.message}")
                signature = None, why
            else:
                signature = version_signature(
                    uri, self._artifact_uri_of, self.tracking_uri, self.artifacts_server
                )
        return version_from_entity(
            mv, aliases=aliases, workspace=workspace, source_run=source, signature=signature
        )

    def _artifact_uri_of(self, run_id: str) -> str | None:
        try:
            return str(self.client.get_run(run_id).info.artifact_uri)
        except MlflowException:
            return None

    def source_run(self, run_id: str, workspace: str | None = None) -> SourceRun:
        """A model version's source run: deleted or absent runs are missing; one that could
        not be fetched says why."""
        if run_id in self._run_cache:
            return SourceRun(self._run_cache[run_id])
        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return SourceRun(missing=True)
            _log.debug("cannot fetch run %s: %s", run_id, exc)
            return SourceRun(unreadable=redact_text(f"cannot fetch it: {exc.message}"))
        if run.info.lifecycle_stage == "deleted":
            return SourceRun(missing=True)
        experiment_id = run.info.experiment_id
        models = run_logged_models(self.client, experiment_id, run_id, self.page_size)
        name = self._experiment_name(experiment_id)
        return SourceRun(self._run_record(run, name, models, workspace))

    def _experiment_name(self, experiment_id: str) -> str:
        with self._names_lock:
            name = self._experiment_names.get(experiment_id)
        if name is None:
            try:
                name = str(self.client.get_experiment(experiment_id).name)
            except MlflowException:
                name = ""
            with self._names_lock:
                self._experiment_names[experiment_id] = name
        return name


def _logged_model_fields(model: Any) -> LoggedModelFields:
    return LoggedModelFields(
        model.model_id,
        model.experiment_id,
        model.name,
        model.artifact_location,
        model.source_run_id,
        model.tags or {},
    )

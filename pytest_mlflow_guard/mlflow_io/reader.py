"""Read an MLflow tracking store into plain records: the only place MLflow entities become them.

``StoreReader.iter_records()`` streams, in this order: each in-scope experiment followed by its
runs, then every registered model with all its versions. Listing is paged (``page_size``), so
memory is bounded by a page, never by the store. What a listing does not carry (does
``environment/requirements.txt`` exist, what does a model's small ``MLmodel`` file say, what is
a version's source run) is read concurrently on a bounded thread pool, output order preserved.
Model weights are never downloaded: only a model's ``MLmodel`` YAML file is read.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import mlflow
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from ..config import Scope
from ..errors import GuardError
from ..records import (
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    Record,
    RegisteredModelRecord,
    RunRecord,
)
from .connect import bounded_http, probe
from .links import (
    experiment_url,
    logged_model_url,
    model_version_url,
    redact_uri,
    registered_model_url,
    run_url,
    ui_url_for,
)
from .scope import quote as _quote
from .scope import run_filter, since_datetime

__all__ = [
    "StoreReader",
    "bounded_http",
    "experiment_url",
    "logged_model_url",
    "model_version_url",
    "probe",
    "redact_uri",
    "registered_model_url",
    "run_filter",
    "run_url",
    "since_datetime",
    "ui_url_for",
]

_log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

_LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"  # MLflow 2 style models logged by the run
_IN_CHUNK = 200  # run ids per ``source_run_id IN (...)`` logged-model query
_REGISTRY_PAGE = 100  # registered models per page (each carries all its versions)


# --------------------------------------------------------------------------- helpers


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _pages(fetch: Callable[[str | None], Any]) -> Iterator[list[Any]]:
    """Each page of a paged MLflow search (``fetch(page_token) -> PagedList``)."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield list(page)
        token = page.token
        if not token:
            return


def _local_path(uri: str) -> str | None:
    """The filesystem path of a local artifact location, or None for a remote one."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return urllib.request.url2pathname(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return uri
    return None


def _yaml_load(text: str) -> Any:
    yaml = importlib.import_module("yaml")  # PyYAML ships no type stubs
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _model_facts(doc: dict[str, Any] | None) -> tuple[bool | None, bool | None, tuple[str, ...]]:
    """(has_signature, has_input_example, flavors) from a parsed ``MLmodel`` file."""
    if doc is None:
        return None, None, ()
    flavors = doc.get("flavors")
    return (
        bool(doc.get("signature")),
        "saved_input_example_info" in doc,
        tuple(sorted(flavors)) if isinstance(flavors, dict) else (),
    )


# --------------------------------------------------------------------------- the reader


class StoreReader:
    """Streams the records of one tracking store (and its model registry)."""

    def __init__(
        self,
        tracking_uri: str,
        scope: Scope | None = None,
        *,
        max_workers: int = 8,
        page_size: int = 1000,
        now: datetime | None = None,
        registry_uri: str | None = None,
        include_registry: bool = True,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.scope = scope or Scope()
        self.max_workers = max(1, max_workers)
        self.page_size = max(1, page_size)
        self.include_registry = include_registry
        self.client = mlflow.MlflowClient(
            tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri
        )
        self._filter = run_filter(self.scope, now)  # validate the scope before any request
        self._pool: ThreadPoolExecutor | None = None
        self._experiment_names: dict[str, str] = {}
        self._names_lock = threading.Lock()

    # ----------------------------------------------------------------- public API

    def iter_records(self) -> Iterator[Record]:
        """Every in-scope experiment then its runs, then every registered model (with versions).

        MLflow errors while listing surface as ``GuardError`` naming the (redacted) store.
        """
        try:
            with ThreadPoolExecutor(self.max_workers, thread_name_prefix="mlflow-guard") as pool:
                self._pool = pool
                try:
                    for experiment in list(self.iter_experiments()):
                        yield experiment
                        yield from self.iter_runs(experiment)
                    if self.include_registry:
                        yield from self.iter_registered_models()
                finally:
                    self._pool = None
        except MlflowException as exc:
            where = redact_uri(self.tracking_uri)
            raise GuardError(f"reading {where} failed: {exc.message}") from exc

    def iter_experiments(self) -> Iterator[ExperimentRecord]:
        """Active experiments whose name matches a scope glob (all when there are none)."""
        globs = self.scope.experiments
        for page in _pages(
            lambda token: self.client.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=self.page_size, page_token=token
            )
        ):
            for exp in page:
                with self._names_lock:
                    self._experiment_names[exp.experiment_id] = exp.name
                if globs and not any(fnmatchcase(exp.name, g) for g in globs):
                    continue
                yield ExperimentRecord(
                    experiment_id=exp.experiment_id,
                    name=exp.name,
                    tags=dict(exp.tags or {}),
                    lifecycle_stage=exp.lifecycle_stage,
                    creation_time=_ts(exp.creation_time),
                )

    def iter_runs(self, experiment: ExperimentRecord) -> Iterator[RunRecord]:
        """The experiment's active runs in scope, a page at a time; the next page is fetched
        while the current one's artifacts are read."""

        def fetch(token: str | None) -> Any:
            return self.client.search_runs(
                [experiment.experiment_id],
                filter_string=self._filter,
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=self.page_size,
                page_token=token,
            )

        page = fetch(None)
        while True:
            runs = list(page)
            upcoming: Future[Any] | None = None
            if page.token and self._pool is not None:
                upcoming = self._pool.submit(fetch, page.token)
            models = self._logged_models_by_run(
                experiment.experiment_id, [r.info.run_id for r in runs]
            )
            yield from self._map(partial(self._run_record_in, experiment.name, models), runs)
            if not page.token:
                return
            page = upcoming.result() if upcoming is not None else fetch(page.token)

    def iter_registered_models(self) -> Iterator[RegisteredModelRecord]:
        """Every registered model (prompts excluded) with all its versions and aliases."""
        for page in _pages(
            lambda token: self.client.search_registered_models(
                max_results=min(self.page_size, _REGISTRY_PAGE), page_token=token
            )
        ):
            version_lists = list(self._map(self._model_versions, [rm.name for rm in page]))
            flat: list[tuple[Any, tuple[str, ...]]] = []
            for rm, versions in zip(page, version_lists, strict=True):
                # search_model_versions leaves ``aliases`` empty; the registered model has them
                by_version: dict[str, list[str]] = {}
                for alias, version in (getattr(rm, "aliases", None) or {}).items():
                    by_version.setdefault(str(version), []).append(alias)
                for mv in versions:
                    names = {*(mv.aliases or ()), *by_version.get(str(mv.version), ())}
                    flat.append((mv, tuple(sorted(names))))
            records = iter(list(self._map(self._version_record, flat)))
            for rm, versions in zip(page, version_lists, strict=True):
                version_records = tuple(next(records) for _ in versions)
                yield RegisteredModelRecord(
                    name=rm.name,
                    tags=dict(rm.tags or {}),
                    aliases={a: v.version for v in version_records for a in v.aliases},
                    versions=version_records,
                )

    # ----------------------------------------------------------------- runs

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterable[R]:
        if self._pool is None or len(items) < 2:
            return map(fn, items)
        return self._pool.map(fn, items)

    def _run_record_in(
        self, experiment_name: str, models: dict[str, list[Any]], run: Any
    ) -> RunRecord:
        return self._run_record(run, experiment_name, models.get(run.info.run_id, []))

    def _run_record(self, run: Any, experiment_name: str, models: Sequence[Any]) -> RunRecord:
        info, data = run.info, run.data
        tags = dict(data.tags or {})
        logged = [self._logged_model_record(m) for m in models]
        logged.extend(self._mlflow2_models(info, tags))
        return RunRecord(
            run_id=info.run_id,
            experiment_id=info.experiment_id,
            experiment_name=experiment_name,
            run_name=info.run_name,
            status=str(info.status),
            start_time=_ts(info.start_time),
            end_time=_ts(info.end_time),
            tags=tags,
            params=dict(data.params or {}),
            metric_keys=frozenset(data.metrics or {}),
            has_requirements=self._has_requirements(info.artifact_uri),
            logged_models=tuple(logged),
        )

    def _has_requirements(self, artifact_uri: str) -> bool | None:
        try:
            local = _local_path(artifact_uri)
            if local is not None:
                return os.path.isfile(os.path.join(local, "environment", "requirements.txt"))
            repo: Any = get_artifact_repository(artifact_uri, tracking_uri=self.tracking_uri)
            files = repo.list_artifacts("environment")
        except Exception as exc:  # unreadable artifact store: unknown, not a violation
            _log.debug("cannot list %s/environment: %s", artifact_uri, exc)
            return None
        return any(f.path.rsplit("/", 1)[-1] == "requirements.txt" and not f.is_dir for f in files)

    def _logged_models_by_run(self, experiment_id: str, run_ids: list[str]) -> dict[str, list[Any]]:
        """MLflow 3 LoggedModels of these runs: one query per ``_IN_CHUNK`` runs, not per run."""
        chunks = [run_ids[i : i + _IN_CHUNK] for i in range(0, len(run_ids), _IN_CHUNK)]
        found: dict[str, list[Any]] = {}
        for models in self._map(lambda c: self._search_logged_models(experiment_id, c), chunks):
            for model in models:
                found.setdefault(model.source_run_id, []).append(model)
        return found

    def _search_logged_models(self, experiment_id: str, run_ids: list[str]) -> list[Any]:
        if len(run_ids) == 1:
            flt = f"source_run_id = {_quote(run_ids[0])}"
        else:
            flt = f"source_run_id IN ({', '.join(_quote(r) for r in run_ids)})"
        try:
            return [
                model
                for page in _pages(
                    lambda token: self.client.search_logged_models(
                        experiment_ids=[experiment_id],
                        filter_string=flt,
                        max_results=self.page_size,
                        page_token=token,
                    )
                )
                for model in page
            ]
        except MlflowException as exc:
            if len(run_ids) > 1:  # a store without ``IN`` for this attribute: one run at a time
                return [m for r in run_ids for m in self._search_logged_models(experiment_id, [r])]
            _log.debug("no logged-model search on this store: %s", exc)  # e.g. an MLflow 2 server
            return []

    def _logged_model_record(self, model: Any) -> LoggedModelRecord:
        signature, example, flavors = _model_facts(self._read_mlmodel(model.artifact_location))
        return LoggedModelRecord(
            model_id=model.model_id,
            experiment_id=model.experiment_id,
            run_id=model.source_run_id,
            name=model.name,
            has_signature=signature,
            has_input_example=example,
            flavors=flavors,
            tags=dict(model.tags or {}),
        )

    def _mlflow2_models(self, info: Any, tags: dict[str, str]) -> list[LoggedModelRecord]:
        """Models logged MLflow 2 style (an ``MLmodel`` among the run's artifacts), found through
        the run's ``mlflow.log-model.history`` tag so that runs without it cost nothing."""
        try:
            history = json.loads(tags.get(_LOG_MODEL_HISTORY_TAG) or "[]")
        except ValueError:
            return []
        records: list[LoggedModelRecord] = []
        for entry in history if isinstance(history, list) else []:
            path = entry.get("artifact_path") if isinstance(entry, dict) else None
            if not isinstance(path, str) or not path:
                continue
            doc = self._read_mlmodel(f"{info.artifact_uri.rstrip('/')}/{path.strip('/')}")
            signature, example, flavors = _model_facts(doc)
            if not flavors and isinstance(entry.get("flavors"), dict):
                flavors = tuple(sorted(entry["flavors"]))
            records.append(
                LoggedModelRecord(
                    model_id=f"runs:/{info.run_id}/{path.strip('/')}",
                    experiment_id=info.experiment_id,
                    run_id=info.run_id,
                    name=path.strip("/"),
                    has_signature=signature,
                    has_input_example=example,
                    flavors=flavors,
                )
            )
        return records

    def _read_mlmodel(self, model_root_uri: str) -> dict[str, Any] | None:
        """The parsed ``MLmodel`` file at ``<model_root_uri>/MLmodel`` (only that file), or None."""
        try:
            local = _local_path(model_root_uri)
            if local is not None:
                text = Path(local, "MLmodel").read_text(encoding="utf-8")
            else:
                repo: Any = get_artifact_repository(model_root_uri, tracking_uri=self.tracking_uri)
                with tempfile.TemporaryDirectory(prefix="mlflow-guard-") as tmp:
                    target = os.path.join(tmp, "MLmodel")
                    try:  # one request for one file (download_artifacts lists first)
                        repo._download_file("MLmodel", target)
                    except (AttributeError, NotImplementedError):
                        target = repo.download_artifacts("MLmodel", dst_path=tmp)
                    text = Path(target).read_text(encoding="utf-8")
            doc = _yaml_load(text)
        except Exception as exc:  # missing or unreadable: unknown, not a violation
            _log.debug("cannot read %s/MLmodel: %s", model_root_uri, exc)
            return None
        return doc if isinstance(doc, dict) else None

    # ----------------------------------------------------------------- registry

    def _model_versions(self, name: str) -> list[Any]:
        return [
            mv
            for page in _pages(
                lambda token: self.client.search_model_versions(
                    f"name = {_quote(name)}", max_results=self.page_size, page_token=token
                )
            )
            for mv in page
        ]

    def _version_record(self, item: tuple[Any, tuple[str, ...]]) -> ModelVersionRecord:
        mv, aliases = item
        has_signature: bool | None = None
        try:
            uri = self.client.get_model_version_download_uri(mv.name, mv.version)
            has_signature = _model_facts(self._read_mlmodel(uri))[0]
        except MlflowException as exc:
            _log.debug("no download uri for %s/%s: %s", mv.name, mv.version, exc)
        source_run, missing = self._source_run(mv.run_id) if mv.run_id else (None, False)
        return ModelVersionRecord(
            name=mv.name,
            version=str(mv.version),
            stage=mv.current_stage or "None",
            aliases=aliases,
            run_id=mv.run_id or None,
            source=mv.source or "",
            has_signature=has_signature,
            tags=dict(mv.tags or {}),
            creation_time=_ts(mv.creation_timestamp),
            last_updated_time=_ts(mv.last_updated_timestamp),
            source_run=source_run,
            source_run_missing=missing,
        )

    def _source_run(self, run_id: str) -> tuple[RunRecord | None, bool]:
        """(the run's record, whether it is missing): deleted or absent runs are missing."""
        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None, True
            _log.debug("cannot fetch run %s: %s", run_id, exc)
            return None, False
        if run.info.lifecycle_stage == "deleted":
            return None, True
        experiment_id = run.info.experiment_id
        models = self._search_logged_models(experiment_id, [run_id])
        return self._run_record(run, self._experiment_name(experiment_id), models), False

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

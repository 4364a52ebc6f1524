"""Reading only what one pytest session (or one test) made: runs carrying its tags.

``SessionReader`` narrows ``StoreReader`` three ways: runs must carry the given tags (the session
id the run-context provider stamps, optionally the test's node id); experiments are those holding
such runs; registered models are reduced to the versions registered from such runs. Nothing made
before the session is read, so a team store's history never fails a test run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pytest_mlflow_guard.mlflow_io.builders import (
    aliases_by_version,
    registered_model_record,
    version_run_id,
)
from pytest_mlflow_guard.mlflow_io.paging import pages, runs_anywhere
from pytest_mlflow_guard.mlflow_io.reader import StoreReader
from pytest_mlflow_guard.mlflow_io.scope import quote
from pytest_mlflow_guard.mlflow_io.workspaces import NO_WORKSPACE, Pass
from pytest_mlflow_guard.records import ExperimentRecord, RegisteredModelRecord, RunRecord

__all__ = ["SessionReader"]

_PER_RUN_LOOKUPS = 20  # up to this many runs, ask for each run's versions; past it, list all


class SessionReader(StoreReader):
    def __init__(self, tracking_uri: str, run_tags: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(tracking_uri, **kwargs)
        self._filter = " AND ".join(c for c in (self._filter, tags_filter(run_tags)) if c)
        self._session_runs: dict[str, RunRecord] = {}
        self._experiment_ids: set[str] | None = None

    def _version_run_ids(self) -> set[str]:
        return set()  # every run of the session is kept (iter_runs), no listing needed up front

    def _passes(self) -> list[Pass]:
        # a session's runs go where its tests' MLflow sends them: the store as the client sees it
        return [NO_WORKSPACE]

    def _matching_experiment_ids(self) -> set[str]:
        return {str(run.info.experiment_id) for run in runs_anywhere(self.client, self._filter)}

    def iter_experiments(self, part: Pass = NO_WORKSPACE) -> Iterator[ExperimentRecord]:
        if self._experiment_ids is None:
            self._experiment_ids = self._matching_experiment_ids()
        for experiment in super().iter_experiments(part):
            if experiment.experiment_id in self._experiment_ids:
                yield experiment

    def iter_runs(self, experiment: ExperimentRecord) -> Iterator[RunRecord]:
        for record in super().iter_runs(experiment):
            self._session_runs[record.run_id] = record
            self._run_cache[record.run_id] = record  # versions find their source run here
            yield record

    def iter_registered_models(self, part: Pass = NO_WORKSPACE) -> Iterator[RegisteredModelRecord]:
        if not self._session_runs:
            return
        by_name: dict[str, list[Any]] = {}
        for mv in self._session_versions():
            by_name.setdefault(mv.name, []).append(mv)
        for name in sorted(by_name):
            rm = self.client.get_registered_model(name)
            aliases = aliases_by_version(rm)
            items = [
                (mv, (*(mv.aliases or ()), *aliases.get(str(mv.version), ())), part.label)
                for mv in sorted(by_name[name], key=lambda v: int(v.version))
            ]
            versions = list(self._map(self._version_record, items))
            yield registered_model_record(
                name=name, tags=rm.tags or {}, versions=versions, workspace=part.label
            )

    def _session_versions(self) -> Iterator[Any]:
        runs = set(self._session_runs)
        if len(runs) <= _PER_RUN_LOOKUPS:
            for run_id in sorted(runs):
                for page in pages(
                    lambda token, run_id=run_id: self.client.search_model_versions(  # type: ignore[misc]
                        f"run_id = {quote(run_id)}", max_results=self.page_size, page_token=token
                    )
                ):
                    yield from page
            return
        for page in pages(
            lambda token: self.client.search_model_versions(
                max_results=self.page_size, page_token=token
            )
        ):
            yield from (mv for mv in page if version_run_id(mv.run_id, mv.source) in runs)


def tags_filter(run_tags: Mapping[str, str]) -> str:
    """The ``search_runs`` filter of runs carrying all ``run_tags``."""
    return " AND ".join(f"tags.`{key}` = {quote(value)}" for key, value in run_tags.items())


def runs_tagged(tracking_uri: str, run_tags: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(run_id, experiment_id)`` of the runs carrying all ``run_tags``, oldest first."""
    from pytest_mlflow_guard.mlflow_io.clients import client

    found = sorted(
        runs_anywhere(client(tracking_uri), tags_filter(run_tags)),
        key=lambda run: (run.info.start_time or 0, run.info.run_id),
    )
    return [(str(run.info.run_id), str(run.info.experiment_id)) for run in found]

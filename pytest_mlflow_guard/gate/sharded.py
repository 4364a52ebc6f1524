"""A large database-backed store checked on several cores: experiments shared among processes.

Reading and checking a run is Python work (building the record, the rules), so one process uses
one core however fast the database answers. For the SQL reader the experiments are dealt out to
``jobs`` worker processes, balanced by their number of runs; each reads and checks its own
experiments and sends back their findings, experiment by experiment. The parent puts them in the
order MLflow lists the experiments and then checks the registry itself, so the report is the one
a single process writes: ``tests/test_sql_reader.py`` compares the two.

Model versions are judged by the source runs the reader attaches to them (MLG304), not by what
the workers saw, so nothing crosses between the two halves but findings and counts.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from pytest_mlflow_guard.config import GuardConfig
from pytest_mlflow_guard.gate.engine import Engine
from pytest_mlflow_guard.gate.findings import Finding
from pytest_mlflow_guard.gate.urls import url_builder
from pytest_mlflow_guard.records import Record

__all__ = ["AUTO_MIN_RUNS", "Shards", "deal", "jobs_for", "merged_counts"]

#: below this many runs in scope, starting worker processes (an MLflow import each) costs more
#: than it saves
AUTO_MIN_RUNS = 50_000
_FIELDS = tuple(f.name for f in fields(Finding))


def jobs_for(requested: int, runs: int, cpus: int) -> int:
    """Worker processes for a check of ``runs`` runs: ``requested`` when given (>= 1), else as
    many as there are cores (at most 4) for a large store and 1 for a small one."""
    if requested >= 1:
        return requested
    return min(cpus, 4) if runs >= AUTO_MIN_RUNS else 1


def deal(counts: Sequence[tuple[str, int]], jobs: int) -> list[list[str]]:
    """Experiment ids dealt into ``jobs`` groups of about equal run counts (largest first, each
    to the lightest group); empty groups dropped."""
    groups: list[tuple[int, list[str]]] = [(0, []) for _ in range(max(1, jobs))]
    for exp_id, count in sorted(counts, key=lambda item: (-item[1], item[0])):
        index = min(range(len(groups)), key=lambda i: groups[i][0])
        total, members = groups[index]
        groups[index] = (total + count, [*members, exp_id])
    return [members for _, members in groups if members]


@dataclass(frozen=True)
class _Task:
    tracking_uri: str
    config: GuardConfig
    ui_base: str | None
    experiment_ids: tuple[str, ...]
    artifacts_server: str | None
    changed_since: datetime | None
    workers: int
    workspaces: tuple[str, ...]


def _check_experiments(
    task: _Task,
) -> tuple[list[tuple[str, list[tuple[Any, ...]]]], dict[str, int]]:
    """In a worker: the findings of each of ``task``'s experiments (as plain tuples: they cross
    a process boundary) and what was checked."""
    # SQLAlchemy and the SQL reader: imported in the worker, which is all it does
    from pytest_mlflow_guard.mlflow_io.sql_reader import SqlStoreReader
    from pytest_mlflow_guard.mlflow_io.sql_schema import open_readonly

    reader = SqlStoreReader(
        task.tracking_uri,
        open_readonly(task.tracking_uri),
        task.config.scope,
        max_workers=task.workers,
        include_registry=False,
        experiment_ids=task.experiment_ids,
        artifacts_server=task.artifacts_server,
        changed_since=task.changed_since,
        workspaces=task.workspaces,
    )
    engine = Engine(task.config, url_for=url_builder(task.ui_base))
    grouped: list[tuple[str, list[tuple[Any, ...]]]] = []

    def tracked(records: Iterable[Record]) -> Iterator[Record]:
        # the engine yields a record's findings after taking it and before taking the next
        for record in records:
            exp_id = getattr(record, "experiment_id", "")
            if not grouped or grouped[-1][0] != exp_id:
                grouped.append((exp_id, []))
            yield record

    for finding in engine.check(tracked(reader.iter_records())):
        grouped[-1][1].append(tuple(getattr(finding, name) for name in _FIELDS))
    return grouped, dict(engine.checked)


class Shards:
    """The experiments and runs of one check, read and checked by worker processes."""

    def __init__(
        self,
        tracking_uri: str,
        config: GuardConfig,
        ui_base: str | None,
        *,
        artifacts_server: str | None,
        changed_since: datetime | None,
        workers: int,
        workspaces: tuple[str, ...] = (),
    ) -> None:
        self.tracking_uri = tracking_uri
        self.workspaces = workspaces
        self.config = config
        self.ui_base = ui_base
        self.artifacts_server = artifacts_server
        self.changed_since = changed_since
        self.workers = workers
        self.checked: dict[str, int] = {}

    def findings(self, order: Sequence[str], groups: list[list[str]]) -> Iterator[Finding]:
        """The findings of the experiments in ``groups`` (one worker each), in ``order``."""
        tasks = [
            _Task(
                self.tracking_uri,
                self.config,
                self.ui_base,
                tuple(group),
                self.artifacts_server,
                self.changed_since,
                self.workers,
                self.workspaces,
            )
            for group in groups
        ]
        # spawn, not fork: the parent may hold threads and open connections
        context = multiprocessing.get_context("spawn")
        by_experiment: dict[str, list[tuple[Any, ...]]] = {}
        with ProcessPoolExecutor(len(tasks), mp_context=context) as pool:
            for grouped, checked in pool.map(_check_experiments, tasks):
                for exp_id, found in grouped:
                    by_experiment.setdefault(exp_id, []).extend(found)
                self.checked = merged_counts(self.checked, checked)
        for exp_id in order:
            for values in by_experiment.pop(exp_id, []):
                yield Finding(**dict(zip(_FIELDS, values, strict=True)))
        for rest in by_experiment.values():  # none expected: objects outside any experiment
            for values in rest:
                yield Finding(**dict(zip(_FIELDS, values, strict=True)))


def merged_counts(*counts: dict[str, int]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in counts:
        for key, count in part.items():
            total[key] = total.get(key, 0) + count
    return total

"""MLflow writes of a guarded pytest session: its run, the runs of the fixtures, the final sweep.

The session run is made with ``MlflowClient.create_run``, never ``mlflow.start_run``: it must not
sit on MLflow's active-run stack, where it would turn a test's own ``mlflow.start_run()`` into an
"already active" error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..session_env import TAG_SESSION, TAG_TEST_NODEID
from .paging import runs_anywhere
from .scope import quote
from .writer import client as make_client
from .writer import experiment_id_for, log_metrics, log_text_files, set_tags

__all__ = ["SessionStore"]

_FINAL = ("FINISHED", "FAILED", "KILLED")


class SessionStore:
    """The session's handle on its tracking store."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.client = make_client(tracking_uri)

    def warm_up(self) -> None:
        """One request: opens (and, for an old sqlite schema, migrates) the store once, here,
        before xdist workers open it concurrently."""
        self.client.search_experiments(max_results=1)

    def start_session_run(
        self, experiment_name: str, run_name: str, tags: Mapping[str, str]
    ) -> tuple[str, str]:
        """(experiment id, run id) of a new RUNNING session run."""
        experiment_id, _ = experiment_id_for(self.client, experiment_name)
        run = self.client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        return experiment_id, str(run.info.run_id)

    def experiment_id(self, name: str) -> str:
        return experiment_id_for(self.client, name)[0]

    def log_environment(
        self, run_id: str, files: Mapping[str, str], tags: Mapping[str, str]
    ) -> None:
        log_text_files(self.client, run_id, dict(files), "environment")
        set_tags(self.client, run_id, dict(tags))

    def finish_session_run(
        self,
        run_id: str,
        status: str,
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        reports: Mapping[str, str],
    ) -> None:
        import time

        log_metrics(self.client, run_id, dict(metrics), 0, int(time.time() * 1000))
        if tags:
            set_tags(self.client, run_id, dict(tags))
        if reports:
            log_text_files(self.client, run_id, dict(reports), "mlflow_guard")
        self.client.set_terminated(run_id, status)

    def end_run(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status)

    def _session_runs(self, session_id: str, extra: str = "") -> Iterator[Any]:
        return runs_anywhere(self.client, f"tags.`{TAG_SESSION}` = {quote(session_id)}" + extra)

    def sweep_running(self, session_id: str, status: str, keep: str | None = None) -> list[str]:
        """End every run of the session still RUNNING (a killed subprocess, an interrupted
        test) with ``status``; returns their ids. ``keep`` (the session run) is left alone."""
        ended = []
        for run in self._session_runs(session_id, " AND attributes.status = 'RUNNING'"):
            run_id = str(run.info.run_id)
            if run_id != keep:
                self.client.set_terminated(run_id, status)
                ended.append(run_id)
        return ended

    def run_tests(self, session_id: str) -> dict[str, str]:
        """Run id -> node id of the test that made it, for the runs of this session."""
        return {
            str(run.info.run_id): run.data.tags[TAG_TEST_NODEID]
            for run in self._session_runs(session_id)
            if TAG_TEST_NODEID in run.data.tags
        }

    def session_experiments(self, session_id: str) -> list[str]:
        """Names of the experiments holding runs of this session."""
        ids = {str(run.info.experiment_id) for run in self._session_runs(session_id)}
        return sorted(str(self.client.get_experiment(i).name) for i in ids)

"""MLflow writes of a guarded pytest session: its run, the runs of the fixtures, the final sweep.

The session run is made with ``MlflowClient.create_run``, never ``mlflow.start_run``: it must not
sit on MLflow's active-run stack, where it would turn a test's own ``mlflow.start_run()`` into an
"already active" error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pytest_mlflow_guard.mlflow_io.clients import client as make_client
from pytest_mlflow_guard.mlflow_io.paging import runs_anywhere
from pytest_mlflow_guard.mlflow_io.scope import quote
from pytest_mlflow_guard.mlflow_io.writer import (
    experiment_id_for,
    log_metrics,
    log_text_files,
    set_tags,
    terminate,
)
from pytest_mlflow_guard.redact import redact_mapping
from pytest_mlflow_guard.vocabulary import TAG_SESSION, TAG_TEST_NODEID

__all__ = ["SessionRuns", "SessionStore"]

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
        run = self.client.create_run(experiment_id, run_name=run_name, tags=redact_mapping(tags))
        return experiment_id, str(run.info.run_id)

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
        self.close_session_run(run_id, status)

    def close_session_run(self, run_id: str, status: str) -> None:
        terminate(self.client, run_id, status)

    def close_out(self, session_id: str, status: str, keep: str) -> SessionRuns:
        """One pass over the session's runs: end those still RUNNING (a killed subprocess, an
        interrupted test) with ``status``, and note which test made each run and where it is.
        ``keep`` (the session run itself) is left running."""
        found = SessionRuns()
        query = f"tags.`{TAG_SESSION}` = {quote(session_id)}"
        for run in runs_anywhere(self.client, query):
            run_id = str(run.info.run_id)
            found.experiment_ids.add(str(run.info.experiment_id))
            if TAG_TEST_NODEID in run.data.tags:
                found.tests[run_id] = run.data.tags[TAG_TEST_NODEID]
            if run.info.status == "RUNNING" and run_id != keep:
                terminate(self.client, run_id, status)
                found.ended.append(run_id)
        return found

    def experiment_names(self, ids: Iterable[str]) -> list[str]:
        return sorted(str(self.client.get_experiment(i).name) for i in ids)


@dataclass
class SessionRuns:
    ended: list[str] = field(default_factory=list)  # ids of runs found RUNNING and ended
    tests: dict[str, str] = field(default_factory=dict)  # run id -> node id of its test
    experiment_ids: set[str] = field(default_factory=set)

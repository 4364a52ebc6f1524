"""How a guarded pytest session reaches every process that creates runs: environment variables.

The controller exports these before xdist workers and test subprocesses start; the run-context
provider and the fixtures read them, so a run made anywhere during the session is stamped with
the session id (and the test that made it). Standard library only.
"""

from __future__ import annotations

import os

#: id of the guarded pytest session; runs made while it is set get ``TAG_SESSION``
ENV_SESSION_ID = "MLFLOW_GUARD_SESSION_ID"
#: run id of the session run, the parent of the runs the fixtures and markers start
ENV_SESSION_RUN_ID = "MLFLOW_GUARD_SESSION_RUN_ID"
#: a file every process appends a line to when it starts a run: tells teardown "look for runs"
ENV_LEDGER = "MLFLOW_GUARD_LEDGER"
#: the session's store (absolute), and the experiment that runs without one go to there
ENV_TRACKING_URI = "MLFLOW_GUARD_TRACKING_URI"
ENV_EXPERIMENT_NAME = "MLFLOW_GUARD_EXPERIMENT_NAME"
ENV_EXPERIMENT_ID = "MLFLOW_GUARD_EXPERIMENT_ID"
#: JSON object of extra tags for runs made by the current test (from its ``mlflow_guard`` marker)
ENV_TEST_TAGS = "MLFLOW_GUARD_TEST_TAGS"

TAG_SESSION = "mlflow_guard.session"
TAG_TEST_NODEID = "test.nodeid"
TAG_PARENT_RUN_ID = "mlflow.parentRunId"


def session_id() -> str | None:
    return os.environ.get(ENV_SESSION_ID) or None


def session_run_id() -> str | None:
    """The guarded session's run, to be used as ``mlflow.parentRunId`` (None when unguarded)."""
    return os.environ.get(ENV_SESSION_RUN_ID) or None


def tracking_uri() -> str | None:
    return os.environ.get(ENV_TRACKING_URI) or None


def experiment_name() -> str | None:
    return os.environ.get(ENV_EXPERIMENT_NAME) or None


def experiment_id() -> str | None:
    return os.environ.get(ENV_EXPERIMENT_ID) or None

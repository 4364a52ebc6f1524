"""How a guarded pytest session reaches every process that creates runs: environment variables.

The controller exports these before xdist workers and test subprocesses start; the run-context
provider and the fixtures read them, so a run made anywhere during the session is stamped with
the session id (and the test that made it). Standard library only.
"""

from __future__ import annotations

import os

from pytest_mlflow_guard.vocabulary import (
    ENV_EXPERIMENT_ID,
    ENV_EXPERIMENT_NAME,
    ENV_SESSION_ID,
    ENV_SESSION_RUN_ID,
    ENV_TRACKING_URI,
)


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

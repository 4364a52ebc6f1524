"""The reader against real tracking stores: sqlite files in tmp_path, and one ``mlflow server``.

No mocks: every store is built with MlflowClient / the fluent API and read back with
``StoreReader``. Building an MLflow sqlite database runs its migrations (seconds), so an empty,
migrated database is made once per session and copied for each store.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")
np = pytest.importorskip("numpy")
sklearn_linear = pytest.importorskip("sklearn.linear_model")

from mlflow import MlflowClient  # noqa: E402

from pytest_mlflow_guard.config import Scope  # noqa: E402
from pytest_mlflow_guard.errors import ConfigError, GuardError  # noqa: E402
from pytest_mlflow_guard.mlflow_io.reader import (  # noqa: E402
    StoreReader,
    experiment_url,
    logged_model_url,
    model_version_url,
    probe,
    redact_uri,
    registered_model_url,
    run_filter,
    run_url,
    since_datetime,
    ui_url_for,
)
from pytest_mlflow_guard.records import (  # noqa: E402
    ExperimentRecord,
    RegisteredModelRecord,
    RunRecord,
)

CONVENTION_TAGS = {
    "os.user": "alice",
    "git.commit": "0123456789abcdef0123456789abcdef01234567",
    "source.type": "script",
    "model.type": "logreg",
    "run.mode": "training",
}
MS_2020 = int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
MS_2024 = int(datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp() * 1000)


# --------------------------------------------------------------------------- stores


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow sqlite database with its migrations applied."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def new_store(template_db: Path, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template_db, directory / "mlflow.db")
    return f"sqlite:///{directory / 'mlflow.db'}"


@contextmanager_fixture := None  # placeholder removed below  # type: ignore[misc]

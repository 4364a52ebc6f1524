"""The reference store: one of everything the reader must turn into records, built with MLflow's
own client on any backend (a sqlite file, PostgreSQL, a server). Shared by the reader tests and
the SQL reader's parity tests."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow import MlflowClient
from sklearn import linear_model

CONVENTION_TAGS = {
    "os.user": "alice",
    "git.commit": "0123456789abcdef0123456789abcdef01234567",
    "source.type": "script",
    "model.type": "logreg",
    "run.mode": "training",
}
MS_2020 = int(datetime(2020, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
MS_2024 = int(datetime(2024, 6, 1, tzinfo=timezone.utc).timestamp() * 1000)
LEGACY_MLMODEL = """\
artifact_path: legacy
flavors:
  python_function:
    loader_module: mlflow.sklearn
  sklearn:
    pickled_model: model.pkl
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}]'
  outputs: null
utc_time_created: '2024-06-01 00:00:00.000000'
"""


@contextmanager
def tracking(uri: str) -> Iterator[MlflowClient]:
    mlflow.set_tracking_uri(uri)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-format and stage-deprecation notices
            yield MlflowClient(tracking_uri=uri)
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)


def tiny_model() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.random((20, 3))
    y = (x[:, 0] > 0.5).astype(int)
    return linear_model.LogisticRegression().fit(x, y), x


@dataclass
class Built:
    uri: str
    exp_id: str
    train_run: str
    open_run: str
    gone_run: str
    old_run: str
    new_run: str
    sandbox_run: str
    sig_model: str
    nosig_model: str


def log_training_run(exp_id: str, art: Path) -> tuple[str, str, str]:
    """One convention-abiding run: requirements, a model with signature and input example, one
    without signature, and an MLflow 2 style model (MLmodel in the run's artifacts)."""
    model, x = tiny_model()
    with mlflow.start_run(experiment_id=exp_id, run_name="train-1", tags=CONVENTION_TAGS) as run:
        mlflow.log_params({"C": "1.0", "max_iter": "100"})
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8})
        requirements = art / "requirements.txt"
        requirements.write_text("scikit-learn\n")
        mlflow.log_artifact(str(requirements), "environment")
        with_sig = mlflow.sklearn.log_model(
            model, name="model", input_example=x[:1], serialization_format="cloudpickle"
        )
        no_sig = mlflow.sklearn.log_model(
            model, name="nosig", signature=False, serialization_format="cloudpickle"
        )
        legacy = art / "legacy"
        legacy.mkdir()
        (legacy / "MLmodel").write_text(LEGACY_MLMODEL)
        mlflow.log_artifacts(str(legacy), "legacy")
        history = [{"artifact_path": "legacy", "run_id": run.info.run_id, "flavors": {}}]
        mlflow.set_tag("mlflow.log-model.history", json.dumps(history))
    return run.info.run_id, with_sig.model_id, no_sig.model_id


def build(uri: str, root: Path) -> Built:
    """Fill the (empty, migrated) store at ``uri``; artifacts go under ``root``."""
    art = root / "artifacts"
    art.mkdir()
    with tracking(uri) as client:
        exp = client.create_experiment(
            "team/churn", artifact_location=str(art / "churn"), tags={"team": "ml"}
        )
        train, sig_model, nosig_model = log_training_run(exp, art)
        version = mlflow.register_model(f"models:/{sig_model}", "churn_model").version
        client.transition_model_version_stage("churn_model", version, "Staging")
        client.set_registered_model_alias("churn_model", "champion", version)

        open_run = client.create_run(exp, run_name="still-going", tags=CONVENTION_TAGS)

        gone = client.create_run(exp, run_name="gone")
        client.set_terminated(gone.info.run_id)
        client.create_registered_model("orphan_model")
        client.create_model_version(
            "orphan_model", source=f"{gone.info.artifact_uri}/model", run_id=gone.info.run_id
        )
        client.delete_run(gone.info.run_id)

        sandbox = client.create_experiment("sandbox/tmp", artifact_location=str(art / "sandbox"))
        sandbox_run = client.create_run(sandbox, run_name="try")
        client.set_terminated(sandbox_run.info.run_id)

        history = client.create_experiment("team/history", artifact_location=str(art / "hist"))
        old = client.create_run(history, start_time=MS_2020, run_name="old")
        client.set_terminated(old.info.run_id, end_time=MS_2020 + 1000)
        new = client.create_run(history, start_time=MS_2024, run_name="new")
        client.set_terminated(new.info.run_id, status="FAILED", end_time=MS_2024 + 1000)
    return Built(
        uri=uri,
        exp_id=exp,
        train_run=train,
        open_run=open_run.info.run_id,
        gone_run=gone.info.run_id,
        old_run=old.info.run_id,
        new_run=new.info.run_id,
        sandbox_run=sandbox_run.info.run_id,
        sig_model=sig_model,
        nosig_model=nosig_model,
    )

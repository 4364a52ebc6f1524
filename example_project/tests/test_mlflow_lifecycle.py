"""The guide's lifecycle end to end.

train -> register -> Staging -> load by stage and alias -> Production -> previous one Archived.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mushroom_growth import FEATURES, make_dataset, train_and_log
from mushroom_growth.train import MODEL_NAME

from pytest_mlflow_guard import ExperimentTracker


def test_train_register_stage_promote_archive(tracking_uri: str) -> None:
    first = train_and_log(n_estimators=20, n_samples=600, seed=1)
    assert first.version == "1"
    assert first.metrics["accuracy"] > 0.6  # far above the 0.25 of guessing among four stages

    client = MlflowClient()
    assert client.get_model_version(MODEL_NAME, "1").current_stage == "Staging"

    X, _ = make_dataset(n_samples=50, seed=7)
    by_stage = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/Staging")
    by_alias = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@staging")
    stage_pred = np.asarray(by_stage.predict(X))
    assert stage_pred.shape == (50,)
    assert set(np.unique(stage_pred)) <= {0, 1, 2, 3}
    assert (stage_pred == np.asarray(by_alias.predict(X))).all()

    # The signature carries the feature names, so serving rejects a frame with a column missing.
    signature = by_stage.metadata.get_input_schema()
    assert tuple(signature.input_names()) == FEATURES

    tracker = ExperimentTracker("mushroom/growth_prediction")
    tracker.promote(MODEL_NAME, 1)
    assert client.get_model_version(MODEL_NAME, "1").current_stage == "Production"

    second = train_and_log(n_estimators=30, n_samples=600, seed=2)
    assert second.version == "2"
    tracker.promote(MODEL_NAME, 2)
    stages = {v: client.get_model_version(MODEL_NAME, v).current_stage for v in ("1", "2")}
    assert stages == {"1": "Archived", "2": "Production"}
    aliases = {k: str(v) for k, v in client.get_registered_model(MODEL_NAME).aliases.items()}
    assert aliases == {"production": "2"}
    production = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/Production")
    assert (
        np.asarray(production.predict(X))
        == np.asarray(mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@production").predict(X))
    ).all()


def test_runs_carry_the_convention_tags(tracking_uri: str) -> None:
    result = train_and_log(n_estimators=5, n_samples=300, registered_model_name=None)
    run = MlflowClient().get_run(result.run_id)
    tags = run.data.tags
    for tag in ("os.user", "git.commit", "source.type", "model.type", "run.mode"):
        assert tags.get(tag), f"missing {tag}"
    assert tags["source.type"] == "pytest"
    assert tags["source.command"].startswith("pytest ")
    assert run.data.params["model.n_estimators"] == "5"


def test_guide_import_path_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    # The guide's scripts run from the project root, where `src` is importable.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    from src.utils.experiment_tracker import ExperimentTracker as FromGuide

    assert FromGuide is ExperimentTracker

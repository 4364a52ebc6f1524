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
    assert first.version is not None
    assert first.metrics["accuracy"] > 0.6  # far above the 0.25 of guessing among four stages

    client = MlflowClient()
    assert client.get_model_version(MODEL_NAME, first.version).current_stage == "Staging"

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
    tracker.promote(MODEL_NAME, first.version)
    assert client.get_model_version(MODEL_NAME, first.version).current_stage == "Production"

    second = train_and_log(n_estimators=30, n_samples=600, seed=2)
    assert int(second.version) == int(first.version) + 1
    tracker.promote(MODEL_NAME, second.version)
    stages = {v: client.get_model_version(MODEL_NAME, v).current_stage
              for v in (first.version, second.version)}  # fmt: skip
    assert stages == {first.version: "Archived", second.version: "Production"}
    aliases = {k: str(v) for k, v in client.get_registered_model(MODEL_NAME).aliases.items()}
    assert aliases == {"production": second.version}
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


def test_quality_bar_with_the_tracker_fixture(
    tracking_uri: str, tracker: ExperimentTracker
) -> None:
    # The guard's `tracker` fixture: runs land in the session experiment (mushroom/tests), as
    # children of the session run, already tagged; the test only says what it measured.
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score

    X, y = make_dataset(n_samples=400, seed=3)
    with tracker.start_run(run_name="quality-bar"):
        tracker.log_params({"n_estimators": 10, "seed": 3})
        model = RandomForestClassifier(n_estimators=10, random_state=3).fit(X[:300], y[:300])
        accuracy = float(accuracy_score(y[300:], model.predict(X[300:])))
        tracker.log_metrics({"accuracy": accuracy})
    assert accuracy > 0.6


def test_metrics_land_in_the_mlflow_run_fixture(
    tracking_uri: str, mlflow_run: mlflow.ActiveRun
) -> None:
    _, y = make_dataset(n_samples=200, seed=5)
    counts = np.bincount(np.asarray(y), minlength=4)
    mlflow.log_params({"n_samples": 200, "seed": 5})
    mlflow.log_metrics({f"share.stage_{i}": float(c) / 200 for i, c in enumerate(counts)})
    assert mlflow.active_run().info.run_id == mlflow_run.info.run_id
    assert counts.min() > 0  # every growth stage is present in a small sample

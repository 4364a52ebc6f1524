"""Train the growth-stage classifier and log it the way the team guide prescribes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from pytest_mlflow_guard import ExperimentTracker

from .data import make_dataset

MODEL_NAME = "mushroom_growth_classifier"


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_uri: str
    version: str | None
    metrics: dict[str, float]


def train_and_log(
    *,
    experiment: str = "mushroom/growth_prediction",
    tracking_uri: str | None = None,
    n_estimators: int = 100,
    max_depth: int | None = None,
    seed: int = 42,
    n_samples: int = 2000,
    run_name: str | None = None,
    registered_model_name: str | None = MODEL_NAME,
) -> TrainResult:
    X, y = make_dataset(n_samples=n_samples, seed=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y
    )
    tracker = ExperimentTracker(experiment, tracking_uri=tracking_uri)
    params: dict[str, Any] = {
        "model": {"n_estimators": n_estimators, "max_depth": max_depth, "seed": seed},
        "data": {"n_samples": n_samples, "test_size": 0.25},
    }
    with tracker.start_run(run_name=run_name, tags={"model.type": "RandomForestClassifier"}) as run:
        tracker.log_params(params)
        tracker.log_environment()
        model = RandomForestClassifier(
            n_estimators=n_estimators, max_depth=max_depth, random_state=seed, n_jobs=1
        ).fit(X_train, y_train)
        predicted = model.predict(X_test)
        metrics = {
            "accuracy": float(accuracy_score(y_test, predicted)),
            "f1_macro": float(f1_score(y_test, predicted, average="macro")),
        }
        tracker.log_metrics(metrics)
        info = tracker.log_model(
            model,
            artifact_path="model",
            input_example=X_train.iloc[:5],
            registered_model_name=registered_model_name,
        )
    version = getattr(info, "registered_model_version", None)
    return TrainResult(
        run_id=run.info.run_id,
        model_uri=info.model_uri,
        version=str(version) if version is not None else None,
        metrics=metrics,
    )

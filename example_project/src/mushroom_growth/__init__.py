"""Mushroom growth-stage classification: the example project of pytest-mlflow-guard."""

from __future__ import annotations

from .data import FEATURES, STAGES, make_dataset
from .train import TrainResult, train_and_log

__all__ = ["FEATURES", "STAGES", "TrainResult", "make_dataset", "train_and_log"]

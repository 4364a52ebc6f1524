"""The import path the team guide uses (``from src.utils.experiment_tracker import ...``).

The tracker now lives in pytest-mlflow-guard; this module keeps old notebooks and scripts working.
"""

from __future__ import annotations

from pytest_mlflow_guard import ConventionError, ExperimentTracker

__all__ = ["ConventionError", "ExperimentTracker"]

"""pytest-mlflow-guard: make an ML team's MLflow conventions real, in pytest, CI and on a laptop.

Importing this package does not import MLflow (pytest loads the plugin in every session).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_mlflow_guard.errors import ConfigError, ConventionError, GuardError

if TYPE_CHECKING:
    from pytest_mlflow_guard.config import GuardConfig, load_config
    from pytest_mlflow_guard.tracking.tracker import ExperimentTracker

__all__ = [
    "ConfigError",
    "ConventionError",
    "ExperimentTracker",
    "GuardConfig",
    "GuardError",
    "load_config",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # pytest imports this package (for the plugin) in every session: what only users of the API
    # need is imported when they first touch it
    if name == "ExperimentTracker":
        from pytest_mlflow_guard.tracking.tracker import ExperimentTracker

        return ExperimentTracker
    if name in ("GuardConfig", "load_config"):
        from pytest_mlflow_guard import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

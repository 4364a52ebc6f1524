"""pytest-mlflow-guard: make an ML team's MLflow conventions real, in pytest, CI and on a laptop.

Importing this package does not import MLflow (pytest loads the plugin in every session).
"""

from __future__ import annotations

from .config import GuardConfig, load_config
from .errors import ConfigError, ConventionError, GuardError
from .tracker import ExperimentTracker

__all__ = [
    "ConfigError",
    "ConventionError",
    "ExperimentTracker",
    "GuardConfig",
    "GuardError",
    "load_config",
]
__version__ = "0.1.0"

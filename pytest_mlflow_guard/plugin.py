"""pytest plugin entry point (``pytest11``): translates pytest hooks into calls on plain code.

Kept free of MLflow imports: pytest loads this module in every session of the environment.
"""

from __future__ import annotations

import pytest

from . import context


def pytest_configure(config: pytest.Config) -> None:
    # Tests call ExperimentTracker (or mlflow.start_run) from files inside the project under test;
    # the rootpath is where git facts come from when no caller frame sits in a repository.
    context.set_pytest_rootpath(config.rootpath)


def pytest_unconfigure(config: pytest.Config) -> None:
    context.set_pytest_rootpath(None)

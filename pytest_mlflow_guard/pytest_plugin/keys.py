"""The plugin's state, kept in pytest's stash: the session object on the config, and per test
its parsed marker, its phase reports and the ``mlflow_run`` fixture's run."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.pytest_plugin.markers import MarkerSpec
from pytest_mlflow_guard.pytest_plugin.session import GuardSession

SESSION_KEY = pytest.StashKey[GuardSession]()
REPORTS_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
MARKER_KEY = pytest.StashKey[MarkerSpec | None]()
#: the ``mlflow_run`` fixture's run, for teardown to correct its outcome
FIXTURE_RUN_KEY = pytest.StashKey[Any]()


def guard_of(config: pytest.Config) -> GuardSession:
    return config.stash[SESSION_KEY]


def marker_spec(item: pytest.Item) -> MarkerSpec | None:
    """The test's ``mlflow_guard`` marker, parsed once; a bad one fails the test, naming it."""
    if MARKER_KEY not in item.stash:
        marker = item.get_closest_marker("mlflow_guard")
        try:
            item.stash[MARKER_KEY] = (
                MarkerSpec.parse(marker.kwargs, item.nodeid) if marker else None
            )
        except ConfigError as exc:
            pytest.fail(str(exc), pytrace=False)
    return item.stash[MARKER_KEY]

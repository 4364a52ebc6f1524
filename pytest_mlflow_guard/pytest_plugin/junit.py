"""Each test's MLflow runs in pytest's ``--junitxml`` report, as ``<property>`` entries.

``mlflow_run_id`` for every run the test made (in any store), and ``mlflow_run_url`` beside it
when the store has a UI (an http(s) tracking URI or ``ui-url`` in the config), so Jenkins and
GitLab link a test case to its run. They are added to the item's ``user_properties`` during
teardown, which is before pytest makes the teardown report: under xdist the worker's report
carries them to the controller, whose junitxml writes them.

The runs are found by the tags every run made in the session carries (the session id and the
test's node id), only for tests whose ledger entries say they started one: a test that made
no run costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_mlflow_guard.vocabulary import TAG_SESSION, TAG_TEST_NODEID

if TYPE_CHECKING:
    from pytest_mlflow_guard.pytest_plugin.session import GuardSession

RUN_ID_PROPERTY = "mlflow_run_id"
RUN_URL_PROPERTY = "mlflow_run_url"


def run_properties(guard: GuardSession, nodeid: str) -> list[tuple[str, str]]:
    stores = guard.test_stores()
    if not stores or guard.session_id is None:
        return []
    from pytest_mlflow_guard.mlflow_io import links
    from pytest_mlflow_guard.mlflow_io.session_reader import runs_tagged

    tags = {TAG_SESSION: guard.session_id, TAG_TEST_NODEID: nodeid}
    properties: list[tuple[str, str]] = []
    for uri in stores:
        try:
            runs = runs_tagged(uri, tags)
        except Exception:  # a link in a report is not worth failing the test;
            continue  # the guard's own check of the test's runs reports a store that fails
        # the configured UI is the session store's; another store links only to itself
        base = links.ui_url_for(uri, guard.config.ui_url if uri == guard.tracking_uri else None)
        for run_id, experiment_id in runs:
            properties.append((RUN_ID_PROPERTY, run_id))
            if base is not None:
                properties.append((RUN_URL_PROPERTY, links.run_url(base, experiment_id, run_id)))
    return properties

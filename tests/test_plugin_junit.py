"""Each test's MLflow runs in ``--junitxml``, as ``<property>`` entries, with and without xdist."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from guard_testing import GUARDED_PYPROJECT, GuardedProject

XDIST = [pytest.param((), id="serial"), pytest.param(("-n", "2"), id="xdist")]
UI = "https://mlflow.example.com/team"

TESTS = """
import mlflow

def test_fixture_run(mlflow_run):
    mlflow.log_param("alpha", 0.1)

def test_two_runs(tracker):
    for name in ("first", "second"):
        with tracker.start_run(run_name=name):
            tracker.log_params({"lr": 0.01})

def test_breaks_the_conventions(tracker):
    with tracker.start_run(run_name="bad", tags={"run.mode": "training"}):
        pass  # a training run without params or environment: the guard fails this test

def test_no_mlflow():
    assert True
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_each_testcase_links_its_runs(guarded: GuardedProject, xdist: tuple[str, ...]) -> None:
    (guarded.path / "pyproject.toml").write_text(
        GUARDED_PYPROJECT + f'\n[tool.mlflow-guard]\nui-url = "{UI}/"\n'
    )
    guarded.pytester.makepyfile(test_runs=TESTS)
    guarded.commit()
    result = guarded.run("--junitxml=report.xml", *xdist)
    result.assert_outcomes(passed=4, errors=1)  # the guard's verdict is a teardown error

    expected: dict[str, list[tuple[str, str]]] = {}
    for run in guarded.runs():
        nodeid = run.data.tags.get("test.nodeid")
        if nodeid:
            name = nodeid.rsplit("::", 1)[1]
            expected.setdefault(name, []).append((run.info.experiment_id, run.info.run_id))
    assert sorted(expected) == ["test_breaks_the_conventions", "test_fixture_run", "test_two_runs"]
    assert len(expected["test_two_runs"]) == 2

    properties: dict[str, list[tuple[str, str]]] = {}
    for case in ET.parse(guarded.path / "report.xml").getroot().iter("testcase"):
        found = [(p.get("name") or "", p.get("value") or "") for p in case.iter("property")]
        properties.setdefault(case.get("name") or "", []).extend(found)
    assert properties["test_no_mlflow"] == []
    for name, runs in expected.items():
        want = []
        for experiment_id, run_id in runs:
            want += [
                ("mlflow_run_id", run_id),
                ("mlflow_run_url", f"{UI}/#/experiments/{experiment_id}/runs/{run_id}"),
            ]
        # a testcase that errored in teardown is reported twice by junitxml: both carry them
        assert properties[name][: len(want)] == want, name

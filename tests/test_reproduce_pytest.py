"""The pytest side: ``@pytest.mark.reproducible`` and the ``reproduce`` fixture, with pytester
sessions writing to a real sqlite store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from guard_testing import git

PLUGIN = ("-p", "no:cacheprovider")  # the marker and fixture come with the mlflow_guard plugin

MARKED_TESTS = """
import random

import mlflow
import pytest

CALLS = []


@pytest.fixture
def data():
    return [1.0, 2.0, 3.0]


@pytest.mark.reproducible(times=3)
def test_seeded(data):
    rng = random.Random(7)
    mlflow.log_param("seed", 7)
    mlflow.log_metric("score", sum(data) * rng.random())


@pytest.mark.reproducible
def test_unseeded(data):
    mlflow.log_param("n", len(data))
    mlflow.log_metric("score", random.random())
    mlflow.log_metric("const", 1.0)


@pytest.mark.reproducible(tolerance={"score": 1.0})
def test_unseeded_within_tolerance():
    mlflow.log_metric("score", random.random())


@pytest.mark.reproducible(metrics=["const"])
def test_only_selected_metrics_count():
    mlflow.log_metric("const", 1.0)
    mlflow.log_metric("noise", random.random())


@pytest.mark.reproducible
def test_unseeded_param():
    mlflow.log_param("shuffle_seed", random.randrange(10**9))
    mlflow.log_metric("const", 1.0)


@pytest.mark.reproducible
def test_nested_runs_are_compared_too():
    mlflow.log_metric("outer", 1.0)
    with mlflow.start_run(nested=True):
        mlflow.log_metric("inner", random.random())


@pytest.mark.reproducible
def test_body_raises_once():
    CALLS.append(1)
    assert len(CALLS) == 1, "repeated after a failure"
    raise ValueError("boom")


@pytest.mark.reproducible
def test_logs_nothing():
    pass


@pytest.mark.reproducible
def test_non_nested_run_in_body():
    with mlflow.start_run():
        pass
"""


def _store_runs(uri: str) -> list[Any]:
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    return list(c.search_runs([e.experiment_id for e in c.search_experiments()]))


@pytest.fixture
def parent_run(store: str) -> tuple[str, str]:
    """A stand-in for the guarded session's run: the repetitions must become its children."""
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=store)
    experiment = c.create_experiment("demo/session")
    return experiment, c.create_run(experiment, run_name="session").info.run_id


def test_reproducible_marker_fails_nondeterministic_and_passes_seeded(
    store: str, parent_run: tuple[str, str], pytester: pytest.Pytester
) -> None:
    experiment, parent = parent_run
    pytester.makepyfile(test_marked=MARKED_TESTS)
    os.environ["MLFLOW_GUARD_SESSION_RUN_ID"] = parent  # pytester restores os.environ
    result = pytester.runpytest_subprocess(*PLUGIN, "-q", "-p", "no:randomly")
    outcomes = {
        "test_seeded": "PASSED",
        "test_unseeded": "FAILED",
        "test_unseeded_within_tolerance": "PASSED",
        "test_only_selected_metrics_count": "PASSED",
        "test_unseeded_param": "FAILED",
        "test_nested_runs_are_compared_too": "FAILED",
        "test_body_raises_once": "FAILED",
        "test_logs_nothing": "FAILED",
        "test_non_nested_run_in_body": "FAILED",
    }
    result.assert_outcomes(passed=3, failed=6)
    text = result.stdout.str()
    for name, outcome in outcomes.items():
        if outcome == "FAILED":
            assert f"FAILED test_marked.py::{name}" in text, name
    # the diff names what differs, between which repetitions, and leaves out what matched
    unseeded = text.split("test_marked.py::test_unseeded is not reproducible")[1]
    unseeded = unseeded.split("Seed every source")[0]
    assert "score" in unseeded and "repeat 1" in unseeded and "repeat 2" in unseeded
    assert "DIFFERS" in unseeded and "const" not in unseeded
    assert "shuffle_seed" in text.split("test_unseeded_param is not reproducible")[1]
    assert "child 1/inner" in text
    assert "ValueError: boom" in text and "AssertionError: repeated after a failure" not in text
    assert "found nothing to compare" in text
    assert "start runs in the test body with nested=True" in text

    runs = [r for r in _store_runs(store) if r.info.run_id != parent]
    seeded = sorted(
        (r for r in runs if r.info.run_name.startswith("test_seeded ")),
        key=lambda r: r.info.run_name,
    )
    assert [r.info.run_name for r in seeded] == [f"test_seeded [repeat {i}/3]" for i in (1, 2, 3)]
    for run in seeded:
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == parent
        assert run.info.experiment_id == experiment
        assert (tags["run.mode"], tags["model.type"]) == ("validation", "none")
        assert tags["reproducible.repeat"] in {"1/3", "2/3", "3/3"}
        assert tags["test.nodeid"] == "test_marked.py::test_seeded"
        assert tags.get("git.commit") is None or len(tags["git.commit"]) == 40
        assert run.info.status == "FINISHED"
    assert len({r.data.tags["reproducible.group"] for r in seeded}) == 1
    (raised,) = [r for r in runs if r.info.run_name.startswith("test_body_raises_once ")]
    assert raised.info.status == "FAILED"


def test_marker_arguments_are_validated(store: str, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.reproducible(times=1)
        def test_once():
            pass
        """
    )
    result = pytester.runpytest_subprocess(*PLUGIN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_once*reproducible(times=1): an int >= 2*"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*PLUGIN, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.reproducible(times=2, rtol=1e-7*"])


TRAIN = """
import random, sys
import mlflow

seeded = "--seed" in sys.argv
rng = random.Random(3) if seeded else random.Random()
with mlflow.start_run() as run:
    mlflow.log_param("seeded", seeded)
    mlflow.log_metric("accuracy", rng.random())
    print("RUN", run.info.run_id)
"""

FIXTURE_TESTS = """
def test_reference_run_reproduces(reproduce):
    result = reproduce.assert_reproduced("{good}")
    assert result.replay_run_id and result.exit_code == 0


def test_unseeded_reference_run(reproduce):
    reproduce.assert_reproduced("{bad}", rtol=0, atol=0)


def test_check_only_and_tolerances(reproduce):
    result = reproduce("{bad}", check_only=True)
    assert result.verdict == "replayable", result
    assert reproduce("{bad}", tolerance={{"accuracy": 1.0}}).reproduced
"""


def test_reproduce_fixture_asserts_the_verdict_with_the_report(
    store: str, pytester: pytest.Pytester
) -> None:
    repo = pytester.path
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text(textwrap.dedent(TRAIN))
    (repo / ".gitignore").write_text("mlruns/\n__pycache__/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "train")
    env = {**os.environ, "MLFLOW_EXPERIMENT_NAME": "demo/fixture"}
    env.pop("PYTEST_CURRENT_TEST", None)
    ids = {}
    for name, args in (("good", ["--seed"]), ("bad", [])):
        out = subprocess.run(
            [sys.executable, "train.py", *args],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        ids[name] = out.split("RUN ")[1].split()[0]
    pytester.makepyfile(test_fixture=FIXTURE_TESTS.format(**ids))
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:randomly")
    result.assert_outcomes(passed=2, failed=1)
    text = result.stdout.str()
    assert "FAILED test_fixture.py::test_unseeded_reference_run" in text
    failure = text.split("test_unseeded_reference_run ___")[1]
    assert "Pre-flight" in failure and "PASS  commit" in failure
    assert "accuracy" in failure and "DIFFERS" in failure
    assert "Verdict: NOT REPRODUCED (exit 1)" in failure
    assert "Traceback" not in failure  # the report is the message, not a stack
    replays = [r for r in _store_runs(store) if r.data.tags.get("reproduction.of") == ids["good"]]
    assert len(replays) == 1
    assert git(repo, "worktree", "list").count("\n") == 0  # only the main worktree is left


def test_fixture_is_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*PLUGIN, "--fixtures")
    result.stdout.fnmatch_lines(["reproduce*", "*Replay a recorded MLflow run*"])

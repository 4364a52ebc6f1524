"""The tracker refuses what it cannot record as given, before anything is written, and records
no secret: real sqlite stores, and a real server for MLflow's "View run" line."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from pytest_mlflow_guard import ExperimentTracker, GuardError
from pytest_mlflow_guard.errors import ArgumentError

SECRET = "s3cr3tPW"


def contents(uri: str) -> tuple[list[str], list[str]]:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    c = MlflowClient(tracking_uri=uri)
    experiments = c.search_experiments(view_type=ViewType.ALL)
    ids = [e.experiment_id for e in experiments]
    runs = c.search_runs(ids, run_view_type=ViewType.ALL) if ids else []
    return sorted(e.name for e in experiments), [r.info.run_id for r in runs]


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda t: t.start_run(run_name=5).__enter__(), "run_name"),
        (lambda t: t.start_run(tags=["model.type", "cnn"]).__enter__(), "tags"),
        (lambda t: t.start_run(tags={"model.type": None}).__enter__(), "'model.type' is None"),
        (lambda t: t.start_run(tags={"bad#key": "x"}).__enter__(), "'bad#key'"),
        (lambda t: t.start_run(tags={"../up": "x"}).__enter__(), "'../up'"),
        (lambda t: t.start_run(nested="yes").__enter__(), "nested"),
    ],
)
def test_bad_start_run_arguments_write_nothing(call: Any, named: str, store: str) -> None:
    before = contents(store)
    with pytest.raises(ArgumentError, match=named) as raised:
        call(ExperimentTracker("mushroom/inputs"))
    assert isinstance(raised.value, TypeError | ValueError)
    assert contents(store) == before  # no experiment, no run


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda t: t.log_params([("lr", 0.1)]), "params: expected a dict"),
        (lambda t: t.log_params({"a.b": 1, "a": {"b": 2}}), "same key 'a.b'"),
        (lambda t: t.log_params({"lr#1": 0.1}), "'lr#1'"),
        (lambda t: t.log_metrics({"a": 10**400}), "metric 'a'.*too large"),
        (lambda t: t.log_metrics({"a": "high"}), "metric 'a'.*not a number"),
        (lambda t: t.log_metrics({"a": 1.0}, step="3"), "step="),
        (lambda t: t.set_tags({"run.mode": None}), "'run.mode' is None"),
    ],
)
def test_bad_logging_arguments_write_nothing(call: Any, named: str, store: str) -> None:
    from mlflow import MlflowClient

    tracker = ExperimentTracker("mushroom/inputs")
    with tracker.start_run() as run:
        before = MlflowClient(tracking_uri=store).get_run(run.info.run_id).data
        with pytest.raises(ArgumentError, match=named):
            call(tracker)
        after = MlflowClient(tracking_uri=store).get_run(run.info.run_id).data
    assert (after.params, after.metrics, after.tags) == (before.params, before.metrics, before.tags)


def test_a_malformed_tracking_uri_is_refused_naming_it(store: str) -> None:
    with pytest.raises(GuardError, match=r"tracking_uri=\.\.\.\).*\[::1") as raised:
        ExperimentTracker("mushroom/inputs", tracking_uri=f"http://u:{SECRET}@[::1")
    assert SECRET not in str(raised.value)


def test_secret_looking_params_and_tags_keep_their_name_not_their_value(store: str) -> None:
    from mlflow import MlflowClient

    tracker = ExperimentTracker("mushroom/inputs")
    with tracker.start_run(tags={"api_token": SECRET}) as run:
        tracker.log_params({"db": {"password": SECRET}, "data": f"s3://k:{SECRET}@b/x", "lr": 1})
    data = MlflowClient(tracking_uri=store).get_run(run.info.run_id).data
    assert data.params == {"db.password": "***", "data": "s3://b/x", "lr": "1"}
    assert data.tags["api_token"] == "***"


@pytest.mark.server
def test_mlflow_view_run_line_never_shows_the_credentials(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    monkeypatch.chdir(tmp_path)
    with_credentials = server.replace("http://", f"http://alice:{SECRET}@")
    tracker = ExperimentTracker("mushroom/view_link", tracking_uri=with_credentials)
    try:
        with tracker.start_run(run_name="20260101-000000_alice") as run:
            tracker.log_params({"lr": 0.1})
    finally:
        mlflow.set_tracking_uri(None)
    out, err = capfd.readouterr()
    assert SECRET not in out + err
    assert f"View run 20260101-000000_alice at: {server}/#/experiments/" in out
    assert run.info.run_id in out


def test_the_demo_points_at_a_servers_own_ui() -> None:
    path = (
        Path(__file__).resolve().parents[1]
        / "example_project/src/scripts/examples/mlflow_train_demo.py"
    )
    spec = importlib.util.spec_from_file_location("mlflow_train_demo", path)
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    assert demo.browse_hint("http://mlflow.internal:5000/") == (
        "open http://mlflow.internal:5000 in a browser (the server's own UI)"
    )
    assert demo.browse_hint("sqlite:///mlflow.db").startswith("mlflow ui --backend-store-uri")

"""A refused attempt (``ConventionError`` inside ``tracker.start_run``) is rolled back by what it
recorded it wrote, never by guessing folders: data it did not write survives, always."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pytest_mlflow_guard import ConventionError, ExperimentTracker


@pytest.fixture
def model() -> tuple[Any, Any]:
    rng = np.random.default_rng(1)
    X = rng.random((30, 3))
    return LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int)), X


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def refused_attempt(tracker: ExperimentTracker, model: tuple[Any, Any] | None = None) -> str:
    """An attempt that wrote a run (and a model) and is then refused; returns its run id."""
    with pytest.raises(ConventionError, match="MLG202"), tracker.start_run() as run:
        tracker.log_params({"lr": 0.1})
        if model is not None:
            tracker.log_model(model[0], input_example=model[1][:2])
        tracker.set_tags({"run.mode": "serving"})  # refused: not an allowed value
    return str(run.info.run_id)


def test_an_experiment_deleted_before_goes_back_to_the_deleted_state(
    store: str, tmp_path: Path, model: tuple[Any, Any]
) -> None:
    from mlflow.entities import ViewType

    c = client(store)
    users_folder = tmp_path / "team-share" / "experiments"
    users_folder.mkdir(parents=True)
    (users_folder / "notes.txt").write_text("keep me")
    experiment = c.create_experiment("mushroom/old", artifact_location=users_folder.as_uri())
    old_run = c.create_run(experiment, run_name="20250101-000000_alice")
    c.log_param(old_run.info.run_id, "x", "1")
    c.set_terminated(old_run.info.run_id)
    c.delete_experiment(experiment)
    before = files_under(users_folder)

    run_id = refused_attempt(ExperimentTracker("mushroom/old"), model)

    found = c.get_experiment(experiment)
    assert found is not None and found.lifecycle_stage == "deleted"  # not gone: deleted again
    runs = c.search_runs([experiment], run_view_type=ViewType.ALL)
    assert [r.info.run_id for r in runs] == [old_run.info.run_id]  # the refused run is gone
    assert runs[0].data.params == {"x": "1"}
    assert files_under(users_folder) == before  # the user's folder is untouched
    assert not (users_folder / run_id).exists()


def test_another_store_in_the_same_folder_keeps_its_artifacts(
    store: str, tmp_path: Path, model: tuple[Any, Any]
) -> None:
    # Two sqlite stores side by side share ./mlruns: experiment ids restart at 1 in each.
    import mlflow

    other = f"sqlite:///{Path.cwd() / 'other.db'}"
    neighbour = ExperimentTracker("team/neighbour", tracking_uri=other)
    with neighbour.start_run():
        neighbour.log_environment()
    mlflow.set_tracking_uri(store)
    shared = Path.cwd() / "mlruns"
    before = files_under(shared)
    assert any(name.startswith("1/") for name in before)  # the neighbour's experiment 1

    run_id = refused_attempt(ExperimentTracker("mushroom/fresh", tracking_uri=store), model)

    assert files_under(shared) == before
    assert client(store).get_experiment_by_name("mushroom/fresh") is None  # ours: created, gone
    assert not any(run_id in p.name for p in shared.rglob("*"))


def test_a_created_experiment_goes_with_its_folder(store: str, model: tuple[Any, Any]) -> None:
    run_id = refused_attempt(ExperimentTracker("mushroom/brand_new"), model)
    assert client(store).get_experiment_by_name("mushroom/brand_new") is None
    leftovers = [
        p for p in (Path.cwd() / "mlruns").rglob("*") if run_id in str(p) or "m-" in p.name
    ]
    assert leftovers == []


def test_versions_registered_some_other_way_are_rolled_back_too(
    store: str, model: tuple[Any, Any]
) -> None:
    import mlflow

    c = client(store)
    c.create_registered_model("keeper_model")  # exists before: stays, without our version
    tracker = ExperimentTracker("mushroom/registering")
    with pytest.raises(ConventionError), tracker.start_run() as run:
        info = mlflow.sklearn.log_model(model[0], name="model", input_example=model[1][:2])
        mlflow.register_model(info.model_uri, "keeper_model")
        tracker.set_tags({"run.mode": "serving"})
    assert c.search_model_versions(f"run_id = '{run.info.run_id}'") == []
    assert c.get_registered_model("keeper_model") is not None


def test_a_restored_experiment_someone_logged_into_stays_active(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlflow_guard.mlflow_io import writer

    c = client(store)
    experiment = c.create_experiment("mushroom/shared")
    c.delete_experiment(experiment)
    real = writer.discard_run
    started: list[str] = []

    def while_refusing(*args: Any, **kwargs: Any) -> None:
        # a colleague's run starts in the restored experiment while ours is being refused
        started.append(c.create_run(experiment, run_name="20260101-000000_bob").info.run_id)
        real(*args, **kwargs)

    monkeypatch.setattr(writer, "discard_run", while_refusing)
    refused_attempt(ExperimentTracker("mushroom/shared"))
    assert c.get_experiment(experiment).lifecycle_stage == "active"
    assert c.get_run(started[0]).info.lifecycle_stage == "active"

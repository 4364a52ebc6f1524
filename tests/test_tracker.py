"""ExperimentTracker against real sqlite stores, real git repositories and real sklearn models."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from pytest_mlflow_guard import ConventionError, ExperimentTracker, GuardError
from pytest_mlflow_guard.config import GuardConfig

CONVENTION_TAGS = ("os.user", "git.commit", "source.type", "model.type", "run.mode")


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.random((60, 4))
    return X, (X[:, 0] > 0.5).astype(int)


@pytest.fixture
def forest(data: tuple[np.ndarray, np.ndarray]) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=5, random_state=0).fit(*data)


def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def store_contents(uri: str) -> dict[str, list[str]]:
    from mlflow.entities import ViewType

    c = client(uri)
    experiments = c.search_experiments(view_type=ViewType.ALL)
    ids = [e.experiment_id for e in experiments]
    return {
        "experiments": sorted(e.name for e in experiments),
        "runs": [r.info.run_id for r in c.search_runs(ids, run_view_type=ViewType.ALL)],
        "models": [m.name for m in c.search_registered_models()],
    }


def test_guide_snippet_runs_unchanged(
    store: str, git_repo: Path, forest: Any, data: Any, recwarn: pytest.WarningsRecorder
) -> None:
    X_train, _ = data
    tracker = ExperimentTracker("mushroom/demo", code_path=git_repo)
    with tracker.start_run(run_name="my_run", tags={"model.type": "CNN"}):
        tracker.log_params({"learning_rate": 0.01, "batch_size": 32})
        tracker.log_environment()
        tracker.log_metrics({"accuracy": 0.98, "loss": 0.05})
        info = tracker.log_model(
            model=forest,
            artifact_path="model",
            input_example=X_train[:1],
            registered_model_name="my_cnn_model",
        )
    # the guide's artifact_path= is passed to MLflow 3 as name=, without its deprecation warning
    assert not [w for w in recwarn if "artifact_path" in str(w.message)]
    c = client(store)
    run = c.get_run(info.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "my_run"
    for tag in CONVENTION_TAGS:
        assert run.data.tags.get(tag), tag
    assert run.data.tags["model.type"] == "CNN"  # the caller's tag wins over the model's class
    assert run.data.tags["run.mode"] == "training"
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=git_repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert run.data.tags["git.commit"] == head
    assert "SECRET" not in run.data.tags["git.remote"]  # the fixture's remote carries a token
    assert run.data.params == {"learning_rate": "0.01", "batch_size": "32"}
    assert run.data.metrics == {"accuracy": 0.98, "loss": 0.05}
    paths = {a.path for a in c.list_artifacts(info.run_id, "environment")}
    assert paths == {"environment/requirements.txt", "environment/python.json"}
    assert info.signature is not None and info.signature.outputs is not None
    version = c.get_model_version("my_cnn_model", "1")
    assert version.current_stage == "Staging"
    aliases = c.get_registered_model("my_cnn_model").aliases
    assert {k: str(v) for k, v in aliases.items()} == {"staging": "1"}

    import mlflow.pyfunc

    by_stage = mlflow.pyfunc.load_model("models:/my_cnn_model/Staging")
    by_alias = mlflow.pyfunc.load_model("models:/my_cnn_model@staging")
    expected = forest.predict(X_train[:5])
    assert list(by_stage.predict(X_train[:5])) == list(expected)
    assert list(by_alias.predict(X_train[:5])) == list(expected)


@pytest.mark.parametrize(
    "attempt",
    ["experiment-name", "run-mode-tag", "run-mode-arg", "registered-model-name", "long-param"],
)
def test_convention_errors_write_nothing(store: str, attempt: str, forest: Any, data: Any) -> None:
    before = store_contents(store)
    with pytest.raises(ConventionError) as excinfo:
        if attempt == "experiment-name":
            ExperimentTracker("Mushroom Demo")
        tracker = ExperimentTracker("mushroom/demo")
        if attempt == "run-mode-arg":
            ExperimentTracker("mushroom/demo", run_mode="serving")
        with tracker.start_run(tags={"run.mode": "serving"} if attempt == "run-mode-tag" else {}):
            tracker.log_params({"lr": 0.1})
            if attempt == "long-param":
                tracker.log_params({"notes": "x" * 6000})
            tracker.log_model(forest, input_example=data[0][:1], registered_model_name="MyModel")
    error = excinfo.value
    assert isinstance(error, ValueError)
    expected_rule = {
        "experiment-name": "MLG101",
        "run-mode-tag": "MLG202",
        "run-mode-arg": "MLG202",
        "registered-model-name": "MLG103",
        "long-param": "MLG602",
    }[attempt]
    assert error.rule == expected_rule
    assert expected_rule in str(error)
    if attempt != "long-param":
        assert repr(error.value) in str(error)  # names the offending value
    assert store_contents(store) == before
    assert not (Path.cwd() / "mlruns").exists() or not any((Path.cwd() / "mlruns").iterdir())


def test_bad_experiment_name_error_explains_pattern(store: str) -> None:
    with pytest.raises(ConventionError, match=r"MLG101 experiment-name: 'Mushroom Demo'.*project"):
        ExperimentTracker("Mushroom Demo")


def test_exception_in_block_fails_run_and_reraises(store: str) -> None:
    tracker = ExperimentTracker("mushroom/demo")
    with pytest.raises(ZeroDivisionError), tracker.start_run(run_name="boom") as run:
        _ = 1 / 0
    assert client(store).get_run(run.info.run_id).info.status == "FAILED"
    import mlflow

    assert mlflow.active_run() is None
    assert tracker.run_id is None


def test_user_tags_win_and_default_run_name(store: str) -> None:
    tracker = ExperimentTracker("mushroom/demo", model_type="RandomForest")
    with tracker.start_run(tags={"os.user": "ci-bot", "team": "vision"}) as run:
        pass
    got = client(store).get_run(run.info.run_id)
    assert got.data.tags["os.user"] == "ci-bot"
    assert got.data.tags["team"] == "vision"
    assert got.data.tags["model.type"] == "RandomForest"
    name = got.info.run_name
    stamp, _, user = name.partition("_")
    assert len(stamp) == len("20260101-120000") and stamp[8] == "-"
    assert user  # the OS user, not MLflow's adjective-animal name


def test_params_are_flattened_and_batched(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = ExperimentTracker("mushroom/demo")
    calls: list[tuple[int, int]] = []
    real = tracker.client.log_batch

    def counting(
        run_id: str, metrics: Any = (), params: Any = (), tags: Any = (), **kw: Any
    ) -> Any:
        calls.append((len(params or ()), len(metrics or ())))
        return real(run_id, metrics=metrics, params=params, tags=tags, **kw)

    monkeypatch.setattr(tracker.client, "log_batch", counting)
    with tracker.start_run() as run:
        tracker.log_params({"optim": {"lr": 0.1, "betas": {"b1": 0.9}}})
        tracker.log_params({f"p{i}": i for i in range(250)})
        tracker.log_metrics({f"m{i}": i / 3 for i in range(1500)}, step=2)
    assert calls == [(2, 0), (100, 0), (100, 0), (50, 0), (0, 1000), (0, 500)]
    got = client(store).get_run(run.info.run_id)
    assert got.data.params["optim.lr"] == "0.1"
    assert got.data.params["optim.betas.b1"] == "0.9"
    assert len(got.data.params) == 252
    history = client(store).get_metric_history(run.info.run_id, "m3")
    assert [(m.step, m.value) for m in history] == [(2, 1.0)]


def test_log_outside_run_is_a_clear_error(store: str) -> None:
    with pytest.raises(GuardError, match="log_params needs an active run"):
        ExperimentTracker("mushroom/demo").log_params({"a": 1})


def test_environment_is_installable_and_has_no_secrets(
    store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "tok_do_not_log_42")
    tracker = ExperimentTracker("mushroom/demo")
    with tracker.start_run() as run:
        info = tracker.log_environment()
    import mlflow.artifacts

    out = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path="environment", dst_path=str(tmp_path / "env")
        )
    )
    requirements = (out / "requirements.txt").read_text()
    python = json.loads((out / "python.json").read_text())
    assert python["python_version"] == info["python_version"] == sys.version.split()[0]
    from importlib.metadata import version

    assert f"mlflow=={version('mlflow')}" in requirements.splitlines()
    assert f"scikit-learn=={version('scikit-learn')}" in requirements.splitlines()
    everything = requirements + json.dumps(python)
    assert "tok_do_not_log_42" not in everything
    tags = client(store).get_run(run.info.run_id).data.tags
    assert tags["python.version"] == python["python_version"]
    assert "tok_do_not_log_42" not in json.dumps(tags)
    # Installs from this repository are local paths relative to its root (the checkout at
    # git.commit has them); everything else pins an installed distribution.
    repo_root = Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    local = [line for line in requirements.splitlines() if line.startswith(("-e ", "./", "."))]
    for line in local:
        target = repo_root / line.removeprefix("-e ").strip()
        assert (target / "pyproject.toml").is_file(), line
    if version("pytest-mlflow-guard") and (repo_root / "pytest_mlflow_guard").is_dir():
        assert "pytest-mlflow-guard==" not in requirements  # never an unresolvable pin
    pinned = tmp_path / "pinned.txt"
    pinned.write_text("\n".join(line for line in requirements.splitlines() if line not in local))
    # pip accepts the file and everything pinned is already satisfied: no index needed
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-index",
            "-q",
            "-r",
            str(pinned),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_lifecycle_promotion_archives_previous_and_moves_aliases(store: str, data: Any) -> None:
    X, y = data
    tracker = ExperimentTracker("mushroom/demo")
    for seed in (1, 2):
        with tracker.start_run():
            model = LogisticRegression(random_state=seed).fit(X, y)
            tracker.log_model(model, name="model", input_example=X[:2], registered_model_name="clf")
    c = client(store)
    assert [c.get_model_version("clf", v).current_stage for v in ("1", "2")] == ["Staging"] * 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker.promote("clf", 1)
        tracker.promote("clf", 2)
    assert not [w for w in caught if "stage" in str(w.message).lower()]
    stages = {v: c.get_model_version("clf", v).current_stage for v in ("1", "2")}
    assert stages == {"1": "Archived", "2": "Production"}
    aliases = {k: str(v) for k, v in c.get_registered_model("clf").aliases.items()}
    assert aliases.get("production") == "2"
    assert "staging" not in aliases  # both versions left Staging
    with pytest.raises(ValueError, match=r"unknown stage 'Prod'.*Production"):
        tracker.transition_stage("clf", 2, "Prod")


@pytest.mark.parametrize("name", ["o'brien", 'it\'s "x"'])
def test_promotion_archives_the_previous_version_whatever_the_name(store: str, name: str) -> None:
    # the versions in Production were found with a filter built by hand ("name='o'brien'"),
    # which MLflow cannot parse: the promotion failed (or, both quotes, kept two in Production)
    from pytest_mlflow_guard.mlflow_io.registry import transition

    c = client(store)
    c.create_registered_model(name)
    for _ in range(2):
        c.create_model_version(name, "/nowhere/model")
    transition(c, name, 1, "Production")
    transition(c, name, 2, "Production")
    stages = {v: c.get_model_version(name, v).current_stage for v in ("1", "2")}
    assert stages == {"1": "Archived", "2": "Production"}


def test_any_object_with_predict_is_logged_as_pyfunc(store: str, data: Any) -> None:
    X, _ = data
    tracker = ExperimentTracker("mushroom/demo")
    with tracker.start_run() as run:
        info = tracker.log_model(ThresholdModel(0.5), input_example=X[:3])
    import mlflow.pyfunc

    loaded = mlflow.pyfunc.load_model(info.model_uri)
    assert list(loaded.predict(X[:3])) == list(ThresholdModel(0.5).predict(X[:3]))
    assert client(store).get_run(run.info.run_id).data.tags["model.type"] == "ThresholdModel"
    assert info.signature is not None


def test_object_without_predict_is_refused_before_logging(store: str) -> None:
    tracker = ExperimentTracker("mushroom/demo")
    with tracker.start_run() as run:
        with pytest.raises(GuardError, match="has no predict"):
            tracker.log_model(object())
        import mlflow

        assert not mlflow.MlflowClient().search_logged_models(
            experiment_ids=[run.info.experiment_id]
        )


def test_config_patterns_are_honoured(store: str) -> None:
    config = GuardConfig(experiment_name_pattern=r"^team-[a-z]+/[a-z]+$")
    ExperimentTracker("team-a/demo", config=config)
    with pytest.raises(ConventionError, match=r"team-\[a-z\]"):
        ExperimentTracker("mushroom/demo", config=config)


class ThresholdModel:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, X: Any) -> Any:
        return (np.asarray(X)[:, 0] > self.threshold).astype(np.int64)


def test_a_late_refusal_rolls_back_everything_the_run_wrote(
    store: str, forest: Any, data: Any
) -> None:
    """A refusal after a model was registered must not leave a version pointing at nothing."""
    before = store_contents(store)
    tracker = ExperimentTracker("mushroom/demo")
    with pytest.raises(ConventionError, match="MLG602"), tracker.start_run():
        tracker.log_metrics({"accuracy": 0.9})
        tracker.log_model(forest, input_example=data[0][:1], registered_model_name="good_model")
        tracker.log_params({"notes": "x" * 7000})
    assert store_contents(store) == before
    leftovers = [p for p in (Path.cwd() / "mlruns").rglob("*") if p.is_file()]
    assert leftovers == []  # no model files or run artifacts left on disk

    # into an experiment that already exists: it stays, the refused run's traces do not
    kept = ExperimentTracker("mushroom/kept")
    with kept.start_run():
        pass
    with pytest.raises(ConventionError), kept.start_run():
        kept.log_model(forest, input_example=data[0][:1], registered_model_name="good_model")
        kept.set_tags({"run.mode": "serving"})
    contents = store_contents(store)
    assert contents["models"] == [] and len(contents["runs"]) == 1
    assert "mushroom/kept" in contents["experiments"]
    models_dirs = [p for p in (Path.cwd() / "mlruns").rglob("m-*") if p.is_dir()]
    assert models_dirs == []


@pytest.mark.server
def test_refusal_over_rest_leaves_nothing_active(
    server: str, forest: Any, data: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Over HTTP only soft deletes exist: the refused attempt must vanish from the active view."""
    import mlflow
    from mlflow.entities import ViewType

    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(None)
    c = client(server)
    tracker = ExperimentTracker("mushroom/rest_demo", tracking_uri=server)
    try:
        with pytest.raises(ConventionError, match="MLG103"), tracker.start_run():
            tracker.log_params({"lr": 0.1})
            tracker.log_model(forest, input_example=data[0][:1], registered_model_name="MyModel")
        with pytest.raises(ConventionError, match="MLG602"), tracker.start_run():
            tracker.log_model(forest, input_example=data[0][:1], registered_model_name="rest_ok")
            tracker.log_params({"notes": "x" * 6000})
    finally:
        mlflow.set_tracking_uri(None)
    active = [e.name for e in c.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    assert "mushroom/rest_demo" not in active
    # the server is shared by the session: look only at what this test touched
    assert {m.name for m in c.search_registered_models()} & {"MyModel", "rest_ok"} == set()
    ours = c.get_experiment_by_name("mushroom/rest_demo")
    runs = c.search_runs([ours.experiment_id], run_view_type=ViewType.ALL)
    assert len(runs) == 2
    assert all(r.info.lifecycle_stage == "deleted" for r in runs)
    assert all(r.info.status == "FAILED" for r in runs)  # none left RUNNING
    # a later, valid run restores the experiment, but not the refused runs deleted with it
    try:
        with tracker.start_run() as ok:
            tracker.log_params({"lr": 0.1})
    finally:
        mlflow.set_tracking_uri(None)
    active_runs = c.search_runs([ok.info.experiment_id], run_view_type=ViewType.ACTIVE_ONLY)
    assert [r.info.run_id for r in active_runs] == [ok.info.run_id]


def test_overrides_apply_to_the_tracker_as_to_the_gate(store: str) -> None:
    from pytest_mlflow_guard.config import from_mapping

    config = from_mapping(
        {"overrides": [{"experiments": ["explore/*"], "allowed-values": {"run.mode": ["debug"]}}]}
    )
    ExperimentTracker("explore/x", run_mode="debug", config=config)
    with pytest.raises(ConventionError, match="MLG202"):
        ExperimentTracker("mushroom/demo", run_mode="debug", config=config)


def test_tracker_and_gate_read_the_same_pyproject(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "team"
    (project / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[tool.mlflow-guard]\nexperiment-name-pattern = "^vision/[a-z_]+$"\n'
        'allowed-values = { "run.mode" = ["training", "backfill"] }\n'
    )
    monkeypatch.chdir(project / "sub")  # found by walking up from the working directory
    with pytest.raises(ConventionError, match=r"MLG101.*\^vision/"):
        ExperimentTracker("mushroom/demo")
    tracker = ExperimentTracker("vision/offline", run_mode="backfill")
    with pytest.raises(ConventionError, match="MLG202"):
        ExperimentTracker("vision/offline", run_mode="validation")
    with tracker.start_run(run_name="r1"):
        pass
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=store).create_experiment("mushroom/demo")  # made behind its back
    from pytest_mlflow_guard.cli import main

    main(["check", "--format", "json", "--select", "MLG101,MLG202"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    flagged = {(f["rule"], f["object_type"]) for f in findings}
    assert ("MLG101", "experiment") in flagged  # mushroom/demo breaks this team's pattern
    assert not any(f["rule"] == "MLG202" for f in findings)  # backfill is allowed here


def test_a_failed_rollback_does_not_hide_the_refusal(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlflow_guard.mlflow_io import writer

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("store went away")

    monkeypatch.setattr(writer, "discard_run", broken)
    tracker = ExperimentTracker("mushroom/demo")
    with (
        pytest.warns(UserWarning, match="could not roll back refused run .* store went away"),
        pytest.raises(ConventionError, match="MLG202"),
        tracker.start_run() as run,
    ):
        tracker.set_tags({"run.mode": "serving"})
    assert client(store).get_run(run.info.run_id).info.status == "FAILED"  # not left RUNNING

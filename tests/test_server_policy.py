"""The tracking-server app's decisions, in-process: MLflow's own Flask handlers on a real sqlite
store, guarded by the app's hooks, driven through Flask's test client (the real-server tests are
in test_server_app.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_mlflow_guard.config import GuardConfig, from_mapping
from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.server.policy import Policy, server_mode

API = "/api/2.0/mlflow"
AJAX = "/ajax-api/2.0/mlflow"
SHA = "0123456789abcdef0123456789abcdef01234567"

#: every route the app claims to guard, as MLflow's REST reference names it
GUARDED = {
    ("experiments/create", "POST"): "CreateExperiment",
    ("experiments/update", "POST"): "UpdateExperiment",
    ("runs/create", "POST"): "CreateRun",
    ("runs/set-tag", "POST"): "SetTag",
    ("runs/log-batch", "POST"): "LogBatch",
    ("runs/update", "POST"): "UpdateRun",
    ("registered-models/create", "POST"): "CreateRegisteredModel",
    ("registered-models/rename", "POST"): "RenameRegisteredModel",
    ("model-versions/create", "POST"): "CreateModelVersion",
    ("model-versions/transition-stage", "POST"): "TransitionModelVersionStage",
    ("registered-models/alias", "POST"): "SetRegisteredModelAlias",
    ("registered-models/alias", "DELETE"): "DeleteRegisteredModelAlias",
}

Client = Any  # flask.testing.FlaskClient


@pytest.fixture
def guarded_client(
    tmp_path: Path, _template_db: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Client]]:
    """Build a Flask test client for MLflow's handlers on a fresh sqlite store, guarded by a
    policy with the given mode and ``[tool.mlflow-guard]`` settings."""
    import mlflow.server.handlers as handlers
    from flask import Flask

    from pytest_mlflow_guard.server.app import install

    db = tmp_path / "server" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(_template_db, db)
    monkeypatch.setenv("_MLFLOW_SERVER_FILE_STORE", f"sqlite:///{db}")
    monkeypatch.setenv("_MLFLOW_SERVER_ARTIFACT_ROOT", str(db.parent / "artifacts"))
    monkeypatch.chdir(db.parent)
    # MLflow's handlers keep the store of the process in module globals, and point the
    # process's tracking and registry URIs (globals and environment) at it: all of it is this
    # test's only, and restored afterwards
    monkeypatch.setattr(handlers, "_tracking_store", None)
    monkeypatch.setattr(handlers, "_model_registry_store", None)
    monkeypatch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri", None)
    monkeypatch.setattr("mlflow.tracking._model_registry.utils._registry_uri", None)
    for variable in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        # set first: monkeypatch restores only what it saw, and a variable that was absent
        # would otherwise keep the value MLflow gives it
        monkeypatch.setenv(variable, "")
        monkeypatch.delenv(variable)

    def build(mode: str = "enforce", **settings: Any) -> Client:
        app = Flask(f"guarded-{mode}")
        for path, handler, methods in handlers.get_endpoints():
            app.add_url_rule(path, handler.__name__, handler, methods=methods)
        install(app, Policy(from_mapping(settings) if settings else GuardConfig(), mode))
        return app.test_client()

    yield build


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_json()
    return dict(response.get_json())


def _refused(response: Any, code: str) -> str:
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert code in body["message"]
    return str(body["message"])


def _experiment(client: Client, name: str = "mushroom/server") -> str:
    return str(_ok(client.post(f"{API}/experiments/create", json={"name": name}))["experiment_id"])


def _run(client: Client, experiment_id: str, **tags: str) -> str:
    body = {
        "experiment_id": experiment_id,
        "tags": [{"key": k, "value": v} for k, v in tags.items()],
    }
    return str(_ok(client.post(f"{API}/runs/create", json=body))["run"]["info"]["run_id"])


def _run_tags(client: Client, run_id: str) -> dict[str, str]:
    run = _ok(client.get(f"{API}/runs/get", query_string={"run_id": run_id}))["run"]
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def test_every_guarded_route_is_in_mlflows_handler_table() -> None:
    # an MLflow upgrade that renames or drops one of these fails here, not silently in production
    from pytest_mlflow_guard.server.app import guarded_endpoints

    table = {(path, method): cls.__name__ for (path, method), cls in guarded_endpoints().items()}
    for (route, method), name in GUARDED.items():
        for prefix in (API, AJAX):
            assert table.get((f"{prefix}/{route}", method)) == name, (prefix, route, method)
    assert set(table.values()) == set(GUARDED.values())


def test_names_are_refused_with_the_rule_and_what_was_expected(
    guarded_client: Callable[..., Client],
) -> None:
    client = guarded_client()
    message = _refused(
        client.post(f"{AJAX}/experiments/create", json={"name": "Bad Name"}), "MLG101"
    )
    assert "'Bad Name'" in message and "{project}/{module}" in message
    listed = _ok(client.post(f"{API}/experiments/search", json={"max_results": 100}))
    assert "Bad Name" not in {e["name"] for e in listed["experiments"]}
    experiment_id = _experiment(client, "mushroom/server_ok")
    _refused(
        client.post(
            f"{API}/experiments/update",
            json={"experiment_id": experiment_id, "new_name": "Renamed"},
        ),
        "MLG101",
    )
    _refused(client.post(f"{API}/registered-models/create", json={"name": "BadModel"}), "MLG103")
    _ok(client.post(f"{API}/registered-models/create", json={"name": "good_model"}))
    _refused(
        client.post(
            f"{API}/registered-models/rename", json={"name": "good_model", "new_name": "Bad"}
        ),
        "MLG103",
    )


def test_a_version_without_a_run_is_refused_without_its_credentials(
    guarded_client: Callable[..., Client],
) -> None:
    client = guarded_client()
    _ok(client.post(f"{API}/registered-models/create", json={"name": "good_model"}))
    body = {"name": "good_model", "source": "https://alice:s3cr3t-pw@models.example.com/m"}
    message = _refused(client.post(f"{API}/model-versions/create", json=body), "MLG304")
    assert "no source run" in message and "s3cr3t-pw" not in message
    search = {"filter": "name='good_model'"}
    versions = _ok(client.get(f"{API}/model-versions/search", query_string=search))
    assert versions.get("model_versions", []) == []


@pytest.mark.parametrize("name", ["o'brien", 'it\'s "x"'])
def test_a_second_production_version_is_refused_whatever_the_name(
    guarded_client: Callable[..., Client], name: str
) -> None:
    # names a filter has to quote (or cannot express at all) still find the model's versions
    off = {"MLG303": "off", "MLG304": "off"}
    client = guarded_client(**{"registered-model-name-pattern": ".+", "severity": off})
    _ok(client.post(f"{API}/registered-models/create", json={"name": name}))
    run_id = _run(client, _experiment(client))
    version = {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id}
    for _ in range(2):
        _ok(client.post(f"{API}/model-versions/create", json=version))
    move = {"name": name, "stage": "Production", "archive_existing_versions": False}
    _ok(client.post(f"{API}/model-versions/transition-stage", json={**move, "version": "1"}))
    second = client.post(f"{API}/model-versions/transition-stage", json={**move, "version": "2"})
    _refused(second, "MLG401")


def test_prompts_are_not_models(guarded_client: Callable[..., Client]) -> None:
    client = guarded_client()
    prompt = {
        "name": "Summarise Prompt",
        "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}],
    }
    _ok(client.post(f"{API}/registered-models/create", json=prompt))


def test_run_tags_are_judged_when_they_are_written(guarded_client: Callable[..., Client]) -> None:
    client = guarded_client()
    experiment_id = _experiment(client)
    _refused(
        client.post(
            f"{API}/runs/create",
            json={"experiment_id": experiment_id, "tags": [{"key": "run.mode", "value": "train"}]},
        ),
        "MLG202",
    )
    listed = _ok(client.post(f"{API}/runs/search", json={"experiment_ids": [experiment_id]}))
    assert listed.get("runs", []) == []  # refused before anything was written
    # required tags are known later: a run without them is created
    run_id = _run(client, experiment_id)
    set_tag = {"run_id": run_id, "key": "run.mode", "value": "bogus"}
    _refused(client.post(f"{API}/runs/set-tag", json=set_tag), "MLG202")
    batch = {"run_id": run_id, "tags": [{"key": "git.commit", "value": "HEAD"}]}
    _refused(client.post(f"{API}/runs/log-batch", json=batch), "MLG203")
    assert "run.mode" not in _run_tags(client, run_id) and "git.commit" not in _run_tags(
        client, run_id
    )
    good = {
        "run_id": run_id,
        "tags": [{"key": "git.commit", "value": SHA}, {"key": "run.mode", "value": "training"}],
        "metrics": [{"key": "acc", "value": 0.9, "timestamp": 0, "step": 0}],
    }
    _ok(client.post(f"{API}/runs/log-batch", json=good))
    # a refusal never keeps a run from ending
    _ok(
        client.post(
            f"{API}/runs/update", json={"run_id": run_id, "status": "FINISHED", "end_time": 1}
        )
    )
    tags = _run_tags(client, run_id)
    assert tags["git.commit"] == SHA and "mlflow_guard.findings" not in tags


def test_warnings_are_accepted_and_tagged_in_enforce_mode(
    guarded_client: Callable[..., Client],
) -> None:
    client = guarded_client()
    run_id = _run(client, _experiment(client))
    batch = {"run_id": run_id, "params": [{"key": "features", "value": "x" * 6000}]}
    _ok(client.post(f"{API}/runs/log-batch", json=batch))  # MLG602 is a warning
    assert _run_tags(client, run_id)["mlflow_guard.findings"] == "MLG602"


def test_run_names_only_when_the_team_has_a_pattern(guarded_client: Callable[..., Client]) -> None:
    plain = guarded_client()
    experiment_id = _experiment(plain)
    _run(plain, experiment_id, **{"mlflow.runName": "Whatever Name"})
    client = guarded_client(**{"run-name-pattern": "^[a-z0-9_]+$"})
    body = {"experiment_id": experiment_id, "run_name": "Whatever Name"}
    _refused(client.post(f"{API}/runs/create", json=body), "MLG102")
    run_id = _run(client, experiment_id, **{"mlflow.runName": "baseline_1"})
    rename = {"run_id": run_id, "run_name": "Not Allowed"}
    _refused(client.post(f"{API}/runs/update", json=rename), "MLG102")


def test_warn_mode_accepts_and_tags_every_object(guarded_client: Callable[..., Client]) -> None:
    client = guarded_client("warn")
    experiment_id = _experiment(client, "Bad Name")
    experiment = _ok(
        client.get(f"{API}/experiments/get", query_string={"experiment_id": experiment_id})
    )
    tags = {t["key"]: t["value"] for t in experiment["experiment"].get("tags", [])}
    assert tags["mlflow_guard.findings"] == "MLG101"
    run_id = _run(client, experiment_id, **{"run.mode": "train"})
    _ok(
        client.post(
            f"{API}/runs/set-tag", json={"run_id": run_id, "key": "git.commit", "value": "abc"}
        )
    )
    assert _run_tags(client, run_id)["mlflow_guard.findings"] == "MLG202,MLG203"
    _ok(client.post(f"{API}/registered-models/create", json={"name": "BadModel"}))
    model = _ok(client.get(f"{API}/registered-models/get", query_string={"name": "BadModel"}))
    tags = {t["key"]: t["value"] for t in model["registered_model"].get("tags", [])}
    assert tags["mlflow_guard.findings"] == "MLG103"


def test_overrides_apply_per_experiment(guarded_client: Callable[..., Client]) -> None:
    settings = {"overrides": [{"experiments": ["sandbox/*"], "severity": {"MLG202": "off"}}]}
    client = guarded_client(**settings)
    sandbox = _experiment(client, "sandbox/tries")
    _run(client, sandbox, **{"run.mode": "train"})
    _refused(
        client.post(
            f"{API}/runs/create",
            json={
                "experiment_id": _experiment(client),
                "tags": [{"key": "run.mode", "value": "train"}],
            },
        ),
        "MLG202",
    )


def test_a_guard_that_cannot_check_refuses_rather_than_passes(
    guarded_client: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import pytest_mlflow_guard.server.writes as writes

    client = guarded_client()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk on fire, password=hunter2")

    monkeypatch.setattr(writes.Policy, "experiment", broken)
    response = client.post(f"{API}/experiments/create", json={"name": "mushroom/x"})
    assert response.status_code == 500
    message = response.get_json()["message"]
    assert "could not check" in message and "hunter2" not in message
    assert "disk on fire" in caplog.text and "hunter2" not in caplog.text  # nor in the log
    listed = _ok(client.post(f"{API}/experiments/search", json={"max_results": 100}))
    assert "mushroom/x" not in {e["name"] for e in listed["experiments"]}


def test_a_bad_mode_or_config_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="MLFLOW_GUARD_SERVER_MODE='strict'"):
        server_mode("strict")
    assert server_mode(None) == "enforce" and server_mode(" Warn ") == "warn"
    with pytest.raises(ConfigError, match="MLG999"):
        Policy(from_mapping({"ignore": ["MLG999"]}))

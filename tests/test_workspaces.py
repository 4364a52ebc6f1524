"""MLflow workspaces (3.10+): a store keeps experiments and models per workspace, names repeat
across them, and a request sees one workspace only. The gate reads every workspace by default,
names each finding's workspace, and reports one it could not read; ``fix``, ``--annotate``,
``history`` and the server app work inside the object's own workspace.

Real stores throughout: a sqlite database filled by MLflow's own client with workspaces on (in a
child process: MLflow caches its stores per URI), and real ``mlflow server --enable-workspaces``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")
pytest.importorskip(
    "mlflow.utils.workspace_context", reason=f"MLflow {mlflow.__version__} has no workspaces"
)

from guard_testing import running_server  # noqa: E402

from pytest_mlflow_guard.cli import main  # noqa: E402
from pytest_mlflow_guard.mlflow_io import sql_schema  # noqa: E402
from pytest_mlflow_guard.mlflow_io.connect import bounded_http  # noqa: E402
from pytest_mlflow_guard.mlflow_io.reader import StoreReader  # noqa: E402
from pytest_mlflow_guard.mlflow_io.sql_reader import SqlStoreReader  # noqa: E402
from pytest_mlflow_guard.records import Record  # noqa: E402

GOOD_TAGS = {
    "os.user": "alice",
    "git.commit": "0123456789abcdef0123456789abcdef01234567",
    "source.type": "script",
    "model.type": "sklearn",
    "run.mode": "training",
}

#: what each store holds: a conforming experiment in "default", a misnamed experiment with an
#: untagged run in "team-b", and models "churn" and "promoted" in both (one name, two objects)
FILL = """
import sys
import mlflow
from mlflow import MlflowClient
from mlflow.utils.workspace_context import WorkspaceContext

good = {good!r}
client = MlflowClient(tracking_uri=sys.argv[1])
client.create_workspace("team-b")
ids = {{}}
for workspace, experiment, tags in (
    ("default", "team/ok", good),
    ("team-b", "Bad Name", {{}}),
):
    with WorkspaceContext(workspace):
        exp = client.create_experiment(experiment)
        run = client.create_run(exp, tags=tags, run_name="r-" + workspace)
        client.set_terminated(run.info.run_id)
        for model in ("churn", "promoted"):
            client.create_registered_model(model)
            source = "runs:/" + run.info.run_id + "/model"
            client.create_model_version(model, source, run.info.run_id)
        ids[workspace] = run.info.run_id
print(ids["default"], ids["team-b"])
"""


def fill(uri: str, cwd: Path, **env: str) -> dict[str, str]:
    """The objects above, written by MLflow's own client; the run id in each workspace."""
    done = subprocess.run(
        [sys.executable, "-c", FILL.format(good=GOOD_TAGS), uri],
        cwd=cwd,  # a database store's artifacts go to ./mlruns
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    default, team_b = done.stdout.split()
    return {"default": default, "team-b": team_b}


def check(*args: str) -> tuple[int, dict[str, Any]]:
    """``mlflow-guard check ARGS --format json``: exit code and document."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["check", *args, "--format", "json"])
    return code, json.loads(out.getvalue()) if out.getvalue() else {}


def placed(report: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(f["rule"], f["object_id"], f.get("workspace")) for f in report["findings"]}


# --------------------------------------------------------------------------- a database


@pytest.fixture(scope="module")
def workspace_db(_template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    root = tmp_path_factory.mktemp("workspace-db")
    shutil.copy(_template_db, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    ids = fill(uri, root, MLFLOW_ENABLE_WORKSPACES="true")
    return uri, ids


def test_a_database_with_workspaces_is_checked_in_every_one(workspace_db: tuple[str, Any]) -> None:
    uri, ids = workspace_db
    code, report = check("--tracking-uri", uri)
    assert code == 1
    found = placed(report)
    # the violation in team-b is found without asking for it, and named with its workspace
    assert ("MLG101", report_id(report, "Bad Name"), "team-b") in found
    assert ("MLG201", ids["team-b"], "team-b") in found
    # the conforming run is in "default": what is said of it says so (never team-b)
    on_default = {(rule, ws) for rule, run, ws in found if run == ids["default"]}
    assert on_default and {ws for _, ws in on_default} == {"default"}
    assert ("MLG201", "default") not in on_default
    assert report["checked"]["experiments"] == 2 and report["checked"]["registered_models"] == 4
    assert not report.get("notes")  # read with SQL: no fallback to MLflow's client


def experiment_of(report: dict[str, Any], run_id: str) -> str:
    return str(next(f["experiment_id"] for f in report["findings"] if f["run_id"] == run_id))


def report_id(report: dict[str, Any], name: str) -> str:
    (experiment,) = [
        f["object_id"] for f in report["findings"] if f["rule"] == "MLG101" and name in f["message"]
    ]
    return str(experiment)


def test_workspace_narrows_and_a_name_the_store_lacks_exits_2(
    workspace_db: tuple[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    uri, _ = workspace_db
    code, report = check("--tracking-uri", uri, "--workspace", "default")
    assert {w for *_, w in placed(report)} == {"default"}
    code, report = check("--tracking-uri", uri, "--workspace", "team-b")
    assert code == 1 and {w for *_, w in placed(report)} == {"team-b"}
    capsys.readouterr()
    assert main(["check", "--tracking-uri", uri, "--workspace", "team-z"]) == 2
    err = capsys.readouterr().err
    assert "--workspace 'team-z'" in err and "has no such workspace" in err
    assert "default, team-b" in err and "Traceback" not in err
    assert main(["check", "--tracking-uri", uri, "--workspace", "Team B"]) == 2
    assert "--workspace: 'Team B' is not a workspace name" in capsys.readouterr().err


def test_the_same_model_name_in_two_workspaces_is_two_models(
    workspace_db: tuple[str, Any],
) -> None:
    uri, ids = workspace_db
    records = list(SqlStoreReader(uri, sql_schema.open_readonly(uri)).iter_records())
    models = [(r.name, r.workspace) for r in records if type(r).__name__ == "RegisteredModelRecord"]
    assert models == [
        ("churn", "default"), ("promoted", "default"), ("churn", "team-b"), ("promoted", "team-b"),
    ]  # fmt: skip
    runs = {r.run_id: r.workspace for r in records if type(r).__name__ == "RunRecord"}
    assert runs == {ids["default"]: "default", ids["team-b"]: "team-b"}


# --------------------------------------------------------------------------- a server


@pytest.fixture(scope="module")
def workspace_server(
    _template_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, dict[str, str]]]:
    # filled first (the guard's app would refuse versions without a model), then served by it
    root = tmp_path_factory.mktemp("workspace-server")
    shutil.copy(_template_db, root / "mlflow.db")
    database = f"sqlite:///{root / 'mlflow.db'}"
    env = {"MLFLOW_ENABLE_WORKSPACES": "true"}
    ids = fill(database, root, **env)
    os.environ.pop("MLFLOW_WORKSPACE", None)  # a client-side setting the server refuses
    app = "mlflow-guard"
    with running_server(root, _template_db, app, env, backend_uri=database) as (url, _):
        yield url, database, ids


@pytest.mark.server
def test_check_over_a_workspace_server_finds_the_other_workspace(
    workspace_server: tuple[str, str, dict[str, str]],
) -> None:
    url, _, ids = workspace_server
    code, report = check("--tracking-uri", url)
    assert code == 1
    assert ("MLG201", ids["team-b"], "team-b") in placed(report)
    urls = {f["url"] for f in report["findings"] if f["object_id"] == ids["team-b"]}
    assert {url.split("/#/")[1] for url in urls} == {  # the link MLflow's UI itself gives
        f"experiments/{experiment_of(report, ids['team-b'])}/runs/{ids['team-b']}?workspace=team-b"
    }


@pytest.mark.server
def test_both_readers_give_the_same_records_on_a_workspace_store(
    workspace_server: tuple[str, str, dict[str, str]],
) -> None:
    url, database, _ = workspace_server
    with bounded_http():
        api: list[Record] = list(StoreReader(url).iter_records())
    engine = sql_schema.open_readonly(database)
    sql = list(SqlStoreReader(database, engine, artifacts_server=url).iter_records())
    assert sql == api
    assert {getattr(r, "workspace", None) for r in api} == {"default", "team-b"}


@pytest.mark.server
def test_a_workspace_that_cannot_be_read_is_reported_not_skipped(
    workspace_server: tuple[str, str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlflow_guard.mlflow_io import reader, workspaces

    url, _, ids = workspace_server
    real = workspaces.listed
    # a workspace deleted between the listing and its turn: the server answers 404 for it
    monkeypatch.setattr(reader, "listed", lambda *a: (*real(*a), "team-gone"))
    code, report = check("--tracking-uri", url)
    assert code == 1
    (lost,) = [f for f in report["findings"] if f["object_type"] == "workspace"]
    assert lost["rule"] == "MLG004" and lost["object_id"] == "team-gone"
    assert "could not be checked" in lost["message"] and "team-gone" in lost["message"]
    assert ("MLG201", ids["team-b"], "team-b") in placed(report)  # the others still checked


@pytest.mark.server
def test_annotate_and_fix_write_in_the_objects_own_workspace(
    workspace_server: tuple[str, str, dict[str, str]],
) -> None:
    from mlflow import MlflowClient
    from mlflow.utils.workspace_context import WorkspaceContext

    url, _, ids = workspace_server
    code, _ = check("--tracking-uri", url, "--annotate")
    assert code == 1
    client = MlflowClient(tracking_uri=url)
    with WorkspaceContext("team-b"):
        tags = client.get_run(ids["team-b"]).data.tags
    assert tags["mlflow_guard.status"] == "fail" and "MLG201" in tags["mlflow_guard.findings"]
    default = client.get_run(ids["default"]).data.tags  # annotated too, in its own workspace
    assert "MLG201" not in default["mlflow_guard.findings"]

    with WorkspaceContext("team-b"):
        client.transition_model_version_stage("churn", "1", "Staging")
    assert main(["fix", "--tracking-uri", url, "--workspace", "team-b", "--apply"]) in (0, 1)
    with WorkspaceContext("team-b"):
        assert client.get_registered_model("churn").aliases == {"staging": "1"}
    assert client.get_registered_model("churn").aliases == {}  # default's model: untouched


def _post(url: str, path: str, body: dict[str, Any], workspace: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-MLFLOW-WORKSPACE": workspace},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.server
def test_the_server_app_judges_and_records_inside_the_request_workspace(
    workspace_server: tuple[str, str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = workspace_server
    status, body = _post(url, "/api/2.0/mlflow/experiments/create", {"name": "Nope"}, "team-b")
    assert status == 400 and "MLG101" in body["message"]
    # the promotion is judged and recorded on team-b's model, where the request was made
    path = "/api/2.0/mlflow/model-versions/transition-stage"
    move = {"name": "promoted", "version": "1", "stage": "Production"}
    status, _ = _post(url, path, {**move, "archive_existing_versions": False}, "team-b")
    assert status == 200
    capsys.readouterr()
    assert main(["history", "promoted", "--tracking-uri", url, "--workspace", "team-b"]) == 0
    assert "Production" in capsys.readouterr().out
    assert main(["history", "promoted", "--tracking-uri", url]) == 0  # default's: untouched
    assert "Production" not in capsys.readouterr().out

"""`mlflow-guard check` end to end on real sqlite stores built with MLflow itself."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from pytest_mlflow_guard import ExperimentTracker
from pytest_mlflow_guard.cli import main

SHA = "a" * 40
CLEAN_TAGS = {
    "os.user": "alice",
    "git.commit": SHA,
    "git.dirty": "false",
    "source.type": "script",
    "model.type": "LogisticRegression",
    "run.mode": "training",
    "source.command": "python train.py --C 1.0",
}


def _repo(path: Path) -> Path:
    path.mkdir()
    for args in (
        ["init", "-q"],
        [
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "init",
        ],
    ):
        subprocess.run(["git", *args], cwd=path, check=True)
    return path


class StoreBuilder:
    def __init__(self, uri: str, repo: Path) -> None:
        from mlflow import MlflowClient

        from pytest_mlflow_guard.mlflow_io.stores import ensure_sqlite_store

        ensure_sqlite_store(uri)  # a copy of the migrated template, not a migration per store
        self.uri = uri
        self.repo = repo
        self.client = MlflowClient(tracking_uri=uri)
        rng = np.random.default_rng(0)
        self.X = rng.random((40, 3))
        self.model = LogisticRegression().fit(self.X, (self.X[:, 0] > 0.5).astype(int))
        self.expected: dict[tuple[str, str], set[str]] = {}

    def experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found:
            return str(found.experiment_id)
        # beside the database: MLflow's default (./mlruns of the cwd) would be the checkout's
        folder = (
            Path(self.uri.removeprefix("sqlite:///")).parent / "artifacts" / name.replace("/", "_")
        )
        return str(self.client.create_experiment(name, artifact_location=folder.as_uri()))

    def run(
        self,
        exp: str,
        name: str = "20260101-000000_alice",
        tags: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
        params: dict[str, str] | None = None,
        requirements: bool = True,
        end: bool = True,
        start_time: int | None = None,
    ) -> str:
        all_tags = {k: v for k, v in {**CLEAN_TAGS, **(tags or {})}.items() if k not in drop}
        run = self.client.create_run(exp, run_name=name, tags=all_tags, start_time=start_time)
        run_id = run.info.run_id
        for key, value in (params if params is not None else {"C": "1.0"}).items():
            self.client.log_param(run_id, key, value)
        if requirements:
            self.client.log_text(run_id, "numpy==2.0.0\n", "environment/requirements.txt")
        if end:
            self.client.set_terminated(run_id, "FINISHED")
        return run_id

    def tracked_version(self, model_name: str, stage: str = "None") -> tuple[str, str]:
        """A clean run (made by the tracker) that logs and registers a clean model."""
        tracker = ExperimentTracker("guard/models", tracking_uri=self.uri, code_path=self.repo)
        with tracker.start_run() as run:
            tracker.log_params({"C": 1.0})
            tracker.log_environment()
            info = tracker.log_model(
                self.model,
                name="model",
                input_example=self.X[:2],
                registered_model_name=model_name,
                stage=stage,
            )
        return run.info.run_id, str(info.registered_model_version)

    def model_run(self, exp: str, **log_kwargs: Any) -> tuple[str, Any]:
        import mlflow

        run_id = self.run(exp, end=False)
        mlflow.set_tracking_uri(self.uri)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.sklearn.log_model(self.model, name="model", **log_kwargs)
        return run_id, info

    def expect(self, object_type: str, object_id: str, *rules: str) -> None:
        self.expected[(object_type, object_id)] = set(rules)


def build_violations(b: StoreBuilder) -> None:
    from mlflow.models import infer_signature

    exp = b.experiment("guard/violations")
    b.expect("experiment", b.experiment("Bad Experiment"), "MLG101")
    b.expect("run", b.run(exp, name="bold-fox-123"), "MLG102")
    b.expect("run", b.run(exp, drop=("model.type",)), "MLG201")
    b.expect("run", b.run(exp, tags={"run.mode": "serving"}), "MLG202")
    b.expect("run", b.run(exp, tags={"git.commit": "abc123"}), "MLG203")
    b.expect("run", b.run(exp, tags={"git.dirty": "true"}), "MLG204")
    b.expect("run", b.run(exp, requirements=False), "MLG501")
    b.expect("run", b.run(exp, drop=("source.command",)), "MLG502")
    b.expect("run", b.run(exp, params={}), "MLG503")
    old = int((datetime.now(timezone.utc) - timedelta(days=2)).timestamp() * 1000)
    b.expect("run", b.run(exp, end=False, start_time=old), "MLG601")
    b.expect("run", b.run(exp, params={"notes": "x" * 6000}), "MLG602")

    _, nosig = b.model_run(exp, input_example=b.X[:2], signature=False)
    b.expect("logged_model", nosig.model_id, "MLG301")
    signature = infer_signature(b.X, b.model.predict(b.X))
    _, noexample = b.model_run(exp, signature=signature)
    b.expect("logged_model", noexample.model_id, "MLG302")
    version = (
        b.client.create_model_version(
            "nosig_model", nosig.model_uri, nosig.run_id, model_id=nosig.model_id
        )
        if b.client.create_registered_model("nosig_model")
        else None
    )
    assert version is not None
    b.expect("model_version", "nosig_model/1", "MLG303")

    orphan_run, _ = b.tracked_version("orphan_model")
    b.client.delete_run(orphan_run)
    b.expect("model_version", "orphan_model/1", "MLG304")

    b.tracked_version("twoprod_model")
    b.tracked_version("twoprod_model")
    for v in ("1", "2"):
        b.client.transition_model_version_stage("twoprod_model", v, "Production")
    b.expect("registered_model", "twoprod_model", "MLG401")
    # moved by the bare client: the stage changed, the @production alias did not follow
    b.expect("model_version", "twoprod_model/1", "MLG403")
    b.expect("model_version", "twoprod_model/2", "MLG403")

    b.tracked_version("stale_model", stage="Staging")
    long_ago = (datetime.now(timezone.utc) - timedelta(days=45)).isoformat()
    b.client.set_model_version_tag("stale_model", "1", "mlflow_guard.stage_since", long_ago)
    b.expect("model_version", "stale_model/1", "MLG402")

    b.client.create_registered_model("BadModel")
    b.expect("registered_model", "BadModel", "MLG103")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import mlflow

    root = tmp_path_factory.mktemp("stores")
    repo = _repo(root / "repo")
    result: dict[str, Any] = {}
    # a store's default artifact root is ./mlruns of the cwd: the checkout's, unless moved
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for kind in ("clean", "mixed"):
            db = root / kind / "mlflow.db"
            db.parent.mkdir()
            builder = StoreBuilder(f"sqlite:///{db}", repo)
            builder.tracked_version("clean_model", stage="Staging")
            if kind == "mixed":
                build_violations(builder)
            result[kind] = builder
    mlflow.set_tracking_uri(None)
    yield result
    mlflow.set_tracking_uri(None)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what the test printed while it built its store is not the CLI's
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_rule_fires_on_its_object_and_nothing_else(
    stores: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    b = stores["mixed"]
    code, out, _ = run_cli(capsys, "check", "--tracking-uri", b.uri, "--format", "json")
    report = json.loads(out)
    got: dict[tuple[str, str], set[str]] = defaultdict(set)
    for finding in report["findings"]:
        got[(finding["object_type"], finding["object_id"])].add(finding["rule"])
    assert dict(got) == b.expected
    assert code == 1
    assert report["summary"]["error"] == sum(
        1 for f in report["findings"] if f["severity"] == "error"
    )
    assert report["checked"]["registered_models"] == 6
    assert ("experiment", "0") not in got
    covered = {rule for rules in b.expected.values() for rule in rules}
    assert covered == {
        f"MLG{n}"
        for n in (
            101,
            102,
            103,
            201,
            202,
            203,
            204,
            301,
            302,
            303,
            304,
            401,
            402,
            403,
            501,
            502,
            503,
            601,
            602,
        )
    }


def test_clean_store_passes(stores: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "check", "--tracking-uri", stores["clean"].uri, "--format", "json"
    )
    report = json.loads(out)
    assert report["findings"] == []
    assert code == 0
    # MLflow's empty "Default" experiment is not reported: it breaks no rule until used
    assert report["checked"] == {
        "experiments": 1,
        "runs": 1,
        "logged_models": 1,
        "registered_models": 1,
        "model_versions": 1,
    }


def test_all_formats_parse(
    stores: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = stores["mixed"].uri
    args = ["check", "--tracking-uri", uri]
    for fmt in ("json", "junit", "sarif", "github"):
        args += ["--format", fmt, "--output", str(tmp_path / f"report.{fmt}")]
    code, out, _ = run_cli(capsys, *args, "--format", "text")
    assert code == 1
    findings = json.loads((tmp_path / "report.json").read_text())["findings"]
    suite = ET.parse(tmp_path / "report.junit").getroot()
    failures = suite.findall(".//testcase/failure")
    assert len(failures) == sum(1 for f in findings if f["severity"] == "error")
    sarif = json.loads((tmp_path / "report.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert len(results) == len(findings)
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert "Why" in rules["MLG201"]["help"]["text"]
    github = (tmp_path / "report.github").read_text().splitlines()
    assert github[0].startswith("::error title=MLG")
    assert github[-1].startswith("mlflow-guard: ")
    # text: rule code, name and message of a finding, plus the totals line
    assert "MLG202 tag-value" in out and "'serving'" in out
    assert "errors" in out


def test_select_ignore_and_severity(
    stores: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = stores["mixed"].uri
    _, out, _ = run_cli(
        capsys, "check", "--tracking-uri", uri, "--format", "json", "--select", "MLG201,tag-value"
    )
    assert {f["rule"] for f in json.loads(out)["findings"]} == {"MLG201", "MLG202"}
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.mlflow-guard]\nignore = ["MLG1"]\nseverity = { MLG204 = "error" }\n')
    code, out, err = run_cli(capsys, "check", "--tracking-uri", uri, "--config", str(config))
    assert code == 2 and "MLG1" in err and "MLG101" in err  # names the value, lists valid codes
    config.write_text(
        '[tool.mlflow-guard]\nignore = ["run-name"]\nseverity = { MLG204 = "error" }\n'
    )
    _, out, _ = run_cli(
        capsys, "check", "--tracking-uri", uri, "--config", str(config), "--format", "json"
    )
    findings = json.loads(out)["findings"]
    assert "MLG102" not in {f["rule"] for f in findings}
    assert [f["severity"] for f in findings if f["rule"] == "MLG204"] == ["error"]


def test_baseline_round_trip(
    stores: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = stores["mixed"].uri
    baseline = tmp_path / "baseline.json"
    code, _, _ = run_cli(capsys, "check", "--tracking-uri", uri, "--write-baseline", str(baseline))
    assert code == 0 and baseline.is_file()
    code, out, _ = run_cli(
        capsys, "check", "--tracking-uri", uri, "--baseline", str(baseline), "--format", "json"
    )
    report = json.loads(out)
    assert code == 0 and report["findings"] == []
    assert report["baseline"]["suppressed"] > 10 and report["baseline"]["fixed"] == 0
    # the clean store has none of those findings: every baselined one counts as fixed
    code, out, _ = run_cli(
        capsys,
        "check",
        "--tracking-uri",
        stores["clean"].uri,
        "--baseline",
        str(baseline),
        "--format",
        "json",
    )
    assert json.loads(out)["baseline"]["fixed"] == report["baseline"]["suppressed"]


def test_suppression_tag_on_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = StoreBuilder(f"sqlite:///{tmp_path / 's.db'}", _repo(tmp_path / "repo"))
    exp = b.experiment("guard/suppressed")
    b.run(
        exp,
        drop=("model.type",),
        tags={"mlflow_guard.ignore": "MLG201,MLG302", "mlflow_guard.ignore_reason": "legacy run"},
    )
    _, out, _ = run_cli(capsys, "check", "--tracking-uri", b.uri, "--format", "json")
    assert [f["rule"] for f in json.loads(out)["findings"]] == ["MLG001"]  # MLG302 unused


def test_unreachable_server_fails_fast(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    started = time.monotonic()
    code, _, err = run_cli(capsys, "check", "--tracking-uri", f"http://127.0.0.1:{port}")
    assert code == 2
    assert time.monotonic() - started < 30
    assert f"127.0.0.1:{port}" in err and "cannot reach" in err


def test_malformed_config_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.db"
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.mlflow-guard]\nstale-staging-dayz = 3\n")
    code, _, err = run_cli(
        capsys, "check", "--tracking-uri", f"sqlite:///{db}", "--config", str(config)
    )
    assert code == 2 and "stale-staging-dayz" in err and "stale-staging-days" in err
    config.write_text('[tool.mlflow-guard]\nexperiment-name-pattern = "([a-z"\n')
    code, _, err = run_cli(capsys, "check", "--config", str(config), "--tracking-uri", "x")
    assert code == 2 and "experiment-name-pattern" in err
    assert not db.exists()  # nothing was created while refusing the config


def test_rules_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "rules", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and {r["code"] for r in rows} >= {"MLG101", "MLG602"}
    assert set(rows[0]) == {"code", "name", "severity", "summary"}
    code, out, _ = run_cli(capsys, "rules", "required-tag")
    assert out.startswith("MLG201 required-tag (default: error)") and "Fix" in out
    code, _, err = run_cli(capsys, "rules", "MLG999")
    assert code == 2 and "MLG999" in err


def test_readme_rule_table_is_generated_from_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    main(["rules", "--format", "markdown"])
    table = capsys.readouterr().out
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert table in readme, "README rules table is stale: regenerate it"


def test_console_script_runs_as_a_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_mlflow_guard.cli", "rules"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "MLG201" in proc.stdout


def test_default_experiment_is_checked_once_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # "Default" keeps its artifacts in ./mlruns of the cwd
    b = StoreBuilder(f"sqlite:///{tmp_path / 'd.db'}", _repo(tmp_path / "repo"))
    b.experiment("guard/ok")
    _, out, _ = run_cli(capsys, "check", "--tracking-uri", b.uri, "--format", "json")
    assert json.loads(out)["findings"] == []
    b.run("0")  # someone logged into "Default" without choosing an experiment
    _, out, _ = run_cli(capsys, "check", "--tracking-uri", b.uri, "--format", "json")
    assert [(f["rule"], f["object_id"]) for f in json.loads(out)["findings"]] == [("MLG101", "0")]


# --- review fixes: configuration, errors, the store itself, run names ------------------------


def test_override_ignore_adds_to_top_level_and_command_line_ignore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = StoreBuilder(f"sqlite:///{tmp_path / 'o.db'}", _repo(tmp_path / "repo"))
    dirty = b.run(b.experiment("legacy/old"), tags={"git.dirty": "true"}, drop=("model.type",))
    config = tmp_path / "pyproject.toml"
    config.write_text(
        '[tool.mlflow-guard]\nignore = ["MLG204"]\n\n'
        '[[tool.mlflow-guard.overrides]]\nexperiments = ["legacy/*"]\nignore = ["MLG201"]\n'
    )
    args = ("check", "--tracking-uri", b.uri, "--format", "json", "--config", str(config))
    code, out, _ = run_cli(capsys, *args)
    assert (code, json.loads(out)["findings"]) == (0, [])
    config.write_text(
        '[tool.mlflow-guard]\n[[tool.mlflow-guard.overrides]]\nexperiments = ["legacy/*"]\n'
        'ignore = ["MLG201"]\n'
    )
    code, out, _ = run_cli(capsys, *args)
    assert [(f["rule"], f["object_id"]) for f in json.loads(out)["findings"]] == [("MLG204", dirty)]
    code, out, _ = run_cli(capsys, *args, "--ignore", "dirty-tree")
    assert (code, json.loads(out)["findings"]) == (0, [])


def test_broken_nearest_pyproject_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    b = StoreBuilder(f"sqlite:///{tmp_path / 'b.db'}", _repo(tmp_path / "repo"))
    b.run(b.experiment("guard/ok"), drop=("model.type",))  # MLG201 unless "owner" replaces it
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlflow-guard]\nignore = ["MLG201"\nrequired-tags = ["owner"]\n'
    )
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    code, out, err = run_cli(capsys, "check", "--tracking-uri", b.uri)
    assert (code, out) == (2, "")
    assert f"{tmp_path / 'pyproject.toml'}: not valid TOML" in err


def test_unwritable_output_fails_before_reading_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing_store = f"sqlite:///{tmp_path / 'never-read.db'}"
    for option in (["--format", "json", "--output"], ["--write-baseline"]):
        code, _, err = run_cli(
            capsys, "check", "--tracking-uri", missing_store, *option, "/nonexistent/dir/r.json"
        )
        assert code == 2, err
        assert "/nonexistent/dir/r.json" in err and "does not exist" in err
        assert "never-read.db" not in err and "Traceback" not in err
    code, _, err = run_cli(
        capsys, "check", "--tracking-uri", missing_store, "--format", "json", "--output", "."
    )
    assert code == 2 and "is a directory" in err


def test_config_that_is_a_directory_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys, "check", "--tracking-uri", f"sqlite:///{tmp_path}/x.db", "--config", str(tmp_path)
    )
    assert code == 2 and f"cannot read config file {tmp_path}" in err


def test_database_without_driver_exits_2_without_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import importlib.util

    if importlib.util.find_spec("psycopg2") is not None:
        pytest.skip("psycopg2 is installed: MLflow would retry the connection for minutes")
    uri = "postgresql+psycopg2://u:s3cret@127.0.0.1:1/db?sslpassword=k3y"
    code, _, err = run_cli(capsys, "check", "--tracking-uri", uri)
    assert code == 2
    assert err.startswith("mlflow-guard: error: ") and "psycopg2" in err
    assert "s3cret" not in err and "k3y" not in err


def test_sqlalchemy_error_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    # MLflow reads the URI form's path as relative and makes a `file:` folder in the cwd
    monkeypatch.chdir(tmp_path)

    b = StoreBuilder(f"sqlite:///{tmp_path / 'l.db'}", _repo(tmp_path / "repo"))
    b.experiment("guard/ok")
    lock = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # every reader now gets "database is locked"
        # a sqlite URI in SQLAlchemy's URI form is not probed first: MLflow meets the lock
        uri = f"sqlite:///file:{tmp_path / 'l.db'}?mode=ro&uri=true&timeout=0.1"
        code, _, err = run_cli(capsys, "check", "--tracking-uri", uri)
    finally:
        lock.close()
    assert code == 2, err
    assert err.startswith("mlflow-guard: error: ")
    assert "database error:" in err and "database is locked" in err


def test_empty_sqlite_file_is_no_store_and_stays_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    before = empty.stat()
    code, out, err = run_cli(capsys, "check", "--tracking-uri", f"sqlite:///{empty}")
    assert (code, out) == (2, "")
    assert f"{empty} has no MLflow tables" in err
    after = empty.stat()
    assert (after.st_size, after.st_mtime_ns) == (0, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]  # no journal, no mlruns


def test_human_run_names_of_the_generated_shape_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = StoreBuilder(f"sqlite:///{tmp_path / 'n.db'}", _repo(tmp_path / "repo"))
    exp = b.experiment("guard/names")
    for name in ("xgb-baseline-2", "lr-tuned-3", "resnet-finetune-10"):
        b.run(exp, name=name)
    unnamed = b.client.create_run(exp, tags=CLEAN_TAGS).info  # MLflow makes a name up
    b.client.log_param(unnamed.run_id, "C", "1.0")
    b.client.log_text(unnamed.run_id, "numpy==2.0.0\n", "environment/requirements.txt")
    b.client.set_terminated(unnamed.run_id)
    _, out, _ = run_cli(capsys, "check", "--tracking-uri", b.uri, "--format", "json")
    findings = [(f["rule"], f["object_id"]) for f in json.loads(out)["findings"]]
    assert findings == [("MLG102", unnamed.run_id)], unnamed.run_name


def test_history_reads_the_trail_and_names_a_missing_model(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    from pytest_mlflow_guard.audit import AuditEntry

    client = MlflowClient(tracking_uri=store, registry_uri=store)
    client.create_registered_model("trail_model")
    moment = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    entries = [
        AuditEntry(moment + timedelta(minutes=5), "dan", "stage", "2", "None", "Production"),
        AuditEntry(moment, "erin\x1b[31m", "stage", "1", "None", "Production"),
        AuditEntry(
            moment + timedelta(minutes=5),
            "dan",
            "stage",
            "1",
            "Production",
            "Archived",
            cause="archive_existing_versions",
        ),
    ]
    for index, entry in enumerate(entries):
        client.set_registered_model_tag("trail_model", *entry.to_tag(index))
    client.set_registered_model_tag("trail_model", "mlflow_guard.audit.0.not-json", "{oops")
    code, out, _ = run_cli(capsys, "history", "trail_model", "--tracking-uri", store)
    assert code == 0
    assert out.splitlines()[1:] == [
        "2026-11-30T12:00:00+00:00  erin\\x1b[31m  version 1: None -> Production",
        "2026-11-30T12:05:00+00:00  dan  version 2: None -> Production",
        "2026-11-30T12:05:00+00:00  dan  version 1: Production -> Archived "
        "(archive_existing_versions)",
    ]
    code, out, _ = run_cli(capsys, "history", "trail_model", "--version", "2", "--format", "json",
                           "--tracking-uri", store)  # fmt: skip
    assert [e["user"] for e in json.loads(out)["history"]] == ["dan"]
    code, _, err = run_cli(capsys, "history", "no_such_model", "--tracking-uri", store)
    assert code == 2 and "no registered model 'no_such_model'" in err

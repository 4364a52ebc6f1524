"""The SQL reader against real stores: record-for-record and report-for-report parity with the
client reader on sqlite, on PostgreSQL, and against ``mlflow server`` on PostgreSQL; the
fallback for an untested schema; a read-only role; ``--since-last``; start-time windows.

PostgreSQL tests start a real server (tests/postgres.py) and are skipped, with the reason,
where PostgreSQL is not installed; CI installs it and makes a missing server a failure.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")

from generated_store import generate  # noqa: E402
from guard_testing import running_server, template_revision  # noqa: E402
from postgres import PostgresServer  # noqa: E402
from reference_store import CONVENTION_TAGS, build, tracking  # noqa: E402

from pytest_mlflow_guard.config import GuardConfig, Scope  # noqa: E402
from pytest_mlflow_guard.errors import GuardError  # noqa: E402
from pytest_mlflow_guard.gate.check import CheckOptions, run_check  # noqa: E402
from pytest_mlflow_guard.gate.reporters import render  # noqa: E402
from pytest_mlflow_guard.mlflow_io import sql_schema  # noqa: E402
from pytest_mlflow_guard.mlflow_io.connect import bounded_http  # noqa: E402
from pytest_mlflow_guard.mlflow_io.reader import StoreReader  # noqa: E402
from pytest_mlflow_guard.mlflow_io.readers import open_reader  # noqa: E402
from pytest_mlflow_guard.mlflow_io.sql_reader import SqlStoreReader  # noqa: E402
from pytest_mlflow_guard.records import Record, RunRecord  # noqa: E402

UI = "http://mlflow.example"  # the same links whichever URI a report was read from
CONFIG = GuardConfig(ui_url=UI)


def sqlite_store(template: Path, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, folder / "mlflow.db")
    return f"sqlite:///{folder / 'mlflow.db'}"


def api_records(uri: str, **kwargs: Any) -> list[Record]:
    with bounded_http():
        return list(StoreReader(uri, **kwargs).iter_records())


def sql_records(uri: str, **kwargs: Any) -> list[Record]:
    return list(SqlStoreReader(uri, sql_schema.open_readonly(uri), **kwargs).iter_records())


def report(uri: str, reader: str, config: GuardConfig = CONFIG, **kwargs: Any) -> dict[str, Any]:
    options = CheckOptions(tracking_uri=uri, config=config, reader=reader, **kwargs)
    data = json.loads(render("json", run_check(options)))
    data.pop("tracking_uri")
    return dict(data)


def cli_report(tmp_path: Path, *args: str) -> dict[str, Any]:
    """``mlflow-guard check ARGS --format json`` as the JSON document it wrote."""
    from pytest_mlflow_guard.cli import main

    out = tmp_path / "report.json"
    assert main(["check", *args, "--format", "json", "--output", str(out)]) in (0, 1)
    return dict(json.loads(out.read_text()))


def assert_parity(uri: str, *, server: str | None = None, **kwargs: Any) -> list[Record]:
    """Both readers give the same records in the same order, and the same JSON report (read
    over ``server``'s API when given, from the database otherwise)."""
    api = api_records(server or uri, **kwargs)
    sql = sql_records(uri, **kwargs)
    assert len(sql) == len(api)
    for mine, theirs in zip(sql, api, strict=True):
        assert mine == theirs
    assert report(uri, "sql") == report(server or uri, "api")
    return sql


@pytest.fixture
def reference_sqlite(_template_db: Path, tmp_path: Path) -> str:
    uri = sqlite_store(_template_db, tmp_path / "store")
    build(uri, tmp_path)
    return uri


# --------------------------------------------------------------------------- parity, sqlite


def test_the_installed_mlflow_schema_is_one_the_sql_reader_was_tested_on(
    _template_db: Path,
) -> None:
    # CI installs pinned releases (constraints/): moving a pin to a release with a new schema
    # is a deliberate step, taken once these tests pass on it (.ci/matrix.py tries a release)
    revision = template_revision(_template_db)
    assert revision in sql_schema.TESTED_REVISIONS, (
        f"MLflow {mlflow.__version__} has schema revision {revision}: run .ci/matrix.py "
        f"{mlflow.__version__} and add it to sql_schema.TESTED_REVISIONS when it passes"
    )


def test_parity_on_the_reference_store(reference_sqlite: str) -> None:
    records = assert_parity(reference_sqlite)
    kinds = {type(r).__name__ for r in records}
    assert kinds == {"ExperimentRecord", "RunRecord", "RegisteredModelRecord"}


@pytest.mark.parametrize(
    "scope",
    [
        Scope(experiments=("team/*",)),
        Scope(statuses=("FAILED", "FINISHED")),
        Scope(since="2023-01-01"),
    ],
    ids=["glob", "statuses", "since"],
)
def test_parity_within_a_scope(reference_sqlite: str, scope: Scope) -> None:
    assert_parity(reference_sqlite, scope=scope)


def test_parity_on_a_generated_store(_template_db: Path, tmp_path: Path) -> None:
    uri = sqlite_store(_template_db, tmp_path / "store")
    generate(uri, runs=1500, experiments=9, versions=40, artifacts=tmp_path / "art")
    records = assert_parity(uri)
    assert sum(isinstance(r, RunRecord) for r in records) == 1500
    # several pages of runs, and a page boundary inside an experiment
    assert sql_records(uri, page_size=7) == records


def test_parity_with_odd_names_and_runs_uri_sources(_template_db: Path, tmp_path: Path) -> None:
    uri = sqlite_store(_template_db, tmp_path / "store")
    with tracking(uri) as client:
        exp = client.create_experiment("team/odd", artifact_location=str(tmp_path / "art"))
        run = client.create_run(exp, tags=CONVENTION_TAGS, run_name="r")
        client.set_terminated(run.info.run_id)
        for name in ("o'brien", 'it\'s "x"', "a\\b"):
            client.create_registered_model(name)
            client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
        client.create_model_version("a\\b", f"runs:/{run.info.run_id}/model")  # no run_id
    assert_parity(uri)


# --------------------------------------------------------------------------- what SQL must not do


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sqlite_store_is_opened_read_only(reference_sqlite: str) -> None:
    db = Path(reference_sqlite[len("sqlite:///") :])
    before = (_digest(db), sorted(p.name for p in db.parent.iterdir()))
    sql_records(reference_sqlite)
    assert (_digest(db), sorted(p.name for p in db.parent.iterdir())) == before
    engine = sql_schema.open_readonly(reference_sqlite)
    with engine.connect() as conn, pytest.raises(Exception, match="readonly"):
        conn.exec_driver_sql("CREATE TABLE intruder (x INTEGER)")


def test_untested_revision_falls_back_to_the_client_with_a_note(
    reference_sqlite: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite3.connect(reference_sqlite[len("sqlite:///") :]) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    expected = report(reference_sqlite, "api")
    monkeypatch.setattr(sql_schema, "TESTED_REVISIONS", {"0000000000aa": "MLflow 9.9"})
    choice = open_reader(reference_sqlite, "auto", Scope(), workers=2, artifacts_server=None)
    assert choice.kind == "api"
    (note,) = choice.notes
    assert revision in note and "0000000000aa (MLflow 9.9)" in note
    fallback = report(reference_sqlite, "auto")
    assert fallback.pop("notes") == [note]
    assert fallback == expected
    with pytest.raises(GuardError, match=f"--reader sql: .*{revision}.*use --reader auto or api"):
        open_reader(reference_sqlite, "sql", Scope(), workers=2, artifacts_server=None)


def test_sql_reader_needs_a_database(server: str) -> None:
    with pytest.raises(
        GuardError, match=r"--reader sql: http://127\.0\.0\.1:\d+ is not a database"
    ):
        open_reader(server, "sql", Scope(), workers=2, artifacts_server=None)


def _sqlalchemy_driver() -> str:
    from sqlalchemy.engine import make_url

    return str(make_url("postgresql://db/mlflow").get_dialect().driver)


def test_a_missing_postgres_driver_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        sql_schema.importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("psycopg", "psycopg2") else real(name, *a),
    )
    uri = "postgresql://alice:s3cret@db.example/mlflow"
    with pytest.raises(GuardError) as info:
        sql_schema.require_driver(uri)
    message = str(info.value)
    # what SQLAlchemy reads postgresql:// with: psycopg 3 from 2.1, psycopg2 before
    if _sqlalchemy_driver() == "psycopg":
        assert "psycopg 3" in message and "pip install 'pytest-mlflow-guard[postgres]'" in message
    else:
        assert "psycopg2 driver" in message and "pip install psycopg2-binary" in message
    assert "s3cret" not in message
    with pytest.raises(GuardError, match="driver, which is not installed"):  # the client path
        open_reader(uri, "api", Scope(), workers=1, artifacts_server=None)


def test_the_guards_own_engine_takes_the_postgres_driver_that_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    wanted = _sqlalchemy_driver()
    other = "psycopg2" if wanted == "psycopg" else "psycopg"
    real = importlib.util.find_spec
    present = {wanted: None, other: object()}
    monkeypatch.setattr(
        sql_schema.importlib.util,
        "find_spec",
        lambda name, *a: present[name] if name in present else real(name, *a),
    )
    uri = "postgresql://alice:s3cret@db.example:5432/mlflow"
    assert sql_schema.with_installed_driver(uri) == (
        f"postgresql+{other}://alice:s3cret@db.example:5432/mlflow"
    )
    named = f"postgresql+{wanted}://alice@db.example/mlflow"  # a driver the user named is kept
    assert sql_schema.with_installed_driver(named) == named
    present[wanted] = object()
    assert sql_schema.with_installed_driver(uri) == uri  # SQLAlchemy's own choice when it can


# --------------------------------------------------------------------------- --since-last


@pytest.mark.parametrize("reader", ["api", "sql"])
def test_since_last_checks_exactly_what_changed(
    _template_db: Path, tmp_path: Path, reader: str
) -> None:
    uri = sqlite_store(_template_db, tmp_path / "store")
    state = tmp_path / "state.json"
    old = int((datetime.now(timezone.utc) - timedelta(days=3)).timestamp() * 1000)
    (tmp_path / "r.txt").write_text("x\n")
    config = tmp_path / "guard.toml"
    config.write_text('[tool.mlflow-guard]\nselect = ["MLG101", "MLG201", "MLG202", "MLG203"]\n')
    nightly = ("--tracking-uri", uri, "--reader", reader, "--config", str(config))
    nightly += ("--since-last", str(state))
    with tracking(uri) as client:
        exp = client.create_experiment("team/nightly", artifact_location=str(tmp_path / "art"))
        for i in range(3):
            run = client.create_run(exp, start_time=old + i, tags=CONVENTION_TAGS, run_name=f"r{i}")
            client.log_artifact(run.info.run_id, str(tmp_path / "r.txt"), "environment")
            client.set_terminated(run.info.run_id, end_time=old + 1000)
    first = cli_report(tmp_path, *nightly)
    assert first["checked"]["runs"] == 3 and first["findings"] == []
    assert "no earlier check recorded; checked everything" in first["notes"][0]
    recorded = json.loads(state.read_text())
    assert recorded["format"] == "mlflow-guard-state/1" and recorded["store"] == uri

    with tracking(uri) as client:
        bad = client.create_run(exp, tags={**CONVENTION_TAGS, "run.mode": "yolo"}, run_name="b")
        client.set_terminated(bad.info.run_id)
    second = cli_report(tmp_path, *nightly)
    assert second["checked"]["runs"] == 1
    assert {f["run_id"] for f in second["findings"]} == {bad.info.run_id}
    assert [f["rule"] for f in second["findings"]] == ["MLG202"]
    assert second["notes"][0].startswith("incremental check (--since-last")
    # the state now records the second check; the runs of three days ago stay unchecked, and
    # only the new run, inside the five minutes allowed for clock skew, is looked at again
    third = cli_report(tmp_path, *nightly)
    assert third["checked"]["runs"] == 1
    assert {f["run_id"] for f in third["findings"]} == {bad.info.run_id}


def test_since_last_never_overwrites_a_file_it_did_not_write(
    reference_sqlite: str, tmp_path: Path
) -> None:
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"mine": true}\n')
    with pytest.raises(GuardError, match="not an mlflow-guard state file"):
        run_check(CheckOptions(tracking_uri=reference_sqlite, since_last=str(foreign)))
    assert foreign.read_text() == '{"mine": true}\n'


# --------------------------------------------------------------------------- over HTTP


def test_start_time_windows_list_every_run_once(server: str, tmp_path: Path) -> None:
    """Pages of 2 over runs that share start times (more of them than a page holds)."""
    with tracking(server) as client:
        exp = client.create_experiment(f"team/windows_{tmp_path.name}")
        starts = [5000, 5000, 5000, 5000, 5000, 4000, 3000, 3000, 2000]
        ids = {client.create_run(exp, start_time=s).info.run_id for s in starts}
    scope = Scope(experiments=(f"team/windows_{tmp_path.name}",))
    with bounded_http():
        reader = StoreReader(server, scope, page_size=2, include_registry=False)
        listed = [r for r in reader.iter_records() if isinstance(r, RunRecord)]
    assert sorted(r.run_id for r in listed) == sorted(ids)
    times = [r.start_time for r in listed]
    assert times == sorted(times, reverse=True)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_parity_on_postgres(postgres_store: str, tmp_path: Path) -> None:
    build(postgres_store, tmp_path)
    assert_parity(postgres_store)


@pytest.mark.postgres
def test_parity_on_a_generated_postgres_store(postgres_store: str, tmp_path: Path) -> None:
    generate(postgres_store, runs=1200, experiments=8, versions=30, artifacts=tmp_path / "a")
    assert_parity(postgres_store)


@pytest.mark.postgres
@pytest.mark.server
def test_parity_through_mlflow_server_on_postgres(postgres_store: str, tmp_path: Path) -> None:
    build(postgres_store, tmp_path)
    (tmp_path / "server").mkdir()
    with running_server(tmp_path / "server", Path(), backend_uri=postgres_store) as (url, _):
        assert_parity(postgres_store, server=url)


@pytest.mark.postgres
def test_a_read_only_role_is_enough(
    postgres: PostgresServer, postgres_store: str, tmp_path: Path
) -> None:
    build(postgres_store, tmp_path)
    database = postgres_store.rsplit("/", 1)[1]
    postgres.psql(
        "DO $$ BEGIN CREATE ROLE auditor LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
    )
    postgres.psql(
        "GRANT USAGE ON SCHEMA public TO auditor; "
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO auditor;",
        database,
    )
    readonly = postgres.uri(database, role="auditor")
    assert report(readonly, "sql") == report(postgres_store, "api")
    engine = sql_schema.open_readonly(readonly)
    with engine.connect() as conn, pytest.raises(Exception, match=r"permission denied|read-only"):
        conn.exec_driver_sql("DELETE FROM runs")


@pytest.mark.postgres
def test_an_empty_postgres_database_is_refused_and_left_empty(postgres: PostgresServer) -> None:
    postgres.psql("CREATE DATABASE empty_store")
    uri = postgres.uri("empty_store")
    for reader in ("auto", "sql", "api"):  # MLflow's client would create its tables there
        with pytest.raises(GuardError, match=r"no MLflow store at .*empty_store: no MLflow tables"):
            run_check(CheckOptions(tracking_uri=uri, reader=reader))
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
    assert postgres.psql(tables, "empty_store").strip() == "0"


def test_records_client_and_sql_agree_on_mlflow_server_database(
    server: str, server_database: str
) -> None:
    """The session server's own database (mlflow-artifacts: URIs, resolved by --artifacts-server)
    read with SQL gives what the server's API gives."""
    api = api_records(server)
    sql = sql_records(server_database, artifacts_server=server)
    assert sql == api


# --------------------------------------------------------------------------- on several cores


def test_experiments_checked_by_worker_processes_give_the_same_report(
    _template_db: Path, tmp_path: Path
) -> None:
    uri = sqlite_store(_template_db, tmp_path / "store")
    generate(uri, runs=900, experiments=7, versions=20, artifacts=tmp_path / "art")
    one = report(uri, "sql", jobs=1)
    assert report(uri, "sql", jobs=3) == one
    assert one["checked"]["runs"] == 900 and one["findings"]


def test_experiments_are_dealt_by_run_count() -> None:
    from pytest_mlflow_guard.gate.sharded import deal, jobs_for

    groups = deal([("1", 500), ("2", 400), ("3", 300), ("4", 200), ("5", 0)], 2)
    assert groups == [["1", "4", "5"], ["2", "3"]]
    assert deal([("1", 10)], 4) == [["1"]]
    assert jobs_for(0, 49_999, 8) == 1 and jobs_for(0, 50_000, 8) == 4
    assert jobs_for(0, 10**6, 2) == 2 and jobs_for(3, 10, 2) == 3

"""The reader against real tracking stores: sqlite files in tmp_path, and one ``mlflow server``.

No mocks: every store is built with MlflowClient / the fluent API and read back with
``StoreReader``. Creating MLflow's schema takes seconds, so an empty migrated database is made
once per session and copied for each store. The ``server`` test starts a real ``mlflow server``
on 127.0.0.1 (deselect with ``-m "not server"``).
"""

from __future__ import annotations

import shutil
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

mlflow = pytest.importorskip("mlflow")
np = pytest.importorskip("numpy")
linear_model = pytest.importorskip("sklearn.linear_model")

from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from reference_store import (  # noqa: E402
    CONVENTION_TAGS,
    MS_2024,
    Built,
    build,
    log_training_run,
    tracking,
)

from pytest_mlflow_guard.config import GuardConfig, Scope  # noqa: E402
from pytest_mlflow_guard.errors import ConfigError, GuardError  # noqa: E402
from pytest_mlflow_guard.gate.engine import Engine  # noqa: E402
from pytest_mlflow_guard.mlflow_io.connect import bounded_http, probe  # noqa: E402
from pytest_mlflow_guard.mlflow_io.links import (  # noqa: E402
    experiment_url,
    logged_model_url,
    model_version_url,
    registered_model_url,
    run_url,
    ui_url_for,
)
from pytest_mlflow_guard.mlflow_io.paging import generated_run_name  # noqa: E402
from pytest_mlflow_guard.mlflow_io.reader import StoreReader  # noqa: E402
from pytest_mlflow_guard.mlflow_io.scope import quote, run_filter, since_datetime  # noqa: E402
from pytest_mlflow_guard.records import (  # noqa: E402
    ExperimentRecord,
    Record,
    RegisteredModelRecord,
    RunRecord,
)
from pytest_mlflow_guard.redact import redact_text as redact_uri  # noqa: E402

# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="session")
def reader_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reader-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def new_sqlite_store(template: Path, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, directory / "mlflow.db")
    return f"sqlite:///{directory / 'mlflow.db'}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_all(uri: str, scope: Scope | None = None, **kwargs: Any) -> list[Record]:
    return list(StoreReader(uri, scope or Scope(), **kwargs).iter_records())


def runs_of(records: list[Record]) -> dict[str, RunRecord]:
    return {r.run_id: r for r in records if isinstance(r, RunRecord)}


def models_of(records: list[Record]) -> dict[str, RegisteredModelRecord]:
    return {r.name: r for r in records if isinstance(r, RegisteredModelRecord)}


@pytest.fixture(scope="module")
def built(reader_template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("reader-store")
    return build(new_sqlite_store(reader_template_db, root), root)


@pytest.fixture(scope="module")
def records(built: Built) -> list[Record]:
    return read_all(built.uri)


# --------------------------------------------------------------------------- sqlite store


def test_experiments_then_their_runs_then_models(records: list[Record], built: Built) -> None:
    kinds = [type(r).__name__ for r in records]
    assert kinds.index("RegisteredModelRecord") > max(
        i for i, k in enumerate(kinds) if k != "RegisteredModelRecord"
    )
    experiments = {r.name: r for r in records if isinstance(r, ExperimentRecord)}
    # the store's empty "Default" experiment is skipped (test_cli covers it once it has runs)
    assert set(experiments) == {"team/churn", "sandbox/tmp", "team/history"}
    churn = experiments["team/churn"]
    assert churn.experiment_id == built.exp_id
    assert churn.tags["team"] == "ml"
    assert churn.lifecycle_stage == "active"
    assert churn.creation_time is not None and churn.creation_time.tzinfo is not None
    position = records.index(churn)
    for record in records[position + 1 : position + 3]:  # the churn runs follow their experiment
        assert isinstance(record, RunRecord) and record.experiment_id == built.exp_id


def test_run_record_fields(records: list[Record], built: Built) -> None:
    run = runs_of(records)[built.train_run]
    assert run.experiment_name == "team/churn"
    assert run.run_name == "train-1"
    assert run.status == "FINISHED"
    assert run.start_time is not None and run.start_time.tzinfo == timezone.utc
    assert run.end_time is not None and run.end_time >= run.start_time
    for key, value in CONVENTION_TAGS.items():
        assert run.tags[key] == value
    assert run.params == {"C": "1.0", "max_iter": "100"}
    assert run.metric_keys == frozenset({"acc", "f1"})
    assert run.has_requirements is True


def test_logged_models_signature_and_input_example(records: list[Record], built: Built) -> None:
    models = {m.model_id: m for m in runs_of(records)[built.train_run].logged_models}
    with_sig = models[built.sig_model]
    assert (with_sig.name, with_sig.run_id, with_sig.experiment_id) == (
        "model",
        built.train_run,
        built.exp_id,
    )
    assert with_sig.has_signature is True
    assert with_sig.has_input_example is True
    assert "sklearn" in with_sig.flavors
    no_sig = models[built.nosig_model]
    assert no_sig.has_signature is False
    assert no_sig.has_input_example is False
    legacy = models[f"runs:/{built.train_run}/legacy"]
    assert legacy.has_signature is True
    assert legacy.has_input_example is False
    assert legacy.flavors == ("python_function", "sklearn")
    assert len(models) == 3


def test_running_run_without_artifacts(records: list[Record], built: Built) -> None:
    run = runs_of(records)[built.open_run]
    assert run.status == "RUNNING"
    assert run.end_time is None
    assert run.has_requirements is False
    assert run.logged_models == ()


def test_deleted_runs_are_not_listed(records: list[Record], built: Built) -> None:
    assert built.gone_run not in runs_of(records)


def test_registered_model_with_stage_alias_and_source_run(
    records: list[Record], built: Built
) -> None:
    churn = models_of(records)["churn_model"]
    assert churn.aliases == {"champion": "1"}
    (version,) = churn.versions
    assert version.object_id == "churn_model/1"
    assert version.stage == "Staging"
    assert version.aliases == ("champion",)
    assert version.run_id == built.train_run
    assert version.source == f"models:/{built.sig_model}"
    assert version.has_signature is True
    assert version.creation_time is not None and version.last_updated_time is not None
    assert version.source_run_missing is False
    source = version.source_run
    assert source is not None and source.run_id == built.train_run
    assert source.experiment_name == "team/churn"
    assert source.has_requirements is True
    assert {m.model_id for m in source.logged_models} >= {built.sig_model, built.nosig_model}


def test_version_of_a_deleted_run_is_flagged(records: list[Record], built: Built) -> None:
    (version,) = models_of(records)["orphan_model"].versions
    assert version.run_id == built.gone_run
    assert version.source_run is None
    assert version.source_run_missing is True
    assert version.has_signature is None  # no MLmodel there: unknown, not False


def test_scope_experiment_globs(built: Built) -> None:
    records = read_all(built.uri, Scope(experiments=("team/*",)), include_registry=False)
    names = {r.name for r in records if isinstance(r, ExperimentRecord)}
    assert names == {"team/churn", "team/history"}
    assert built.sandbox_run not in runs_of(records)
    assert {built.train_run, built.open_run, built.old_run} <= set(runs_of(records))


def test_scope_statuses(built: Built) -> None:
    running = runs_of(read_all(built.uri, Scope(statuses=("RUNNING",))))
    assert set(running) == {built.open_run}
    failed = runs_of(read_all(built.uri, Scope(statuses=("failed", "KILLED"))))
    assert set(failed) == {built.new_run}


def test_scope_since_date_and_age(built: Built) -> None:
    history = Scope(experiments=("team/history",), since="2021-01-01")
    assert set(runs_of(read_all(built.uri, history))) == {built.new_run}
    aged = Scope(experiments=("team/history",), since="7d")
    now = datetime(2024, 6, 3, tzinfo=timezone.utc)
    assert set(runs_of(read_all(built.uri, aged, now=now))) == {built.new_run}
    later = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert runs_of(read_all(built.uri, aged, now=later)) == {}


def test_paging_yields_every_run_in_order(reader_template_db: Path, tmp_path: Path) -> None:
    uri = new_sqlite_store(reader_template_db, tmp_path / "paged")
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("team/paged", artifact_location=str(tmp_path / "art"))
    created = []
    for i in range(5):
        run = client.create_run(exp, start_time=MS_2024 + i * 1000, run_name=f"r{i}")
        client.log_batch(run.info.run_id, params=[mlflow.entities.Param("i", str(i))])
        client.set_terminated(run.info.run_id)
        created.append(run.info.run_id)
    scope = Scope(experiments=("team/paged",))
    paged = [r for r in read_all(uri, scope, page_size=2) if isinstance(r, RunRecord)]
    assert len(paged) == 5
    assert {r.run_id for r in paged} == set(created)
    whole = [r for r in read_all(uri, scope, max_workers=1) if isinstance(r, RunRecord)]
    assert [r.run_id for r in paged] == [r.run_id for r in whole]
    assert [r.params["i"] for r in paged] == ["4", "3", "2", "1", "0"]  # newest first


def test_logged_models_reach_their_runs_across_pages(
    reader_template_db: Path, tmp_path: Path
) -> None:
    """Models are matched to runs from one newest-first scan: a model logged long after its run
    started (the oldest run, on the last page) must still find it, and so must the others."""
    uri = new_sqlite_store(reader_template_db, tmp_path / "models")
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("team/models", artifact_location=str(tmp_path / "art"))
    runs = [client.create_run(exp, start_time=MS_2024 + i * 1000).info.run_id for i in range(5)]
    expected = {run_id: set() for run_id in runs}
    for run_id in (runs[0], runs[4], runs[2], runs[0]):  # oldest run's models come last
        model = client.create_logged_model(exp, name="m", source_run_id=run_id)
        expected[run_id].add(model.model_id)
    for page_size in (2, 1000):
        found = runs_of(read_all(uri, Scope(experiments=("team/models",)), page_size=page_size))
        assert {r: {m.model_id for m in found[r].logged_models} for r in runs} == expected
        assert all(m.has_signature is None for r in found.values() for m in r.logged_models)


def test_version_source_run_outside_scope_is_fetched(built: Built) -> None:
    records = read_all(built.uri, Scope(experiments=("sandbox/*",)))
    assert built.train_run not in runs_of(records)
    (version,) = models_of(records)["churn_model"].versions
    assert version.has_signature is True  # read through the version's download URI
    source = version.source_run
    assert source is not None and source.run_id == built.train_run
    assert source.experiment_name == "team/churn"
    assert source.has_requirements is True
    assert {m.model_id for m in source.logged_models} >= {built.sig_model, built.nosig_model}


# --------------------------------------------------------------------------- names, sources

# Registered model names that broke the old filter literal (``'o\\'brien'`` matched nothing), and
# names no literal can express, whose versions must still all be found.
ODD_NAMES = (
    "o'brien_model",
    'say "hi"',
    "back\\slash",
    "trail\\",
    "a\\'b",
    "a''b",
    "both'\"",
    'it\'s \\"x"',
)


def parsed_name(literal: str) -> object:
    from mlflow.utils.search_utils import SearchModelVersionUtils

    try:
        (clause,) = SearchModelVersionUtils.parse_search_filter(f"name = {literal}")
    except MlflowException:
        return None
    return clause["value"]


@given(st.text(alphabet=st.sampled_from(list("ab_ '\"\\$/*-;%()`\n")), min_size=1, max_size=10))
@settings(max_examples=400, deadline=None)
def test_quote_is_read_back_exactly_by_mlflows_filter_parser(name: str) -> None:
    try:
        literal = quote(name)
    except ValueError:  # then neither quoting reads back as the name
        assert parsed_name(f"'{name}'") != name and parsed_name(f'"{name}"') != name
    else:
        assert parsed_name(literal) == name


def test_quote_odd_names() -> None:
    assert quote("churn_model") == "'churn_model'"
    assert quote("o'brien") == '"o\'brien"'
    assert quote("back\\slash") == "'back\\slash'"  # MLflow does not unescape
    for name in ODD_NAMES[:6]:
        assert parsed_name(quote(name)) == name
    for name in ODD_NAMES[6:]:
        with pytest.raises(ValueError, match="cannot be written"):
            quote(name)


def test_every_version_of_models_with_odd_names(reader_template_db: Path, tmp_path: Path) -> None:
    uri = new_sqlite_store(reader_template_db, tmp_path / "names")
    with tracking(uri) as client:
        exp = client.create_experiment("team/names", artifact_location=str(tmp_path / "art"))
        run_id = client.create_run(exp, run_name="reg").info.run_id
        for name in ("plain_model", *ODD_NAMES):
            client.create_registered_model(name)
            for _ in range(2):
                client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    models = models_of(read_all(uri))
    found = {name: sorted(v.version for v in models[name].versions) for name in models}
    assert found == {name: ["1", "2"] for name in ("plain_model", *ODD_NAMES)}
    assert all(v.name == m.name for m in models.values() for v in m.versions)
    few = models_of(read_all(uri, page_size=1))  # the unfiltered fallback pages too
    assert sorted(v.version for v in few["both'\""].versions) == ["1", "2"]


def test_version_registered_from_runs_uri_without_run_id(
    reader_template_db: Path, tmp_path: Path
) -> None:
    uri = new_sqlite_store(reader_template_db, tmp_path / "runs-uri")
    with tracking(uri) as client:
        exp = client.create_experiment("team/legacy", artifact_location=str(tmp_path / "art"))
        tags = {**CONVENTION_TAGS, "run.mode": "inference"}  # no environment needed: clean
        run_id = client.create_run(exp, run_name="legacy-run", tags=tags).info.run_id
        client.set_terminated(run_id)
        client.create_registered_model("legacy_model")
        made = client.create_model_version("legacy_model", f"runs:/{run_id}/model")
        assert not made.run_id  # what this is about: MLflow keeps only the source
        client.create_model_version("legacy_model", "runs:/0123456789abcdef0123456789abcdef/m")
    records = read_all(uri)
    by_version = {v.version: v for v in models_of(records)["legacy_model"].versions}
    derived = by_version["1"]
    assert derived.run_id == run_id and not derived.source_run_missing
    assert derived.source_run is not None and derived.source_run.run_id == run_id
    assert by_version["2"].run_id == "0123456789abcdef0123456789abcdef"
    assert by_version["2"].source_run_missing is True
    engine = Engine(GuardConfig(select=("MLG304",)))
    findings = [(f.object_id, f.message) for f in engine.check(records)]
    assert [object_id for object_id, _ in findings] == ["legacy_model/2"], findings
    assert "no longer exists" in findings[0][1]


def test_generated_run_names_are_told_by_mlflows_word_lists(
    reader_template_db: Path, tmp_path: Path
) -> None:
    uri = new_sqlite_store(reader_template_db, tmp_path / "run-names")
    with tracking(uri) as client:
        exp = client.create_experiment("team/names", artifact_location=str(tmp_path / "art"))
        unnamed = client.create_run(exp).info
        named = {
            name: client.create_run(exp, run_name=name).info.run_id
            for name in ("xgb-baseline-2", "lr-tuned-3", "resnet-finetune-10", "train_v2")
        }
    runs = runs_of(read_all(uri))
    assert runs[unnamed.run_id].run_name == unnamed.run_name
    assert runs[unnamed.run_id].name_generated is True
    assert {name: runs[run_id].name_generated for name, run_id in named.items()} == {
        name: False for name in named
    }
    assert generated_run_name("bold-hawk-42") is True
    assert generated_run_name("bold-hawk-0") is True
    assert generated_run_name("bold-hawk-1001") is False  # MLflow numbers stop at 1000
    assert generated_run_name("bold-hawk-042") is False
    assert generated_run_name("") is False


# --------------------------------------------------------------------------- scope, probe, links


def test_since_parsing() -> None:
    now = datetime(2024, 6, 3, 12, tzinfo=timezone.utc)
    assert since_datetime("2024-05-01") == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert since_datetime("12h", now) == datetime(2024, 6, 3, tzinfo=timezone.utc)
    assert since_datetime("7d", now) == datetime(2024, 5, 27, 12, tzinfo=timezone.utc)
    assert since_datetime(None) is None
    with pytest.raises(ConfigError, match="since"):
        since_datetime("last tuesday")
    with pytest.raises(ConfigError, match="statuses"):
        run_filter(Scope(statuses=("DONE",)))
    assert run_filter(Scope()) == ""
    assert run_filter(Scope(statuses=("running",))) == "attributes.status = 'RUNNING'"
    assert run_filter(Scope(statuses=("FINISHED", "FAILED", "KILLED"))) == (
        "attributes.status != 'RUNNING' AND attributes.status != 'SCHEDULED'"
    )


def test_probe_closed_port_fails_fast() -> None:
    port = free_port()  # bound, then released: nothing listens there
    started = time.monotonic()
    with pytest.raises(
        GuardError, match=rf"cannot reach tracking server http://127\.0\.0\.1:{port}"
    ):
        probe(f"http://bob:hunter2@127.0.0.1:{port}", timeout_s=10)
    assert time.monotonic() - started < 15


def test_probe_credentials_never_in_message() -> None:
    port = free_port()
    with pytest.raises(GuardError) as info:
        probe(f"http://bob:hunter2@127.0.0.1:{port}/?token=abc", timeout_s=5)
    assert "hunter2" not in str(info.value) and "abc" not in str(info.value)


def test_probe_local_stores(tmp_path: Path, built: Built) -> None:
    probe(built.uri)
    with pytest.raises(GuardError, match="does not exist"):
        probe(f"sqlite:///{tmp_path}/missing.db")
    assert not (tmp_path / "missing.db").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(GuardError, match=r"empty\.db has no MLflow tables"):
        probe(f"sqlite:///{empty}")
    assert empty.stat().st_size == 0
    (tmp_path / "notes.db").write_text("not a database, but long enough to have a header" * 4)
    with pytest.raises(GuardError, match=r"cannot read .*notes\.db as a SQLite database"):
        probe(f"sqlite:///{tmp_path / 'notes.db'}")
    with pytest.raises(GuardError, match="not a directory"):
        probe(str(tmp_path / "no-mlruns"))


def test_ui_links() -> None:
    assert ui_url_for("sqlite:///x.db", None) is None
    assert ui_url_for("sqlite:///x.db", "https://mlflow.example.com/") == (
        "https://mlflow.example.com"
    )
    base = ui_url_for("https://alice:s3cret@mlflow.example.com:8443/mlflow/?token=t", None)
    assert base == "https://mlflow.example.com:8443/mlflow"
    assert redact_uri("http://u:p@[::1]:5000/x") == "http://[::1]:5000/x"
    assert experiment_url(base, "7") == f"{base}/#/experiments/7"
    assert run_url(base, "7", "abc") == f"{base}/#/experiments/7/runs/abc"
    assert registered_model_url(base, "churn model") == f"{base}/#/models/churn%20model"
    assert model_version_url(base, "churn", "3") == f"{base}/#/models/churn/versions/3"
    assert logged_model_url(base, "7", "m-1") == f"{base}/#/experiments/7/models/m-1"
    assert logged_model_url(base, "7", "runs:/abc/model", "abc") == run_url(base, "7", "abc")


# --------------------------------------------------------------------------- mlflow server


@pytest.mark.server
def test_reads_a_remote_server(server: str, tmp_path: Path) -> None:
    probe(server)
    with tracking(server) as client:
        exp = client.create_experiment("team/remote")
        train, sig_model, nosig_model = log_training_run(exp, tmp_path)
        version = mlflow.register_model(f"models:/{sig_model}", "remote_model").version
        client.set_registered_model_alias("remote_model", "champion", version)
    with bounded_http():
        records = read_all(server, Scope(experiments=("team/*",)))
    run = runs_of(records)[train]
    assert run.has_requirements is True
    assert run.params == {"C": "1.0", "max_iter": "100"}
    models = {m.model_id: m for m in run.logged_models}
    assert models[sig_model].has_signature is True
    assert models[sig_model].has_input_example is True
    assert models[nosig_model].has_signature is False
    assert models[f"runs:/{train}/legacy"].has_signature is True
    (mv,) = models_of(records)["remote_model"].versions
    assert mv.has_signature is True
    assert mv.aliases == ("champion",)
    assert mv.source_run is not None and mv.source_run.has_requirements is True
    assert ui_url_for(server, None) == server


def test_only_a_404_status_says_an_endpoint_is_missing() -> None:
    """A store that stopped answering fails the check; only a missing endpoint (an MLflow 2
    server) is read as "nothing to list". The request URL in MLflow's message once decided it:
    a timeout against port 40497 (random, as in the fault tests) read as a 404, and the check
    waited a second time on the dead server."""
    from mlflow.protos.databricks_pb2 import ENDPOINT_NOT_FOUND, INTERNAL_ERROR

    from pytest_mlflow_guard.mlflow_io.logged_models import unsupported as _unsupported

    timed_out = MlflowException(
        "API request to http://127.0.0.1:40497/api/2.0/mlflow/model-versions/search failed with "
        "exception HTTPConnectionPool(host='127.0.0.1', port=40497): Read timed out.",
        error_code=INTERNAL_ERROR,
    )
    assert not _unsupported(timed_out)
    old_server = MlflowException(
        "API request to endpoint /api/2.0/mlflow/logged-models/search failed with error code "
        "404 != 200. Response body: '<html>Not Found</html>'",
        error_code=INTERNAL_ERROR,  # however it was raised, the status says it
    )
    assert _unsupported(old_server)
    assert _unsupported(MlflowException("no such endpoint", error_code=ENDPOINT_NOT_FOUND))

"""Shared fixtures: real sqlite MLflow stores and real git repositories in temporary folders."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Never let MLflow send telemetry from a test: its own test detection runs when it is imported,
# before pytest sets PYTEST_CURRENT_TEST. Subprocesses (mlflow server, pytester) inherit this.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
# Logging a model makes MLflow infer its pip requirements in a subprocess that loads the model
# again: about 4 s per logged model, the largest single cost of this suite. What MLflow infers is
# its concern, not the guard's (the guard records its own environment/): a zero timeout makes
# MLflow fall back to the flavour's default requirements at once. The example project's own
# guarded run (test_example_guarded.py) keeps MLflow's defaults.
os.environ.setdefault("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "0")
# `mlflow server` starts three job-runner processes by default; no test submits a job
os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
# The suite starts a few hundred Python processes (pytester sessions, their xdist workers, the
# servers). Where the environment forbids bytecode caches, each of them would compile this
# package (and pytest rewrite its asserts) from source again: about 1.5 s per process. The
# caches go to __pycache__ folders, which git ignores.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# Several tests press Ctrl-C (SIGINT) in a pytest process they start. Started in the background
# (`nohup`, `&` without job control), the suite inherits SIGINT ignored, every process it starts
# would too, and those tests would wait out their timeouts. From a terminal it is never ignored.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

pytest_plugins = ["pytester"]

# helpers live in a module with a unique name: example_project/tests has a conftest too, so
# `from conftest import ...` could pick the wrong one
from guard_testing import (  # noqa: E402
    GUARDED_PYPROJECT,
    TRY_SCHEMA,
    GuardedProject,
    git,
    running_server,
    template_revision,
)
from postgres import PostgresServer, postgres_server  # noqa: E402
from prefork import Zygote  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # the fast subset while iterating is `-m "not subprocess and not server"`: a test that runs a
    # real pytest process says so by using pytester (directly or through `guarded`)
    for item in items:
        if "pytester" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.subprocess)


@pytest.fixture(autouse=True)
def _root_logging_as_it_was() -> Iterator[None]:
    # Migrating a new store makes MLflow before 3.8 apply its alembic.ini to the process: a
    # root handler bound to the sys.stderr of the moment, a capture file that is closed once
    # the test ends ("--- Logging error ---" in every later warning of the worker). The guard
    # keeps its own migrations from doing that (stores.template_db); tests create stores too.
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def _zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    zygote = Zygote(tmp_path_factory.mktemp("zygote"))
    yield zygote
    zygote.close()


@pytest.fixture
def pytester(
    pytester: pytest.Pytester, _zygote: Zygote, request: pytest.FixtureRequest
) -> pytest.Pytester:
    """pytest's own fixture, for projects that never use hypothesis (its plugin imports all of
    hypothesis at the end of every session: about 0.5 s per pytest process started), whose
    ``python -m pytest`` processes are forks of one that has imported MLflow (prefork.py)."""
    pytester.plugins.append("no:hypothesispytest")
    if request.node.get_closest_marker("fresh_interpreter") is None:
        popen = pytester.popen

        def forked_popen(
            cmdargs: Any, stdout: Any = None, stderr: Any = None, stdin: Any = None, **kw: Any
        ) -> Any:
            args = tuple(os.fspath(arg) for arg in cmdargs)
            if (
                args[:2] == (sys.executable, "-mpytest")
                and stdin is pytester.CLOSE_STDIN
                and not kw
            ):
                # the environment Pytester.popen gives its process
                env = os.environ.copy()
                env["PYTHONPATH"] = os.pathsep.join(
                    filter(None, [os.getcwd(), env.get("PYTHONPATH", "")])
                )
                forked = _zygote.spawn(args, env, stdout, stderr)
                if forked is not None:
                    return forked
            return popen(cmdargs, stdout=stdout, stderr=stderr, stdin=stdin, **kw)

        pytester.popen = forked_popen  # type: ignore[method-assign]
    return pytester


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real git repository with one commit (and a remote URL carrying a fake token)."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("demo\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    git(
        repo, "remote", "add", "origin", "https://alice:ghp_SECRET123@git.example.com/team/proj.git"
    )
    return repo


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Creating MLflow's schema takes a second or two per database; copy an initialised one
    # instead: the plugin's own template (migrated once per MLflow version on this machine),
    # without "Default": each copy creates its own, under its own artifact root (a shared one
    # would send every test's Default artifacts into the template's folder)
    from pytest_mlflow_guard.mlflow_io.stores import template_db

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    shutil.copy(template_db(), path)
    return path


@pytest.fixture(scope="session", autouse=True)
def _trying_the_installed_schema(request: pytest.FixtureRequest) -> None:
    if not os.environ.get(TRY_SCHEMA):
        return
    from pytest_mlflow_guard.mlflow_io import sql_schema

    revision = template_revision(request.getfixturevalue("_template_db"))
    sql_schema.TESTED_REVISIONS.setdefault(revision, "(being tried by .ci/matrix.py)")


@pytest.fixture
def store(tmp_path: Path, _template_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``MLFLOW_TRACKING_URI`` pointing at a fresh sqlite store; artifacts beside it."""
    import mlflow

    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(_template_db, db)
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(None)  # forget a URI an earlier test set (this also unsets the env)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # an experiment made active elsewhere (mlflow.set_experiment exports its id) is not this
    # store's: every test starts with none
    for variable in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_REGISTRY_URI"):
        # set, then deleted: monkeypatch restores only what it saw, so what MLflow exports
        # during the test (set_experiment, set_registry_uri) is undone afterwards too
        monkeypatch.setenv(variable, "")
        monkeypatch.delenv(variable)
    monkeypatch.setattr("mlflow.tracking.fluent._active_experiment_id", None)
    monkeypatch.chdir(db.parent)  # default artifact root ./mlruns lands in tmp, not the repo
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def _server(
    _template_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("server")
    with running_server(root, _template_db) as (url, _):
        yield url, root


@pytest.fixture(scope="session")
def server(_server: tuple[str, Path]) -> str:
    """A real `mlflow server` shared by the session (look only at what a test made)."""
    return _server[0]


@pytest.fixture(scope="session")
def server_database(_server: tuple[str, Path]) -> str:
    """The sqlite URI of the database behind ``server`` (what a team's nightly job may read
    directly); its runs' artifacts are ``mlflow-artifacts:`` URIs only the server resolves."""
    return f"sqlite:///{_server[1] / 'mlflow.db'}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 for this test worker (see tests/postgres.py)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def _postgres_template(postgres: PostgresServer) -> str:
    """A database MLflow migrated, copied for each store (migrating takes seconds). MLflow runs
    in a child process so that no connection to it is left open: PostgreSQL copies a template
    only while nobody is connected to it."""
    postgres.psql("CREATE DATABASE mlflow_template")
    migrate = (
        "import sys, mlflow; mlflow.MlflowClient(tracking_uri=sys.argv[1]).search_experiments()"
    )
    subprocess.run(
        [sys.executable, "-c", migrate, postgres.uri("mlflow_template")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return "mlflow_template"


@pytest.fixture
def postgres_store(postgres: PostgresServer, _postgres_template: str) -> str:
    """The URI of a new, migrated MLflow database on ``postgres``."""
    name = f"store_{uuid.uuid4().hex[:16]}"
    postgres.psql(f"CREATE DATABASE {name} TEMPLATE {_postgres_template}")
    return postgres.uri(name)


# The real cache, read before pytester points HOME at a temporary folder: every pytester session
# would otherwise migrate its own store template (1.4 s) instead of copying the shared one.
_CACHE_HOME = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")


@pytest.fixture(scope="session")
def _mlflow_loaded(_template_db: Path) -> None:
    """Import what the assertions use *before* pytester snapshots ``sys.modules``: modules first
    imported inside a pytester test are dropped at its teardown, which leaves MLflow's lazily
    imported package half-initialised for the next test in the worker."""
    import mlflow.sklearn  # noqa: F401
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{_template_db}")
    client.search_runs(["0"])
    client.search_registered_models()


@pytest.fixture
def guarded(
    _mlflow_loaded: None, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> GuardedProject:
    """A guarded test project in a fresh git repository; its store is a new sqlite file."""
    monkeypatch.setenv("XDG_CACHE_HOME", _CACHE_HOME)
    git(pytester.path, "init", "-q", "-b", "main")
    (pytester.path / "pyproject.toml").write_text(GUARDED_PYPROJECT)
    uri = f"sqlite:///{pytester.path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for var in ("GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "CI", "MLFLOW_GUARD_MODE"):
        monkeypatch.delenv(var, raising=False)
    project = GuardedProject(pytester, uri)
    project.commit()
    return project

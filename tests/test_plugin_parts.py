"""The plugin's pytest-free parts: options, CI metadata, defaults, markers, store preparation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mlflow_guard.config import GuardConfig, Scope
from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.pytest_plugin.markers import MarkerSpec
from pytest_mlflow_guard.pytest_plugin.options import default_experiment, header_line, resolve
from pytest_mlflow_guard.tracking.context.ci import ci_tags


def no_ini(key: str) -> None:
    return None


def test_precedence_is_cli_then_env_then_ini_and_the_header_says_so() -> None:
    ini = {"mlflow_guard": True, "mlflow_guard_mode": "warn", "mlflow_guard_scope": "all"}.get
    env = {"MLFLOW_GUARD_MODE": "off", "MLFLOW_TRACKING_URI": "http://u:secret@host:5000"}
    settings = resolve({"mode": "enforce"}, ini, env)
    assert (settings.mode, settings.sources["mode"]) == ("enforce", "cli")
    assert (settings.scope, settings.sources["scope"]) == ("all", "ini")
    assert settings.sources["tracking_uri"] == "env MLFLOW_TRACKING_URI"
    assert settings.sources["experiment"] == "default"
    without_cli = resolve({}, ini, env)
    assert (without_cli.mode, without_cli.sources["mode"]) == ("off", "env MLFLOW_GUARD_MODE")
    line = header_line(settings, settings.tracking_uri or "", "mushroom/tests")
    assert line == (
        "mlflow-guard: on (ini), mode=enforce (cli), tracking=http://host:5000 "
        "(env MLFLOW_TRACKING_URI), experiment=mushroom/tests (default), scope=all (ini)"
    )
    assert "secret" not in line


@pytest.mark.parametrize(
    ("cli", "ini", "env", "message"),
    [
        ({"mode": "strict"}, {}, {}, "--mlflow-guard-mode: 'strict' is not one of enforce"),
        ({}, {}, {"MLFLOW_GUARD_SCOPE": "team"}, "environment variable MLFLOW_GUARD_SCOPE: 'team'"),
        ({}, {"mlflow_guard_isolated": "maybe"}, {}, "ini option mlflow_guard_isolated: 'maybe'"),
        ({"reports": ["sarif"]}, {}, {}, "--mlflow-guard-report: 'sarif' is not FORMAT:PATH"),
    ],
)
def test_bad_values_name_the_option_and_the_value(
    cli: dict[str, object], ini: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        resolve(cli, ini.get, env)


def test_report_targets_and_booleans() -> None:
    settings = resolve(
        {"reports": ["json:out/guard.json", "sarif:guard.sarif"]},
        {"mlflow_guard": "true", "mlflow_guard_isolated": "1"}.get,
        {},
    )
    assert settings.reports == (("json", "out/guard.json"), ("sarif", "guard.sarif"))
    assert settings.enabled and settings.isolated and settings.gate_on
    assert not resolve({}, no_ini, {}).enabled


def test_ci_tags_for_each_provider_and_no_credentials() -> None:
    github = ci_tags(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "t/r",
            "GITHUB_RUN_ID": "9",
            "GITHUB_RUN_ATTEMPT": "2",
            "GITHUB_TOKEN": "ghp_x",
        }
    )
    assert github["ci.run_url"] == "https://github.com/t/r/actions/runs/9/attempts/2"
    assert "ghp_x" not in str(github)
    gitlab = ci_tags({"GITLAB_CI": "true", "CI_PIPELINE_URL": "https://gl.example/p/-/pipelines/5"})
    assert gitlab == {
        "ci.provider": "gitlab-ci",
        "ci.run_url": "https://gl.example/p/-/pipelines/5",
    }
    jenkins = ci_tags({"JENKINS_URL": "x", "BUILD_URL": "https://bob:tok3n@ci.example/job/7/"})
    assert jenkins["ci.run_url"] == "https://ci.example/job/7/"
    assert ci_tags({}) == {}


def test_default_experiment_follows_the_naming_rule(tmp_path: Path) -> None:
    scoped = GuardConfig(scope=Scope(experiments=("mushroom/*",)))
    assert default_experiment(tmp_path, scoped) == "mushroom/tests"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "Mushroom.Growth"\n')
    assert default_experiment(tmp_path, GuardConfig()) == "mushroom-growth/tests"
    bare = tmp_path / "My Project"
    bare.mkdir()
    assert default_experiment(bare, GuardConfig()) == "my-project/tests"


def test_marker_spec_validation_and_tags() -> None:
    spec = MarkerSpec.parse({"ignore": "MLG301", "tags": {"team": 1}}, "t.py::x")
    assert spec.run_tags("t.py::x") == {
        "team": "1",
        "mlflow_guard.ignore": "MLG301",
        "mlflow_guard.ignore_reason": "@pytest.mark.mlflow_guard on t.py::x",
    }
    with pytest.raises(ConfigError, match=r"t\.py::x: unknown argument 'igonre'"):
        MarkerSpec.parse({"igonre": ["MLG301"]}, "t.py::x")
    with pytest.raises(ConfigError, match=r"tags=.* is not a dict"):
        MarkerSpec.parse({"tags": ["a"]}, "t.py::x")


CONCURRENT_OPEN = """
import sys
from pytest_mlflow_guard.mlflow_io.stores import ensure_sqlite_store
from mlflow import MlflowClient
uri = sys.argv[1]
if sys.argv[2] == "prepare":
    ensure_sqlite_store(uri)
client = MlflowClient(tracking_uri=uri)
client.search_experiments()
"""


def test_prepared_store_survives_four_processes_opening_it(tmp_path: Path) -> None:
    from pytest_mlflow_guard.mlflow_io.stores import ensure_sqlite_store, template_db

    template_db()  # built once per MLflow version, outside the race
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_OPEN, uri, "prepare"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], errors
    assert ensure_sqlite_store(uri) is False  # already there: never overwritten


def test_fixture_state_is_restored(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(
        f"""
        import mlflow

        URI = "sqlite:///{tmp_path / "user.db"}"

        def test_a_user_setup():
            mlflow.set_tracking_uri(URI)
            mlflow.set_experiment("mushroom/user")

        def test_b_fixture(mlflow_run, tracker):
            with tracker.start_run(run_name="inner"):
                pass
            assert mlflow.active_run().info.run_id == mlflow_run.info.run_id

        def test_c_state_is_back():
            assert mlflow.get_tracking_uri() == URI
            assert mlflow.active_run() is None
            experiment = mlflow.get_experiment(mlflow.tracking.fluent._get_experiment_id())
            assert experiment.name == "mushroom/user"
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--mlflow-guard-tracking-uri=sqlite:///{tmp_path / 'g.db'}"
    )
    result.assert_outcomes(passed=3)


def test_no_flag_on_the_command_line_beats_the_ini() -> None:
    ini = {"mlflow_guard": True, "mlflow_guard_test_findings": True}.get
    settings = resolve({"enabled": False, "test_findings": False}, ini, {"MLFLOW_GUARD": "1"})
    assert (settings.enabled, settings.sources["enabled"]) == (False, "cli")
    assert settings.test_findings is False
    assert resolve({}, ini, {"MLFLOW_GUARD": "0"}).enabled is False  # env beats ini too


def test_readme_options_table_is_current() -> None:
    from pytest_mlflow_guard.pytest_plugin.options import markdown_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert markdown_table() in readme, "README options table is stale: regenerate it"


def test_fixtures_are_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*tracker*",
            "*An ``ExperimentTracker`` for this test, bound to the session's store*",
            "*mlflow_run*",
            "*An active MLflow run for this test*",
        ]
    )


def test_relative_sqlite_uri_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlflow_guard.mlflow_io.uris import absolute_tracking_uri as absolute_sqlite_uri

    monkeypatch.chdir(tmp_path)
    assert absolute_sqlite_uri("sqlite:///mlflow.db") == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert absolute_sqlite_uri("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    assert absolute_sqlite_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert absolute_sqlite_uri("sqlite:///a.db?timeout=5").endswith("/a.db?timeout=5")


def test_mlflow_run_outcome_and_status(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'fixtures.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # the guard is off: MLflow's own resolution
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def needs_gpu():
            pytest.skip("no GPU here")

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture bug")

        def test_passes(mlflow_run):
            pass

        def test_fails(mlflow_run):
            assert False

        def test_skipped_by_a_later_fixture(mlflow_run, needs_gpu):
            pass

        def test_broken_later_fixture(mlflow_run, broken):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, skipped=1, errors=1)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(f"{pytester.path.name.lower()}/tests")
    runs = client.search_runs([experiment.experiment_id])
    seen = {r.info.run_name: (r.data.tags["test.outcome"], r.info.status) for r in runs}
    assert seen == {
        "test_passes": ("passed", "FINISHED"),
        "test_fails": ("failed", "FAILED"),
        "test_skipped_by_a_later_fixture": ("skipped", "FINISHED"),
        "test_broken_later_fixture": ("error", "FAILED"),
    }


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """pytest loads the plugin in every session of the environment: no MLflow, no HTTP stack,
    no rule catalogue until a guarded session needs them."""
    heavy = ("mlflow", "urllib.request", "sqlite3", "pytest_mlflow_guard.gate.engine")
    code = (
        "import sys, pytest_mlflow_guard.pytest_plugin.plugin\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert out.stdout.strip() == "[]"

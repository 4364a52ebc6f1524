"""The one redaction policy (``redact.py``) and the outputs that go through it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_mlflow_guard.redact import is_secret_name, redact_args, redact_mapping, redact_text
from pytest_mlflow_guard.tracking.context.ci import ci_tags

SECRET = "hunter2XYZ"


# --- command lines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--passphrase", SECRET],
        ["--pass", SECRET],
        ["--client-secret", SECRET],
        ["--password:" + SECRET],
        ["--password=" + SECRET],
        ["db.password=" + SECRET],  # Hydra-style overrides
        ["+db.password=" + SECRET],
        ["api_key=" + SECRET],
        ["--hf-token", SECRET],
        ["--accessToken=" + SECRET],
        ["PASSWORD=" + SECRET],
        ["-Dpassword=" + SECRET],
        ["--uri", f"postgresql://app:{SECRET}@db/mlflow"],
        ["--data", f"https://h/x.csv?sig={SECRET}&v=2"],
    ],
)
def test_secret_arguments_are_masked(args: list[str]) -> None:
    masked = redact_args(["train.py", *args])
    assert SECRET not in " ".join(masked)
    assert masked[0] == "train.py"


def test_what_is_not_a_secret_keeps_its_value() -> None:
    # masking costs a replay its argument: names that only mention keys or tokens keep theirs
    args = ["--max-tokens", "512", "--tokenizer", "bert", "--keyword", "x", "--lr", "0.1"]
    assert redact_args(args) == args
    # a switch followed by another option hides nothing
    assert redact_args(["--password", "--epochs", "3"]) == ["--password", "--epochs", "3"]


def test_source_command_and_session_args_use_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_mlflow_guard.pytest_plugin.session_content import safe_args as _safe_args
    from pytest_mlflow_guard.tracking.context.source import source_command

    argv = ["python", "train.py", "--pass", SECRET, "db.password=" + SECRET, "--password:x"]
    monkeypatch.setattr(sys, "orig_argv", argv)
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setattr("pytest_mlflow_guard.tracking.context.runtime._pytest_rootpath", None)
    command = source_command()
    assert command is not None and SECRET not in command
    assert shlex.split(command)[2:] == ["--pass", "***", "db.password=***", "--password:***"]
    assert SECRET not in _safe_args(["-k", "x", "--client-secret", SECRET, f"api_key={SECRET}"])


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("x-api-key", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("clientSecret", True),
        ("db.password", True),
        ("HF_TOKEN", True),
        ("passphrase", True),
        ("tokenizer", False),
        ("max_tokens", False),
        ("keyword", False),
        ("author", False),
        ("model.type", False),
        ("mlflow.source.git.commit", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


# --- free text: messages, URLs ----------------------------------------------------------------


def test_messages_lose_url_credentials_and_auth_headers() -> None:
    message = (
        f"API request to http://alice:{SECRET}@127.0.0.1:5000/api/2.0/mlflow/runs/get "
        f"failed (Authorization: Bearer {SECRET}); dsn host=db password={SECRET}"
    )
    cleaned = redact_text(message)
    assert SECRET not in cleaned
    assert "http://127.0.0.1:5000/api/2.0/mlflow/runs/get" in cleaned
    assert "Authorization: Bearer ***)" in cleaned


def test_malformed_urls_never_raise() -> None:
    assert redact_text(f"http://u:{SECRET}@[::1") == "http://[::1"
    assert redact_text("") == ""


@given(
    user=st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=8),
    secret=st.text(st.characters(whitelist_categories=("Lu", "Nd")), min_size=6, max_size=20),
    before=st.text(max_size=20),
)
def test_url_credentials_never_survive(user: str, secret: str, before: str) -> None:
    assume(secret not in before)
    text = f"{before} https://{user}:{secret}@example.com/x?token={secret} after"
    assert secret not in redact_text(text)


def test_mappings_keep_the_name_and_mask_the_value() -> None:
    assert redact_mapping({"api_key": SECRET, "data": f"s3://k:{SECRET}@b/x", "lr": "0.1"}) == {
        "api_key": "***",
        "data": "s3://b/x",
        "lr": "0.1",
    }


# --- every place that used to have its own scrubber uses this one ------------------------------


def test_ci_build_urls_are_cleaned() -> None:
    tags = ci_tags({"JENKINS_URL": "x", "BUILD_URL": f"https://bob:{SECRET}@ci/job/1/"})
    assert tags["ci.run_url"] == "https://ci/job/1/"


def test_requirements_lines_are_cleaned(tmp_path: Path) -> None:
    from importlib import metadata

    from pytest_mlflow_guard.tracking.environment import requirement_line

    dist_info = tmp_path / "demo-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (dist_info / "direct_url.json").write_text(
        f'{{"url": "https://bob:{SECRET}@git.example.com/demo.git", '
        '"vcs_info": {"vcs": "git", "commit_id": "abc"}}'
    )
    (dist,) = metadata.distributions(path=[str(tmp_path)])
    assert requirement_line(dist) == "demo @ git+https://git.example.com/demo.git@abc"


def test_the_readme_guarantees_name_tests_that_exist() -> None:
    """The Guarantees section says which tests prove each promise: they must exist."""
    import re

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Guarantees", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`((?:test_|rule_cases/)[\w/]+\.(?:py|json))((?:::[\w*]+)?)`", section)
    assert len(named) >= 10
    for file, test in named:
        path = root / "tests" / file
        assert path.is_file(), file
        if test:
            pattern = test.removeprefix("::").replace("*", r"\w*")
            assert re.search(rf"^def {pattern}\(", path.read_text(), re.M), f"{file}{test}"


def test_every_write_path_of_the_guard_applies_the_policy(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever calls: the writer, and the run-context provider that tags plain runs (marker
    tags included), record a secret-looking name without its value."""
    from mlflow import MlflowClient

    from pytest_mlflow_guard import vocabulary as session_env
    from pytest_mlflow_guard.mlflow_io import writer
    from pytest_mlflow_guard.tracking.run_context import GuardRunContextProvider

    c = MlflowClient(tracking_uri=store)
    run = c.create_run(c.create_experiment("team/writes"))
    writer.set_tags(c, run.info.run_id, {"db.password": SECRET, "note": f"https://u:{SECRET}@h"})
    writer.log_params(c, run.info.run_id, {"api_key": SECRET, "lr": "0.1"})
    data = c.get_run(run.info.run_id).data
    assert data.tags["db.password"] == "***" and data.tags["note"] == "https://h"
    assert data.params == {"api_key": "***", "lr": "0.1"}

    monkeypatch.setenv(session_env.ENV_SESSION_ID, "s1")
    monkeypatch.setenv(session_env.ENV_TEST_TAGS, f'{{"team_token": "{SECRET}", "team": "a"}}')
    tags = GuardRunContextProvider().tags()
    assert tags["team_token"] == "***" and tags["team"] == "a"

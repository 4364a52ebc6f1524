"""Automatic tags: git facts of the caller's repository, the run-context provider, redaction."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_mlflow_guard.redact import redact_args as _redact_args
from pytest_mlflow_guard.redact import redact_text as strip_credentials
from pytest_mlflow_guard.tracking.gitinfo import git_info


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def make_repo(path: Path, remote: str | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    env = ["-c", "user.name=T", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    (path / "README.md").write_text("x\n")
    subprocess.run(["git", "add", "."], cwd=path, check=True)
    subprocess.run(["git", *env, "commit", "-q", "-m", "init"], cwd=path, check=True)
    if remote:
        subprocess.run(["git", "remote", "add", "origin", remote], cwd=path, check=True)
    return path


TEST_IN_REPO = """
import sys
import mlflow
from mlflow import MlflowClient
from pytest_mlflow_guard import ExperimentTracker

def test_tracker_tags(tmp_path, monkeypatch):
    {fake_argv}
    monkeypatch.chdir(tmp_path)  # tests often chdir; the replay still runs from the rootdir
    tracker = ExperimentTracker("mushroom/demo", tracking_uri="sqlite:///" + str(tmp_path / "t.db"))
    with tracker.start_run() as run:
        pass
    tags = MlflowClient(tracking_uri=tracker.tracking_uri).get_run(run.info.run_id).data.tags
    print("TAGS", tags["git.commit"], tags["mlflow.source.git.commit"], tags["source.type"])
    print("OTHER", repr(tags["mlflow.source.git.branch"]), repr(tags["mlflow.source.git.repoURL"]),
          tags.get("source.workdir"))

def test_plain_mlflow_tags(tmp_path):
    {fake_argv}
    mlflow.set_tracking_uri("sqlite:///" + str(tmp_path / "p.db"))
    with mlflow.start_run() as run:
        pass
    tags = MlflowClient().get_run(run.info.run_id).data.tags
    print("PLAIN", tags["git.commit"], tags["mlflow.source.git.commit"], tags["source.type"])
"""


@pytest.mark.parametrize("argv_in_other_repo", [False, True], ids=["venv-outside", "venv-in-repo"])
def test_git_commit_under_pytest_is_the_test_repository(
    pytester: pytest.Pytester, tmp_path: Path, argv_in_other_repo: bool
) -> None:
    """Under pytest sys.argv[0] is the pytest executable; MLflow's own detection follows it."""
    other = make_repo(
        tmp_path / "elsewhere" / "venv-repo", remote="https://git.example.com/o/t.git"
    )
    subprocess.run(["git", "checkout", "-q", "-b", "dev"], cwd=other, check=True)
    (other / "bin").mkdir()
    (other / "bin" / "pytest").write_text("# stands in for a virtualenv kept in another repo\n")
    fake = f"sys.argv[0] = {str(other / 'bin' / 'pytest')!r}" if argv_in_other_repo else "pass"
    pytester.makepyfile(test_in_repo=TEST_IN_REPO.format(fake_argv=fake))
    repo = make_repo(pytester.path)
    assert head(repo) != head(other)
    # the test repository sits on a detached HEAD and has no remote: MLflow's branch and repo
    # URL tags must not be left describing the repository that holds sys.argv[0]
    subprocess.run(["git", "checkout", "-q", "--detach"], cwd=repo, check=True)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    expected = f"{head(repo)} {head(repo)} pytest"
    result.stdout.fnmatch_lines(
        [f"*TAGS {expected}*", "*OTHER '' '' .", f"*PLAIN {expected}*"], consecutive=False
    )


def test_plain_start_run_in_a_script_gets_convention_tags(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "proj", remote="https://bob:hunter2@git.example.com/t/p.git")
    script = repo / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import mlflow
            mlflow.set_tracking_uri("sqlite:///" + __import__("sys").argv[1])
            with mlflow.start_run(tags={"source.type": "notebook"}) as run:
                pass
            tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
            for key in sorted(tags):
                print(key, "=", tags[key])
            """
        )
    )
    subprocess.run(["git", "add", "train.py"], cwd=repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "train"],
        cwd=repo,
        check=True,
    )
    out = subprocess.run(
        [sys.executable, "train.py", str(tmp_path / "s.db"), "--token", "abc123"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tags = dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)
    assert tags["git.commit"] == head(repo)
    assert tags["git.dirty"] == "false"
    assert tags["os.user"]
    assert tags["source.type"] == "notebook"  # the caller's tag wins over the provider's
    assert tags["git.remote"] == "https://git.example.com/t/p.git"
    assert "hunter2" not in out and "abc123" not in out
    assert tags["source.command"].startswith("python train.py ")
    assert tags["source.command"].endswith("--token '***'")


def test_importing_the_plugin_does_not_import_mlflow() -> None:
    code = (
        "import sys, pytest_mlflow_guard.pytest_plugin.plugin, pytest_mlflow_guard;"
        "heavy = ('mlflow', 'sklearn', 'pandas');"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in heavy);"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.fresh_interpreter  # its subject is what the process imports
def test_pytest_session_with_plugin_loaded_does_not_import_mlflow(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("import sys\ndef test_x():\n    assert 'mlflow' not in sys.modules\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_dirty_tree_and_untracked_script(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    assert git_info(repo) is not None and not git_info(repo).dirty  # type: ignore[union-attr]
    (repo / "new_script.py").write_text("print(1)\n")
    info = git_info(repo / "new_script.py")
    assert info is not None and info.dirty  # the code being run is not in the commit
    assert not git_info(repo).dirty  # type: ignore[union-attr]  # untracked noise elsewhere is fine
    (repo / "README.md").write_text("changed\n")
    assert git_info(repo).dirty  # type: ignore[union-attr]
    assert git_info(tmp_path / "not-a-repo") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:tok@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://tok@github.com/o/r.git", "https://github.com/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("ssh://git@host:22/o/r.git", "ssh://host:22/o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


@given(
    user=st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=8),
    secret=st.text(st.characters(whitelist_categories=("Lu", "Nd")), min_size=6, max_size=20),
)
def test_strip_credentials_never_leaks(user: str, secret: str) -> None:
    cleaned = strip_credentials(f"https://{user}:{secret}@example.com/repo.git")
    assert secret not in cleaned and cleaned == "https://example.com/repo.git"


def test_redact_args() -> None:
    args = ["--password=pw1", "--api-key", "k2", "--lr", "0.1", "--uri", "https://u:p3@h/x"]
    assert _redact_args(args) == [
        "--password=***",
        "--api-key",
        "***",
        "--lr",
        "0.1",
        "--uri",
        "https://h/x",
    ]


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        (
            "--tracking-uri=http://alice:s3cr3t@127.0.0.1:5055",
            "--tracking-uri=http://127.0.0.1:5055",
        ),
        ("--key=abc", "--key=***"),
        ("--private-key=abc", "--private-key=***"),
        ("https://h/data?token=abc&page=2", "https://h/data?token=***&page=2"),
        ("http://[::1", "http://[::1"),  # malformed: left alone, and never an exception
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
    ],
)
def test_redact_single_args(arg: str, expected: str) -> None:
    assert _redact_args([arg]) == [expected]
    assert _redact_args(["--access-key", "AKIA123"]) == ["--access-key", "***"]


def test_a_huge_command_line_never_blocks_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlflow_guard.tracking.context.source import MAX_COMMAND_LENGTH, source_command

    monkeypatch.setattr(sys, "orig_argv", ["python", "train.py", *(["--file", "x" * 100] * 120)])
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setattr("pytest_mlflow_guard.tracking.context.runtime._pytest_rootpath", None)
    command = source_command()
    assert command is not None
    assert command.startswith("python train.py --file")
    assert MAX_COMMAND_LENGTH < len(command) < MAX_COMMAND_LENGTH + 60
    assert command.endswith("more characters not recorded]")

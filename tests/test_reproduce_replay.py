"""`mlflow-guard reproduce` end to end: real git repositories, real sqlite stores, real replays.

The acceptance cases of the reproducibility issue: the example project's demo reproduces (exit 0)
without touching the user's tree; an unseeded script does not (exit 1, diverging metrics named);
an unknown run, a run without a command and a commit the repository lacks cannot be replayed
(exit 2, nothing created).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from guard_testing import git

from pytest_mlflow_guard.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "example_project"

UNSEEDED = """
import random, sys
import mlflow

with mlflow.start_run(run_name="unseeded-demo"):
    mlflow.log_param("lr", 0.1)
    mlflow.log_metric("const", 1.0)
    mlflow.log_metric("score", random.random())
    for step in range(4):  # deterministic for two steps, then noise
        noise = random.random() if step >= 2 else 0.0
        mlflow.log_metric("loss", 1.0 / (step + 1) + noise, step=step)
    print("RUN", mlflow.active_run().info.run_id)
"""


def _commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def _state(repo: Path) -> tuple[str, str, str, str]:
    """What a replay must leave alone: status, branch, HEAD, and the worktree list."""
    return (
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "symbolic-ref", "--short", "HEAD"),
        git(repo, "rev-parse", "HEAD"),
        git(repo, "worktree", "list", "--porcelain"),
    )


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The replay's temporary directories land here, so a test can see none are left."""
    folder = tmp_path / "replay-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["reproduce", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _runs(uri: str) -> list[Any]:
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in c.search_experiments()]
    return list(c.search_runs(ids))


def _script_run(repo: Path, uri: str, script: str = "train.py") -> str:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_EXPERIMENT_NAME": "demo/unseeded"}
    env.pop("PYTEST_CURRENT_TEST", None)
    proc = subprocess.run(
        [sys.executable, script], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("RUN "))


def test_example_demo_reproduces_without_touching_the_tree(
    git_repo: Path,
    store: str,
    private_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = git_repo / "example_project"
    shutil.copytree(
        EXAMPLE / "src", project / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    shutil.copy(EXAMPLE / "pyproject.toml", project / "pyproject.toml")
    (git_repo / ".gitignore").write_text("__pycache__/\nmlruns/\n")
    commit = _commit(git_repo, "example project")
    # the copy's code, not the installed example project, as for a team member in their clone
    monkeypatch.setenv("PYTHONPATH", str(project / "src"))
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    demo = [sys.executable, "src/scripts/examples/mlflow_train_demo.py"]
    args = ["--n_estimators", "5", "--n_samples", "300", "--registered-model-name", ""]
    out = subprocess.run(
        [*demo, *args], cwd=project, env=env, capture_output=True, text=True, check=True
    ).stdout
    run_id = out.split("run id:")[1].split()[0]
    (git_repo / "README.md").write_text("changed after the run\n")  # the user keeps working
    before = _state(git_repo)
    monkeypatch.chdir(project)

    code, report, err = cli(capsys, run_id)

    assert code == 0, report + err[-3000:]
    assert "Verdict: REPRODUCED (exit 0)" in report
    assert "WARN  working tree  1 file(s) differ" in report and "M README.md" in report, report
    assert "accuracy" in report and "f1_macro" in report
    assert "run id:" in err  # the replayed command's own output goes to stderr
    assert _state(git_repo) == before  # same status, branch, HEAD; no worktree left
    assert list(private_tmp.iterdir()) == []
    runs = {r.info.run_id: r for r in _runs(store)}
    assert len(runs) == 2
    (replay,) = [r for r in runs.values() if r.info.run_id != run_id]
    assert replay.data.tags["reproduction.of"] == run_id
    assert replay.data.tags["git.commit"] == commit and replay.data.tags["git.dirty"] == "false"
    assert replay.info.experiment_id == runs[run_id].info.experiment_id
    assert replay.data.metrics == runs[run_id].data.metrics
    assert replay.data.params == runs[run_id].data.params


@pytest.fixture
def unseeded(git_repo: Path, store: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    (git_repo / "train.py").write_text(textwrap.dedent(UNSEEDED))
    _commit(git_repo, "unseeded training")
    run_id = _script_run(git_repo, store)
    monkeypatch.chdir(git_repo)
    return git_repo, run_id


def test_unseeded_training_is_not_reproduced(
    unseeded: tuple[Path, str], store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_id = unseeded
    code, out, err = cli(capsys, run_id, "--format", "json")
    assert code == 1, out + err
    report = json.loads(out)
    assert report["verdict"] == "not_reproduced"
    assert "score" in report["reason"] and "loss" in report["reason"]
    assert "const" not in report["reason"]
    metrics = {m["name"]: m for m in report["metrics"]}
    assert metrics["const"]["status"] == "ok"
    assert metrics["score"]["status"] == "differs"
    assert metrics["loss"]["first_divergent_step"] == 2
    replay = [r for r in _runs(store) if r.data.tags.get("reproduction.of") == run_id]
    assert [r.info.run_id for r in replay] == [report["replay"]["run_id"]]


def test_tolerances_and_ignored_metrics(
    unseeded: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_id = unseeded
    code, out, _ = cli(
        capsys, run_id, "--tolerance", "score=1", "--ignore-metric", "loss", "--format", "json"
    )
    report = json.loads(out)
    assert code == 0, report["reason"]
    assert {m["name"] for m in report["metrics"]} == {"const", "score"}
    (score,) = [m for m in report["metrics"] if m["name"] == "score"]
    assert (score["atol"], score["rtol"]) == (1.0, 0.0)


def test_cannot_replay_cases_exit_2_and_create_nothing(
    git_repo: Path,
    store: str,
    private_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlflow import MlflowClient

    monkeypatch.chdir(git_repo)
    head = git(git_repo, "rev-parse", "HEAD")
    c = MlflowClient(tracking_uri=store)
    experiment = c.create_experiment("demo/broken")
    base = {"git.commit": head, "git.dirty": "false", "source.workdir": "."}
    no_command = c.create_run(experiment, tags=base, run_name="no-command").info.run_id
    lost = {**base, "git.commit": "0123456789" * 4, "source.command": "python README.md"}
    missing_commit = c.create_run(experiment, tags=lost, run_name="lost").info.run_id
    for run_id in (no_command, missing_commit):
        c.set_terminated(run_id)
    before = (_state(git_repo), sorted(r.info.run_id for r in _runs(store)))

    cases = {
        "0" * 32: "unknown run",
        no_command: "no source.command recorded",
        missing_commit: "012345678901 recorded, not found in",
    }
    for run_id, reason in cases.items():
        code, out, _ = cli(capsys, run_id, "--format", "json")
        report = json.loads(out)
        assert (code, report["verdict"]) == (2, "cannot_replay"), out
        assert reason in report["reason"]
        assert report["replay"] is None
    code, out, _ = cli(capsys, no_command)
    assert code == 2 and "FAIL  command" in out and "Verdict: CANNOT REPLAY (exit 2)" in out
    assert (_state(git_repo), sorted(r.info.run_id for r in _runs(store))) == before
    assert list(private_tmp.iterdir()) == []


def test_check_only_reports_and_replays_nothing(
    unseeded: tuple[Path, str], store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, run_id = unseeded
    (repo / "train.py").write_text("# edited\n")
    code, out, _ = cli(capsys, run_id, "--check-only")
    assert code == 0, out
    assert "Verdict: REPLAYABLE (pre-flight only)" in out
    assert "WARN  working tree" in out and "M train.py" in out
    assert "PASS  command       python train.py" in out
    assert len(_runs(store)) == 1


def test_print_steps_keeps_the_manual_recipe(
    unseeded: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    repo, run_id = unseeded
    code, out, _ = cli(capsys, run_id, "--print-steps")
    assert code == 0
    assert f"git checkout {git(repo, 'rev-parse', 'HEAD')}" in out
    assert "python train.py" in out and "#   lr = 0.1" in out
    assert "git clone https://git.example.com/team/proj.git" in out
    assert "ghp_SECRET123" not in out  # the remote's token never shows


def test_a_missing_store_is_an_error_and_stays_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "nothing.db"
    code, _, err = cli(capsys, "0" * 32, "--tracking-uri", f"sqlite:///{db}")
    assert code == 2 and "no MLflow store" in err
    assert not db.exists()


def test_a_failing_replay_and_ctrl_c_leave_no_worktree(
    git_repo: Path,
    store: str,
    private_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Interrupting the replay (SIGINT from the terminal arrives as KeyboardInterrupt) stops
    the command and still removes the worktree."""
    from pytest_mlflow_guard.reproduce import workspace

    (git_repo / "train.py").write_text(textwrap.dedent(UNSEEDED))
    _commit(git_repo, "train")
    run_id = _script_run(git_repo, store)
    monkeypatch.chdir(git_repo)
    before = _state(git_repo)
    real = workspace.run_child

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        assert (Path.cwd() / "train.py").exists()
        assert list(private_tmp.iterdir()), "the worktree exists while the command runs"
        raise KeyboardInterrupt

    monkeypatch.setattr(workspace, "run_child", interrupted)
    code, _, err = cli(capsys, run_id)
    assert code == 2 and "interrupted" in err
    assert _state(git_repo) == before and list(private_tmp.iterdir()) == []

    monkeypatch.setattr(workspace, "run_child", real)
    (git_repo / "train.py").write_text("raise SystemExit(3)\n")
    _commit(git_repo, "broken")
    broken = _script_run_failing(git_repo, store, run_id)
    code, out, _ = cli(capsys, broken)
    assert code == 2 and "exited with 3 before logging a run" in out
    assert list(private_tmp.iterdir()) == []


def _script_run_failing(repo: Path, uri: str, like: str) -> str:
    """A run that claims `python train.py` at HEAD (whose train.py now fails)."""
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    original = c.get_run(like)
    tags = {**original.data.tags, "git.commit": git(repo, "rev-parse", "HEAD")}
    tags = {k: v for k, v in tags.items() if not k.startswith("mlflow.")}
    run = c.create_run(original.info.experiment_id, tags=tags, run_name="broken")
    c.log_param(run.info.run_id, "lr", "0.1")
    c.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def test_a_replay_leaves_the_users_other_worktrees_alone(
    unseeded: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worktree whose folder is missing right now (an unmounted disk) keeps its bookkeeping,
    and with it its staged changes: only the replay's own worktree is removed."""
    repo, run_id = unseeded
    other = tmp_path / "usb-disk" / "feature"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(other))
    (other / "wip.py").write_text("print('staged work')\n")
    git(other, "add", "wip.py")
    unmounted = tmp_path / "usb-disk-unmounted"
    (tmp_path / "usb-disk").rename(unmounted)  # the folder is gone while the replay runs
    listed_before = git(repo, "worktree", "list", "--porcelain")

    code, out, err = cli(capsys, run_id, "--format", "json")

    assert code in (0, 1), out + err  # replayed (the script is unseeded: not reproduced)
    assert git(repo, "worktree", "list", "--porcelain") == listed_before
    unmounted.rename(tmp_path / "usb-disk")  # mounted again: the staged change is still there
    assert git(other, "diff", "--cached", "--name-only") == "wip.py"

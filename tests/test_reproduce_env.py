"""``--env recorded``: the replay runs in a fresh virtualenv built from the recorded requirements.

Building a virtualenv with MLflow itself takes minutes from an empty cache, so this test records
a tiny environment instead (one local package of the repository, as the tracker records the
team's own code: ``-e ./helper-pkg``) and a command that reports where it ran and exits non-zero.
That shows the parts that matter: the venv is built, ``-e ./path`` resolves against the worktree
at the recorded commit, the command runs with the venv's interpreter, and everything is removed
afterwards. The full example-project replay with ``--env recorded`` is measured in
docs/reproduce.md.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from pathlib import Path

import pytest
from guard_testing import git

from pytest_mlflow_guard.cli import main

HELPER_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "replay-helper"
version = "0.1.0"
"""

SCRIPT = """
import sys, helper
print("PREFIX", sys.prefix)
print("HELPER", helper.__file__, helper.VALUE)
raise SystemExit(7)
"""


def test_recorded_env_builds_a_venv_from_the_worktree(
    git_repo: Path,
    store: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlflow import MlflowClient

    helper = git_repo / "helper-pkg"  # not "helper": a bare folder would shadow the package
    (helper / "helper").mkdir(parents=True)
    (helper / "pyproject.toml").write_text(textwrap.dedent(HELPER_PYPROJECT))
    (helper / "helper" / "__init__.py").write_text("VALUE = 'from the commit'\n")
    (git_repo / "run.py").write_text(textwrap.dedent(SCRIPT))
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "helper")
    head = git(git_repo, "rev-parse", "HEAD")
    (helper / "helper" / "__init__.py").write_text("VALUE = 'edited since'\n")  # not replayed

    c = MlflowClient(tracking_uri=store)
    experiment = c.create_experiment("demo/env")
    tags = {"git.commit": head, "git.dirty": "false", "source.command": "python run.py"}
    run_id = c.create_run(experiment, tags=tags, run_name="tiny-env").info.run_id
    c.log_text(
        run_id, "# Environment of the run\n-e ./helper-pkg\n", "environment/requirements.txt"
    )
    c.set_terminated(run_id)
    replay_tmp = tmp_path / "replay-tmp"
    replay_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(replay_tmp))
    monkeypatch.chdir(git_repo)

    code = main(["reproduce", run_id, "--env", "recorded", "--format", "json", "--timeout", "300"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == 2, err[-3000:]
    assert report["reason"] == "the replayed command exited with 7 before logging a run"
    assert report["replay"]["env"] == "recorded"
    tail = report["replay"]["output_tail"]
    prefix = tail.split("PREFIX ")[1].split()[0]
    assert prefix.startswith(str(replay_tmp)) and prefix.endswith("venv")
    assert "from the commit" in tail  # the worktree's code, not the edited working tree
    assert "/worktree/helper-pkg/helper/__init__.py" in tail
    assert list(replay_tmp.iterdir()) == []  # venv and worktree removed
    assert git(git_repo, "worktree", "list").count("\n") == 0

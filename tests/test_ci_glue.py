"""The GitHub Action (``action.yml``): its check step, run as GitHub would run it, on a real
sqlite store. (The pre-commit hook's entry is run in test_lint.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def _step(name: str) -> dict[str, Any]:
    (step,) = [s for s in ACTION["runs"]["steps"] if s.get("name") == name]
    return dict(step)


def test_the_action_is_composite_and_its_scripts_never_paste_inputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            # ${{ }} in a script is pasted before the shell parses it: an input could inject
            # commands. Inputs go through env: only.
            assert "${{" not in step["run"], step["name"]
            assert step["shell"] == "bash"
    used = re.findall(r"\$\{\{ inputs\.([\w-]+) \}\}", (ROOT / "action.yml").read_text())
    assert set(used) == set(ACTION["inputs"])  # every input is used, none is made up


def _run_check_step(
    tmp_path: Path, inputs: dict[str, str], uri: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
    step = _step("Check the tracking store")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for key, template in step["env"].items():
        name = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", template)
        assert name, template
        env[key] = inputs.get(name.group(1), ACTION["inputs"][name.group(1)]["default"])
    env["GITHUB_OUTPUT"] = str(tmp_path / "output")
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "summary.md")
    done = subprocess.run(
        # what `shell: bash` runs: bash --noprofile --norc -eo pipefail {0}
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    outputs = dict(
        line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines() if line
    )
    summary = tmp_path / "summary.md"
    return done, outputs, summary.read_text() if summary.exists() else ""


@pytest.fixture
def bad_store(store: str) -> str:
    from mlflow import MlflowClient

    MlflowClient(store).create_experiment("Fraud Scoring")  # MLG101
    return store


def test_the_check_step_writes_sarif_the_summary_and_fails_on_errors(
    bad_store: str, tmp_path: Path
) -> None:
    done, outputs, summary = _run_check_step(tmp_path, {"args": "--select MLG101"}, bad_store)
    assert done.returncode == 1, done.stderr
    assert outputs == {"exit-code": "1"}
    assert "::error" in done.stdout and "MLG101" in done.stdout  # annotations in the log
    sarif = json.loads((tmp_path / "mlflow-guard.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["MLG101"]
    assert "MLG101" in summary and summary == (tmp_path / "mlflow-guard.md").read_text()


def test_fail_on_error_false_reports_without_failing(bad_store: str, tmp_path: Path) -> None:
    # args on two lines (a YAML block), "False" as a person types it
    inputs = {"args": "--select\nMLG101", "fail-on-error": "False", "sarif-file": "out/g.sarif"}
    (tmp_path / "out").mkdir()
    done, outputs, _ = _run_check_step(tmp_path, inputs, bad_store)
    assert (done.returncode, outputs) == (0, {"exit-code": "1"})
    sarif = json.loads((tmp_path / "out" / "g.sarif").read_text())
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"MLG101"}  # the 2nd line too


def test_a_store_that_cannot_be_checked_always_fails(tmp_path: Path) -> None:
    inputs = {"fail-on-error": "false", "args": "--experiment a/* --experiment $(touch x)"}
    (tmp_path / "mlflow-guard.md").write_text("an old report\n")
    done, outputs, summary = _run_check_step(
        tmp_path, inputs, "sqlite:///" + str(tmp_path / "no.db")
    )
    assert (done.returncode, outputs) == (2, {"exit-code": "2"})
    assert summary == ""  # not the old report as if it were this check's
    assert not (tmp_path / "x").exists()  # an argument is data, never run

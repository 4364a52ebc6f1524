"""The example project's own suite, run the way its team runs it: under the guard, enforce mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "example_project"


@pytest.mark.subprocess  # a real pytest process, without pytester
def test_example_suite_passes_under_the_guard_in_enforce_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTEST_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT"] = "0"  # as for every test: see conftest.py
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--mlflow-guard-mode=enforce",
         f"--mlflow-guard-report=json:{tmp_path / 'guard.json'}"],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out[-4000:] + result.stderr[-2000:]
    assert "mlflow-guard: on (ini), mode=enforce (cli), tracking=isolated throwaway" in out
    assert "/mlflow.db (ini), experiment=mushroom/tests (default)" in out
    assert "= mlflow-guard =" in out
    assert any(line.startswith("0 error(s), ") for line in out.splitlines())
    report = json.loads((tmp_path / "guard.json").read_text())
    assert report["checked"]["runs"] >= 5 and report["checked"]["model_versions"] == 2
    # isolated: a throwaway store, not the example's own (where the README's demo writes)
    assert "mlflow-guard-session-" in report["tracking_uri"]

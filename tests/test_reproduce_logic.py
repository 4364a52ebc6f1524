"""The reproduction's pure parts: tolerances, pre-flight verdicts, command parsing, reports."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.mlflow_io.uris import absolute_tracking_uri
from pytest_mlflow_guard.reproduce.compare import (
    Tolerance,
    compare_metrics,
    compare_params,
    failing,
    first_divergence,
    parse_tolerance,
)
from pytest_mlflow_guard.reproduce.preflight import (
    LocalFacts,
    RunFacts,
    evaluate,
    parse_command,
    requirements_diff,
)
from pytest_mlflow_guard.reproduce.report import ReplayInfo, Reproduction, as_dict, render_text

SHA = "c" * 40


def run_facts(**changes: object) -> RunFacts:
    base: dict[str, object] = {
        "run_id": "r1",
        "run_name": "20260101-000000_alice",
        "experiment_id": "1",
        "experiment_name": "mushroom/demo",
        "status": "FINISHED",
        "start_time_ms": 0,
        "tags": {
            "git.commit": SHA,
            "git.dirty": "false",
            "source.command": "python train.py --lr 0.1",
            "source.workdir": ".",
        },
        "params": {"lr": "0.1"},
        "metrics": {"acc": 0.9},
        "requirements": "numpy==2.0.0\nmlflow==3.17.2\n",
        "python_version": "3.11.7",
    }
    base.update(changes)
    return RunFacts(**base)  # type: ignore[arg-type]


def local_facts(**changes: object) -> LocalFacts:
    base: dict[str, object] = {
        "repo_root": "/repo",
        "commit_present": True,
        "workdir_in_commit": True,
        "script_in_commit": True,
        "python_version": "3.11.7",
        "requirements": "numpy==2.0.0\nmlflow==3.17.2\n",
    }
    base.update(changes)
    return LocalFacts(**base)  # type: ignore[arg-type]


def rows(run: RunFacts, local: LocalFacts) -> dict[str, tuple[str, str]]:
    return {
        c.name: (c.status, c.summary + " | " + " | ".join(c.details)) for c in evaluate(run, local)
    }


# -- tolerances -------------------------------------------------------------------------------


def test_tolerance_is_isclose_shaped() -> None:
    tol = Tolerance(rtol=0.01, atol=0.001)
    assert tol.allows(100.0, 100.9)  # within 1 % of 100 (+0.001)
    assert not tol.allows(100.0, 101.1)
    assert tol.allows(0.0, 0.0009)  # near zero only atol counts
    assert not tol.allows(0.0, 0.002)
    assert tol.allows(math.nan, math.nan)
    assert not tol.allows(math.nan, 1.0)
    assert tol.allows(math.inf, math.inf)
    assert not tol.allows(math.inf, 1e308)


@pytest.mark.parametrize(
    ("spec", "name", "expected"),
    [
        ("accuracy=0.01", "accuracy", Tolerance(0.0, 0.01)),
        ("loss=2%", "loss", Tolerance(0.02, 0.0)),
        ("val_*=0", "val_*", Tolerance(0.0, 0.0)),
    ],
)
def test_parse_tolerance(spec: str, name: str, expected: Tolerance) -> None:
    assert parse_tolerance(spec) == (name, expected)


@pytest.mark.parametrize("spec", ["accuracy", "=0.1", "acc=", "acc=abc", "acc=-1", "acc=x%"])
def test_bad_tolerance_is_a_usage_error(spec: str) -> None:
    with pytest.raises(GuardError, match="--tolerance"):
        parse_tolerance(spec)


def test_compare_metrics_statuses_and_overrides() -> None:
    recorded = {"acc": 0.90, "loss": 0.50, "f1": 0.8, "gone": 1.0, "val_a": 1.0}
    replayed = {"acc": 0.91, "loss": 0.50, "f1": 0.8000000001, "new": 2.0, "val_a": 1.04}
    result = {
        r.name: r.status
        for r in compare_metrics(
            recorded,
            replayed,
            Tolerance(1e-7, 1e-9),
            {"acc": Tolerance(0.0, 0.02), "val_*": Tolerance(0.05, 0.0)},
        )
    }
    assert result == {
        "acc": "ok",  # exact override
        "loss": "ok",
        "f1": "ok",  # 1e-10 within rtol 1e-7
        "gone": "missing",
        "new": "extra",
        "val_a": "ok",  # glob override: 4 % < 5 %
    }
    strict = compare_metrics(recorded, replayed, Tolerance(0, 0))
    assert failing(strict) == ["acc", "f1", "gone", "val_a"]
    assert failing(strict, extra_fails=True) == ["acc", "f1", "gone", "new", "val_a"]
    only = compare_metrics(recorded, replayed, Tolerance(), only=["acc"])
    assert [r.name for r in only] == ["acc"]


def test_metric_row_differences() -> None:
    (row,) = compare_metrics({"m": 2.0}, {"m": 2.5}, Tolerance(0, 0))
    assert row.abs_diff == 0.5 and row.rel_diff == 0.25
    (zero,) = compare_metrics({"m": 0.0}, {"m": 0.5}, Tolerance(0, 0))
    assert zero.rel_diff == math.inf


def test_compare_params_as_strings() -> None:
    result = compare_params({"lr": "0.1", "seed": "1", "old": "x"}, {"lr": "0.10", "seed": "1"})
    assert [(r.name, r.status) for r in result] == [
        ("lr", "differs"),
        ("old", "missing"),
        ("seed", "ok"),
    ]


def test_first_divergence() -> None:
    tol = Tolerance(0, 1e-9)
    same = [(0, 1.0), (1, 0.5), (2, 0.25)]
    assert first_divergence(same, list(same), tol) is None
    assert first_divergence(same, [(0, 1.0), (1, 0.6), (2, 0.3)], tol) == 1
    assert first_divergence(same, same[:2], tol) == 2  # the replay stopped early


# -- pre-flight --------------------------------------------------------------------------------


def test_clean_run_passes_every_check() -> None:
    assert {name: status for name, (status, _) in rows(run_facts(), local_facts()).items()} == {
        "commit": "pass",
        "working tree": "pass",
        "dirty run": "pass",
        "requirements": "pass",
        "python": "pass",
        "command": "pass",
        "params": "pass",
    }


@pytest.mark.parametrize(
    ("run", "local", "row", "status", "evidence"),
    [
        ({"tags": {"source.command": "python t.py"}}, {}, "commit", "fail", "no git.commit"),
        ({}, {"commit_present": False}, "commit", "fail", "not found in /repo"),
        ({}, {"repo_root": None}, "commit", "fail", "no git repository"),
        ({}, {"changed_files": ("M train.py",)}, "working tree", "warn", "M train.py"),
        ({}, {"untracked_files": ("notes.txt",)}, "working tree", "warn", "? notes.txt"),
        (
            {"tags": {"git.commit": SHA, "git.dirty": "true", "source.command": "python t.py"}},
            {},
            "dirty run",
            "warn",
            "cannot be replayed exactly",
        ),
        ({"tags": {"git.commit": SHA}}, {}, "command", "fail", "no source.command"),
        (
            {
                "tags": {
                    "git.commit": SHA,
                    "source.command": "python t.py ...[9 more characters not recorded]",
                }
            },
            {},
            "command",
            "fail",
            "was cut",
        ),
        ({}, {"script_in_commit": False}, "command", "fail", "train.py is not in the commit"),
        ({}, {"workdir_in_commit": False}, "command", "fail", "not in the commit"),
        (
            {"tags": {"git.commit": SHA, "source.command": "python t.py --token '***'"}},
            {},
            "command",
            "warn",
            "masked",
        ),
        ({"params": {}}, {}, "params", "warn", "no params recorded"),
        ({"python_version": "3.10.4"}, {}, "python", "warn", "another minor version"),
        ({"python_version": "3.11.1"}, {}, "python", "warn", "3.11.1 recorded, 3.11.7 used"),
        ({"python_version": None}, {}, "python", "warn", "not recorded"),
        ({"requirements": None}, {}, "requirements", "warn", "MLG501"),
        ({"requirements": None}, {"env_mode": "recorded"}, "requirements", "fail", "MLG501"),
        (
            {},
            {"requirements": "numpy==2.1.0\nmlflow==3.17.2\nrich==13.0\n"},
            "requirements",
            "warn",
            "~ numpy 2.0.0 -> 2.1.0 | + rich==13.0",
        ),
    ],
)
def test_preflight_rows(
    run: dict[str, object], local: dict[str, object], row: str, status: str, evidence: str
) -> None:
    got_status, text = rows(run_facts(**run), local_facts(**local))[row]
    assert got_status == status
    assert evidence in text


def test_requirements_diff_lines() -> None:
    recorded = "# header\nnumpy==1.0\nPyYAML==6.0\n-e ./example_project\nold==1\n"
    current = "numpy==2.0\npyyaml==6.0\n-e ./example_project\nnew @ git+https://x/y@abc\n"
    assert requirements_diff(recorded, current) == [
        "~ numpy 1.0 -> 2.0",
        "- old==1 (recorded, not installed now)",
        "+ new @ git+https://x/y@abc (installed now, not recorded)",
    ]


@pytest.mark.parametrize(
    ("command", "kind", "script", "argv"),
    [
        ("python train.py --lr 0.1", "python", "train.py", ["PY", "train.py", "--lr", "0.1"]),
        ("python3.11 -u -X dev s/t.py", "python", "s/t.py", ["PY", "-u", "-X", "dev", "s/t.py"]),
        ("python -m pkg.train --x 1", "python", None, ["PY", "-m", "pkg.train", "--x", "1"]),
        (
            "pytest tests/test_a.py::test_b",
            "pytest",
            "tests/test_a.py",
            ["PY", "-m", "pytest", "tests/test_a.py::test_b"],
        ),
        ("make train", "other", None, ["make", "train"]),
    ],
)
def test_parse_command(command: str, kind: str, script: str | None, argv: list[str]) -> None:
    parsed = parse_command(command)
    assert (parsed.kind, parsed.script) == (kind, script)
    assert parsed.with_python("PY") == argv


# -- reports -----------------------------------------------------------------------------------


def test_report_text_and_json() -> None:
    metrics = compare_metrics(
        {"acc": 0.9, "nan": math.nan}, {"acc": 0.7, "nan": math.nan}, Tolerance()
    )
    result = Reproduction(
        "r1",
        "not_reproduced",
        reason="metrics out of tolerance or missing: acc",
        run_name="n",
        experiment="mushroom/demo",
        tracking_uri="sqlite:////s/mlflow.db",
        checks=evaluate(run_facts(), local_facts(changed_files=("M a.py",))),
        replay=ReplayInfo("current", "3.11.7", "python train.py", ".", 0, 1.5),
        replay_run_id="r2",
        metrics=metrics,
        params=compare_params({"lr": "0.1"}, {"lr": "0.1"}),
        divergence={"acc": 3},
    )
    text = render_text(result)
    assert "WARN  working tree" in text and "M a.py" in text
    assert "new run r2 tagged reproduction.of=r1" in text
    assert "DIFFERS (from step 3)" in text
    assert "Params: all 1 identical" in text
    assert text.rstrip().endswith(
        "Verdict: NOT REPRODUCED (exit 1): metrics out of tolerance or missing: acc"
    )
    data = json.loads(json.dumps(as_dict(result)))  # strict JSON: no NaN
    assert data["exit_code"] == 1 and data["replay"]["run_id"] == "r2"
    by_name = {m["name"]: m for m in data["metrics"]}
    assert by_name["acc"]["status"] == "differs" and by_name["acc"]["first_divergent_step"] == 3
    assert by_name["nan"]["recorded"] == "nan" and by_name["nan"]["status"] == "ok"
    assert result.exit_code == 1 and not result.reproduced


def test_absolute_tracking_uri(tmp_path: Path) -> None:
    assert (
        absolute_tracking_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"
    )
    assert absolute_tracking_uri("sqlite:////abs/m.db", tmp_path) == "sqlite:////abs/m.db"
    assert absolute_tracking_uri("mlruns", tmp_path) == str(tmp_path / "mlruns")
    assert absolute_tracking_uri("http://h:5000", tmp_path) == "http://h:5000"


def test_importing_the_reproduce_modules_imports_neither_mlflow_nor_pytest() -> None:
    code = (
        "import sys\n"
        "import pytest_mlflow_guard.reproduce.runner, pytest_mlflow_guard.reproduce.steps\n"
        "import pytest_mlflow_guard.mlflow_io.replay\n"
        "bad = [m for m in ('mlflow', 'pytest', '_pytest') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "import pytest_mlflow_guard.pytest_plugin.reproduce\n"
        "assert 'mlflow' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr

"""`mlflow-guard lint`: the literals it judges, the ones it leaves alone, its config, its output,
and the pre-commit hook run as pre-commit runs it (a real subprocess)."""

from __future__ import annotations

import ast
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pytest_mlflow_guard.cli import main
from pytest_mlflow_guard.config import GuardConfig, load_config
from pytest_mlflow_guard.lint import Checker, find_sites, lint_file, lint_source, suppressions

REPO = Path(__file__).parents[1]
HEADER = "import mlflow\n"


def _write(tmp_path: Path, source: str, name: str = "snippet.py") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


def _pyproject(tmp_path: Path, table: str) -> Path:
    return _write(tmp_path, f"[tool.mlflow-guard]\n{table}\n", "pyproject.toml")


def _found(source: str, config: GuardConfig | None = None) -> list[tuple[str, int, int]]:
    """(code, line, column) of every finding in ``source``."""
    findings = lint_source(source, "snippet.py", Checker(config or GuardConfig()))
    return [(f.code, f.line, f.col) for f in findings]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["lint", *args])
    out, err = capsys.readouterr()
    return code, out, err


# --- what is found ----------------------------------------------------------------------------

# (the line after `import mlflow`, the rule, the text the finding's column points at)
CONSTRUCTS = [
    ('mlflow.set_experiment("Fraud Scoring")', "MLG101", '"Fraud'),
    ('mlflow.set_experiment(experiment_name="Fraud")', "MLG101", '"Fraud'),
    ('mlflow.create_experiment("Fraud")', "MLG101", '"Fraud'),
    ('MlflowClient().create_experiment(name="tmp")', "MLG101", '"tmp'),
    ('MlflowClient().rename_experiment("1", "Tmp")', "MLG101", '"Tmp'),
    ('ExperimentTracker("Bad")', "MLG101", '"Bad'),
    ('ExperimentTracker(experiment_name="Bad", run_mode="training")', "MLG101", '"Bad'),
    ('launch(config, experiment_name="Bad")', "MLG101", '"Bad'),
    ('mlflow.set_experiment(f"Bad")', "MLG101", 'f"Bad'),
    ('mlflow.sklearn.log_model(m, "model", registered_model_name="Fraud Scorer")', "MLG103", '"F'),
    ('mlflow.register_model("runs:/1/model", "FraudScorer")', "MLG103", '"FraudScorer'),
    ('mlflow.register_model(model_uri="runs:/1/m", name="Fraud-scorer")', "MLG103", '"Fraud-'),
    ('MlflowClient().create_registered_model("Fraud")', "MLG103", '"Fraud'),
    ('mlflow.start_run(tags={"model.type": "rf", "run.mode": "train"})', "MLG202", '"train'),
    ('mlflow.start_run(tags=dict({"source.type": "cli"}))', "MLG202", '"cli'),
    ('mlflow.set_tag("run.mode", "train")', "MLG202", '"train'),
    ('mlflow.set_tag(key="run.mode", value="Training")', "MLG202", '"Training'),
    ('mlflow.set_tags({"run.mode": "eval"})', "MLG202", '"eval'),
    ('tracker.set_tags(tags={"source.type": "cron"})', "MLG202", '"cron'),
    ('MlflowClient().set_tag(run_id, "run.mode", "train")', "MLG202", '"train'),
    ('client.set_tag(run_id, "run.mode", value="train")', "MLG202", '"train'),
    ('ExperimentTracker("fraud/scoring", run_mode="train")', "MLG202", '"train'),
    ('tracker.start_run(run_name="lr", run_mode="test")', "MLG202", '"test'),
]


@pytest.mark.parametrize(("line", "code", "at"), CONSTRUCTS, ids=[c[0] for c in CONSTRUCTS])
def test_each_construct_is_found_at_its_line_and_column(line: str, code: str, at: str) -> None:
    assert _found(HEADER + line + "\n") == [(code, 2, line.index(at) + 1)]


def test_messages_are_the_gates_own() -> None:
    source = HEADER + 'mlflow.set_experiment("Foo")\nmlflow.set_tag("run.mode", "train")\n'
    messages = [f.message for f in lint_source(source, "s.py", Checker(GuardConfig()))]
    assert messages == [
        "experiment name 'Foo' does not match ^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$ "
        "(expected {project}/{module})",
        "tag 'run.mode' has value 'train'; allowed: training, validation, inference",
    ]


def test_a_module_level_constant_is_folded_where_it_is_used() -> None:
    source = 'EXPERIMENT = "Johns experiment"\nMODEL: str = "Model"\n\n'
    source += "mlflow.set_experiment(EXPERIMENT)\nmlflow.register_model(uri, MODEL)\n"
    assert _found(source) == [("MLG101", 4, 23), ("MLG103", 5, 28)]


def test_conforming_literals_pass() -> None:
    source = HEADER + "\n".join(
        [
            'mlflow.set_experiment("fraud/scoring")',
            'MlflowClient().create_experiment("fraud/scoring-v2")',
            'ExperimentTracker("mushroom/growth", run_mode="validation")',
            'mlflow.sklearn.log_model(m, "model", registered_model_name="fraud_scorer")',
            'mlflow.register_model("runs:/1/model", "fraud_scorer")',
            'mlflow.start_run(tags={"run.mode": "training", "source.type": "script"})',
            'mlflow.set_tag("run.mode", "inference")',
            'MlflowClient().set_tag(run_id, "source.type", "notebook")',
            'mlflow.set_tag("team", "Anything Goes")',  # a tag without a vocabulary
            'mlflow.set_tag("run.mode", "")',  # blank: the required-tag rule's business
            "mlflow.sklearn.log_model(m, registered_model_name=None)",
        ]
    )
    assert _found(source) == []


NOT_LITERAL = [
    "mlflow.set_experiment(name)",
    'mlflow.set_experiment(f"{user}/Scratch")',
    'mlflow.set_experiment("Fraud" + suffix)',
    "mlflow.set_experiment(*names)",
    'mlflow.register_model(*args, "Fraud")',
    'mlflow.set_tag("run.mode", mode)',
    'mlflow.set_tag(*pair, "train")',
    'mlflow.start_run(tags={**base, "run.mode": mode})',
    "mlflow.start_run(tags=build_tags())",
    'mlflow.start_run(tags=settings.dict(mode="Train"))',
    # experiment and model version tags are not run tags: the tag-value rule judges runs
    'mlflow.create_experiment("fraud/scoring", tags={"run.mode": "x"})',
    'mlflow.register_model("runs:/1/m", "fraud", tags={"run.mode": "x"})',
    'mlflow.sklearn.log_model(m, name="model", tags={"run.mode": "x"})',
    'mlflow.set_experiment_tags(tags={"run.mode": "x"})',
]


@pytest.mark.parametrize("line", NOT_LITERAL)
def test_what_the_source_does_not_fix_is_skipped(line: str) -> None:
    assert _found(HEADER + line + "\n") == []


def test_a_constant_bound_again_anywhere_is_not_folded() -> None:
    # the parameter shadows the module constant: folding would report a name never used
    source = 'NAME = "Bad"\n\ndef use(NAME):\n    mlflow.set_experiment(NAME)\n'
    source += 'OTHER = "Bad"\nOTHER = compute()\nmlflow.set_experiment(OTHER)\n'
    assert _found(source) == []


def test_columns_count_characters_not_bytes() -> None:
    line = 'mlflow.set_tag("note", "é"); mlflow.set_experiment("Bad")'
    assert _found(line + "\n") == [("MLG101", 1, line.index('"Bad') + 1)]


def test_find_sites_reports_kind_value_and_key() -> None:
    tree = ast.parse('ExperimentTracker("a/b", run_mode="x")\nc.set_tag(r, "k", "v")\n')
    sites = [(s.kind, s.key, s.value, s.line, s.experiment) for s in find_sites(tree)]
    assert sites == [
        ("experiment", "", "a/b", 1, None),
        ("tag", "run.mode", "x", 1, "a/b"),
        ("tag", "k", "v", 2, None),
    ]


# --- suppression comments ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "comment",
    [
        "# mlflow-guard: ignore[MLG101]",
        "# mlflow-guard: ignore[experiment-name]",
        "# mlflow-guard: ignore[MLG103, mlg101]",
        "# mlflow-guard: ignore",
        "# noqa: E501  # mlflow-guard: ignore[MLG101]",
    ],
)
def test_a_suppression_comment_on_the_line_silences_it(comment: str) -> None:
    source = HEADER + f'mlflow.set_experiment("Legacy")  {comment}\nmlflow.set_experiment("B")\n'
    assert _found(source) == [("MLG101", 3, 23)]


@pytest.mark.parametrize(
    "source",
    [
        'mlflow.set_experiment("Legacy")  # mlflow-guard: ignore[MLG103]\n',
        'mlflow.set_experiment("Legacy")  # mlflow-guard: ignore[MLG1O1]\n',  # a typo
        'mlflow.set_experiment("Legacy")  # mlflow-guard: ignored\n',
        '# mlflow-guard: ignore\nmlflow.set_experiment("Legacy")\n',  # another line
        'mlflow.set_experiment("Legacy", "# mlflow-guard: ignore")\n',  # a string, no comment
    ],
)
def test_a_suppression_that_does_not_cover_the_finding_leaves_it(source: str) -> None:
    assert [code for code, _, _ in _found(source)] == ["MLG101"]


def test_suppressions_map_lines_to_codes() -> None:
    source = "a()  # mlflow-guard: ignore[MLG101,tag-value]\nb()\nc()  # mlflow-guard: ignore\n"
    assert suppressions(source) == {1: frozenset({"MLG101", "MLG202"}), 3: None}


# --- the config -------------------------------------------------------------------------------


def test_the_configured_patterns_and_vocabulary_are_used(tmp_path: Path) -> None:
    config = load_config(
        _pyproject(
            tmp_path,
            'experiment-name-pattern = "^[A-Z]+$"\n'
            'registered-model-name-pattern = "^[A-Z][A-Za-z]+$"\n'
            'allowed-values = { "run.mode" = ["train", "eval"] }',
        )
    )
    source = "\n".join(
        [
            'mlflow.set_experiment("FRAUD")',
            'mlflow.set_experiment("fraud/scoring")',
            'mlflow.register_model(uri, "FraudScorer")',
            'mlflow.register_model(uri, "fraud_scorer")',
            'mlflow.set_tag("run.mode", "train")',
            'mlflow.set_tag("run.mode", "training")',
            'mlflow.set_tag("source.type", "anything")',  # no longer has a vocabulary
        ]
    )
    assert [(code, line) for code, line, _ in _found(source, config)] == [
        ("MLG101", 2),
        ("MLG103", 4),
        ("MLG202", 6),
    ]


SOURCE_OF_THREE = (
    'mlflow.set_experiment("Bad")\n'
    'mlflow.register_model(uri, "Bad Model")\n'
    'mlflow.set_tag("run.mode", "train")\n'
)


@pytest.mark.parametrize(
    ("table", "codes"),
    [
        ('ignore = ["MLG101"]', ["MLG103", "MLG202"]),
        ('ignore = ["tag-value", "registered-model-name"]', ["MLG101"]),
        ('select = ["MLG202"]', ["MLG202"]),
        ('severity = { MLG103 = "off" }', ["MLG101", "MLG202"]),
    ],
)
def test_rules_ignored_or_off_in_the_config_are_not_reported(
    tmp_path: Path, table: str, codes: list[str]
) -> None:
    config = load_config(_pyproject(tmp_path, table))
    assert [code for code, _, _ in _found(SOURCE_OF_THREE, config)] == codes


def test_per_experiment_overrides_apply_to_experiment_names(tmp_path: Path) -> None:
    config = load_config(
        _pyproject(
            tmp_path,
            '[[tool.mlflow-guard.overrides]]\nexperiments = ["Legacy*"]\nignore = ["MLG101"]',
        )
    )
    source = 'mlflow.set_experiment("Legacy Stuff")\nmlflow.set_experiment("Other")\n'
    assert _found(source, config) == [("MLG101", 2, 23)]


def test_a_warning_is_printed_but_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _pyproject(tmp_path, 'severity = { experiment-name = "warning" }')
    bad = _write(tmp_path, HEADER + 'mlflow.set_experiment("Bad")\n')
    code, out, _ = _cli(capsys, str(bad), "--config", str(config))
    assert code == 0
    assert f"{bad}:2:23: MLG101 experiment-name experiment name 'Bad'" in out
    assert out.splitlines()[-1] == "mlflow-guard lint: 0 errors, 1 warning in 1 file"


def test_the_nearest_pyproject_is_the_default_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _pyproject(tmp_path, 'experiment-name-pattern = "^Bad$"')
    _write(tmp_path, 'mlflow.set_experiment("Bad")\n', "src/train.py")
    monkeypatch.chdir(tmp_path / "src")
    assert _cli(capsys, "train.py")[0] == 0


def test_a_bad_config_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _pyproject(tmp_path, 'select = ["MLG999"]')
    code, _, err = _cli(capsys, str(tmp_path), "--config", str(config))
    assert code == 2
    assert "unknown rule 'MLG999'" in err


# --- the command ------------------------------------------------------------------------------


def test_findings_print_path_line_column_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, HEADER + 'mlflow.set_experiment("Foo")\nmlflow.set_tag("run.mode", "x")\n')
    code, out, err = _cli(capsys, "snippet.py")
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "snippet.py:2:23: MLG101 experiment-name experiment name 'Foo' does not match "
        "^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$ (expected {project}/{module})",
        "snippet.py:3:28: MLG202 tag-value tag 'run.mode' has value 'x'; "
        "allowed: training, validation, inference",
        "mlflow-guard lint: 2 errors, 0 warnings in 1 file",
    ]


def test_a_clean_tree_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path, HEADER + 'mlflow.set_experiment("fraud/scoring")\n')
    code, out, _ = _cli(capsys, str(tmp_path))
    assert (code, out) == (0, "mlflow-guard lint: no findings in 1 file\n")


def test_folders_are_walked_for_python_files_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = 'mlflow.set_experiment("Bad")\n'
    for name in [
        "proj/b.py",
        "proj/a/z.py",
        "proj/notes.txt",
        "proj/.venv/lib/x.py",
        "proj/venv/x.py",
        "proj/build/x.py",
        "proj/dist/x.py",
        "proj/node_modules/x.py",
        "proj/.tox/x.py",
        "proj/.cache/x.py",
        "proj/__pycache__/x.py",
        "script",  # Python by its shebang: pre-commit passes it by name
    ]:
        _write(tmp_path, bad, name)
    monkeypatch.chdir(tmp_path)
    code, out, _ = _cli(capsys, "proj/", "script", "proj/b.py")
    assert code == 1
    assert [line.split(":")[0] for line in out.splitlines()[:-1]] == [
        "proj/a/z.py",
        "proj/b.py",
        "script",
    ]
    assert out.splitlines()[-1].endswith("in 3 files")


def test_a_missing_path_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.py"
    code, out, err = _cli(capsys, str(tmp_path), str(missing))
    assert (code, out) == (2, "")
    assert f"{missing}: no such file or directory" in err


def test_a_syntax_error_is_a_usage_error_and_the_other_files_are_still_linted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _write(tmp_path, "import mlflow\n\nmlflow.set_experiment(\n", "broken.py")
    other = _write(tmp_path, 'mlflow.set_experiment("Bad")\n', "other.py")
    code, out, err = _cli(capsys, str(broken), str(other))
    assert code == 2
    assert f"{broken}:3: syntax error" in err
    assert f"{other}:1:23: MLG101" in out


def test_undecodable_source_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "latin.py"
    binary.write_bytes(b'name = "caf\xe9"\n')
    code, _, err = _cli(capsys, str(binary))
    assert code == 2
    assert f"{binary}: syntax error: invalid or missing encoding declaration" in err


def test_a_hostile_literal_is_printed_cleaned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _write(tmp_path, 'mlflow.set_experiment("\\x1b]0;x\\x07")\n')
    code, out, _ = _cli(capsys, str(bad))
    assert code == 1
    assert "\x1b" not in out and "\x07" not in out
    assert "experiment name '\\x1b]0;x\\x07' does not match" in out


def test_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _write(tmp_path, HEADER + 'mlflow.set_experiment(experiment_name="\\x1bX")\n')
    code, out, _ = _cli(capsys, str(bad), "--format", "json")
    assert code == 1
    assert "\x1b" not in out  # json.dumps escapes it; the value itself is kept as written
    assert json.loads(out) == [
        {
            "path": str(bad),
            "line": 2,
            "col": 39,
            "code": "MLG101",
            "name": "experiment-name",
            "severity": "error",
            "message": "experiment name '\x1bX' does not match "
            "^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$ (expected {project}/{module})",
        }
    ]


def test_lint_file_reads_the_coding_cookie(tmp_path: Path) -> None:
    path = tmp_path / "legacy.py"
    path.write_bytes('# -*- coding: latin-1 -*-\nmlflow.set_experiment("Café")\n'.encode("latin-1"))
    [finding] = lint_file(path, Checker(GuardConfig()))
    assert (finding.line, finding.col, "'Café'" in finding.message) == (2, 23, True)


def test_the_example_project_passes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code, out, _ = _cli(capsys, "example_project/", "--config", "example_project/pyproject.toml")
    assert code == 0, out
    assert out.startswith("mlflow-guard lint: no findings in ")


# --- the pre-commit hook ----------------------------------------------------------------------


def _hook() -> dict[str, object]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    [hook] = [h for h in hooks if h["id"] == "mlflow-guard-lint"]
    assert (hook["name"], hook["language"], hook["types"]) == (
        "mlflow-guard lint",
        "python",
        ["python"],
    )
    return dict(hook)


def _run_hook(tmp_path: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """The hook as pre-commit runs it: its entry, split like a shell would, plus the staged file
    names, in the repository's root, with the hook environment's scripts on PATH."""
    scripts = Path(sys.executable).parent
    assert (scripts / "mlflow-guard").exists()
    env = {**os.environ, "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [*shlex.split(str(_hook()["entry"])), *files]
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_pre_commit_hook_fails_on_a_bad_file_and_passes_a_good_one(tmp_path: Path) -> None:
    _pyproject(tmp_path, 'experiment-name-pattern = "^[a-z]+/[a-z]+$"')
    _write(tmp_path, HEADER + 'mlflow.set_experiment("fraud/scoring")\n', "good.py")
    _write(tmp_path, HEADER + 'mlflow.set_experiment("Fraud-Scoring")\n', "pkg/bad.py")
    failed = _run_hook(tmp_path, "good.py", "pkg/bad.py")
    assert failed.returncode == 1, failed.stderr
    assert "pkg/bad.py:2:23: MLG101 experiment-name" in failed.stdout
    assert "good.py" not in failed.stdout
    passed = _run_hook(tmp_path, "good.py")
    assert (passed.returncode, passed.stderr) == (0, "")


def test_odd_files_are_reported_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # found in review: a symlink loop raised RuntimeError, a deep expression RecursionError
    (tmp_path / "loop.py").symlink_to(tmp_path / "loop.py")
    _write(tmp_path, "x = " + "+".join(["1"] * 200_000) + "\n", "deep.py")
    other = _write(tmp_path, 'mlflow.set_experiment("Bad")\n', "other.py")
    code, out, err = _cli(capsys, str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'loop.py'}" in err and "too deeply nested" in err
    assert f"{other}:1:23: MLG101" in out


def test_nesting_is_judged_the_same_on_every_python() -> None:
    # Python 3.10's parser crashed the process (a segfault) on `x = 1+1+...` 200,000 terms
    # long; 3.11 raises RecursionError near 3,000 levels, 3.13 further on
    from pytest_mlflow_guard.lint.checks import MAX_DEPTH, parse

    parse("x = " + "+".join(["1"] * (MAX_DEPTH - 10)) + "\n", "ok.py")
    for terms in (MAX_DEPTH + 10, 200_000):
        with pytest.raises(RecursionError):
            parse("x = " + "+".join(["1"] * terms) + "\n", "deep.py")


def test_special_files_and_huge_files_are_reported_not_read(tmp_path: Path) -> None:
    # found in review: a committed `zero.py -> /dev/zero` was read until memory ran out, and a
    # FIFO named x.py blocked lint forever. In a process of its own: a hang must fail, not wait
    from pytest_mlflow_guard.lint.checks import MAX_SOURCE_BYTES

    (tmp_path / "zero.py").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "x.py")
    (tmp_path / "huge.py").write_bytes(b"#" * (MAX_SOURCE_BYTES + 1))
    other = _write(tmp_path, 'mlflow.set_experiment("Bad")\n', "other.py")
    done = subprocess.run(
        [sys.executable, "-m", "pytest_mlflow_guard.cli", "lint", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert f"{tmp_path / 'zero.py'}: not a regular file (a character device): not read" in (
        done.stderr
    )
    assert f"{tmp_path / 'x.py'}: not a regular file (a named pipe): not read" in done.stderr
    assert f"{tmp_path / 'huge.py'}: larger than 8 MiB: not read" in done.stderr
    assert f"{other}:1:23: MLG101" in done.stdout  # the others are still linted
    assert "(3 not read: see the errors above)" in done.stdout


def test_a_folder_that_cannot_be_read_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    (tmp_path / "locked").mkdir()

    def denied(path: object) -> list[str]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", denied)  # root reads any folder: refuse the listing
    code, _, err = _cli(capsys, str(tmp_path))
    assert code == 2
    assert f"cannot read {tmp_path}: Permission denied" in err


def test_a_run_mode_keyword_of_dict_is_a_tag_of_that_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path, 'mlflow.start_run(tags=dict(run_mode="q"))\n', "ok.py")
    assert _cli(capsys, str(source))[0] == 0

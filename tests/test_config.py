"""``[tool.mlflow-guard]`` loading: per-experiment overrides and finding the file.

Plain files in tmp_path; the end-to-end counterparts (a real sqlite store read by
``mlflow-guard check``) are in test_cli.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_mlflow_guard.config import find_pyproject, from_mapping, load_config
from pytest_mlflow_guard.errors import ConfigError

# --- per-experiment overrides ----------------------------------------------------------------


def test_override_ignore_adds_to_the_top_level_ignore() -> None:
    config = from_mapping(
        {
            "ignore": ["MLG204", "MLG502"],
            "overrides": [{"experiments": ["legacy/*"], "ignore": ["MLG201", "MLG204"]}],
        }
    )
    assert config.for_experiment("legacy/old").ignore == ("MLG204", "MLG502", "MLG201")
    assert config.for_experiment("fraud/scoring").ignore == ("MLG204", "MLG502")


def test_override_severity_merges_code_by_code() -> None:
    config = from_mapping(
        {
            "severity": {"MLG204": "error", "MLG502": "off"},
            "overrides": [
                {"experiments": ["legacy/*"], "severity": {"MLG204": "warning", "MLG201": "off"}}
            ],
        }
    )
    assert dict(config.for_experiment("legacy/old").severity) == {
        "MLG204": "warning",  # the override wins for its codes
        "MLG502": "off",  # the top level's other codes stay
        "MLG201": "off",
    }
    assert dict(config.severity) == {"MLG204": "error", "MLG502": "off"}  # base untouched


def test_matching_overrides_stack_in_order_and_other_keys_replace() -> None:
    config = from_mapping(
        {
            "select": ["MLG1", "MLG2"],
            "stale-running-hours": 12,
            "overrides": [
                {"experiments": ["legacy/*"], "ignore": ["MLG201"], "select": ["MLG2"]},
                {"experiments": ["*/old"], "ignore": ["MLG502"], "stale-running-hours": 48},
            ],
        }
    )
    old = config.for_experiment("legacy/old")
    assert old.ignore == ("MLG201", "MLG502")
    assert old.select == ("MLG2",)
    assert old.stale_running_hours == 48.0


def test_command_line_ignore_survives_an_override(tmp_path: Path) -> None:
    from pytest_mlflow_guard.gate.check import CheckOptions, effective_config

    file = tmp_path / "pyproject.toml"
    file.write_text(
        '[tool.mlflow-guard]\n[[tool.mlflow-guard.overrides]]\nexperiments = ["legacy/*"]\n'
        'ignore = ["MLG201"]\n'
    )
    config = effective_config(CheckOptions(config_path=str(file), ignore=["dirty-tree"]))
    assert config.for_experiment("legacy/old").ignore == ("dirty-tree", "MLG201")


# --- finding and reading the file ------------------------------------------------------------


def test_a_broken_nearest_pyproject_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.mlflow-guard]\nignore = ["MLG201"\n')
    start = tmp_path / "sub"
    start.mkdir()
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        find_pyproject(start)
    assert str(tmp_path / "pyproject.toml") in str(info.value)
    with pytest.raises(ConfigError, match=r"pyproject\.toml: not valid TOML"):
        load_config(start=start)


def test_a_broken_pyproject_without_our_table_is_still_an_error(tmp_path: Path) -> None:
    """It cannot be told whether the file meant to configure us, so it is never skipped."""
    (tmp_path / "pyproject.toml").write_text('[tool.mlflow-guard]\nignore = ["MLG204"]\n')
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project\nname = 'x'\n")
    with pytest.raises(ConfigError, match=re.escape(str(project / "pyproject.toml"))):
        load_config(start=project)


def test_the_nearest_pyproject_with_our_table_wins(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.mlflow-guard]\nignore = ["MLG204"]\n')
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # valid, not ours
    assert find_pyproject(project) == tmp_path / "pyproject.toml"
    assert load_config(start=project).ignore == ("MLG204",)


def test_config_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool]\nmlflow-guard = 5\n", "expected a table, got 5"),
        ("tool = 3\n", r"\[tool\] is not a table"),
        ("[tool.mlflow-guard]\noverrides = 0\n", "overrides: expected an array of tables"),
        ('[tool.mlflow-guard]\noverrides = ""\n', "overrides: expected an array of tables"),
    ],
    ids=["table-a-number", "tool-a-number", "overrides-a-number", "overrides-a-string"],
)
def test_a_table_of_the_wrong_type_is_a_config_error(
    tmp_path: Path, text: str, message: str
) -> None:
    # these were TypeErrors (a traceback) or, for a string, silently no overrides
    config = tmp_path / "guard.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(config)

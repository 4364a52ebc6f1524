"""The shipped JSON Schema of ``[tool.mlflow-guard]`` says what the guard accepts: no more, no less.

"Accepts" is what ``mlflow-guard check`` starts with: ``from_mapping`` plus the checks made when a
check starts (``cli.config.validated``: rule codes and names exist, ``scope.since`` parses).
Every config example in the README, the example project and a table of good and bad configs
(tests/config_cases.json) are put to both, and both must give the same verdict.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pytest_mlflow_guard import config
from pytest_mlflow_guard.cli import main
from pytest_mlflow_guard.cli.config import validated
from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.gate.config_schema import DRAFT, SCHEMA_FILE, render, schema
from pytest_mlflow_guard.gate.rules import ALL_RULES
from pytest_mlflow_guard.vocabulary import LEVELS, READERS, RUN_STATUSES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = schema()
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
CASES = json.loads((Path(__file__).parent / "config_cases.json").read_text(encoding="utf-8"))
REGENERATE = (
    "python -m pytest_mlflow_guard.gate.config_schema > pytest_mlflow_guard/config.schema.json"
)


def _as_json(value: Any) -> Any:
    """A TOML value as an editor's validator sees it: dates and times become ISO strings
    (taplo converts them so), everything else is already JSON."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return value


def schema_errors(table: dict[str, Any]) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(_as_json(table))]


def guard_error(table: dict[str, Any]) -> str | None:
    """The ``ConfigError`` the guard raises for ``table`` (None when it takes it)."""
    try:
        validated(config.from_mapping(table))
    except ConfigError as exc:
        return str(exc)
    return None


def _guard_tables(text: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    """``(where:line, tool.mlflow-guard table)`` of every ```toml block in ``text`` that has one."""
    tables = []
    for match in re.finditer(r"^```toml\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        if "[tool.mlflow-guard" in match[1]:
            line = text.count("\n", 0, match.start()) + 1
            tables.append((f"{where}:{line}", tomllib.loads(match[1])["tool"]["mlflow-guard"]))
    return tables


def _documented_tables() -> list[tuple[str, dict[str, Any]]]:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [
        found
        for document in documents
        for found in _guard_tables(document.read_text(encoding="utf-8"), document.name)
    ]


DOCUMENTED = _documented_tables()


# --- the schema itself ----------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == DRAFT
    Draft202012Validator.check_schema(SCHEMA)


def test_the_shipped_file_is_the_generated_schema() -> None:
    shipped = files("pytest_mlflow_guard").joinpath(SCHEMA_FILE)
    assert shipped.is_file(), f"{SCHEMA_FILE} is not in the installed package"
    assert shipped.read_text(encoding="utf-8") == render(), f"stale: run {REGENERATE}"


def test_the_shipped_file_is_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert SCHEMA_FILE in pyproject["tool"]["setuptools"]["package-data"]["pytest_mlflow_guard"]


def test_config_schema_prints_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == SCHEMA
    assert out == files("pytest_mlflow_guard").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


def test_the_properties_are_the_keys_config_takes() -> None:
    top = SCHEMA["properties"]
    assert set(top) == {*config._SCALAR_KEYS, *config._TOP_ONLY_KEYS}
    assert set(top["scope"]["properties"]) == config._SCOPE_KEYS
    override = top["overrides"]["items"]
    assert set(override["properties"]) == {*config._SCALAR_KEYS, "experiments"}
    assert override["required"] == ["experiments"]
    for table in (SCHEMA, top["scope"], override):
        assert table["additionalProperties"] is False


def test_every_property_says_what_it_is_for() -> None:
    top = SCHEMA["properties"]
    described = {**top, **top["scope"]["properties"], **SCHEMA["$defs"]}
    assert [key for key, prop in described.items() if not prop.get("description")] == []


def test_the_choices_are_the_catalogue_and_the_vocabulary() -> None:
    rules = {*(rule.code for rule in ALL_RULES), *(rule.name for rule in ALL_RULES)}
    defs = SCHEMA["$defs"]
    assert set(defs["rule"]["anyOf"][0]["enum"]) == rules
    assert set(defs["selector"]["anyOf"][0]["enum"]) == {"ALL", *rules}
    assert defs["level"]["anyOf"][0]["enum"] == list(LEVELS)
    assert SCHEMA["properties"]["reader"]["enum"] == list(READERS)
    assert defs["status"]["anyOf"][0]["enum"] == list(RUN_STATUSES)
    assert set(SCHEMA["properties"]["severity"]["properties"]) == {r.code for r in ALL_RULES}


def test_the_defaults_are_guard_configs() -> None:
    top = SCHEMA["properties"]
    assert config.from_mapping({key: top[key]["default"] for key in top if "default" in top[key]})
    assert top["select"]["default"] == ["ALL"]
    assert top["stale-staging-days"]["default"] == config.GuardConfig().stale_staging_days


# --- the documented examples ----------------------------------------------------------------


def test_the_readme_has_config_examples() -> None:
    assert any(where.startswith("README.md:") for where, _ in DOCUMENTED)


@pytest.mark.parametrize(("where", "table"), DOCUMENTED, ids=[where for where, _ in DOCUMENTED])
def test_a_documented_example_is_valid(where: str, table: dict[str, Any]) -> None:
    assert schema_errors(table) == []
    assert guard_error(table) is None


def test_the_example_project_config_is_valid() -> None:
    pyproject = ROOT / "example_project" / "pyproject.toml"
    table = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["mlflow-guard"]
    assert schema_errors(table) == []
    assert validated(config.load_config(pyproject)).source == pyproject


def test_a_toml_date_for_since_is_valid() -> None:
    table = tomllib.loads("[scope]\nsince = 2024-05-01\n")  # a date, not a string
    assert schema_errors(table) == []
    assert guard_error(table) is None


# --- the schema and the guard agree ---------------------------------------------------------


@pytest.mark.parametrize("case", CASES["valid"], ids=[case["id"] for case in CASES["valid"]])
def test_both_accept(case: dict[str, Any]) -> None:
    assert (schema_errors(case["table"]), guard_error(case["table"])) == ([], None)


@pytest.mark.parametrize("case", CASES["invalid"], ids=[case["id"] for case in CASES["invalid"]])
def test_both_reject(case: dict[str, Any]) -> None:
    errors, refusal = schema_errors(case["table"]), guard_error(case["table"])
    assert errors, f"the schema takes what the guard refuses: {refusal}"
    assert refusal is not None, f"the schema refuses what the guard takes: {errors}"


# --- mlflow-guard config check --------------------------------------------------------------


def test_config_check_says_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "pyproject.toml"
    file.write_text('[tool.mlflow-guard]\nselect = ["MLG201"]\n', encoding="utf-8")
    assert main(["config", "check", str(file)]) == 0
    assert capsys.readouterr().out == f"{file}: ok\n"


def test_config_check_names_the_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "guard.toml"  # a bare file: the table is the document
    file.write_text('severity = { MLG999 = "error" }\n', encoding="utf-8")
    assert main(["config", "check", str(file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown rule 'MLG999'" in captured.err


def test_a_key_config_gains_without_a_schema_stops_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(config._SCALAR_KEYS, "new-key", "new_key")
    with pytest.raises(RuntimeError, match="new-key"):
        schema()

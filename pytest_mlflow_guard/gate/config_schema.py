"""The JSON Schema (draft 2020-12) of the ``[tool.mlflow-guard]`` table, for editors and CI.

Generated, never written by hand: the keys come from ``config.py``'s key tables, the limits and
choices from the tables ``_coerce`` checks against, the defaults from ``GuardConfig()`` and
``Scope()``, and the rule codes and names from the rule catalogue. A key ``config.py`` gains
without a description here makes ``schema()`` raise, so the two cannot drift apart silently.

The schema accepts what ``mlflow-guard check`` starts with: what ``load_config`` takes, less the
rule codes and names that do not exist (``Engine`` refuses those when it is built). It cannot
express the date syntax of ``scope.since`` (``datetime.fromisoformat``), so it only asks for a
string there, nor refuse a TOML ``nan`` for a number (JSON has none; comparisons pass it).

The package ships the output as ``pytest_mlflow_guard/config.schema.json`` (the file editors
point at) and tests/test_config_schema.py fails while that file differs from ``render()``.
Regenerate it after changing ``config.py`` or a rule::

    python -m pytest_mlflow_guard.gate.config_schema > pytest_mlflow_guard/config.schema.json

It lives in ``gate`` and not beside ``config.py`` because it reads the rule catalogue, which
the base layer may not import. Standard library only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_mlflow_guard import config
from pytest_mlflow_guard.gate.rules import rule_infos
from pytest_mlflow_guard.vocabulary import LEVELS, READERS, RUN_STATUSES, WORKSPACE_NAME

__all__ = ["DRAFT", "SCHEMA_FILE", "render", "schema"]

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: the shipped copy, a file of the ``pytest_mlflow_guard`` package
SCHEMA_FILE = "config.schema.json"
#: the selector ``resolve_selector`` reads as every rule
_ALL = "ALL"

Schema = dict[str, Any]

# One sentence per key: what editors show on hover and beside a completion.
_DESCRIPTIONS = {
    "select": "Rules to check, as codes (MLG201), names (required-tag) or ALL, in any case.",
    "ignore": "Rules never to check, as codes or names, taken out of what select chooses.",
    "severity": "Level per rule: a table of rule code or name to error, warning or off.",
    "experiment-name-pattern": (
        "Python regular expression every experiment name must match in full (MLG101)."
    ),
    "run-name-pattern": (
        "Python regular expression every run name must match in full (MLG102); "
        "unset, any meaningful name passes."
    ),
    "registered-model-name-pattern": (
        "Python regular expression every registered model name must match in full (MLG103)."
    ),
    "required-tags": "Tags every run must carry with a non-empty value (MLG201).",
    "allowed-values": (
        "The values a tag may take (MLG202): a table of tag name to a non-empty list; "
        "a tag left out may take any value."
    ),
    "stale-staging-days": "Days a model version may stay in Staging before MLG402 reports it.",
    "stale-running-hours": "Hours a run may stay RUNNING before MLG601 reports it.",
    "ui-url": (
        "http(s) address of the MLflow UI that report links point to "
        "(default: the tracking URI when it is http(s))."
    ),
    "artifacts-server": (
        "http(s) address of the mlflow server that serves mlflow-artifacts: URIs, "
        "for a check that reads the store's database directly."
    ),
    "reader": (
        "How mlflow-guard check reads the store: api (MLflow's client), sql (MLflow's tables) "
        "or auto (sql for a database URI whose MLflow schema it knows, else api)."
    ),
    "scope": "Which experiments and runs mlflow-guard check (and the plugin's all scope) reads.",
    "overrides": (
        "Settings for the experiments whose name matches one of an entry's globs, "
        "applied in order on top of the top-level ones."
    ),
}
_SCOPE_DESCRIPTIONS = {
    "experiments": "Glob patterns on experiment names; empty reads every experiment.",
    "since": (
        "Only runs started since then: an ISO date or datetime (UTC unless it says otherwise) "
        "or an age such as 7d, 12h, 90m or 2w."
    ),
    "statuses": "Only runs in one of these statuses, in any case; empty reads every run.",
    "workspaces": (
        "Only these MLflow workspaces (MLflow 3.10+ with workspaces enabled); empty reads "
        "every one."
    ),
}
_OVERRIDE_DESCRIPTIONS = {
    "experiments": "Glob patterns on experiment names this entry applies to.",
    "ignore": "Rules not to check in these experiments, added to the top-level ignore.",
    "severity": "Levels for these experiments, winning over the top-level table code by code.",
}


def _any_case(words: Iterable[str]) -> str:
    """A regex group matching any of ``words`` in any letter case.

    JSON Schema has no case-insensitive flag, while ``config.py`` and the rule catalogue compare
    lower- or upper-cased. Only letters, digits, ``-``, ``_`` and ``.`` are taken: they mean the
    same (``.`` escaped) to Python, ECMA-262 and Rust's regex (taplo), so editors agree with
    ``jsonschema``; other characters would each need checking in all three.
    """

    def one(word: str) -> str:
        if not all(c.isascii() and (c.isalnum() or c in "-_.") for c in word):
            raise ValueError(f"cannot spell {word!r} as a portable regex")
        return "".join(
            f"[{c.upper()}{c.lower()}]" if c.isalpha() else "\\." if c == "." else c for c in word
        )

    return "(?:" + "|".join(one(word) for word in words) + ")"


def _choice(words: Iterable[str], *, padded: bool = False) -> Schema:
    """One of ``words`` in any case (around whitespace too when ``padded``, for values that are
    stripped before use): the enum gives editors their completions, the pattern accepts the
    other spellings ``config.py`` does."""
    words = list(words)
    pad = r"\s*" if padded else ""
    return {
        "anyOf": [
            {"enum": words},
            {"type": "string", "pattern": f"^{pad}{_any_case(words)}{pad}$"},
        ]
    }


def _one_or_list(item: Schema) -> Schema:
    """``item`` or a list of them: ``config._str_list`` reads a bare string as a list of one."""
    return {"anyOf": [item, {"type": "array", "items": item}]}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


def _json(value: Any) -> Any:
    """A default as JSON spells it: tuples become lists."""
    if isinstance(value, Mapping):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_json(item) for item in value]
    return value


def _checked(described: Mapping[str, Any], keys: Iterable[str], where: str) -> None:
    """Refuse to generate a schema that misses a key ``config.py`` takes, or has one too many."""
    missing, extra = set(keys) - set(described), set(described) - set(keys)
    if missing or extra:
        raise RuntimeError(
            f"config_schema {where}: keys config.py takes but the schema does not describe: "
            f"{sorted(missing)}; described but not taken: {sorted(extra)}"
        )


def _settings() -> dict[str, Schema]:
    """The keys allowed both at the top level and in an override, in ``config.py``'s order."""
    text: Schema = {"type": "string"}
    regex: Schema = {"type": "string", "format": "regex"}
    url: Schema = {"type": "string", "pattern": f"^{_any_case(config._URL_SCHEMES)}://."}
    tag: Schema = {"type": "string", "pattern": r"\S"}  # config._names: not blank
    shapes: dict[str, Schema] = {
        "select": _one_or_list(_ref("selector")),
        "ignore": _one_or_list(_ref("selector")),
        "severity": {
            "type": "object",
            "propertyNames": _ref("rule"),
            # codes as properties, so that editors complete them and show what each rule does
            "properties": {
                info.code: {
                    "description": f"{info.name}: {info.summary}",
                    "default": info.default_severity,
                    **_ref("level"),
                }
                for info in rule_infos()
            },
            "additionalProperties": _ref("level"),
        },
        "experiment-name-pattern": regex,
        "run-name-pattern": regex,
        "registered-model-name-pattern": regex,
        "required-tags": _one_or_list(tag),
        "allowed-values": {
            "type": "object",
            "propertyNames": tag,
            "additionalProperties": {
                "anyOf": [text, {"type": "array", "items": text, "minItems": 1}]
            },
        },
        **{
            key: {"type": "number", "minimum": 0, "maximum": limit}
            for key, limit in config._MAX_AGE.items()
        },
        "ui-url": url,
        "artifacts-server": url,
        "reader": {"enum": list(READERS)},
    }
    _checked(shapes, config._SCALAR_KEYS, "settings")
    _checked(_DESCRIPTIONS, [*config._SCALAR_KEYS, *config._TOP_ONLY_KEYS], "descriptions")
    defaults = config.GuardConfig()
    properties: dict[str, Schema] = {}
    for key, field_name in config._SCALAR_KEYS.items():
        properties[key] = {"description": _DESCRIPTIONS[key], **shapes[key]}
        default = getattr(defaults, field_name)
        if default is not None:
            properties[key]["default"] = _json(default)
    return properties


def _aliases(keys: Iterable[str]) -> dict[str, Schema]:
    """``_coerce`` reads ``_`` as ``-``: ``run_name_pattern`` (or ``run-name_pattern``) is
    ``run-name-pattern``, so each such key also answers to a pattern with its top-level schema."""
    return {
        f"^{key.replace('-', '[-_]')}$": {"$ref": f"#/properties/{key}"}
        for key in keys
        if "-" in key
    }


def _scope() -> Schema:
    defaults = config.Scope()
    shapes: dict[str, Schema] = {
        "experiments": _one_or_list({"type": "string"}),
        # TOML dates reach a validator as strings (taplo converts them); since_datetime parses
        "since": {"type": "string"},
        "statuses": _one_or_list(_ref("status")),
        "workspaces": _one_or_list({"type": "string", "pattern": WORKSPACE_NAME.pattern}),
    }
    _checked(shapes, config._SCOPE_KEYS, "scope")
    properties: dict[str, Schema] = {}
    for key, shape in shapes.items():
        properties[key] = {"description": _SCOPE_DESCRIPTIONS[key], **shape}
        default = getattr(defaults, key)
        if default is not None:
            properties[key]["default"] = _json(default)
    return {
        "description": _DESCRIPTIONS["scope"],
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


def _overrides(keys: Iterable[str]) -> Schema:
    keys = list(keys)
    properties: dict[str, Schema] = {
        "experiments": {
            "description": _OVERRIDE_DESCRIPTIONS["experiments"],
            **_one_or_list({"type": "string"}),
        }
    }
    for key in keys:
        properties[key] = {"$ref": f"#/properties/{key}"}
        if key in _OVERRIDE_DESCRIPTIONS:
            properties[key]["description"] = _OVERRIDE_DESCRIPTIONS[key]
    return {
        "description": _DESCRIPTIONS["overrides"],
        "type": "array",
        "items": {
            "type": "object",
            "required": ["experiments"],
            "properties": properties,
            "patternProperties": _aliases(keys),
            "additionalProperties": False,
        },
        "default": [],
    }


def schema() -> Schema:
    """The JSON Schema of the ``[tool.mlflow-guard]`` table."""
    infos = rule_infos()
    rules = [*(info.code for info in infos), *(info.name for info in infos)]
    settings = _settings()
    return {
        "$schema": DRAFT,
        "$comment": "Generated by `python -m pytest_mlflow_guard.gate.config_schema`; do not edit.",
        "title": "[tool.mlflow-guard]",
        "description": (
            "pytest-mlflow-guard's conventions for an MLflow tracking store, read by the "
            "tracker, the pytest plugin, mlflow-guard check and the tracking-server app."
        ),
        "type": "object",
        "properties": {**settings, "scope": _scope(), "overrides": _overrides(settings)},
        "patternProperties": _aliases(settings),
        "additionalProperties": False,
        "$defs": {
            "rule": {
                "description": "A rule code (MLG201) or name (required-tag), in any case.",
                **_choice(rules, padded=True),
            },
            "selector": {
                "description": "A rule code or name, or ALL for every rule, in any case.",
                **_choice([_ALL, *rules], padded=True),
            },
            "level": {
                "description": "error, warning, or off to switch the rule off; in any case.",
                **_choice(LEVELS),
            },
            "status": {
                "description": "An MLflow run status, in any case.",
                **_choice(RUN_STATUSES),
            },
        },
    }


def render() -> str:
    """``schema()`` as the shipped file spells it: JSON, 2-space indent, a final newline."""
    return json.dumps(schema(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())

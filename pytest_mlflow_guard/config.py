"""``[tool.mlflow-guard]`` configuration: loading, validation and defaults.

One ``GuardConfig`` feeds both sides of the product: the tracker refuses at call time what the gate
would report later, because both read the same patterns, tags and allowed values from here.
Pure standard library: no MLflow, no pytest.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.vocabulary import (
    LEVELS,
    READERS,
    REQUIRED_TAGS,
    RUN_MODES,
    RUN_STATUSES,
    SOURCE_TYPES,
    TAG_RUN_MODE,
    TAG_SOURCE_TYPE,
    WORKSPACE_NAME,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on 3.10
    import tomli as tomllib

EXPERIMENT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$"
REGISTERED_MODEL_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    TAG_RUN_MODE: RUN_MODES,
    TAG_SOURCE_TYPE: SOURCE_TYPES,
}


def severity_level(level: object, where: str) -> str:
    """A rule's level as the config may set it (``error``, ``warning`` or ``off``), lower-cased;
    anything else is a ``ConfigError`` naming ``where`` and the value."""
    if not isinstance(level, str) or level.lower() not in LEVELS:
        raise ConfigError(f"{where}: {level!r} is not one of {', '.join(LEVELS)}")
    return level.lower()


@dataclass(frozen=True)
class Scope:
    """Which objects a check looks at."""

    experiments: tuple[str, ...] = ()  # glob patterns on experiment names; empty = all
    since: str | None = None  # ISO date or a relative age such as "7d"
    statuses: tuple[str, ...] = ()  # run statuses; empty = all
    workspaces: tuple[str, ...] = ()  # MLflow workspaces (3.10+); empty = every one


@dataclass(frozen=True)
class Override:
    """Settings that apply only to experiments whose name matches one of ``experiments``.

    ``ignore`` adds to the top-level list and ``severity`` merges into the top-level table (the
    override wins per code); every other key replaces the top-level value.
    """

    experiments: tuple[str, ...]
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class GuardConfig:
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] = field(default_factory=dict)
    experiment_name_pattern: str = EXPERIMENT_NAME_PATTERN
    run_name_pattern: str | None = None
    registered_model_name_pattern: str = REGISTERED_MODEL_NAME_PATTERN
    required_tags: tuple[str, ...] = REQUIRED_TAGS
    allowed_values: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(ALLOWED_VALUES)
    )
    stale_staging_days: float = 30.0
    stale_running_hours: float = 24.0
    ui_url: str | None = None
    #: the ``mlflow server`` that serves ``mlflow-artifacts:`` URIs, for a check that reads the
    #: store's database directly
    artifacts_server: str | None = None
    #: how ``check`` reads the store: ``auto``, ``api`` (MLflow's client) or ``sql``
    reader: str = "auto"
    scope: Scope = field(default_factory=Scope)
    overrides: tuple[Override, ...] = ()
    source: Path | None = None  # the file this came from, for messages

    def for_experiment(self, experiment_name: str) -> GuardConfig:
        """This config with every override whose glob matches ``experiment_name`` applied."""
        from fnmatch import fnmatchcase

        result = self
        for override in self.overrides:
            if any(fnmatchcase(experiment_name, pat) for pat in override.experiments):
                result = result._merged(_coerce(dict(override.settings), "overrides"))
        return result

    def _merged(self, changes: dict[str, Any]) -> GuardConfig:
        """``changes`` applied on top: ``ignore`` adds to ours (order kept, no duplicates),
        ``severity`` merges (theirs wins per code), every other key replaces."""
        if "ignore" in changes:
            changes["ignore"] = tuple(dict.fromkeys((*self.ignore, *changes["ignore"])))
        if "severity" in changes:
            changes["severity"] = {**self.severity, **changes["severity"]}
        return replace(self, **changes)


# key in the file -> (field name, coercer)
_SCALAR_KEYS = {
    "select": "select",
    "ignore": "ignore",
    "severity": "severity",
    "experiment-name-pattern": "experiment_name_pattern",
    "run-name-pattern": "run_name_pattern",
    "registered-model-name-pattern": "registered_model_name_pattern",
    "required-tags": "required_tags",
    "allowed-values": "allowed_values",
    "stale-staging-days": "stale_staging_days",
    "stale-running-hours": "stale_running_hours",
    "ui-url": "ui_url",
    "artifacts-server": "artifacts_server",
    "reader": "reader",
}
_TOP_ONLY_KEYS = {"scope", "overrides"}
_SCOPE_KEYS = {"experiments", "since", "statuses", "workspaces"}


def _valid_keys() -> str:
    return ", ".join(sorted([*_SCALAR_KEYS, *_TOP_ONLY_KEYS]))


def _str_list(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"[tool.mlflow-guard] {key}: expected a list of strings, got {value!r}")
    return tuple(value)


def _regex(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"[tool.mlflow-guard] {key}: expected a regular expression string")
    try:
        re.compile(value)
    except re.error as exc:
        raise ConfigError(f"[tool.mlflow-guard] {key}: invalid regex {value!r}: {exc}") from None
    return value


#: what ``ui-url`` and ``artifacts-server`` may start with (before ``://``), in any case
_URL_SCHEMES = ("http", "https")

#: the largest age a stale-* key takes (100 years): past it, date arithmetic overflows
_MAX_AGE = {"stale-staging-days": 36_500.0, "stale-running-hours": 876_000.0}


def _number(value: Any, key: str) -> float:
    limit = _MAX_AGE[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= limit  # also False for nan
    ):
        raise ConfigError(
            f"[tool.mlflow-guard] {key}: expected a number from 0 to {limit:g}, got {value!r}"
        )
    return float(value)


def _names(value: Any, key: str) -> tuple[str, ...]:
    """A list of tag names: strings, none of them blank."""
    names = _str_list(value, key)
    blank = [name for name in names if not name.strip()]
    if blank:
        raise ConfigError(f"[tool.mlflow-guard] {key}: {blank[0]!r} is not a tag name")
    return names


def _coerce(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Map file keys (kebab or snake case) to ``GuardConfig`` fields, validating each value."""
    out: dict[str, Any] = {}
    for raw_key, value in raw.items():
        key = raw_key.replace("_", "-")
        if key not in _SCALAR_KEYS:
            raise ConfigError(
                f"[tool.mlflow-guard] unknown key {raw_key!r} in {where}; "
                f"valid keys: {_valid_keys()}"
            )
        name = _SCALAR_KEYS[key]
        if key in ("select", "ignore"):
            out[name] = _str_list(value, key)
        elif key == "required-tags":
            out[name] = _names(value, key)
        elif key.endswith("-pattern"):
            out[name] = _regex(value, key)
        elif key.startswith("stale-"):
            out[name] = _number(value, key)
        elif key in ("ui-url", "artifacts-server"):
            scheme, _, rest = value.partition("://") if isinstance(value, str) else ("", "", "")
            if scheme.lower() not in _URL_SCHEMES or not rest:  # "http" alone is no URL
                raise ConfigError(
                    f"[tool.mlflow-guard] {key}: expected an http(s) URL, got {value!r}"
                )
            out[name] = value.rstrip("/")
        elif key == "reader":
            if value not in READERS:
                raise ConfigError(
                    f"[tool.mlflow-guard] reader: expected one of {', '.join(READERS)}, "
                    f"got {value!r}"
                )
            out[name] = value
        elif key == "severity":
            if not isinstance(value, dict):
                raise ConfigError("[tool.mlflow-guard] severity: expected a table {CODE = level}")
            out[name] = {
                code: severity_level(level, f"[tool.mlflow-guard] severity.{code}")
                for code, level in value.items()
            }
        elif key == "allowed-values":
            if not isinstance(value, dict):
                raise ConfigError(
                    "[tool.mlflow-guard] allowed-values: expected a table {tag = [..]}"
                )
            _names(list(value), "allowed-values")
            allowed = {t: _str_list(v, f"allowed-values.{t}") for t, v in value.items()}
            empty = [t for t, values in allowed.items() if not values]
            if empty:
                raise ConfigError(
                    f"[tool.mlflow-guard] allowed-values.{empty[0]}: an empty list allows no "
                    "value at all (leave the tag out to allow any)"
                )
            out[name] = allowed
    return out


def _scope(raw: Any) -> Scope:
    if not isinstance(raw, dict):
        raise ConfigError("[tool.mlflow-guard] scope: expected a table")
    unknown = set(raw) - _SCOPE_KEYS
    if unknown:
        raise ConfigError(
            f"[tool.mlflow-guard.scope] unknown key {sorted(unknown)[0]!r}; "
            f"valid keys: {', '.join(sorted(_SCOPE_KEYS))}"
        )
    statuses = _str_list(raw.get("statuses", []), "scope.statuses")
    bad = [s for s in statuses if s.upper() not in RUN_STATUSES]
    if bad:
        raise ConfigError(
            f"[tool.mlflow-guard.scope] statuses: {bad[0]!r} is not one of "
            f"{', '.join(RUN_STATUSES)}"
        )
    since = raw.get("since")
    if since is not None and not isinstance(since, str):
        since = str(since)  # TOML dates arrive as datetime.date
    workspaces = _str_list(raw.get("workspaces", []), "scope.workspaces")
    for name in workspaces:
        check_workspace_name(name, "[tool.mlflow-guard.scope] workspaces")
    return Scope(
        experiments=_str_list(raw.get("experiments", []), "scope.experiments"),
        since=since,
        statuses=tuple(s.upper() for s in statuses),
        workspaces=workspaces,
    )


def check_workspace_name(name: str, where: str) -> str:
    """``name`` when MLflow could have a workspace by that name; ``ConfigError`` otherwise."""
    if not WORKSPACE_NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: {name!r} is not a workspace name (MLflow's are 2 to 63 lowercase "
            "letters, digits and inner hyphens)"
        )
    return name


def from_mapping(raw: Mapping[str, Any], source: Path | None = None) -> GuardConfig:
    """Build a config from the ``[tool.mlflow-guard]`` table; raise ``ConfigError`` on bad input."""
    if not isinstance(raw, Mapping):  # `mlflow-guard = 5` in [tool]
        raise ConfigError(f"[tool.mlflow-guard]: expected a table, got {raw!r}")
    raw = dict(raw)
    scope = _scope(raw.pop("scope")) if "scope" in raw else Scope()
    overrides: list[Override] = []
    items = raw.pop("overrides", [])
    if not isinstance(items, list):  # `overrides = 0`, `overrides = {}`: not an array of tables
        raise ConfigError(
            f"[tool.mlflow-guard] overrides: expected an array of tables "
            f"([[tool.mlflow-guard.overrides]]), got {items!r}"
        )
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "experiments" not in item:
            raise ConfigError(
                f"[[tool.mlflow-guard.overrides]] #{i + 1}: needs an 'experiments' list"
            )
        item = dict(item)
        globs = _str_list(item.pop("experiments"), "overrides.experiments")
        _coerce(item, f"overrides #{i + 1}")  # validate now, apply per experiment later
        overrides.append(Override(globs, item))
    return GuardConfig(
        **_coerce(raw, "[tool.mlflow-guard]"),
        scope=scope,
        overrides=tuple(overrides),
        source=source,
    )


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that has a ``[tool.mlflow-guard]``.

    A ``pyproject.toml`` met on the way up that cannot be read or parsed is a ``ConfigError``
    naming it: it may be the one holding the table, and silently falling back to the defaults
    (or to a file further up) would check against conventions nobody chose.
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            tool = _read_toml(candidate).get("tool", {})
            if isinstance(tool, dict) and "mlflow-guard" in tool:
                return candidate
    return None


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(file.read_text(encoding="utf-8"))
        return data
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {file}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text: {exc}") from None
    except OSError as exc:  # a directory, no permission...
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from None


def load_config(path: Path | str | None = None, start: Path | None = None) -> GuardConfig:
    """Load the config from ``path`` (a pyproject.toml or a bare TOML file), or find one.

    With no file found, the defaults (the team guide's conventions) apply.
    """
    file = Path(path) if path is not None else find_pyproject(start)
    if file is None:
        return GuardConfig()
    data = _read_toml(file)
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{file}: [tool] is not a table")
    table = tool.get("mlflow-guard", data if path is not None else {})
    if table is data and "tool" in data:
        table = {}
    return from_mapping(table, source=file)

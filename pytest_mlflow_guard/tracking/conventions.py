"""Call-time checks of the team conventions, shared with the gate's rules through ``GuardConfig``.

Each check raises ``ConventionError`` with the same rule code the gate would report later, before
anything is written to the tracking store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pytest_mlflow_guard.config import GuardConfig
from pytest_mlflow_guard.errors import ConventionError

# MLflow's limits (mlflow.utils.validation); values longer than these are refused or, by some
# clients, silently cut, which breaks "every result can be reproduced".
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_KEY_LENGTH = 250


def _check_pattern(
    value: object, pattern: str, rule: str, name: str, what: str, example: str
) -> str:
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise ConventionError(rule, name, value, f"{what} matching {pattern}", f"e.g. {example!r}")
    return value


def check_experiment_name(name: object, config: GuardConfig) -> str:
    return _check_pattern(
        name,
        config.experiment_name_pattern,
        "MLG101",
        "experiment-name",
        "'{project}/{module}'",
        "mushroom/vision_offline",
    )


def check_registered_model_name(name: object, config: GuardConfig) -> str:
    return _check_pattern(
        name,
        config.registered_model_name_pattern,
        "MLG103",
        "registered-model-name",
        "lowercase letters, digits and underscores",
        "mushroom_growth_classifier",
    )


def check_run_name(name: str, config: GuardConfig) -> str:
    if not name.strip():
        raise ConventionError("MLG102", "run-name", name, "a non-empty run name")
    pattern = config.run_name_pattern
    if pattern and not re.fullmatch(pattern, name):
        raise ConventionError("MLG102", "run-name", name, f"a run name matching {pattern}")
    return name


def check_tag_values(tags: Mapping[str, str], config: GuardConfig) -> None:
    for tag, allowed in config.allowed_values.items():
        if tag in tags and tags[tag] not in allowed:
            raise ConventionError(
                "MLG202", "tag-value", tags[tag], f"tag {tag!r} to be one of {', '.join(allowed)}"
            )


def check_lengths(values: Mapping[str, str], limit: int, kind: str) -> None:
    """Refuse (never truncate) a param or tag value at or over MLflow's limit."""
    for key, value in values.items():
        if len(key) > MAX_KEY_LENGTH:
            raise ConventionError(
                "MLG602", "truncated-value", key, f"a {kind} key of at most {MAX_KEY_LENGTH} chars"
            )
        if len(value) >= limit:
            shown = value[:40] + "..."
            raise ConventionError(
                "MLG602",
                "truncated-value",
                shown,
                f"{kind} {key!r} shorter than MLflow's limit of {limit} characters "
                f"(got {len(value)}); log long values as an artifact instead",
            )

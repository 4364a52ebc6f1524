"""The rule catalogue: every rule the gate knows, by stable code.

Codes never change meaning once released; names are the readable aliases accepted wherever a
code is (config ``select``/``ignore``/``severity``, ``mlflow_guard.ignore`` tags, the CLI).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.gate.findings import RuleInfo
from pytest_mlflow_guard.gate.rules import (
    hygiene,
    lifecycle,
    models,
    naming,
    reproducibility,
    suppressions,
    tags,
    unchecked,
)
from pytest_mlflow_guard.gate.rules.base import (
    Checkable,
    Rule,
    RuleContext,
    Unchecked,
    doc_sections,
)
from pytest_mlflow_guard.gate.rules.suppressions import parse_ignore_tag

__all__ = [
    "ALL_RULES",
    "Checkable",
    "Rule",
    "RuleContext",
    "Unchecked",
    "doc_sections",
    "get_rule",
    "parse_ignore_tag",
    "resolve_selector",
    "rule_infos",
]

ALL_RULES: tuple[Rule[Any], ...] = tuple(
    sorted(
        (
            *suppressions.RULES,
            *unchecked.RULES,
            *naming.RULES,
            *tags.RULES,
            *models.RULES,
            *lifecycle.RULES,
            *reproducibility.RULES,
            *hygiene.RULES,
        ),
        key=lambda rule: rule.code,
    )
)

_BY_KEY: dict[str, Rule[Any]] = {
    **{rule.code.upper(): rule for rule in ALL_RULES},
    **{rule.name.upper(): rule for rule in ALL_RULES},
}


def valid_codes() -> str:
    return ", ".join(rule.code for rule in ALL_RULES)


def get_rule(code_or_name: str) -> Rule[Any]:
    """The rule with this code (``MLG201``) or name (``required-tag``), case-insensitively."""
    rule = _BY_KEY.get(code_or_name.strip().upper())
    if rule is None:
        raise ConfigError(f"unknown rule {code_or_name!r}; valid codes: {valid_codes()}")
    return rule


def resolve_selector(selector: str, where: str = "select") -> tuple[Rule[Any], ...]:
    """The rules a ``select``/``ignore`` entry stands for: ``ALL``, or one code or name.

    Case-insensitive. Anything else (code prefixes included: ``MLG2`` is a typo as often as it is
    a wish) is a ``ConfigError`` naming it, so a mistake never silently selects nothing.
    """
    key = selector.strip().upper()
    if key == "ALL":
        return ALL_RULES
    rule = _BY_KEY.get(key)
    if rule is None:
        raise ConfigError(
            f"{where}: unknown rule {selector!r}; valid codes: {valid_codes()} "
            "(or rule names, or ALL)"
        )
    return (rule,)


def resolve_selectors(selectors: Iterable[str], where: str = "select") -> set[str]:
    """The codes of every rule the entries stand for."""
    return {rule.code for selector in selectors for rule in resolve_selector(selector, where)}


def rule_infos() -> list[RuleInfo]:
    """Metadata of every rule, ordered by code (for listings, SARIF and the README table)."""
    return [rule.info() for rule in ALL_RULES]

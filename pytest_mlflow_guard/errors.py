"""Exceptions shared by the tracker, the rule engine and the CLI (no MLflow, no pytest)."""

from __future__ import annotations


class GuardError(Exception):
    """Base class of every error pytest-mlflow-guard raises on purpose."""


class ConventionError(GuardError, ValueError):
    """A value breaks one of the team's MLflow conventions.

    Raised *before* anything is written to the tracking store, so a caller who catches it has
    nothing to clean up. ``rule`` is the stable rule code (``MLG101``...), ``name`` its readable
    name, ``value`` the offending value and ``expected`` what the convention asks for.
    """

    def __init__(self, rule: str, name: str, value: object, expected: str, hint: str = "") -> None:
        self.rule = rule
        self.rule_name = name
        self.value = value
        self.expected = expected
        message = f"{rule} {name}: {value!r} does not follow the convention: expected {expected}"
        if hint:
            message += f" ({hint})"
        from .redact import redact_text  # a value may be a URL with credentials in it

        super().__init__(redact_text(message))


class ConfigError(GuardError, ValueError):
    """The ``[tool.mlflow-guard]`` configuration (or a CLI/ini option) is invalid.

    The message names the offending key or option and, where there is a fixed set, the valid
    choices.
    """


class ArgumentError(GuardError, TypeError, ValueError):
    """An argument the tracker cannot record as given: the wrong type, a key MLflow would reject,
    a value that is not a number... Raised before anything is written; the message names the
    argument and the value."""

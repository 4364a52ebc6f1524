"""Exceptions shared by the tracker, the rule engine and the CLI, and how any exception reads to
the user (no MLflow, no pytest)."""

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
        # a value may be a URL with credentials in it
        from pytest_mlflow_guard.redact import redact_text

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


def environment_error(exc: BaseException) -> str | None:
    """The message of an error that is the environment's, not a bug; None for a bug.

    MLflow's own errors (unsupported URI scheme, store schema too new...), a database driver
    that is not installed, SQLAlchemy errors (database unreachable, locked, malformed URL) and
    files that cannot be read or written are usage or connection problems for us. Recognised by
    name and module: this module imports neither MLflow nor SQLAlchemy.
    """
    module = type(exc).__module__ or ""
    if type(exc).__name__ == "MlflowException":
        return str(getattr(exc, "message", None) or exc)
    if module == "sqlalchemy" or module.startswith("sqlalchemy."):
        # the first line: later ones carry the SQL statement and a link to SQLAlchemy's docs
        lines = str(exc).strip().splitlines()
        return f"database error: {lines[0] if lines else type(exc).__name__}"
    if isinstance(exc, ImportError):  # e.g. the database driver a tracking URI names
        return f"{exc} (a package this tracking store needs is not installed)"
    if isinstance(exc, OSError):
        return str(exc)
    return None


def one_line(exc: BaseException) -> str:
    """Any exception as one line (still to be cleaned for display: MLflow's messages carry the
    request URL, credentials included, and store strings)."""
    message = (environment_error(exc) or str(exc)).strip()
    return message.splitlines()[0] if message else type(exc).__name__

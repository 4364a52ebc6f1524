"""``[tool.mlflow-guard.scope]`` turned into MLflow search filters. Standard library only."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from pytest_mlflow_guard.config import Scope
from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.vocabulary import RUN_STATUSES

__all__ = ["quote", "run_filter", "since_datetime"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_AGE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# The string tokens of sqlparse, which MLflow's search filters are parsed with. MLflow then only
# trims the two quote characters (``SearchUtils._strip_quotes``): nothing is unescaped, so a
# literal can only be the value between two quotes, and it must lex as one token.
_LITERALS = (
    ("'", re.compile(r"'(''|\\'|[^'])*'")),
    ('"', re.compile(r'"(""|\\"|[^"])*"')),
)


def quote(value: str) -> str:
    """A string literal that MLflow's search filter parser reads back as exactly ``value``.

    Single quotes when they work, else double quotes (``"o'brien"``). Backslashes are kept as
    they are: MLflow does not unescape, so ``'a\\b'`` means ``a\\b``. Raises ``ValueError`` for
    a value no literal can express (typically one holding both kinds of quote, ``it's "x"``):
    the caller must then filter some other way.
    """
    for mark, token in _LITERALS:
        literal = f"{mark}{value}{mark}"
        match = token.match(literal)
        if match is not None and match.end() == len(literal):
            return literal
    raise ValueError(f"{value!r} cannot be written as an MLflow search filter literal")


def since_datetime(
    since: str | None, now: datetime | None = None, where: str = "[tool.mlflow-guard.scope] since"
) -> datetime | None:
    """``scope.since`` as an aware UTC datetime.

    Accepts an ISO date (``2024-05-01``, midnight UTC) or datetime (naive means UTC), or an age
    counted back from ``now``: a number and one of ``s m h d w`` (``90m``, ``12h``, ``7d``, ``2w``).
    ``where`` names the option or key in errors.
    """
    if not since:
        return None
    match = _AGE.match(since)
    if match:
        now = now or datetime.now(timezone.utc)
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
        try:
            return now - timedelta(seconds=float(match[1]) * _AGE_SECONDS[match[2].lower()])
        except (OverflowError, ValueError):
            raise ConfigError(f"{where}: {since!r} reaches back before the year 1") from None
    try:
        value = datetime.fromisoformat(since.strip())
    except ValueError:
        raise ConfigError(
            f"{where}: {since!r} is neither a date (YYYY-MM-DD) nor an "
            "age such as '7d', '12h', '30m' or '2w'"
        ) from None
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise ConfigError(f"{where}: {since!r} is out of range") from None


def run_filter(scope: Scope, now: datetime | None = None) -> str:
    """The ``search_runs`` filter string for the scope's ``since`` and ``statuses`` ("" for all)."""
    clauses: list[str] = []
    since = since_datetime(scope.since, now)
    if since is not None:
        clauses.append(f"attributes.start_time >= {int(since.timestamp() * 1000)}")
    if scope.statuses:
        statuses = [s.upper() for s in scope.statuses]
        bad = [s for s in statuses if s not in RUN_STATUSES]
        if bad:
            raise ConfigError(
                f"[tool.mlflow-guard.scope] statuses: {bad[0]!r} is not one of "
                f"{', '.join(RUN_STATUSES)}"
            )
        # MLflow's run filter has no OR and no IN for status: exclude the other statuses instead
        if len(set(statuses)) == 1:
            clauses.append(f"attributes.status = {quote(statuses[0])}")
        else:
            clauses.extend(
                f"attributes.status != {quote(s)}" for s in RUN_STATUSES if s not in statuses
            )
    return " AND ".join(clauses)

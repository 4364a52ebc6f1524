"""What every rule is made of: the ``Rule`` base class, the context it sees, docstring helpers.

A rule is a small stateless class. Its docstring *is* its documentation: the first line is the
summary, followed by the sections ``Why:``, ``Anti-pattern:`` and ``Fix:`` (a header alone on its
line, the text below it; code examples indented by four spaces). ``mlflow-guard rules``, SARIF
rule help and the README table are all rendered from it, so there is one place to keep current.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar, Generic, TypeVar

from pytest_mlflow_guard.config import GuardConfig
from pytest_mlflow_guard.gate.findings import RuleInfo
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
)
from pytest_mlflow_guard.vocabulary import RUN_MODE_TRAINING, TAG_RUN_MODE, ObjectType, Severity

Checkable = (
    ExperimentRecord | RunRecord | LoggedModelRecord | RegisteredModelRecord | ModelVersionRecord
)
"""Anything a rule can look at (and a finding can point to)."""


class Unchecked(str):
    """What a rule yields instead of a finding message when it could not decide for the object:
    the reason (an artifact that could not be read...). The engine reports it as MLG004, so what
    could not be checked is never counted as a pass."""


SECTIONS = ("Why", "Anti-pattern", "Fix")
_SECTION_HEADER = re.compile(r"(Why|Anti-pattern|Fix):\s*")

T = TypeVar("T")


def _no_source_run_lookup(version: ModelVersionRecord) -> tuple[str, ...] | None:
    return None


@dataclass(frozen=True)
class RuleContext:
    """What a rule may consult besides the object itself.

    ``config`` is already specialised for the object's experiment (per-experiment overrides
    applied). ``source_run_errors`` answers, for a model version, which error-level rule codes its
    source run has (empty: clean; ``None``: unknown); the engine provides it.
    """

    config: GuardConfig
    now: datetime
    source_run_errors: Callable[[ModelVersionRecord], tuple[str, ...] | None] = (
        _no_source_run_lookup
    )


class Rule(ABC, Generic[T]):
    """Base class of every rule; ``T`` is the record type ``check`` receives."""

    code: ClassVar[str]
    name: ClassVar[str]
    default_severity: ClassVar[Severity]
    #: object kinds the engine hands to ``check`` (one, except for the suppression meta rules)
    kinds: ClassVar[tuple[ObjectType, ...]]
    #: True for meta rules whose findings the engine computes itself (``check`` yields nothing)
    engine_emitted: ClassVar[bool] = False

    @abstractmethod
    def check(self, obj: T, ctx: RuleContext) -> Iterator[str]:
        """Yield one message per violation found on ``obj`` (nothing when it complies).

        When a rule can report several violations on one object, the first single-quoted token
        of each message names what differs (a tag, a param, a model): baselines key on it.
        """

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.doc().splitlines()[0].strip() if cls.__doc__ else ""

    @classmethod
    def info(cls) -> RuleInfo:
        return RuleInfo(
            code=cls.code,
            name=cls.name,
            default_severity=cls.default_severity,
            summary=cls.summary(),
            doc=cls.doc(),
        )

    def __repr__(self) -> str:
        return f"<rule {self.code} {self.name}>"


def doc_sections(doc: str) -> dict[str, str]:
    """Split a rule docstring into ``summary``, ``why``, ``anti-pattern`` and ``fix``.

    Missing sections are absent from the result (the rule tests insist on all four).
    """
    lines = inspect.cleandoc(doc).splitlines()
    if not lines:
        return {}
    out = {"summary": lines[0].strip()}
    current: str | None = None
    body: list[str] = []

    def flush() -> None:
        if current is not None:
            text = textwrap.dedent("\n".join(body)).strip("\n")
            if text.strip():
                out[current.lower()] = text

    for line in lines[1:]:
        match = _SECTION_HEADER.fullmatch(line)
        if match:
            flush()
            current, body = match.group(1), []
        elif current is not None:
            body.append(line)
    flush()
    return out


# --- small helpers shared by the rule modules -------------------------------------------------


def tag_value(tags: Mapping[str, str], key: str) -> str:
    """The tag's value with surrounding whitespace removed; "" when absent."""
    return (tags.get(key) or "").strip()


def is_training_run(run: RunRecord) -> bool:
    return tag_value(run.tags, TAG_RUN_MODE).lower() == RUN_MODE_TRAINING


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC (MLflow stores epoch milliseconds, which are UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def parse_timestamp(text: str) -> datetime | None:
    """An ISO-8601 timestamp (``Z`` suffix accepted on 3.10 too), or None if unparsable."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def shorten(value: str, limit: int = 60) -> str:
    """Keep messages readable when a value is long (the full value is in MLflow)."""
    return value if len(value) <= limit else value[: limit - 3] + "..."

"""Metric and param comparison between a recorded run and its replay (pure: no I/O).

The tolerance test is numpy's ``isclose``: ``|replayed - recorded| <= atol + rtol * |recorded|``,
so a metric near zero is judged by ``atol`` and a large one by ``rtol``. A metric the recorded
run logged and the replay did not is *missing*, which fails the comparison: a replay that stops
early must not pass because there was less to compare.
"""

from __future__ import annotations

import fnmatch
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.reproduce.names import DEFAULT_ATOL, DEFAULT_RTOL

Status = Literal["ok", "differs", "missing", "extra"]
V = TypeVar("V")


@dataclass(frozen=True)
class Tolerance:
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL

    def __str__(self) -> str:
        parts = []
        if self.rtol:
            parts.append(f"rtol {self.rtol:g}")
        if self.atol or not parts:
            parts.append(f"atol {self.atol:g}")
        return ", ".join(parts)

    def allows(self, recorded: float, replayed: float) -> bool:
        if math.isnan(recorded) or math.isnan(replayed):
            return math.isnan(recorded) and math.isnan(replayed)
        if math.isinf(recorded) or math.isinf(replayed):
            return recorded == replayed
        return abs(replayed - recorded) <= self.atol + self.rtol * abs(recorded)


def parse_tolerance(spec: str) -> tuple[str, Tolerance]:
    """``accuracy=0.01`` (absolute) or ``accuracy=1%`` (relative); the name may be a glob.

    An absolute override drops the relative part and vice versa: whoever writes
    ``loss=0.001`` means "within 0.001", not "within 0.001 plus the default rtol".
    """
    name, sep, value = spec.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise GuardError(f"--tolerance {spec!r}: expected METRIC=ABS or METRIC=PERCENT%")
    relative = value.endswith("%")
    try:
        number = float(value[:-1] if relative else value)
    except ValueError:
        raise GuardError(f"--tolerance {spec!r}: {value!r} is not a number") from None
    if number < 0 or math.isnan(number):
        raise GuardError(f"--tolerance {spec!r}: a tolerance cannot be negative")
    return name, Tolerance(rtol=number / 100, atol=0.0) if relative else Tolerance(0.0, number)


def tolerance_for(name: str, default: Tolerance, overrides: Mapping[str, Tolerance]) -> Tolerance:
    """The override naming ``name`` exactly, else the first glob matching it, else the default."""
    if name in overrides:
        return overrides[name]
    for pattern, tolerance in overrides.items():
        if fnmatch.fnmatchcase(name, pattern):
            return tolerance
    return default


def selected(names: Iterable[str], only: Sequence[str] | None) -> list[str]:
    """``names`` restricted to those matching one of ``only`` (names or globs); all when None."""
    if not only:
        return sorted(names)
    return sorted(n for n in names if any(fnmatch.fnmatchcase(n, p) for p in only))


@dataclass(frozen=True)
class MetricRow:
    name: str
    recorded: float | None
    replayed: float | None
    tolerance: Tolerance
    status: Status
    note: str = ""

    @property
    def abs_diff(self) -> float | None:
        if self.recorded is None or self.replayed is None:
            return None
        return abs(self.replayed - self.recorded)

    @property
    def rel_diff(self) -> float | None:
        diff = self.abs_diff
        if diff is None or self.recorded is None:
            return None
        if diff == 0:
            return 0.0
        return diff / abs(self.recorded) if self.recorded else math.inf


@dataclass(frozen=True)
class ParamRow:
    name: str
    recorded: str | None
    replayed: str | None
    status: Status


def _status(old: V | None, new: V | None, same: Callable[[V, V], bool]) -> Status:
    """A value only the replay logged is "extra", one it did not log is "missing"."""
    if old is None:
        return "extra"
    if new is None:
        return "missing"
    return "ok" if same(old, new) else "differs"


def compare_metrics(
    recorded: Mapping[str, float],
    replayed: Mapping[str, float],
    default: Tolerance,
    overrides: Mapping[str, Tolerance] | None = None,
    only: Sequence[str] | None = None,
) -> list[MetricRow]:
    """One row per metric either run logged (restricted to ``only`` when given)."""
    rows = []
    for name in selected(set(recorded) | set(replayed), only):
        tolerance = tolerance_for(name, default, overrides or {})
        old, new = recorded.get(name), replayed.get(name)
        status = _status(old, new, tolerance.allows)
        rows.append(MetricRow(name, old, new, tolerance, status))
    return rows


def compare_params(
    recorded: Mapping[str, str], replayed: Mapping[str, str], only: Sequence[str] | None = None
) -> list[ParamRow]:
    """Params are compared as MLflow stores them, as strings: ``0.1`` and ``0.10`` differ,
    which is right, since the code received different text."""
    rows = []
    for name in selected(set(recorded) | set(replayed), only):
        old, new = recorded.get(name), replayed.get(name)
        rows.append(ParamRow(name, old, new, _status(old, new, operator.eq)))
    return rows


def failing(rows: Iterable[MetricRow | ParamRow], extra_fails: bool = False) -> list[str]:
    """Names of the rows that break reproduction; ``extra`` ones only when ``extra_fails``."""
    bad = {"differs", "missing"} | ({"extra"} if extra_fails else set())
    return [row.name for row in rows if row.status in bad]


def first_divergence(
    recorded: Sequence[tuple[int, float]],
    replayed: Sequence[tuple[int, float]],
    tolerance: Tolerance,
) -> int | None:
    """The first step at which two metric histories part ways (None when they never do).

    Steps one history has and the other lacks count as a divergence at that step: a training
    loop that ran fewer epochs diverges where the shorter one stops.
    """
    old, new = dict(recorded), dict(replayed)
    for step in sorted(set(old) | set(new)):
        if step not in old or step not in new or not tolerance.allows(old[step], new[step]):
            return step
    return None

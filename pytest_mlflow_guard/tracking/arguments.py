"""What the tracker accepts, checked before anything is written (no MLflow import).

MLflow itself rejects some of these only after a run exists (a key with a ``#``), and silently
turns others into something else (a tag value ``None`` becomes the string ``"None"``, which then
satisfies a required-tag check). Each error is an ``ArgumentError`` naming the argument and the
value.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from pytest_mlflow_guard.errors import ArgumentError

__all__ = ["check_key", "flatten", "metric_values", "optional_str", "tag_values"]

MAX_KEY_LENGTH = 250  # MLflow's MAX_ENTITY_KEY_LENGTH
# MLflow's key alphabet (mlflow.utils.validation): alphanumerics, _ - . space / and, off Windows, :
_KEY = re.compile(r"^[/\w.\- :]+$")


def optional_str(where: str, value: object) -> str | None:
    """``value`` when it is a string or None; ``where`` names the argument, e.g.
    ``start_run(run_name=...)``."""
    if value is not None and not isinstance(value, str):
        raise ArgumentError(f"{where}: {_short(value)} is not a string ({type(value).__name__})")
    return value


def mapping(where: str, value: object) -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ArgumentError(f"{where}: expected a dict, got {type(value).__name__} {_short(value)}")
    return value


def check_key(kind: str, key: object) -> str:
    """A param, metric or tag key MLflow will store as it is."""
    if not isinstance(key, str):
        raise ArgumentError(f"{kind} key {key!r}: expected a string, got {type(key).__name__}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ArgumentError(f"{kind} key {key[:60]!r}: expected 1 to {MAX_KEY_LENGTH} characters")
    if not _KEY.match(key):
        raise ArgumentError(
            f"{kind} key {key!r}: may only hold letters, digits, '_', '-', '.', ' ', '/' and ':'"
        )
    normal = posixpath.normpath(key)
    if normal != key or normal == "." or normal.startswith(("..", "/")):
        raise ArgumentError(f"{kind} key {key!r}: must not read as a different path ({normal!r})")
    return key


def flatten(where: str, values: object, prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}``; two keys flattening to one name
    (``{"a.b": 1, "a": {"b": 2}}``) are an error, not a silent overwrite."""
    out: dict[str, Any] = {}
    for key, value in mapping(where, values).items():
        if not isinstance(key, str):
            raise ArgumentError(f"{where} key {key!r}: expected a string")
        full = f"{prefix}{key}"
        items = flatten(where, value, full + ".") if isinstance(value, Mapping) else {full: value}
        for name, item in items.items():
            if name in out:
                raise ArgumentError(f"{where}: two entries flatten to the same key {name!r}")
            out[name] = item
    return out


def tag_values(where: str, tags: object) -> dict[str, str]:
    """Tags as MLflow stores them (strings); ``None`` is refused: it would be stored as the
    string "None", which looks like a value to every check."""
    out: dict[str, str] = {}
    for key, value in mapping(where, tags).items():
        check_key("tag", key)
        if value is None:
            raise ArgumentError(f"{where}: tag {key!r} is None: give a value or leave the tag out")
        out[key] = str(value)
    return out


def metric_values(where: str, metrics: object) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in flatten(where, metrics).items():
        check_key("metric", key)
        if isinstance(value, str | bytes) or value is None:
            raise ArgumentError(f"metric {key!r}: {_short(value)} is not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ArgumentError(f"metric {key!r}: {_short(value)} is not a number") from None
        except OverflowError:
            raise ArgumentError(
                f"metric {key!r}: {_short(value)} is too large for a float metric"
            ) from None
        if math.isinf(number) and not _is_float_inf(value):
            raise ArgumentError(f"metric {key!r}: {_short(value)} is too large for a float metric")
        out[key] = number
    return out


def step_value(step: object) -> int | None:
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, int):
        raise ArgumentError(f"step={step!r}: expected an int, got {type(step).__name__}")
    return step


def _is_float_inf(value: object) -> bool:
    # float("inf") and numpy's inf are deliberate; Decimal("1e400") overflowing is not
    return isinstance(value, float) and math.isinf(value)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

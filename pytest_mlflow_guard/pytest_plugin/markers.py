"""``@pytest.mark.mlflow_guard(...)``: per-test settings for the runs a test makes (no pytest)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.vocabulary import TAG_IGNORE, TAG_IGNORE_REASON


@dataclass(frozen=True)
class MarkerSpec:
    """``@pytest.mark.mlflow_guard(ignore=[...], experiment=..., tags={...}, reason=...)``."""

    ignore: tuple[str, ...] = ()
    experiment: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None

    @classmethod
    def parse(cls, kwargs: Mapping[str, Any], nodeid: str) -> MarkerSpec:
        where = f"@pytest.mark.mlflow_guard on {nodeid}"
        unknown = sorted(set(kwargs) - {"ignore", "experiment", "tags", "reason"})
        if unknown:
            raise ConfigError(
                f"{where}: unknown argument {unknown[0]!r} "
                "(expected ignore, experiment, tags, reason)"
            )
        ignore = kwargs.get("ignore", ())
        ignore = (ignore,) if isinstance(ignore, str) else tuple(str(i) for i in ignore)
        tags = kwargs.get("tags", {})
        if not isinstance(tags, Mapping):
            raise ConfigError(f"{where}: tags={tags!r} is not a dict")
        return cls(
            ignore,
            kwargs.get("experiment"),
            {str(k): str(v) for k, v in tags.items()},
            kwargs.get("reason"),
        )

    def run_tags(self, nodeid: str) -> dict[str, str]:
        tags = dict(self.tags)
        if self.ignore:
            tags[TAG_IGNORE] = ",".join(self.ignore)
            tags[TAG_IGNORE_REASON] = self.reason or f"@pytest.mark.mlflow_guard on {nodeid}"
        return tags

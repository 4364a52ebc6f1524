"""What a guarded session hands to the processes it starts: the environment it exports to all of
them (xdist workers, a test's subprocesses), put back exactly as it was when the session ends,
and the state an xdist worker attaches with."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


class Exports:
    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, key: str, value: str) -> None:
        self._saved.setdefault(key, os.environ.get(key))  # the first value seen is the user's
        os.environ[key] = value

    def set_default(self, key: str, value: str) -> None:
        """Export ``value`` unless the user set ``key`` already (their value wins)."""
        if key not in os.environ:
            self.set(key, value)

    def restore(self) -> None:
        """Undo every export (idempotent)."""
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()


@dataclass(frozen=True)
class WorkerState:
    """What an xdist worker needs of the controller's session (sent through ``workerinput``)."""

    session_id: str | None
    session_run_id: str | None
    experiment_id: str | None
    tracking_uri: str | None
    problem: str | None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerState:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})

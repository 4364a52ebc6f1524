"""Paging helpers for the reader: MLflow page tokens, and matching logged models to runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

# A LoggedModel is created after its run starts; allow this much clock skew between the client
# that set the run's start time and the store that stamped the model's creation.
_CLOCK_SKEW_MS = 24 * 3600 * 1000


def to_utc(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def pages(fetch: Callable[[str | None], Any]) -> Iterator[list[Any]]:
    """Each page of a paged MLflow search (``fetch(page_token) -> PagedList``)."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield list(page)
        token = page.token
        if not token:
            return


class ModelsByRun:
    """Hands each page of runs (newest first) its MLflow 3 LoggedModels, taken from one paged,
    newest-first scan of the experiment's models rather than a query per run.

    A model is created after its run starts, so once a page's oldest run is reached every model
    of the page's runs has been seen; models of runs still to come wait in ``pending``, and those
    of runs never listed (out of scope) are dropped with the experiment.
    """

    def __init__(self, pages: Iterator[list[Any]]) -> None:
        self._pages = pages
        self._head: list[Any] = []  # the current page reversed: its newest model last
        self._pending: dict[str, list[Any]] = {}

    def take(self, runs: Sequence[Any]) -> dict[str, list[Any]]:
        if not runs:
            return {}
        starts = [r.info.start_time for r in runs]
        floor = None if None in starts else min(starts) - _CLOCK_SKEW_MS
        while True:
            if not self._head:
                page = next(self._pages, None)
                if page is None:
                    break
                self._head = page[::-1]
                continue
            model = self._head[-1]
            if floor is not None and (model.creation_timestamp or 0) < floor:
                break
            self._head.pop()
            if model.source_run_id:
                self._pending.setdefault(model.source_run_id, []).append(model)
        ids = [r.info.run_id for r in runs]
        return {i: self._pending.pop(i) for i in ids if i in self._pending}

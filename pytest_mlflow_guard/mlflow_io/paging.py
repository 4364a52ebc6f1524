"""Helpers for the reader: MLflow page tokens, matching logged models to runs, and facts read
off entity fields (a version's source run, a run name MLflow generated)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")

# A LoggedModel is created after its run starts; allow this much clock skew between the client
# that set the run's start time and the store that stamped the model's creation.
_CLOCK_SKEW_MS = 24 * 3600 * 1000


def to_utc(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def changed_at(ms: int | None, since: datetime) -> bool:
    """Whether a store time (epoch ms) is at or after ``since``."""
    return ms is not None and ms >= int(since.timestamp() * 1000)


def model_changed(updated_ms: int | None, versions: Sequence[Any], since: datetime) -> bool:
    """A registered model belongs in an incremental check when it, or any of its version
    records, was updated since ``since`` (all its versions are checked then: MLG401 compares
    them)."""
    return changed_at(updated_ms, since) or any(
        v.last_updated_time is not None and v.last_updated_time >= since for v in versions
    )


def pages(fetch: Callable[[str | None], Any]) -> Iterator[list[Any]]:
    """Each page of a paged MLflow search (``fetch(page_token) -> PagedList``)."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield list(page)
        token = page.token
        if not token:
            return


def runs_anywhere(client: Any, filter_string: str, chunk: int = 100) -> Iterator[Any]:
    """Runs matching ``filter_string`` in every active experiment (``search_runs`` wants
    experiment ids: they are listed first, then searched ``chunk`` at a time)."""
    from mlflow.entities import ViewType

    ids = [
        e.experiment_id
        for page in pages(
            lambda token: client.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
            )
        )
        for e in page
    ]
    for start in range(0, len(ids), chunk):
        some = ids[start : start + chunk]
        for page in pages(
            lambda token, some=some: client.search_runs(  # type: ignore[misc]
                some, filter_string=filter_string, max_results=1000, page_token=token
            )
        ):
            yield from page


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


# "<predicate>-<noun>-<0..1000>": what mlflow.utils.name_utils._generate_random_name returns
_GENERATED_SHAPE = re.compile(r"^([a-z]+)-([a-z]+)-(0|[1-9][0-9]{0,3})$")
_MAX_GENERATED_NUMBER = 1000


@cache
def _name_words() -> tuple[frozenset[str], frozenset[str]] | None:
    """MLflow's (predicates, nouns) for run names, or None if they moved (private names)."""
    try:
        from mlflow.utils import name_utils
    except ImportError:
        return None
    words = []
    for attr in ("_GENERATOR_PREDICATES", "_GENERATOR_NOUNS"):
        value = getattr(name_utils, attr, None)
        if not isinstance(value, list | tuple) or not all(isinstance(w, str) for w in value):
            return None
        words.append(frozenset(w.lower() for w in value))
    if not all(words):
        return None
    return words[0], words[1]


def generated_run_name(name: str | None) -> bool | None:
    """Whether ``name`` is one MLflow generates for unnamed runs (``bold-hawk-42``, from its word
    lists); None when MLflow's word lists are not available to tell."""
    words = _name_words()
    if words is None:
        return None
    match = _GENERATED_SHAPE.fullmatch((name or "").strip())
    if match is None:
        return False
    predicates, nouns = words
    return match[1] in predicates and match[2] in nouns and int(match[3]) <= _MAX_GENERATED_NUMBER


def and_filter(*clauses: str) -> str:
    return " AND ".join(c for c in clauses if c)


def window_pages(fetch: Callable[[str, str | None], Any], base: str) -> Iterator[list[Any]]:
    """Runs newest first in pages, each asked for as "started at or before the last page's
    oldest run" rather than by page token (``fetch(filter_string, page_token)``; the search must
    order by ``attributes.start_time DESC``).

    A page token is an offset: the server re-reads every run before it for each page, so a deep
    listing costs the square of its length. A start-time window starts where the last page
    ended. Runs sharing the boundary time are remembered so none is listed twice; when more runs
    share one start time than a page holds, those are paged by token and the window moves below
    them. Runs without a start time (which MLflow never writes) would fall outside every window.
    """
    upper: int | None = None
    seen: set[str] = set()  # ids of runs at start_time == upper already yielded
    while True:
        page = fetch(
            and_filter(base, "" if upper is None else f"attributes.start_time <= {upper}"), None
        )
        runs = list(page)
        fresh = [r for r in runs if not (r.info.start_time == upper and r.info.run_id in seen)]
        if fresh:
            yield fresh
        if not page.token or not runs:
            return
        lowest = runs[-1].info.start_time
        if lowest is None:
            return
        at_lowest = {r.info.run_id for r in runs if r.info.start_time == lowest}
        if lowest == upper:  # a whole page at one start time: page through that instant
            seen |= at_lowest
            same = and_filter(base, f"attributes.start_time = {upper}")
            for more in pages(lambda token, same=same: fetch(same, token)):  # type: ignore[misc]
                rest = [r for r in more if r.info.run_id not in seen]
                if rest:
                    yield rest
            upper, seen = lowest - 1, set()
            continue
        seen, upper = at_lowest, lowest


def prefetched(pages: Iterator[T], submit: Callable[..., Any]) -> Iterator[T]:
    """``pages`` with the next one fetched (by ``submit``, a pool's) while the caller works on
    this one. Only one thread advances the iterator at a time."""
    upcoming = submit(next, pages, None)
    while True:
        page = upcoming.result()
        if page is None:
            return
        upcoming = submit(next, pages, None)
        yield page

"""Which reader a check uses: MLflow's client (any store) or SQL (a tested database schema).

``--reader auto`` (the default) reads a ``sqlite:``, ``postgresql:`` or ``mysql:`` store with SQL
when its schema revision is one the SQL reader was tested on, and through MLflow's client
otherwise, saying why in the report's notes. ``--reader sql`` insists (an untested revision is an
error naming it); ``--reader api`` never reads SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pytest_mlflow_guard.config import Scope
from pytest_mlflow_guard.errors import GuardError, environment_error
from pytest_mlflow_guard.mlflow_io.workspaces import enabled_here
from pytest_mlflow_guard.records import Record
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.vocabulary import READERS

__all__ = ["ReaderChoice", "open_reader"]


class Reader(Protocol):
    def iter_records(self) -> Iterator[Record]: ...


@dataclass
class ReaderChoice:
    reader: Reader
    kind: str  # "api" or "sql"
    notes: list[str] = field(default_factory=list)


def open_reader(
    tracking_uri: str,
    mode: str,
    scope: Scope,
    *,
    workers: int,
    artifacts_server: str | None,
    changed_since: datetime | None = None,
    option: str = "--reader",
    workspaces: Sequence[str] = (),
) -> ReaderChoice:
    """The reader ``mode`` (one of ``READERS``) picks for the store; ``GuardError`` for
    ``sql`` on a store it cannot read. ``workspaces``: the ones to read (all when empty)."""
    from pytest_mlflow_guard.mlflow_io.sql_schema import (
        TESTED_REVISIONS,
        is_database_uri,
        open_readonly,
        read_schema,
        require_driver,
        revision,
    )

    if mode not in READERS:
        raise GuardError(f"{option} {mode!r}: expected one of {', '.join(READERS)}")
    shown = redact_text(tracking_uri)
    notes: list[str] = []
    if is_database_uri(tracking_uri):
        engine = open_readonly(tracking_uri)
        try:
            with engine.connect() as conn:
                found = revision(conn)
                schema = read_schema(conn, found) if found is not None else None
        except Exception as exc:
            message = environment_error(exc)
            if message is None:
                raise
            raise GuardError(f"cannot read {shown}: {message}") from exc
        if found is None or schema is None:
            # MLflow's client would create its tables here, and the gate pass on nothing
            raise GuardError(f"no MLflow store at {shown}: no MLflow tables (no alembic_version)")
        if mode != "api" and found in TESTED_REVISIONS:
            from pytest_mlflow_guard.mlflow_io.sql_reader import SqlStoreReader

            reader = SqlStoreReader(
                tracking_uri,
                engine,
                scope,
                max_workers=workers,
                artifacts_server=artifacts_server,
                changed_since=changed_since,
                workspaces=workspaces,
                schema=schema,
            )
            return ReaderChoice(reader, "sql")
        engine.dispose()
        if len(schema.workspaces) > 1 and not enabled_here():
            raise GuardError(
                f"{shown} keeps objects in workspaces ({', '.join(schema.workspaces)}), which "
                "MLflow's client reads from a database only with MLFLOW_ENABLE_WORKSPACES=true; "
                f"the SQL reader was not tested on its schema revision {found}: set that, or "
                "check through the tracking server"
            )
        tested = ", ".join(f"{rev} ({release})" for rev, release in TESTED_REVISIONS.items())
        why = (
            f"{shown} has MLflow schema revision {found}, "
            f"which the SQL reader was not tested on (tested: {tested})"
        )
        if mode == "sql":
            raise GuardError(f"{option} sql: {why}; use {option} auto or api")
        if mode == "auto":
            notes.append(f"read through MLflow's client, not SQL: {why}")
    elif mode == "sql":
        raise GuardError(
            f"{option} sql: {shown} is not a database URI (sqlite:, postgresql:, mysql:)"
        )
    from pytest_mlflow_guard.mlflow_io.reader import StoreReader

    if is_database_uri(tracking_uri):
        require_driver(tracking_uri)  # MLflow's client takes the driver SQLAlchemy names
    api = StoreReader(
        tracking_uri,
        scope,
        max_workers=workers,
        artifacts_server=artifacts_server,
        changed_since=changed_since,
        workspaces=workspaces,
    )
    return ReaderChoice(api, "api", notes)

"""The audit trail of a registered model: who moved which version to which stage or alias, when.

MLflow keeps only a version's current stage and a model's current aliases (mlflow/mlflow#2169:
"who held Production when" has no answer). The tracking-server app records every change it
lets through as one registered-model tag (``mlflow_guard.audit.<ms>.<nn>.<random>``, a JSON
object), so the trail lives in the registry itself: ``mlflow-guard history`` reads it through
the server or straight from the database alike, and it goes when the model goes. One tag per
change, never a read-modify-write of one shared tag: two promotions at once both stay.

Plain data: no MLflow here (``mlflow_io/history.py`` reads the tags).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.vocabulary import TAG_AUDIT_PREFIX

__all__ = ["AuditEntry", "entries_from_tags", "format_json", "format_text", "now_utc"]


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class AuditEntry:
    time: datetime
    user: str
    event: str  # "stage" or "alias"
    version: str | None = None
    from_: str | None = None
    to: str | None = None
    alias: str | None = None
    #: why the change happened when it was not the request's own target
    #: ("archive_existing_versions": archived by another version's promotion)
    cause: str | None = None

    def to_tag(self, index: int = 0) -> tuple[str, str]:
        """The registered-model tag holding this entry; ``index`` orders the entries of one
        request (a promotion first, then the versions it archived)."""
        millis = int(self.time.timestamp() * 1000)
        key = f"{TAG_AUDIT_PREFIX}{millis:013d}.{index:02d}.{secrets.token_hex(3)}"
        return key, json.dumps(self.as_dict(), sort_keys=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(timespec="milliseconds"),
            "user": self.user,
            "event": self.event,
            "version": self.version,
            "from": self.from_,
            "to": self.to,
            "alias": self.alias,
            "cause": self.cause,
        }

    @classmethod
    def from_json(cls, text: str) -> AuditEntry | None:
        try:
            raw = json.loads(text)
            time = datetime.fromisoformat(str(raw["time"]).replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            return None  # a tag someone else wrote under our prefix: not an entry

        def text_or_none(key: str) -> str | None:
            value = raw.get(key)
            return None if value is None else str(value)

        return cls(
            time=time if time.tzinfo else time.replace(tzinfo=timezone.utc),
            user=str(raw.get("user") or "unknown"),
            event=str(raw.get("event") or "?"),
            version=text_or_none("version"),
            from_=text_or_none("from"),
            to=text_or_none("to"),
            alias=text_or_none("alias"),
            cause=text_or_none("cause"),
        )


def entries_from_tags(tags: Mapping[str, str], version: str | None = None) -> list[AuditEntry]:
    """The model's trail, oldest first; only the entries about ``version`` when given."""
    entries = []
    for key in sorted(k for k in tags if k.startswith(TAG_AUDIT_PREFIX)):
        entry = AuditEntry.from_json(tags[key])
        if entry is not None and (version is None or entry.version == version):
            entries.append(entry)
    return sorted(entries, key=lambda e: e.time)


def format_text(model: str, entries: Iterable[AuditEntry]) -> str:
    lines = []
    for e in entries:
        when = e.time.isoformat(timespec="seconds")
        if e.event == "alias":
            change = f"alias @{e.alias}: {_version(e.from_)} -> {_version(e.to)}"
        else:
            change = f"version {e.version}: {e.from_ or 'None'} -> {e.to or 'None'}"
        cause = f" ({e.cause})" if e.cause else ""
        lines.append(clean(f"{when}  {e.user}  {change}{cause}"))
    if not lines:
        return clean(f"no recorded stage or alias changes for {model!r}") + "\n"
    return clean(f"history of {model!r}") + "\n" + "\n".join(lines) + "\n"


def _version(version: str | None) -> str:
    return f"v{version}" if version else "(none)"


def format_json(model: str, entries: Iterable[AuditEntry]) -> str:
    return json.dumps({"model": model, "history": [e.as_dict() for e in entries]}, indent=2) + "\n"

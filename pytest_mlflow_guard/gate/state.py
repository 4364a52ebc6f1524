"""The state file of ``mlflow-guard check --since-last FILE``: when the last check of a store
began, so that the next one reads only what changed after it. Standard library only.

The file holds the store (its URI with any credential redacted, so the file is safe to keep as
a CI artifact) and the check's start time, never a finding. A check that ends, with or without
findings, records its start; one that fails to read the store records nothing, so the next run
reads the same changes again. An existing file that is not such a state file is refused before
anything is read, and never overwritten.

What "changed" means is what the store records times for: a run that started or ended since
then, an experiment or a registered model updated since then, a model version created or
updated since then (a stage transition, a tag). MLflow keeps no time for a tag or param set on a
run after it ended, so the README advises a full check now and then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.gate.report_files import write_text

__all__ = ["FORMAT", "SKEW", "Since", "load_since", "save_state"]

FORMAT = "mlflow-guard-state/1"
#: the store's and the clients' clocks may disagree: re-check this much before the last start
SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Since:
    """What the state file says for this store: ``changed_since`` None means check everything,
    and ``note`` says why (or what was skipped)."""

    changed_since: datetime | None
    note: str


def _read(option: str, path: Path) -> dict[str, object] | None:
    if not path.exists():
        return None
    if not path.is_file():
        raise ConfigError(
            f"{option} {path}: not a regular file (a state file is read and replaced)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(
            f"{option} {path}: not an mlflow-guard state file ({exc}); refusing to overwrite it"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(
            f'{option} {path}: not an mlflow-guard state file (no "format": "{FORMAT}"); '
            "refusing to overwrite it"
        )
    return data


def load_since(path: str | Path, store: str, option: str = "--since-last") -> Since:
    """``store`` is the redacted tracking URI. Raises ``ConfigError`` for a file that exists and
    is not a state file (it will not be overwritten)."""
    target = Path(path)
    data = _read(option, target)
    if data is None:
        return Since(None, f"{option} {target}: no earlier check recorded; checked everything")
    if data.get("store") != store:
        return Since(
            None,
            f"{option} {target}: recorded for another store ({data.get('store')}); "
            "checked everything",
        )
    try:
        started = datetime.fromisoformat(str(data["started_at"]))
    except (KeyError, ValueError):
        raise ConfigError(f"{option} {target}: started_at is missing or not a time") from None
    started = started if started.tzinfo else started.replace(tzinfo=timezone.utc)
    since = started - SKEW
    return Since(
        since,
        f"incremental check ({option} {target}): only runs, experiments and registered models "
        f"changed since {since.isoformat(timespec='seconds')} (the last check's start, less "
        f"{int(SKEW.total_seconds() // 60)} minutes for clock skew)",
    )


def save_state(path: str | Path, store: str, started_at: datetime) -> None:
    """Record a finished check (atomically; see ``report_files.write_text``)."""
    _read("--since-last", Path(path))  # still ours (or absent) at the end of a long check
    text = json.dumps(
        {"format": FORMAT, "store": store, "started_at": started_at.isoformat()}, indent=2
    )
    write_text(path, text + "\n")

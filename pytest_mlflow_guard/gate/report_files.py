"""Where reports and baselines may be written, and writing them so that no half file is left.

``mlflow-guard check --output PATH``, ``--write-baseline PATH`` and the plugin's
``--mlflow-guard-report FORMAT:PATH`` all come here. A path is refused (before the store is
read, before anything is written) when it is the tracking store's database, lies inside its
artifact root or store folder, is an existing SQLite database of any kind, or is the
configuration file being read. Everything else is written to a temporary file in the same folder
and renamed over the target, so an interrupted write leaves the old file or the new one, never
half of either. Standard library only.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.mlflow_io.uris import sqlite_path

__all__ = [
    "Protected",
    "check_target",
    "check_targets",
    "protected_for",
    "write_chunks",
    "write_text",
]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
# MLflow's artifact root for a database store when none is given (resolved against the cwd),
# and the variable through which `mlflow server` passes its own root down
_DEFAULT_ARTIFACT_ROOT = "mlruns"
_SERVER_ARTIFACT_ROOT_ENV = "_MLFLOW_SERVER_ARTIFACT_ROOT"


@dataclass(frozen=True)
class Protected:
    """Files that must not be overwritten (with what they are) and folders nothing may be
    written into."""

    files: tuple[tuple[Path, str], ...] = ()
    folders: tuple[Path, ...] = ()

    def reason(self, target: Path) -> str | None:
        for file, what in self.files:
            if target == file:
                return f"it is {what}"
        for folder in self.folders:
            if target == folder or target.is_relative_to(folder):
                return f"it lies in the tracking store's folder {folder}"
        return None


def _resolve(path: str | Path) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path))).resolve()


def protected_for(tracking_uri: str | None, config_path: str | Path | None = None) -> Protected:
    """What a report must never replace for this store: its database (and sqlite's side files),
    its artifact root, a file store's folder, and the configuration file."""
    files: list[tuple[Path, str]] = []
    folders: list[Path] = []
    uri = tracking_uri or ""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "sqlite":
        db = sqlite_path(uri)
        if db:
            base = _resolve(db)
            for name in (base.name, *(base.name + side for side in _SQLITE_SIDE_FILES)):
                files.append((base.with_name(name), "the tracking store's database"))
        folders.append(
            _resolve(os.environ.get(_SERVER_ARTIFACT_ROOT_ENV) or _DEFAULT_ARTIFACT_ROOT)
        )
    elif scheme in ("", "file") and uri:
        folders.append(_resolve(uri[len("file://") :] if scheme == "file" else uri))
    elif scheme not in ("http", "https", "databricks"):
        # another database: its artifacts default to ./mlruns too
        folders.append(_resolve(_DEFAULT_ARTIFACT_ROOT))
    if config_path:
        files.append((_resolve(config_path), "the configuration file being read"))
    return Protected(tuple(files), tuple(folders))


def _is_sqlite_database(path: Path) -> bool:
    if not path.is_file():  # reading a named pipe to look would wait for a writer forever
        return False
    try:
        with path.open("rb") as fh:
            return fh.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def check_target(
    option: str, value: str, protected: Protected, *, make_parents: bool = False
) -> Path:
    """The resolved path ``value`` given to ``option`` (``--output``, or ``--mlflow-guard-report
    json:`` whose folder is made when missing: ``make_parents``), or ``ConfigError`` naming
    both when a report must not go there."""
    target = _resolve(value)
    where = f"{option}{'' if option.endswith(':') else ' '}{value}"
    if target.is_dir():
        raise ConfigError(f"{where}: is a directory")
    if not make_parents and not target.parent.is_dir():
        raise ConfigError(f"{where}: directory {target.parent} does not exist")
    reason = protected.reason(target)
    if reason is None and _is_sqlite_database(target):
        reason = "it is an SQLite database"
    if reason is not None:
        raise ConfigError(f"{where}: refusing to overwrite it: {reason}")
    return target


def check_targets(
    pairs: Iterable[tuple[str, str]], protected: Protected, *, make_parents: bool = False
) -> list[Path]:
    """Each ``(option, path)`` checked; the same file named twice is refused too (the second
    write would silently replace the first)."""
    seen: dict[Path, str] = {}
    out: list[Path] = []
    for option, value in pairs:
        target = check_target(option, value, protected, make_parents=make_parents)
        if target in seen:
            raise ConfigError(f"{option} {value}: already the target of {seen[target]}")
        seen[target] = f"{option} {value}"
        out.append(target)
    return out


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`write_chunks`)."""
    write_chunks(path, (text,))


def write_chunks(path: str | Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to ``path`` atomically: a temporary file in the same folder, then a
    rename. The new file keeps the old one's permission bits when it replaces one.

    A ``path`` that exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a named
    pipe) is written into, never replaced: renaming over ``/dev/null`` would turn the device
    into a plain file for every process on the machine.
    """
    target = Path(path)
    if target.exists() and not target.is_file():
        with target.open("w", encoding="utf-8") as fh:
            fh.writelines(chunks)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(chunks)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        except FileNotFoundError:
            os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

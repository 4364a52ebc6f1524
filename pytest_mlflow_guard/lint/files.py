"""Which files ``mlflow-guard lint PATH...`` reads: the files named, and the ``*.py`` files below
the directories named, without the folders that hold no code of the project's own."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from pytest_mlflow_guard.errors import GuardError

__all__ = ["SKIPPED_DIRS", "python_files"]

#: never walked into (hidden folders neither): environments, caches, build output, VCS data
SKIPPED_DIRS = frozenset(
    {".git", ".venv", "venv", "__pycache__", "node_modules", ".tox", "build", "dist"}
)


def python_files(paths: Iterable[str]) -> list[Path]:
    """The files to lint, each once, sorted so the output does not depend on the file system.

    A file named is read whatever its suffix: pre-commit's ``types: [python]`` also passes
    scripts that are Python by their shebang only. A path that does not exist is a
    ``GuardError`` naming it, raised before any file is read.
    """
    found: dict[Path, Path] = {}  # resolved -> as given, so a file named twice is read once
    for given in paths:
        path = Path(given)
        if path.is_dir():
            candidates: Iterable[Path] = _walk(path)
        elif path.exists():
            candidates = (path,)
        else:
            raise GuardError(f"{given}: no such file or directory")
        for candidate in candidates:
            try:
                key = candidate.resolve()
            except (OSError, RuntimeError):  # a symlink loop: reading it reports the error
                key = Path(os.path.abspath(candidate))
            found.setdefault(key, candidate)
    return sorted(found.values(), key=lambda path: path.parts)


def _unreadable(error: OSError) -> None:
    # a folder that cannot be listed would otherwise be skipped in silence: its files unchecked
    raise GuardError(f"cannot read {error.filename}: {error.strerror or error}")


def _walk(top: Path) -> Iterator[Path]:
    # a directory named explicitly is walked even when hidden: only what is below it is pruned
    for directory, subdirs, names in os.walk(top, onerror=_unreadable):
        subdirs[:] = [d for d in subdirs if d not in SKIPPED_DIRS and not d.startswith(".")]
        for name in names:
            if name.endswith(".py"):
                yield Path(directory, name)

"""Tracking URIs as strings: which file a ``sqlite:`` URI names, and the same URI made absolute.
Standard library only (the run-context provider calls this at every run start)."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

__all__ = ["absolute_tracking_uri", "sqlite_path"]


def sqlite_path(uri: str) -> str | None:
    """The database file of a ``sqlite:`` URI (SQLAlchemy rules: ``sqlite:////abs``,
    ``sqlite:///relative``), or None for an in-memory or ``file:`` URI database."""
    rest = uri.split(":", 1)[1]
    if not rest.startswith("//"):
        return None
    path = rest[2:].split("?", 1)[0]
    path = path[1:] if path.startswith("/") else path
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return urllib.parse.unquote(path)


def absolute_tracking_uri(uri: str, cwd: Path | str | None = None) -> str:
    """``uri`` as another process, or this one after a ``chdir``, must see it: a relative sqlite
    database, file store path or ``file:`` URI is made absolute against ``cwd`` (default: the
    working directory). ``sqlite:///mlflow.db`` silently means another database elsewhere."""
    base = os.fspath(cwd) if cwd is not None else os.getcwd()
    if uri.lower().startswith("sqlite:"):
        raw = sqlite_path(uri)
        if raw is None or os.path.isabs(raw):
            return uri
        query = uri.partition("?")[2]
        return f"sqlite:///{_join(base, raw)}" + (f"?{query}" if query else "")
    if uri and "://" not in uri and not uri.startswith("file:"):
        return _join(base, uri)  # a file store path
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return Path(_join(base, uri[len("file:") :])).as_uri()
    return uri


def _join(base: str, path: str) -> str:
    return os.path.normpath(os.path.join(base, path))

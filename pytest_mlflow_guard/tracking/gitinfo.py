"""Git facts about the code being run, read with the ``git`` executable (no GitPython needed).

Remote URLs are stripped of credentials (:mod:`.redact`) before they leave this module: a token in
an HTTPS remote must never become a run tag.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from pytest_mlflow_guard.redact import redact_text

_GIT_TIMEOUT_S = 10


@dataclass(frozen=True)
class GitInfo:
    root: Path
    commit: str
    branch: str | None  # None on a detached HEAD
    dirty: bool
    remote: str | None  # credential-free


def _git(cwd: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None  # no git executable, or a hung filesystem: no git facts rather than a crash
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_info(path: Path | str) -> GitInfo | None:
    """Facts about the repository holding ``path`` (a file or directory); None outside a repo.

    When ``path`` is the file being run, the tree also counts as dirty if that file is untracked.
    """
    start = Path(path)
    code_file = start if start.is_file() else None
    if code_file is not None or not start.exists():
        start = start.parent
    if not start.is_dir():
        return None
    root = _git(start, "rev-parse", "--show-toplevel")
    if not root:
        return None  # not a repository
    # One status call gives the commit, the branch and whether tracked files changed (it runs at
    # every run start: each git process costs milliseconds). Tracked changes only: build outputs
    # and caches are usually untracked noise, and a run is reproducible from the commit as long
    # as no tracked file differs from it.
    status = _git(start, "status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return None
    heads = dict(line[2:].split(" ", 1) for line in status.splitlines() if line.startswith("# "))
    commit = heads.get("branch.oid", "(initial)")
    if commit == "(initial)":
        return None  # a repository without a commit yet
    branch = heads.get("branch.head", "(detached)")
    changed = any(line and not line.startswith("#") for line in status.splitlines())
    # ...but the code being run is the exception: an untracked script is not in the commit.
    untracked_code = (
        code_file is not None
        and _git(start, "ls-files", "--error-unmatch", "--", code_file.name) is None
    )
    return GitInfo(
        root=Path(root),
        commit=commit,
        branch=None if branch == "(detached)" else branch,
        dirty=changed or untracked_code,
        remote=_remote_url(start),
    )


def _remote_url(start: Path) -> str | None:
    """The fetch URL of ``origin``, else of the first remote git lists; credential-free."""
    urls: dict[str, str] = {}
    for line in (_git(start, "remote", "-v") or "").splitlines():
        name, _, rest = line.partition("\t")
        url, _, kind = rest.rpartition(" ")
        if kind == "(fetch)" and url:
            urls.setdefault(name, url)
    if not urls:
        return None
    return redact_text(urls.get("origin") or next(iter(urls.values())))

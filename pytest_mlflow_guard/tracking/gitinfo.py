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
    commit = _git(start, "rev-parse", "--verify", "HEAD")
    if not root or not commit:
        return None  # not a repository, or one without a commit yet
    branch = _git(start, "symbolic-ref", "--quiet", "--short", "HEAD")
    # Tracked changes only: build outputs and caches are usually untracked noise, and a run is
    # reproducible from the commit as long as no tracked file differs from it.
    status = _git(start, "status", "--porcelain", "--untracked-files=no")
    # ...but the code being run is the exception: an untracked script is not in the commit.
    untracked_code = (
        code_file is not None
        and _git(start, "ls-files", "--error-unmatch", "--", code_file.name) is None
    )
    remote_name = _git(start, "remote")
    remote = None
    if remote_name:
        first = "origin" if "origin" in remote_name.split() else remote_name.split()[0]
        url = _git(start, "remote", "get-url", first)
        remote = redact_text(url) if url else None
    return GitInfo(
        root=Path(root),
        commit=commit,
        branch=branch or None,
        dirty=bool(status) or untracked_code,
        remote=remote,
    )

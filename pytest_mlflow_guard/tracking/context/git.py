"""``git.*`` and MLflow's ``mlflow.source.git.*``: the commit of the code being run.

Git facts come from the repository holding the *caller's code*, not from ``sys.argv[0]``: under
pytest that is the pytest executable inside a virtualenv, which may sit in no repository or in an
unrelated one. ``source.workdir`` and (under pytest) ``mlflow.source.name`` are recorded relative
to that repository, so a run replays on another machine.
"""

from __future__ import annotations

from pathlib import Path

from pytest_mlflow_guard.tracking.context import runtime
from pytest_mlflow_guard.tracking.gitinfo import GitInfo, git_info
from pytest_mlflow_guard.vocabulary import (
    MLFLOW_GIT_BRANCH,
    MLFLOW_GIT_COMMIT,
    MLFLOW_GIT_REPO_URL,
    MLFLOW_SOURCE_NAME,
    TAG_GIT_BRANCH,
    TAG_GIT_COMMIT,
    TAG_GIT_DIRTY,
    TAG_GIT_REMOTE,
    TAG_SOURCE_WORKDIR,
)


def find_git(code_path: Path | None = None) -> GitInfo | None:
    """Git facts for the code being run: caller file, else pytest rootpath, else the cwd."""
    for candidate in (code_path or runtime.caller_file(), runtime.pytest_rootpath(), Path.cwd()):
        if candidate is not None:
            info = git_info(candidate)
            if info is not None:
                return info
    return None


def _relative(path: Path, root: Path) -> str | None:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else None


class GitProvider:
    def in_context(self) -> bool:
        return True

    def tags(self, code_path: Path | None) -> dict[str, str]:
        caller = code_path or runtime.caller_file()
        info = find_git(caller)
        if info is None:
            return {}
        tags = {
            TAG_GIT_COMMIT: info.commit,
            TAG_GIT_DIRTY: "true" if info.dirty else "false",
            MLFLOW_GIT_COMMIT: info.commit,
            # MLflow's git provider may have filled these from another repository (the one
            # holding sys.argv[0]); all three are overwritten, with "" where this repository has
            # no value (detached HEAD, no remote), so no tag describes the wrong repository.
            MLFLOW_GIT_BRANCH: info.branch or "",
            MLFLOW_GIT_REPO_URL: info.remote or "",
        }
        if info.branch:
            tags[TAG_GIT_BRANCH] = info.branch
        if info.remote:
            tags[TAG_GIT_REMOTE] = info.remote
        # Paths inside the repository are recorded relative to its root, so they replay on
        # another machine; paths outside it (ran from elsewhere) are not recorded at all.
        root = info.root.resolve()
        # Under pytest a test may chdir anywhere, but node ids are relative to the rootdir:
        # that is where the replayed `pytest <node id>` must run.
        rootpath = runtime.pytest_rootpath()
        here = rootpath if runtime.under_pytest() and rootpath else Path.cwd()
        workdir = _relative(here.resolve(), root)
        if workdir is not None:
            tags[TAG_SOURCE_WORKDIR] = workdir
        if runtime.under_pytest() and caller is not None:
            source = _relative(caller, root)
            if source is not None:
                tags[MLFLOW_SOURCE_NAME] = source
        return tags

"""The automatic tags every run gets: who ran it, from which commit, how, and how to replay it.

Used by ``ExperimentTracker.start_run`` and by the MLflow run-context provider (plain
``mlflow.start_run()``), so both produce the same tags. No MLflow import here.

Git facts come from the repository holding the *caller's code*, not from ``sys.argv[0]``: under
pytest that is the pytest executable inside a virtualenv, which may sit in no repository or in an
unrelated one.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shlex
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from types import FrameType

from . import ledger, session_env
from .gitinfo import GitInfo, git_info
from .redact import redact_args
from .reproduce.names import ENV_REPRODUCTION_OF, TAG_REPRODUCTION_OF

TAG_USER = "os.user"
TAG_GIT_COMMIT = "git.commit"
TAG_GIT_BRANCH = "git.branch"
TAG_GIT_DIRTY = "git.dirty"
TAG_GIT_REMOTE = "git.remote"
TAG_SOURCE_TYPE = "source.type"
TAG_SOURCE_COMMAND = "source.command"
TAG_SOURCE_WORKDIR = "source.workdir"
TAG_RUN_MODE = "run.mode"
TAG_MODEL_TYPE = "model.type"
# MLflow's own git tags: its detection follows sys.argv[0], so under pytest it is wrong or empty.
MLFLOW_GIT_COMMIT = "mlflow.source.git.commit"
MLFLOW_GIT_BRANCH = "mlflow.source.git.branch"
MLFLOW_GIT_REPO_URL = "mlflow.source.git.repoURL"
MLFLOW_SOURCE_NAME = "mlflow.source.name"

_PACKAGE_DIR = Path(__file__).resolve().parent
_MLFLOW_TEST_SESSION = "mlflow.pytest.session"  # MLflow's pytest plugin starts its run here
# MLflow's tag limit is 8000 characters; an automatic tag must never be what refuses a run.
MAX_COMMAND_LENGTH = 4000

# Set by the pytest plugin for the duration of a session: the rootpath is the fallback repository
# when no caller frame lives in one (e.g. code executed from a site-packages install).
_pytest_rootpath: Path | None = None


# True while ExperimentTracker starts a run: it computed these tags already, so the MLflow
# run-context provider stands aside instead of running git a second time.
_tags_supplied: ContextVar[bool] = ContextVar("mlflow_guard_tags_supplied", default=False)


@contextmanager
def tags_supplied() -> Iterator[None]:
    token = _tags_supplied.set(True)
    try:
        yield
    finally:
        _tags_supplied.reset(token)


def provider_should_tag() -> bool:
    return not _tags_supplied.get()


def set_pytest_rootpath(path: Path | None) -> None:
    global _pytest_rootpath
    _pytest_rootpath = path


def current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # container uid without a passwd entry
        return "unknown"


def under_pytest() -> bool:
    # PYTEST_CURRENT_TEST is inherited by subprocesses a test starts; a training script launched
    # that way is a script, so the variable only counts in a process that has pytest loaded.
    return _pytest_rootpath is not None or (
        "PYTEST_CURRENT_TEST" in os.environ and "_pytest" in sys.modules
    )


def in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    get_ipython = getattr(shell, "get_ipython", None)
    return get_ipython is not None and get_ipython() is not None


def source_type() -> str:
    if under_pytest():
        return "pytest"
    if in_notebook():
        return "notebook"
    return "script"


@lru_cache(maxsize=1)
def _library_dirs() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    return tuple(os.path.realpath(p) + os.sep for p in paths if p)


def _frames(frame: FrameType | None) -> Iterable[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def caller_file(skip_modules: tuple[str, ...] = ("mlflow", "_pytest", "pluggy")) -> Path | None:
    """The innermost file on the stack that is user code: not ours, not a library, not stdlib."""
    libs = _library_dirs()
    for frame in _frames(sys._getframe(1)):
        filename = frame.f_code.co_filename
        if filename.startswith("<"):
            continue  # <string>, <stdin>, notebook cells with no file
        module = frame.f_globals.get("__name__", "")
        if module.split(".")[0] in skip_modules:
            continue
        real = os.path.realpath(filename)
        if real.startswith(str(_PACKAGE_DIR) + os.sep) or real.startswith(libs):
            continue
        return Path(real)
    return None


def find_git(code_path: Path | None = None) -> GitInfo | None:
    """Git facts for the code being run: caller file, else pytest rootpath, else the cwd."""
    for candidate in (code_path or caller_file(), _pytest_rootpath, Path.cwd()):
        if candidate is not None:
            info = git_info(candidate)
            if info is not None:
                return info
    return None


def _cap(command: str) -> str:
    if len(command) <= MAX_COMMAND_LENGTH:
        return command
    cut = len(command) - MAX_COMMAND_LENGTH
    return command[:MAX_COMMAND_LENGTH] + f" ...[{cut} more characters not recorded]"


def source_command() -> str | None:
    """A command line that replays this run from the repository's working directory."""
    if under_pytest():
        node = None if started_by_mlflow_test_plugin() else current_test()
        if node:
            # "tests/test_x.py::test_y (call)" -> replay exactly that test
            return _cap(shlex.join(["pytest", node]))
        return _cap(shlex.join(["pytest", *redact_args(sys.argv[1:])]))
    if in_notebook():
        return None  # a notebook has no command line to replay
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    argv[0] = "python"  # the interpreter path is machine specific; the environment is logged apart
    return _cap(shlex.join(redact_args(argv)))


def current_test() -> str | None:
    """Node id of the pytest test running now (in this process or the one that spawned it)."""
    node = os.environ.get("PYTEST_CURRENT_TEST", "")
    return node.rsplit(" (", 1)[0] if node else None


def session_tags() -> dict[str, str]:
    """Tags tying a run to the guarded pytest session (and test) it was made in, if any.

    Read from the environment the session exports, so runs made by xdist workers and by
    subprocesses a test starts are tied to the session too.
    """
    sid = session_env.session_id()
    if sid is None:
        return {}
    tags = {session_env.TAG_SESSION: sid}
    if started_by_mlflow_test_plugin():
        return {**tags, **_mlflow_test_run_tags()}
    node = current_test()
    if node:
        tags[session_env.TAG_TEST_NODEID] = node
    extra = os.environ.get(session_env.ENV_TEST_TAGS)
    if extra:
        # written by the plugin; a hand-edited value must not stop a run
        with contextlib.suppress(ValueError, AttributeError):
            tags.update({str(k): str(v) for k, v in json.loads(extra).items()})
    return tags


def note_run(tracking_uri: str) -> None:
    """Tell the guarded session (if any) that a run is being made in ``tracking_uri``: the
    test's teardown then knows it has runs to check, and where."""
    if session_env.session_id() is None:
        return
    from .mlflow_io.stores import absolute_sqlite_uri

    test = None if started_by_mlflow_test_plugin() else current_test()
    ledger.note(test, absolute_sqlite_uri(tracking_uri))


def started_by_mlflow_test_plugin() -> bool:
    """Whether the run being started is the session run of MLflow's own pytest plugin
    (``-p mlflow.pytest.plugin``, ``@mlflow.test``, MLflow 3.14+), which opens it from
    ``mlflow.pytest.session`` with only ``mlflow.runType=test`` and no name or experiment."""
    return any(
        frame.f_globals.get("__name__") == _MLFLOW_TEST_SESSION
        for frame in _frames(sys._getframe(1))
    )


def _mlflow_test_run_tags() -> dict[str, str]:
    """What the guard's own session run has, for MLflow's: a child of the guard's session run,
    a name, and the tags every run must carry. It belongs to no single test."""
    tags = {
        "mlflow.runName": f"{datetime.now():%Y%m%d-%H%M%S}_mlflow-test",
        TAG_RUN_MODE: "validation",
        TAG_MODEL_TYPE: "none",
    }
    parent = session_env.session_run_id()
    if parent:
        tags[session_env.TAG_PARENT_RUN_ID] = parent  # MLflow overrides it when nested
    return tags


def automatic_tags(code_path: Path | None = None) -> dict[str, str]:
    """The tags a run gets without the caller asking; caller tags are applied on top."""
    tags = {TAG_USER: current_user(), TAG_SOURCE_TYPE: source_type()}
    tags.update(session_tags())
    # `mlflow-guard reproduce` runs the recorded command with this set: the replay's run says
    # which run it reproduces from its first moment, not only once the replay has finished
    reproduction_of = os.environ.get(ENV_REPRODUCTION_OF)
    if reproduction_of:
        tags[TAG_REPRODUCTION_OF] = reproduction_of
    command = source_command()
    if command:
        tags[TAG_SOURCE_COMMAND] = command
    caller = code_path or caller_file()
    info = find_git(caller)
    if info is not None:
        tags.update(
            {
                TAG_GIT_COMMIT: info.commit,
                TAG_GIT_DIRTY: "true" if info.dirty else "false",
                MLFLOW_GIT_COMMIT: info.commit,
            }
        )
        # MLflow's git provider may have filled these from another repository (the one holding
        # sys.argv[0]); all three are overwritten, with "" where this repository has no value
        # (detached HEAD, no remote), so no tag is left describing the wrong repository.
        tags[MLFLOW_GIT_BRANCH] = info.branch or ""
        tags[MLFLOW_GIT_REPO_URL] = info.remote or ""
        if info.branch:
            tags[TAG_GIT_BRANCH] = info.branch
        if info.remote:
            tags[TAG_GIT_REMOTE] = info.remote
        # Paths inside the repository are recorded relative to its root, so they replay on
        # another machine; paths outside it (ran from elsewhere) are not recorded at all.
        root = info.root.resolve()
        # Under pytest a test may chdir anywhere, but node ids are relative to the rootdir:
        # that is where the replayed `pytest <node id>` must run.
        here = _pytest_rootpath if under_pytest() and _pytest_rootpath else Path.cwd()
        workdir = _relative(here.resolve(), root)
        if workdir is not None:
            tags[TAG_SOURCE_WORKDIR] = workdir
        if under_pytest() and caller is not None:
            source = _relative(caller, root)
            if source is not None:
                tags[MLFLOW_SOURCE_NAME] = source
    return tags


def _relative(path: Path, root: Path) -> str | None:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else None

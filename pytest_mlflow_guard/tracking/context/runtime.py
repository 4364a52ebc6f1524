"""Where the current run is being made: under pytest or in a notebook, from which user file, for
which test. What the providers ask of the process; standard library only."""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from types import FrameType

import pytest_mlflow_guard

_PACKAGE_DIR = Path(pytest_mlflow_guard.__file__).resolve().parent
_MLFLOW_TEST_SESSION = "mlflow.pytest.session"  # MLflow's pytest plugin starts its run here

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


def pytest_rootpath() -> Path | None:
    return _pytest_rootpath


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


def current_test() -> str | None:
    """Node id of the pytest test running now (in this process or the one that spawned it)."""
    node = os.environ.get("PYTEST_CURRENT_TEST", "")
    return node.rsplit(" (", 1)[0] if node else None


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


def started_by_mlflow_test_plugin() -> bool:
    """Whether the run being started is the session run of MLflow's own pytest plugin
    (``-p mlflow.pytest.plugin``, ``@mlflow.test``, MLflow 3.14+), which opens it from
    ``mlflow.pytest.session`` with only ``mlflow.runType=test`` and no name or experiment."""
    return any(
        frame.f_globals.get("__name__") == _MLFLOW_TEST_SESSION
        for frame in _frames(sys._getframe(1))
    )

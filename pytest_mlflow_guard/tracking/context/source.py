"""``source.type`` and ``source.command``: how the run was made, and the command that replays it
from the repository's working directory (redacted, capped)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from pytest_mlflow_guard.redact import redact_args
from pytest_mlflow_guard.tracking.context import runtime
from pytest_mlflow_guard.vocabulary import (
    SOURCE_TYPE_NOTEBOOK,
    SOURCE_TYPE_PYTEST,
    SOURCE_TYPE_SCRIPT,
    TAG_SOURCE_COMMAND,
    TAG_SOURCE_TYPE,
)

# MLflow's tag limit is 8000 characters; an automatic tag must never be what refuses a run.
MAX_COMMAND_LENGTH = 4000


def source_type() -> str:
    if runtime.under_pytest():
        return SOURCE_TYPE_PYTEST
    if runtime.in_notebook():
        return SOURCE_TYPE_NOTEBOOK
    return SOURCE_TYPE_SCRIPT


def _cap(command: str) -> str:
    if len(command) <= MAX_COMMAND_LENGTH:
        return command
    cut = len(command) - MAX_COMMAND_LENGTH
    return command[:MAX_COMMAND_LENGTH] + f" ...[{cut} more characters not recorded]"


def source_command() -> str | None:
    """A command line that replays this run from the repository's working directory."""
    if runtime.under_pytest():
        node = None if runtime.started_by_mlflow_test_plugin() else runtime.current_test()
        if node:
            # "tests/test_x.py::test_y (call)" -> replay exactly that test
            return _cap(shlex.join(["pytest", node]))
        return _cap(shlex.join(["pytest", *redact_args(sys.argv[1:])]))
    if runtime.in_notebook():
        return None  # a notebook has no command line to replay
    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    argv[0] = "python"  # the interpreter path is machine specific; the environment is logged apart
    return _cap(shlex.join(redact_args(argv)))


class SourceProvider:
    def in_context(self) -> bool:
        return True

    def tags(self, code_path: Path | None) -> dict[str, str]:
        tags = {TAG_SOURCE_TYPE: source_type()}
        command = source_command()
        if command:
            tags[TAG_SOURCE_COMMAND] = command
        return tags

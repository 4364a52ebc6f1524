"""The automatic tags every run gets, from small providers, one per concern (the shape of
MLflow's ``mlflow/tracking/context/``): who ran it (``user``), how and with which command
(``source``), from which commit (``git``), in which guarded pytest session and test
(``session``), as a replay of which run (``replay``); the session run adds the CI build (``ci``).

Used by ``ExperimentTracker.start_run`` and by the MLflow run-context provider (plain
``mlflow.start_run()``), so both produce the same tags. No MLflow import here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pytest_mlflow_guard.tracking.context.ci import CiProvider
from pytest_mlflow_guard.tracking.context.git import GitProvider, find_git
from pytest_mlflow_guard.tracking.context.replay import ReplayProvider
from pytest_mlflow_guard.tracking.context.runtime import (
    provider_should_tag,
    set_pytest_rootpath,
    tags_supplied,
)
from pytest_mlflow_guard.tracking.context.session import SessionProvider
from pytest_mlflow_guard.tracking.context.source import MAX_COMMAND_LENGTH, SourceProvider
from pytest_mlflow_guard.tracking.context.user import UserProvider, current_user

__all__ = [
    "MAX_COMMAND_LENGTH",
    "RUN_PROVIDERS",
    "SESSION_RUN_PROVIDERS",
    "TagProvider",
    "automatic_tags",
    "current_user",
    "find_git",
    "provider_should_tag",
    "set_pytest_rootpath",
    "tags_supplied",
]


class TagProvider(Protocol):
    def in_context(self) -> bool: ...

    def tags(self, code_path: Path | None) -> dict[str, str]: ...


#: every run's providers, in the order their tags are applied
RUN_PROVIDERS: tuple[TagProvider, ...] = (
    UserProvider(),
    SourceProvider(),
    SessionProvider(),
    ReplayProvider(),
    GitProvider(),
)
#: the guarded session's own run also links the CI build it belongs to
SESSION_RUN_PROVIDERS: tuple[TagProvider, ...] = (*RUN_PROVIDERS, CiProvider())


def automatic_tags(
    code_path: Path | None = None, providers: Sequence[TagProvider] = RUN_PROVIDERS
) -> dict[str, str]:
    """The tags a run gets without the caller asking (caller tags are applied on top).
    ``code_path``: the file whose repository the git facts describe (default: the caller's)."""
    tags: dict[str, str] = {}
    for provider in providers:
        if provider.in_context():
            tags.update(provider.tags(code_path))
    return tags

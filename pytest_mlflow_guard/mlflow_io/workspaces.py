"""MLflow's workspaces (3.10+): which ones a check reads, and selecting one for MLflow's client.

A store with workspaces enabled keeps experiments and registered models per workspace (names
repeat across them; experiment and run ids do not). A check reads every workspace by default,
one after the other; ``--workspace NAME`` narrows it. On a store with no workspace but
``default`` (every store before MLflow 3.10, and every store where nobody created one) nothing
changes: records carry no workspace and reports read as they always have.

MLflow's client has no per-client workspace: ``WorkspaceContext`` sets it for the thread (a
context variable) and for the process (``MLFLOW_WORKSPACE``, which the reader's pool threads
see). Workspaces are read one at a time, so a pass never sees another's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.errors import GuardError

__all__ = [
    "DEFAULT_WORKSPACE",
    "NO_WORKSPACE",
    "Pass",
    "enabled_here",
    "listed",
    "plan",
    "selected",
]

#: the workspace every object of a store without workspaces belongs to (MLflow's own name)
DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True)
class Pass:
    """One workspace's part of a read. ``label`` goes into its records (None on a store with no
    workspace but the default); ``name`` is the workspace its requests or rows are selected by
    (None: no selection at all)."""

    label: str | None
    name: str | None


#: the whole store, as one part (a store without workspaces)
NO_WORKSPACE = Pass(None, None)


def plan(
    known: Sequence[str], wanted: Sequence[str], where: str, *, select_default: bool
) -> list[Pass]:
    """The parts of a read, in workspace name order: every workspace in ``known`` by default,
    ``wanted`` when given. A wanted name the store does not have is an error naming it
    (``where`` names the store). A store with no workspace but the default is read as one
    part, selected by ``default`` when ``select_default`` (a database whose rows carry the
    column) and not at all otherwise."""
    names = tuple(known) or (DEFAULT_WORKSPACE,)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise GuardError(
            f"--workspace {clean(unknown[0])!r}: {where} has no such workspace "
            f"(it has: {', '.join(clean(name) for name in names)})"
        )
    if set(names) == {DEFAULT_WORKSPACE}:
        return [Pass(None, DEFAULT_WORKSPACE if select_default else None)]
    return [Pass(name, name) for name in sorted(set(wanted) or set(names))]


def listed(client: Any, tracking_uri: str) -> tuple[str, ...]:
    """The workspaces MLflow's ``client`` can list on its store, sorted; ``()`` when the store
    has none (MLflow before 3.10, or workspaces not enabled)."""
    if not hasattr(client, "list_workspaces"):
        return ()
    store = client._tracking_client.store
    if tracking_uri.lower().startswith(("http:", "https:")):
        # the server says (its server-info): asking for the list would cost a 503 and retries
        if not getattr(store, "supports_workspaces", False):
            return ()
    elif not enabled_here():
        # a database store is workspace-aware only when this process says so: otherwise
        # MLflow's client reads everything as one store, whatever the catalog holds
        return ()
    return tuple(sorted(str(workspace.name) for workspace in client.list_workspaces()))


def enabled_here() -> bool:
    """Whether this process asked MLflow for workspace-aware database stores."""
    value = os.environ.get("MLFLOW_ENABLE_WORKSPACES", "")
    return value.strip().lower() in ("1", "true")  # what MLflow's boolean variables accept


@contextmanager
def selected(name: str | None) -> Iterator[None]:
    """MLflow's client requests inside the block go to workspace ``name`` (None: as before)."""
    if name is None:
        yield
        return
    from mlflow.utils.workspace_context import WorkspaceContext

    with WorkspaceContext(name):
        yield

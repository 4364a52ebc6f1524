"""Write planned :class:`~pytest_mlflow_guard.edits.Edit` s into a store (``fix --apply``,
``check --annotate``), through MLflow's client so a guarded server's policy sees every write.

Compare-and-set per object: the object is read again just before its write, and when any of its
fields no longer holds what the plan saw (someone tagged the run in between), nothing of that
object is written and it is reported as a conflict. A run's tags go in one ``log_batch``, so a
run is never left half-fixed. :func:`~pytest_mlflow_guard.edits.check_edit` refuses, per edit,
to replace anything but the guard's own tags, whatever the planner said.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_mlflow_guard.edits import Edit, by_object, check_edit, may_replace
from pytest_mlflow_guard.errors import environment_error
from pytest_mlflow_guard.mlflow_io.clients import client
from pytest_mlflow_guard.mlflow_io.workspaces import selected
from pytest_mlflow_guard.vocabulary import stage_alias

if TYPE_CHECKING:
    from mlflow import MlflowClient


#: writes that fail one after the other before the rest is given up: the store is gone, or
#: refuses every write (read-only credentials, a guarded server); each costs a bounded wait
_FAILURES_IN_A_ROW = 5


@dataclass
class Written:
    objects: int = 0
    edits: int = 0
    #: "run <id>: 'os.user' is now 'bob', the plan saw None", and writes that failed (the
    #: store's error): those objects are left as they were
    conflicts: list[str] = field(default_factory=list)


def apply_edits(tracking_uri: str, edits: Iterable[Edit]) -> Written:
    from pytest_mlflow_guard.mlflow_io.connect import bounded_http

    groups = list(by_object(edits))
    for _, group in groups:  # all refused up front: nothing written for a bad plan
        for edit in group:
            check_edit(edit)
    c = client(tracking_uri)
    written = Written()
    failed = 0
    with bounded_http():  # a server that stops answering costs seconds per write, not minutes
        for (target, object_id, workspace), group in groups:
            try:
                write = _write_run if target == "run" else _write_version
                with selected(workspace):
                    conflict = write(c, object_id, group)
                failed = 0
            except Exception as exc:
                message = environment_error(exc)
                if message is None:  # a bug: keep the traceback
                    raise
                failed += 1  # the store's answer for this object; the others may still go
                conflict = f"not written: {message}"
            if conflict:
                written.conflicts.append(f"{group[0].label}: {conflict}")
            else:
                written.objects += 1
                written.edits += len(group)
            if failed >= _FAILURES_IN_A_ROW:
                left = len(groups) - written.objects - len(written.conflicts)
                written.conflicts.append(f"stopped after {failed} failed writes; {left} not tried")
                break
    return written


def _changed(edit: Edit, now: str | None) -> str | None:
    if now == edit.current:
        return None
    return f"{edit.field!r} is now {now!r}, the plan saw {edit.current!r}"


def _write_run(c: MlflowClient, run_id: str, edits: list[Edit]) -> str | None:
    from mlflow.entities import RunTag

    # only the guard's own tags (``--annotate``): they may be replaced anyway, so the read that
    # protects other values is saved (it was half the time of annotating a store)
    if not all(may_replace(edit.field) for edit in edits):
        tags = c.get_run(run_id).data.tags
        for edit in edits:
            if conflict := _changed(edit, tags.get(edit.field)):
                return conflict
    sets = [RunTag(e.field, e.new) for e in edits if e.new is not None]
    if sets:
        c.log_batch(run_id, tags=sets)
    for edit in edits:
        if edit.new is None:
            c.delete_tag(run_id, edit.field)
    return None


def _write_version(c: MlflowClient, object_id: str, edits: list[Edit]) -> str | None:
    name, version = object_id.rsplit("/", 1)
    aliases = {a: str(v) for a, v in (c.get_registered_model(name).aliases or {}).items()}
    found = c.get_model_version(name, version)
    tags = found.tags or {}
    for edit in edits:
        now = aliases.get(edit.field) if edit.kind == "alias" else tags.get(edit.field)
        if conflict := _changed(edit, now):
            return conflict
        # the only aliases planned mirror the stage: a version moved since keeps its aliases
        if edit.kind == "alias" and stage_alias(str(found.current_stage)) != edit.field:
            return f"the version is now in stage {found.current_stage}"
    # aliases first: the fixed_by tag written last records only what was done
    for edit in sorted(edits, key=lambda e: e.kind != "alias"):
        if edit.kind == "alias":
            assert edit.new is not None
            c.set_registered_model_alias(name, edit.field, edit.new)
        elif edit.new is None:
            c.delete_model_version_tag(name, version, edit.field)
        else:
            c.set_model_version_tag(name, version, edit.field, edit.new)
    return None

"""Changes the guard proposes to make in a tracking store (``fix``, ``check --annotate``).

Plain data: planned by the gate on records, applied by ``mlflow_io.edit_writer``. Each edit
says what it expects to find (``current``), and the writer applies it only if the store still
holds exactly that: an edit never overwrites a value someone else wrote between the plan and the
write. Only the tags these edits write themselves (:data:`OWN_TAGS`) may be replaced or removed;
every other edit fills a value that is absent or blank (see :func:`check_edit`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from pytest_mlflow_guard.vocabulary import TAG_FINDINGS, TAG_FIXED_BY, TAG_STATUS

#: the tags ``fix`` and ``--annotate`` write of their own, the only values they may replace or
#: remove (not every ``mlflow_guard.*`` tag: ``mlflow_guard.ignore`` and its reason are a
#: person's, the audit trail the server's)
OWN_TAGS = frozenset({TAG_STATUS, TAG_FINDINGS, TAG_FIXED_BY})

#: ``tag``: a run or model-version tag; ``alias``: a registered model's alias (``field`` is the
#: alias, ``new`` the version it points at)
EditKind = Literal["tag", "alias"]
EditTarget = Literal["run", "model_version"]
#: (target, object id, workspace): one object of a store
ObjectKey = tuple[EditTarget, str, "str | None"]


@dataclass(frozen=True)
class Edit:
    target: EditTarget
    object_id: str  # run id, or "name/version"
    kind: EditKind
    field: str  # the tag key, or the alias
    current: str | None  # what the plan saw: None when absent
    new: str | None  # None: remove (the guard's own tags only)
    source: str  # where ``new`` comes from, for the plan table
    #: the MLflow workspace the object is in (None: a store without workspaces)
    workspace: str | None = None

    @property
    def label(self) -> str:
        where = f" in workspace {self.workspace}" if self.workspace else ""
        return f"{self.target} {self.object_id}{where}"

    @property
    def key(self) -> ObjectKey:
        """The object the edit is made on (model names repeat across workspaces)."""
        return (self.target, self.object_id, self.workspace)

    @property
    def field_label(self) -> str:
        """``git.commit``, or ``@production`` for an alias."""
        return f"@{self.field}" if self.kind == "alias" else self.field


def may_replace(field: str) -> bool:
    """Whether an edit may replace or remove an existing value of ``field``: only the tags
    these edits themselves write."""
    return field in OWN_TAGS


def is_absent(value: str | None) -> bool:
    """A value the conventions count as missing (MLG201 strips blanks too)."""
    return value is None or not value.strip()


def check_edit(edit: Edit) -> None:
    """Refuse an edit that would overwrite or delete a value the guard did not write: the
    writer calls this for every edit, so no planner can get it wrong."""
    if (edit.kind == "tag" and may_replace(edit.field)) or (
        edit.new is not None and is_absent(edit.current)
    ):
        return
    raise ValueError(f"refusing to replace {edit.field!r} of {edit.label}: {edit.current!r}")


def by_object(edits: Iterable[Edit]) -> Iterator[tuple[ObjectKey, list[Edit]]]:
    """Edits grouped per object, in the order first seen (an object's edits are written
    together: one batch per run)."""
    order: dict[ObjectKey, list[Edit]] = {}
    for edit in edits:
        order.setdefault(edit.key, []).append(edit)
    yield from order.items()


__all__ = [
    "OWN_TAGS",
    "Edit",
    "EditKind",
    "EditTarget",
    "by_object",
    "check_edit",
    "is_absent",
    "may_replace",
]

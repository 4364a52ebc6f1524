"""The plan ``mlflow-guard fix`` prints (a dry run) or carries out (``--apply``): text or JSON.

Every value shown comes from the store: it is redacted (a credential in a tag value stays out of
CI logs) and cleaned of control characters (a tag cannot drive the terminal).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.edits import Edit
from pytest_mlflow_guard.gate.fixes import FixPlan
from pytest_mlflow_guard.gate.reporters._common import plural
from pytest_mlflow_guard.gate.rules.base import shorten
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.vocabulary import TAG_FIXED_BY

_COLUMNS = ("object", "field", "current", "new", "source")
_WIDTH = 44  # a cell longer than this is cut: the full value is in the JSON plan


def _shown(value: str | None, limit: int = _WIDTH) -> str:
    if value is None:
        return "-"
    if not value.strip():
        return repr(value)  # a blank value, which the conventions count as missing
    return shorten(clean(value), limit)  # clean() redacts too


def _row(edit: Edit) -> tuple[str, ...]:
    # a model name is a store string too: it may hold escapes or a secret-looking argument
    cells = (edit.label, edit.field_label, edit.current, edit.new, edit.source)
    return tuple(_shown(cell, 200 if i == 0 else _WIDTH) for i, cell in enumerate(cells))


def render_text(plan: FixPlan, store: str, *, applied: bool, conflicts: Sequence[str] = ()) -> str:
    rows = [_row(e) for e in plan.edits if e.field != TAG_FIXED_BY]
    head = "changes written" if applied else "dry run, nothing written; --apply writes"
    lines = [f"mlflow-guard fix: {_shown(store, 200)} ({head})", ""]
    if rows:
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS)]
        for cells in (_COLUMNS, *rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        lines.append("")
    looked = plan.looked_at
    lines.append(
        f"{plural(len(rows), 'field')} on {plural(plan.objects(), 'object')} "
        f"({plural(looked['runs'], 'run')} and {plural(looked['model_versions'], 'model version')}"
        f" looked at); each changed object is tagged {TAG_FIXED_BY}"
    )
    if plan.skipped:
        lines.append(f"left as they are ({len(plan.skipped)}):")
        reasons = Counter((s.field, _shown(s.reason, 120)) for s in plan.skipped)
        for (field_name, reason), count in sorted(reasons.items()):
            lines.append(f"  {field_name}: {reason} ({count})")
    if conflicts:
        lines.append(f"not written, changed since the plan ({len(conflicts)}):")
        lines.extend(f"  {_shown(conflict, 200)}" for conflict in conflicts)
    return "\n".join(lines) + "\n"


def _edit_json(edit: Edit) -> dict[str, str | None]:
    return {
        "object_type": edit.target,
        "object_id": redact_text(edit.object_id),  # a model name is a store string
        "kind": edit.kind,
        "field": edit.field,
        "current": None if edit.current is None else redact_text(edit.current),
        "new": None if edit.new is None else redact_text(edit.new),
        "source": redact_text(edit.source),
    } | ({"workspace": redact_text(edit.workspace)} if edit.workspace else {})


def render_json(plan: FixPlan, store: str, *, applied: bool, conflicts: Sequence[str] = ()) -> str:
    document = {
        "version": 1,
        "tracking_uri": redact_text(store),
        "applied": applied,
        "looked_at": plan.looked_at,
        "edits": [_edit_json(e) for e in plan.edits],
        "skipped": [
            {
                "object_type": s.target,
                "object_id": redact_text(s.object_id),
                "field": s.field,
                "reason": redact_text(s.reason),
            }
            for s in plan.skipped
        ],
        "conflicts": [redact_text(conflict) for conflict in conflicts],
    }
    return json.dumps(document, indent=2) + "\n"

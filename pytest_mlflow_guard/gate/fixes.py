"""``mlflow-guard fix``: what can be derived from what a store already holds, as edits.

A team that switches the gate on over an old store finds most runs already carry the facts its
conventions ask for, under MLflow's own tag names: MLflow's context providers recorded the commit
(``mlflow.source.git.commit``), the user (``mlflow.user``) and how the code ran
(``mlflow.source.type``), and the logged model knows its flavour. A registered version sits in
Production without the ``@production`` alias MLflow 3 users load by. Each deriver below fills one
team field from one such fact, and only where the team's field is absent or blank: a value that
exists is never replaced (what the writer enforces again, per edit, at write time).

Plain core: records in, :class:`~pytest_mlflow_guard.edits.Edit` out; no MLflow, no pytest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pytest_mlflow_guard.config import GuardConfig
from pytest_mlflow_guard.edits import Edit, EditTarget, ObjectKey, is_absent
from pytest_mlflow_guard.gate.rules.tags import FULL_SHA
from pytest_mlflow_guard.records import Record, RegisteredModelRecord, RunRecord
from pytest_mlflow_guard.vocabulary import (
    ALIASED_STAGES,
    MLFLOW_GIT_COMMIT,
    MLFLOW_PYFUNC_FLAVOR,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_SOURCE_TYPES,
    MLFLOW_USER,
    SOURCE_TYPE_PYTEST,
    SOURCE_TYPE_SCRIPT,
    TAG_FIXED_BY,
    TAG_GIT_COMMIT,
    TAG_MODEL_TYPE,
    TAG_SOURCE_TYPE,
    TAG_USER,
    stage_alias,
)

#: MLflow keeps tag values up to this many characters; ``fixed_by`` keeps its history within it
_TAG_LIMIT = 5000


@dataclass(frozen=True)
class Derived:
    """A deriver's answer: the value and where it came from, or why there is none."""

    value: str | None
    source: str


@dataclass(frozen=True)
class Skipped:
    """A field the fix leaves as it is, and why (shown under the plan)."""

    target: EditTarget
    object_id: str
    field: str
    reason: str


@dataclass
class FixPlan:
    edits: list[Edit] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: objects looked at: runs, model_versions
    looked_at: dict[str, int] = field(default_factory=lambda: {"runs": 0, "model_versions": 0})

    def objects(self) -> int:
        return len({(e.target, e.object_id) for e in self.edits if e.field != TAG_FIXED_BY})


RunDeriver = Callable[[RunRecord, GuardConfig], Derived | None]
_NOT_ENDED = ("RUNNING", "SCHEDULED")


def _under_pytest(run: RunRecord) -> bool:
    """MLflow names the source after ``sys.argv[0]``: pytest's script or ``pytest/__main__.py``."""
    parts = re.split(r"[\\/]", (run.tags.get(MLFLOW_SOURCE_NAME) or "").strip())
    return parts[-1] in ("pytest", "py.test") or parts[-2:] == ["pytest", "__main__.py"]


def _git_commit(run: RunRecord, config: GuardConfig) -> Derived | None:
    value = (run.tags.get(MLFLOW_GIT_COMMIT) or "").strip()
    if not value:
        return None
    if _under_pytest(run):  # MLflow looked for the repository of pytest's own script
        return Derived(None, f"{MLFLOW_GIT_COMMIT} of a pytest run is pytest's, not the project's")
    if not FULL_SHA.fullmatch(value):  # copying it would only trade MLG201 for MLG203
        return Derived(None, f"{MLFLOW_GIT_COMMIT} {value[:20]!r} is not a full commit SHA")
    return Derived(value.lower(), MLFLOW_GIT_COMMIT)


def _user(run: RunRecord, config: GuardConfig) -> Derived | None:
    value = (run.tags.get(MLFLOW_USER) or "").strip()
    return Derived(value, MLFLOW_USER) if value else None


def _source_type(run: RunRecord, config: GuardConfig) -> Derived | None:
    mlflow_value = (run.tags.get(MLFLOW_SOURCE_TYPE) or "").strip()
    if not mlflow_value:
        return None
    value = MLFLOW_SOURCE_TYPES.get(mlflow_value.upper())
    source = f"{MLFLOW_SOURCE_TYPE} {mlflow_value}"
    if value == SOURCE_TYPE_SCRIPT and _under_pytest(run):
        value, source = SOURCE_TYPE_PYTEST, f"{source}, {MLFLOW_SOURCE_NAME} pytest"
    if value is None:
        return Derived(None, f"{source} says nothing about how the code ran")
    allowed = config.allowed_values.get(TAG_SOURCE_TYPE)
    if allowed and value not in allowed:
        return Derived(None, f"{source} means {value!r}, not an allowed {TAG_SOURCE_TYPE}")
    return Derived(value, source)


def _model_type(run: RunRecord, config: GuardConfig) -> Derived | None:
    flavours = {
        next((f for f in model.flavors if f != MLFLOW_PYFUNC_FLAVOR), "")
        for model in run.logged_models
    }
    if not flavours:
        return None  # no model: "none" would be a guess about artifacts the reader cannot see
    if "" in flavours or len(flavours) > 1:
        shown = ", ".join(sorted(f or "?" for f in flavours))
        return Derived(None, f"logged models of no single flavour ({shown})")
    (flavour,) = flavours
    return Derived(flavour, "logged model flavour")


#: team tag -> how to derive it, one small function per field (like MLflow's context providers)
RUN_DERIVERS: dict[str, RunDeriver] = {
    TAG_GIT_COMMIT: _git_commit,
    TAG_USER: _user,
    TAG_SOURCE_TYPE: _source_type,
    TAG_MODEL_TYPE: _model_type,
}


def _run_edits(run: RunRecord, config: GuardConfig, plan: FixPlan) -> None:
    plan.looked_at["runs"] += 1
    for key, derive in RUN_DERIVERS.items():
        current = run.tags.get(key)
        if not is_absent(current):
            continue  # a value exists: never replaced
        derived = derive(run, config)
        if derived is None:
            continue
        if run.status in _NOT_ENDED:  # its own code may still set it
            reason = f"the run is still {run.status}"
            plan.skipped.append(Skipped("run", run.run_id, key, reason))
        elif derived.value is None:
            plan.skipped.append(Skipped("run", run.run_id, key, derived.source))
        else:
            plan.edits.append(
                Edit(
                    "run",
                    run.run_id,
                    "tag",
                    key,
                    current,
                    derived.value,
                    derived.source,
                    run.workspace,
                )
            )


def _alias_edits(model: RegisteredModelRecord, plan: FixPlan, runs: set[str] | None = None) -> None:
    """Aliases for the versions in an aliased stage; with ``runs`` (a scoped fix) only for the
    versions registered from those runs."""
    wanted = {v.object_id for v in model.versions if runs is None or v.run_id in runs}
    plan.looked_at["model_versions"] += len(wanted)
    for stage in ALIASED_STAGES:
        alias = stage_alias(stage)
        # all of the stage's versions count (two in Production: no alias is set), wanted or not
        in_stage = [v for v in model.versions if v.stage.lower() == stage.lower()]
        holder = model.aliases.get(alias)
        for version in in_stage:
            if alias in version.aliases or version.object_id not in wanted:
                continue
            if holder is not None:  # moving it would replace what someone set
                reason = f"@{alias} points at version {holder}: move it by hand"
            elif len(in_stage) > 1:
                reason = f"{len(in_stage)} versions are in stage {stage} (MLG401)"
            else:
                plan.edits.append(
                    Edit(
                        "model_version",
                        version.object_id,
                        "alias",
                        alias,
                        None,
                        version.version,
                        f"stage {version.stage}",
                        model.workspace,
                    )
                )
                continue
            plan.skipped.append(Skipped("model_version", version.object_id, f"@{alias}", reason))


def _fixed_by(plan: FixPlan, tags_of: dict[ObjectKey, str | None], now: datetime) -> None:
    """One ``mlflow_guard.fixed_by`` per changed object: what was filled and when (the guard's
    own tag: an earlier fix's record is kept after it, within MLflow's length limit)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    fields: dict[ObjectKey, list[str]] = {}
    for edit in plan.edits:
        fields.setdefault(edit.key, []).append(edit.field_label)
    for (target, object_id, workspace), names in fields.items():
        earlier = tags_of.get((target, object_id, workspace))
        value = f"mlflow-guard fix {stamp}: {', '.join(names)}"
        if earlier:
            value = f"{value}; {earlier}"[:_TAG_LIMIT]
        plan.edits.append(
            Edit(
                target,
                object_id,
                "tag",
                TAG_FIXED_BY,
                earlier,
                value,
                "mlflow-guard fix",
                workspace,
            )
        )


def plan_fixes(records: Iterable[Record], config: GuardConfig, now: datetime) -> FixPlan:
    """Every edit ``fix`` would make on ``records`` (runs and registered models; other records
    are passed over), with the fields it left alone and why.

    The reader lists the whole registry whatever the scope; when the scope narrows the runs
    (``--experiment``, ``--since``, ``--status``), only the versions registered from runs in it
    are fixed, so a fix of one team's experiments never moves another team's aliases.
    """
    plan = FixPlan()
    fixed_by: dict[ObjectKey, str | None] = {}
    scope = config.scope
    runs: set[str] | None = set() if scope.experiments or scope.since or scope.statuses else None
    for record in records:
        before = len(plan.edits)
        if isinstance(record, RunRecord):
            if runs is not None:
                runs.add(record.run_id)
            _run_edits(record, config.for_experiment(record.experiment_name), plan)
            if len(plan.edits) > before:  # kept for changed objects only: a store is large
                fixed_by[("run", record.run_id, record.workspace)] = record.tags.get(TAG_FIXED_BY)
        elif isinstance(record, RegisteredModelRecord):
            _alias_edits(record, plan, runs)
            changed = {edit.object_id for edit in plan.edits[before:]}
            for version in record.versions:
                if version.object_id in changed:
                    key: ObjectKey = ("model_version", version.object_id, record.workspace)
                    fixed_by[key] = version.tags.get(TAG_FIXED_BY)
    _fixed_by(plan, fixed_by, now)
    return plan

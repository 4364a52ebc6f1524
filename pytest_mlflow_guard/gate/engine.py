"""The rule engine: streams records through the enabled rules and yields findings.

Input is a stream of ``ExperimentRecord``, ``RunRecord`` and ``RegisteredModelRecord`` (in that
order: the reader pages through a store). Nothing is materialised: the engine holds the record
being checked, one rule plan per experiment name, and the ids of runs that had error findings
(what MLG304 needs when a model version's source run was not attached to the version).

Which config applies to what:

* experiments, runs and a run's logged models use ``config.for_experiment(experiment name)``,
  so per-experiment ``overrides`` can re-select or re-grade rules;
* registered models and their versions use the top-level config (they belong to no experiment).

MLG304 judges a version's source run by every rule not ignored or switched off, whatever
``select`` says: the attached ``version.source_run`` when the reader provides it, else what this
scan remembered about that run id.

Suppressions: an ``mlflow_guard.ignore`` tag on an object exempts that object from the listed
rules. A run's tag also covers its logged models (MLflow 2 models, being artifacts, cannot carry
tags), and a registered model's tag covers its versions. Entries that suppress nothing are
reported as MLG001, entries that are not rules as MLG002, both on the object carrying the tag.
An entry naming a rule that is switched off is judged by running that rule anyway, so turning a
rule off does not make every suppression of it look stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

from pytest_mlflow_guard.config import GuardConfig, severity_level
from pytest_mlflow_guard.errors import ConfigError
from pytest_mlflow_guard.gate.findings import CheckedObject, Finding
from pytest_mlflow_guard.gate.rules import (
    ALL_RULES,
    Checkable,
    Rule,
    RuleContext,
    Unchecked,
    get_rule,
    parse_ignore_tag,
    resolve_selectors,
)
from pytest_mlflow_guard.gate.rules.base import as_utc
from pytest_mlflow_guard.gate.urls import UrlFor
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    Record,
    RegisteredModelRecord,
    RunRecord,
    WorkspaceRecord,
)
from pytest_mlflow_guard.vocabulary import (
    CHECKED_KEYS,
    RULE_KINDS,
    TAG_IGNORE,
    ObjectType,
    Severity,
)

__all__ = ["Engine", "unchecked_severity"]

_UNUSED = "MLG001"
_UNKNOWN = "MLG002"
_UNCHECKED = "MLG004"
_TOP = "[tool.mlflow-guard]"


@dataclass(frozen=True)
class _Plan:
    """What to run on objects governed by one (possibly overridden) config."""

    config: GuardConfig
    severities: Mapping[str, Severity]  # enabled rule code -> effective severity
    by_kind: Mapping[ObjectType, tuple[Rule[Any], ...]]  # enabled checking rules, by code
    ctx: RuleContext
    #: the plan that judges a model version's source run (MLG304): like this one but ignoring
    #: ``select``, so ``--select MLG304`` still judges source runs by the team's error rules,
    #: while ``ignore`` and severity "off" (conventions the team does not have) are honoured.
    #: None when it would be this very plan.
    verdict: _Plan | None = None
    #: severity of MLG004 for rules of this plan that could not decide; None when the team
    #: ignored MLG004 or switched it off. Independent of ``select``: selecting MLG301 alone must
    #: not turn an unreadable signature into a pass.
    unchecked: Severity | None = None

    @property
    def judge(self) -> _Plan:
        return self.verdict or self


@dataclass(frozen=True)
class _Hit:
    rule: Rule[Any]
    severity: Severity
    message: str


class _Suppressions:
    """The parsed ``mlflow_guard.ignore`` tag of one object, and which entries got used."""

    __slots__ = ("codes", "unknown", "used")

    def __init__(self, tags: Mapping[str, str]) -> None:
        self.codes: dict[str, str] = {}  # rule code -> the entry as written
        self.unknown: list[str] = []
        self.used: set[str] = set()
        for entry in parse_ignore_tag(tags.get(TAG_IGNORE)):
            try:
                self.codes.setdefault(get_rule(entry).code, entry)
            except ConfigError:
                if entry not in self.unknown:
                    self.unknown.append(entry)

    def claim(self, code: str) -> bool:
        if code in self.codes:
            self.used.add(code)
            return True
        return False


_Result = tuple[Checkable, ObjectType, list[_Hit]]


class Engine:
    """Checks records against the rule catalogue under one ``GuardConfig``.

    ``now`` fixes the clock for the age-based rules (tests, reproducible reports). ``url_for``
    maps an object to its MLflow UI link, called once per object that has findings.
    ``collect_objects`` keeps a ``CheckedObject`` per object (JUnit needs one testcase each);
    leave it off for large stores, since that list grows with the store.

    Raises ``ConfigError`` at construction for an unknown rule code or name in ``select``,
    ``ignore`` or ``severity`` (top level or in any override) and for an unknown severity level.
    """

    def __init__(
        self,
        config: GuardConfig,
        now: datetime | None = None,
        url_for: UrlFor | None = None,
        *,
        collect_objects: bool = False,
    ) -> None:
        self.config = config
        self.now = as_utc(now) if now is not None else datetime.now(timezone.utc)
        self.url_for = url_for
        self.collect_objects = collect_objects
        self.checked: dict[str, int] = dict.fromkeys(CHECKED_KEYS, 0)
        #: id -> name of each experiment checked (a store has far fewer than runs)
        self.experiment_names: dict[str, str] = {}
        self.objects: list[CheckedObject] = []
        _validate_overrides(config)
        self._base = self._build_plan(config, _TOP)
        self._plans: dict[str, _Plan] = {}
        # run id -> error-level codes, for runs checked in this scan that had any; only kept
        # when MLG304 (the one reader) is on for registered models, which use the base plan
        self._error_runs: dict[str, tuple[str, ...]] = {}
        self._remember_errors = "MLG304" in self._base.severities

    @property
    def enabled_codes(self) -> tuple[str, ...]:
        """Codes enabled by the top-level config (overrides may differ per experiment)."""
        return tuple(self._base.severities)

    # --- public API ---------------------------------------------------------------------------

    def check(self, records: Iterable[Record]) -> Iterator[Finding]:
        """Yield findings object by object as records arrive (lazily: pull to advance)."""
        for record in records:
            if isinstance(record, RunRecord):
                yield from self._check_run(record)
            elif isinstance(record, ExperimentRecord):
                yield from self._check_experiment(record)
            elif isinstance(record, RegisteredModelRecord):
                yield from self._check_registered_model(record)
            elif isinstance(record, WorkspaceRecord):
                yield from self._unreadable_workspace(record)
            else:
                raise TypeError(
                    f"cannot check {type(record).__name__}: expected ExperimentRecord, "
                    "RunRecord, RegisteredModelRecord or WorkspaceRecord"
                )

    # --- per record type ----------------------------------------------------------------------

    def _check_experiment(self, experiment: ExperimentRecord) -> Iterator[Finding]:
        self.checked["experiments"] += 1
        self.experiment_names[experiment.experiment_id] = experiment.name
        plan = self._plan_for(experiment.name)
        results = self._check_tree(experiment, "experiment", (), "experiment", plan)
        yield from self._emit(results, experiment.workspace, experiment_id=experiment.experiment_id)

    def _unreadable_workspace(self, workspace: WorkspaceRecord) -> Iterator[Finding]:
        """What a workspace the reader could not read leaves unchecked: one MLG004 finding."""
        severity = self._base.unchecked
        if severity is None:
            return
        rule = get_rule(_UNCHECKED)
        yield Finding(
            rule=rule.code,
            name=rule.name,
            severity=severity,
            object_type="workspace",
            object_id=workspace.name,
            message=f"workspace '{workspace.name}' could not be checked: {workspace.unreadable}",
            object_name=workspace.name,
            workspace=workspace.name,
        )

    def _check_run(self, run: RunRecord) -> Iterator[Finding]:
        self.checked["runs"] += 1
        self.checked["logged_models"] += len(run.logged_models)
        plan = self._plan_for(run.experiment_name)
        results = self._check_tree(run, "run", run.logged_models, "logged_model", plan)
        if self._remember_errors:
            verdict = plan.verdict
            # usually the verdict plan is the plan itself and the run's hits are reused
            hits = results[0][2] if verdict is None else self._run_hits(run, verdict)
            errors = _error_codes(hits)
            if errors:
                self._error_runs[run.run_id] = errors
        yield from self._emit(
            results, run.workspace, experiment_id=run.experiment_id, run_id=run.run_id
        )

    def _check_registered_model(self, model: RegisteredModelRecord) -> Iterator[Finding]:
        self.checked["registered_models"] += 1
        self.checked["model_versions"] += len(model.versions)
        results = self._check_tree(
            model, "registered_model", model.versions, "model_version", self._base
        )
        yield from self._emit(results, model.workspace)

    # --- evaluation ---------------------------------------------------------------------------

    def _check_tree(
        self,
        parent: Checkable,
        parent_kind: ObjectType,
        children: Sequence[Checkable],
        child_kind: ObjectType,
        plan: _Plan,
    ) -> list[_Result]:
        """Hits for a parent and its children, suppressions applied, meta hits added.

        The parent's suppressions are settled last because its entries may be used by a child.
        """
        parent_sup = _Suppressions(parent.tags)
        parent_hits = self._rule_hits(parent, parent_kind, plan, (parent_sup,))
        results: list[_Result] = [(parent, parent_kind, parent_hits)]
        for child in children:
            own = _Suppressions(child.tags)
            hits = self._rule_hits(child, child_kind, plan, (own, parent_sup))
            self._settle(own, [(child, child_kind)], plan)
            hits.extend(self._meta_hits(own, (child_kind,), plan))
            results.append((child, child_kind, hits))
        targets = [(parent, parent_kind), *((child, child_kind) for child in children)]
        self._settle(parent_sup, targets, plan)
        kinds = (parent_kind, child_kind) if children else (parent_kind,)
        parent_hits.extend(self._meta_hits(parent_sup, kinds, plan))
        for _, _, hits in results:
            hits.sort(key=lambda hit: hit.rule.code)  # stable: a rule's messages keep their order
        return results

    @staticmethod
    def _rule_hits(
        obj: Checkable, kind: ObjectType, plan: _Plan, sups: Sequence[_Suppressions]
    ) -> list[_Hit]:
        hits: list[_Hit] = []
        unchecked: dict[str, list[str]] = {}  # reason -> the rules it kept from deciding
        for rule in plan.by_kind[kind]:
            for message in rule.check(obj, plan.ctx):
                # Every tag covering the hit is used, not just the first: MLflow 3 copies a run's
                # tags onto the models it logs, so the run's entry and the model's copy of it
                # both suppress, and neither is stale (MLG001).
                if [sup.claim(rule.code) for sup in sups].count(True):
                    continue
                if isinstance(message, Unchecked):
                    unchecked.setdefault(str(message), []).append(f"{rule.code} {rule.name}")
                    continue
                hits.append(_Hit(rule, plan.severities[rule.code], message))
        # one finding per unreadable fact, naming every rule that needed it
        severity = plan.unchecked
        if unchecked and severity and not [s.claim(_UNCHECKED) for s in sups].count(True):
            for reason, rules in unchecked.items():
                text = f"{', '.join(rules)} could not be checked: {reason}"
                hits.append(_Hit(get_rule(_UNCHECKED), severity, text))
        return hits

    @staticmethod
    def _settle(
        sup: _Suppressions, targets: Sequence[tuple[Checkable, ObjectType]], plan: _Plan
    ) -> None:
        """Mark entries for switched-off rules as used when the rule would have fired."""
        for code in sup.codes:
            if code in sup.used or code in plan.severities:
                continue  # enabled rules already ran on every target
            rule = get_rule(code)
            if rule.engine_emitted:
                continue
            for obj, kind in targets:
                if kind in rule.kinds and next(iter(rule.check(obj, plan.ctx)), None) is not None:
                    sup.used.add(code)
                    break

    @staticmethod
    def _meta_hits(sup: _Suppressions, kinds: Sequence[ObjectType], plan: _Plan) -> Iterator[_Hit]:
        label = kinds[0].replace("_", " ")
        if _UNUSED in plan.severities and _UNUSED not in sup.codes:
            rule = get_rule(_UNUSED)
            for code, entry in sup.codes.items():
                target = get_rule(code)
                if code in sup.used or target.engine_emitted:
                    continue
                message = f"'{entry}' in {TAG_IGNORE} matches no finding on this {label}"
                if not any(kind in target.kinds for kind in kinds):
                    checks = ", ".join(k.replace("_", " ") + "s" for k in target.kinds)
                    message += f" ({code} checks {checks})"
                yield _Hit(rule, plan.severities[_UNUSED], message)
        if _UNKNOWN in plan.severities and _UNKNOWN not in sup.codes:
            rule = get_rule(_UNKNOWN)
            for entry in sup.unknown:
                yield _Hit(
                    rule,
                    plan.severities[_UNKNOWN],
                    f"'{entry}' in {TAG_IGNORE} is not a rule code or name",
                )

    def _source_run_errors(self, version: ModelVersionRecord) -> tuple[str, ...] | None:
        """Error-level codes of a version's source run; None when the run is unknown."""
        run = version.source_run
        if run is not None:
            return _error_codes(self._run_hits(run, self._plan_for(run.experiment_name).judge))
        if version.run_id:
            return self._error_runs.get(version.run_id)
        return None

    def _run_hits(self, run: RunRecord, plan: _Plan) -> list[_Hit]:
        """A run's own hits under ``plan``, with fresh suppressions (the report's are untouched)."""
        return self._rule_hits(run, "run", plan, (_Suppressions(run.tags),))

    # --- output -------------------------------------------------------------------------------

    def _emit(
        self,
        results: list[_Result],
        workspace: str | None,
        experiment_id: str | None = None,
        run_id: str | None = None,
    ) -> Iterator[Finding]:
        """The findings of a parent and its children; all of them are in the parent's
        workspace."""
        for obj, kind, hits in results:
            object_id, label, obj_experiment, obj_run = _identity(obj, experiment_id, run_id)
            if self.collect_objects:
                self.objects.append(
                    CheckedObject(kind, object_id, label, obj_experiment, workspace)
                )
            if not hits:
                continue
            url = self.url_for(obj, workspace) if self.url_for is not None else None
            name = _object_name(obj)
            for hit in hits:
                yield Finding(
                    rule=hit.rule.code,
                    name=hit.rule.name,
                    severity=hit.severity,
                    object_type=kind,
                    object_id=object_id,
                    message=hit.message,
                    experiment_id=obj_experiment,
                    run_id=obj_run,
                    url=url,
                    object_name=name,
                    workspace=workspace,
                )

    # --- configuration ------------------------------------------------------------------------

    def _plan_for(self, experiment_name: str) -> _Plan:
        if not self.config.overrides:
            return self._base
        plan = self._plans.get(experiment_name)
        if plan is None:
            config = self.config.for_experiment(experiment_name)
            plan = self._base if config == self.config else self._build_plan(config, _TOP)
            self._plans[experiment_name] = plan
        return plan

    def _build_plan(self, config: GuardConfig, where: str) -> _Plan:
        ignored = resolve_selectors(config.ignore, f"{where} ignore")
        enabled = resolve_selectors(config.select, f"{where} select") - ignored
        levels = _severity_levels(config.severity, f"{where} severity")
        everything = {rule.code for rule in ALL_RULES} - ignored
        unchecked = unchecked_severity(config)
        verdict = (
            None
            if enabled == everything
            else self._make_plan(config, everything, levels, None, unchecked)
        )
        return self._make_plan(config, enabled, levels, verdict, unchecked)

    def _make_plan(
        self,
        config: GuardConfig,
        enabled: set[str],
        levels: Mapping[str, str],
        verdict: _Plan | None = None,
        unchecked: Severity | None = None,
    ) -> _Plan:
        severities: dict[str, Severity] = {}
        for rule in ALL_RULES:
            level = levels.get(rule.code, rule.default_severity)
            if rule.code in enabled and level != "off":
                severities[rule.code] = cast(Severity, level)
        by_kind = {
            kind: tuple(
                rule
                for rule in ALL_RULES
                if rule.code in severities and kind in rule.kinds and not rule.engine_emitted
            )
            for kind in RULE_KINDS
        }
        ctx = RuleContext(config=config, now=self.now, source_run_errors=self._source_run_errors)
        return _Plan(config, severities, by_kind, ctx, verdict, unchecked)


def unchecked_severity(config: GuardConfig) -> Severity | None:
    """Severity of MLG004 under ``config``; None when the team ignored it or switched it off."""
    if _UNCHECKED in resolve_selectors(config.ignore, f"{_TOP} ignore"):
        return None
    levels = _severity_levels(config.severity, f"{_TOP} severity")
    level = levels.get(_UNCHECKED, get_rule(_UNCHECKED).default_severity)
    return None if level == "off" else cast(Severity, level)


def _severity_levels(mapping: Mapping[str, str], where: str) -> dict[str, str]:
    """Severity overrides keyed by rule code; unknown rules and levels are ``ConfigError``."""
    levels: dict[str, str] = {}
    for key, level in mapping.items():
        try:
            code = get_rule(key).code
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        levels[code] = severity_level(level, f"{where}.{key}")
    return levels


def _validate_overrides(config: GuardConfig) -> None:
    """Check rule references in overrides now, not when the first matching experiment shows up."""
    for i, override in enumerate(config.overrides, start=1):
        where = f"[[tool.mlflow-guard.overrides]] #{i}"
        for raw_key, value in override.settings.items():
            key = raw_key.replace("_", "-")
            if key in ("select", "ignore"):
                entries = [value] if isinstance(value, str) else value
                if not isinstance(entries, list | tuple) or not all(
                    isinstance(entry, str) for entry in entries
                ):
                    raise ConfigError(f"{where} {key}: expected a list of rule codes or names")
                resolve_selectors(entries, f"{where} {key}")
            elif key == "severity":
                if not isinstance(value, Mapping):
                    raise ConfigError(f"{where} severity: expected a table {{CODE = level}}")
                _severity_levels(value, f"{where} severity")


def _error_codes(hits: Iterable[_Hit]) -> tuple[str, ...]:
    # the meta rules judge the ignore tag, not the run, so they never taint a model version
    codes = {hit.rule.code for hit in hits if hit.severity == "error"}
    return tuple(sorted(code for code in codes if not get_rule(code).engine_emitted))


def _identity(
    obj: Checkable, experiment_id: str | None, run_id: str | None
) -> tuple[str, str, str | None, str | None]:
    """object_id, label, experiment_id and run_id of a checked object."""
    if isinstance(obj, RunRecord):
        return obj.run_id, obj.run_name or obj.run_id, obj.experiment_id, obj.run_id
    if isinstance(obj, LoggedModelRecord):
        return obj.model_id, obj.name, obj.experiment_id, obj.run_id or run_id
    if isinstance(obj, ExperimentRecord):
        return obj.experiment_id, obj.name, obj.experiment_id, None
    if isinstance(obj, ModelVersionRecord):
        source = obj.source_run.experiment_id if obj.source_run is not None else experiment_id
        return obj.object_id, obj.object_id, source, obj.run_id
    return obj.name, obj.name, None, None


def _object_name(obj: Checkable) -> str | None:
    if isinstance(obj, RunRecord):
        return obj.run_name
    return obj.name

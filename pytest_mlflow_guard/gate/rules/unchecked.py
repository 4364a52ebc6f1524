"""MLG004: what a rule could not check is a finding of its own, never a silent pass."""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mlflow_guard.gate.rules.base import Checkable, Rule, RuleContext
from pytest_mlflow_guard.vocabulary import RULE_KINDS


class UncheckedEvidence(Rule[Checkable]):
    """Every fact a rule needs could be read, so the rule could decide.

    Why:
    Some rules need more than the listing: a model's signature lives in its `MLmodel` file, a
    run's environment among its artifacts. When those cannot be read (a database URI whose
    artifacts are `mlflow-artifacts:` URIs only a server resolves, a permission error, a missing
    file, a source run that could not be fetched, a workspace of the store that could not be
    read), the rule cannot tell a good object from a bad one. Counting that as a pass would
    make a store nobody could check look clean. Each such object is reported with the rule that
    could not decide and the reason. It is reported whenever the rule that needed the fact
    runs, even under `--select` of that rule alone; ignore MLG004 (or set it to warning) to
    accept unreadable evidence knowingly.

    Anti-pattern:
        mlflow-guard check --tracking-uri postgresql://db/mlflow   # artifacts on the server

    Fix:
    Give the gate a way to read the artifacts: check through the server
    (`--tracking-uri http://mlflow:5000`), or name the server that serves them
    (`--artifacts-server http://mlflow:5000`, or `artifacts-server` in `[tool.mlflow-guard]`),
    or grant read access to the artifact store.
    """

    code = "MLG004"
    name = "unchecked"
    default_severity = "error"
    kinds = (*RULE_KINDS, "store", "workspace")
    engine_emitted = True

    def check(self, obj: Checkable, ctx: RuleContext) -> Iterator[str]:
        # Rules yield ``Unchecked`` reasons; the engine turns them into this rule's findings.
        return iter(())


RULES = (UncheckedEvidence(),)

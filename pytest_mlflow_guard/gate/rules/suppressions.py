"""Suppression meta rules (MLG00x): the `mlflow_guard.ignore` tags themselves stay honest.

MLG001 and MLG002 are computed by the engine, which alone knows what each suppression matched;
their classes exist so they can be listed, selected, ignored and re-graded like any other rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pytest_mlflow_guard.gate.rules.base import Checkable, Rule, RuleContext, tag_value
from pytest_mlflow_guard.vocabulary import RULE_KINDS, TAG_IGNORE, TAG_IGNORE_REASON

_SEPARATORS = re.compile(r"[\s,]+")


def parse_ignore_tag(value: str | None) -> list[str]:
    """The entries of an ignore tag value: comma (or whitespace) separated, blanks dropped."""
    return [entry for entry in _SEPARATORS.split(value or "") if entry]


class UnusedSuppression(Rule[Checkable]):
    """An `mlflow_guard.ignore` entry still suppresses something.

    Why:
    Suppressions are meant to be temporary exceptions. Once the underlying problem is fixed the
    entry does nothing except hide the next regression of the same kind on that object. The
    engine reports each entry that matched no finding on the object it is set on (for a run, its
    logged models count too; for a registered model, its versions).

    Anti-pattern:
        mlflow.set_tag("mlflow_guard.ignore", "MLG204")  # the tree has been clean for months

    Fix:
    Remove the entry (or the whole tag when nothing is left):
        MlflowClient().delete_tag(run_id, "mlflow_guard.ignore")
    """

    code = "MLG001"
    name = "unused-suppression"
    default_severity = "warning"
    kinds = RULE_KINDS
    engine_emitted = True

    def check(self, obj: Checkable, ctx: RuleContext) -> Iterator[str]:
        # Needs the findings of every other rule on the object: the engine does it.
        return iter(())


class UnknownSuppression(Rule[Checkable]):
    """Every `mlflow_guard.ignore` entry names an existing rule code or rule name.

    Why:
    A typo in a suppression (`MLG2O1`, `requried-tag`) suppresses nothing, while its author
    believes the finding is accounted for. Entries that match no rule are reported so the mistake
    is seen the first time the gate runs, not when someone wonders why the finding is back.

    Anti-pattern:
        mlflow.set_tag("mlflow_guard.ignore", "MLG2O1, dirty")

    Fix:
    Use codes or names exactly as `mlflow-guard rules` lists them, separated by commas:
        mlflow.set_tag("mlflow_guard.ignore", "MLG201, dirty-tree")
    """

    code = "MLG002"
    name = "unknown-suppression"
    default_severity = "warning"
    kinds = RULE_KINDS
    engine_emitted = True

    def check(self, obj: Checkable, ctx: RuleContext) -> Iterator[str]:
        # Resolving entries needs the rule catalogue, which imports this module: the engine does it.
        return iter(())


class MissingIgnoreReason(Rule[Checkable]):
    """An object that suppresses rules says why, in `mlflow_guard.ignore_reason`.

    Why:
    A suppression without a reason cannot be reviewed: a year later nobody knows whether it
    was a deliberate, agreed exception or a way to get a red build green before a deadline.

    Anti-pattern:
        mlflow.set_tag("mlflow_guard.ignore", "MLG303")

    Fix:
    State the reason (and ideally a ticket) next to the suppression:
        mlflow.set_tags({
            "mlflow_guard.ignore": "MLG303",
            "mlflow_guard.ignore_reason": "legacy model, signature added in DS-142",
        })
    """

    code = "MLG003"
    name = "missing-ignore-reason"
    default_severity = "warning"
    kinds = RULE_KINDS

    def check(self, obj: Checkable, ctx: RuleContext) -> Iterator[str]:
        suppressing = parse_ignore_tag(obj.tags.get(TAG_IGNORE))
        if suppressing and not tag_value(obj.tags, TAG_IGNORE_REASON):
            yield f"{TAG_IGNORE} is set but {TAG_IGNORE_REASON} is missing or empty"


RULES = (UnusedSuppression(), UnknownSuppression(), MissingIgnoreReason())

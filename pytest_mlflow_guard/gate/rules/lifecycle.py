"""Lifecycle rules (MLG4xx): registry stages stay meaningful."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from pytest_mlflow_guard.gate.rules.base import Rule, RuleContext, as_utc, parse_timestamp
from pytest_mlflow_guard.records import ModelVersionRecord, RegisteredModelRecord
from pytest_mlflow_guard.vocabulary import ALIASED_STAGES, TAG_STAGE_SINCE, stage_alias


class SingleProduction(Rule[RegisteredModelRecord]):
    """At most one version of a registered model is in the Production stage.

    Why:
    "Which model is in production?" must have one answer. With two versions in Production,
    whichever one a consumer loads through `models:/name/Production` depends on ordering details,
    and rollbacks and incident reviews start from a guess.

    Anti-pattern:
        client.transition_model_version_stage("fraud_scorer", "7", "Production")
        # version 5 is still in Production too

    Fix:
    Archive the previous version when promoting a new one:
        client.transition_model_version_stage(
            "fraud_scorer", "7", "Production", archive_existing_versions=True
        )
    Teams on aliases should point a single `champion` alias instead of using stages.
    """

    code = "MLG401"
    name = "single-production"
    default_severity = "error"
    kinds = ("registered_model",)

    def check(self, obj: RegisteredModelRecord, ctx: RuleContext) -> Iterator[str]:
        production = [v.version for v in obj.versions if v.stage.lower() == "production"]
        if len(production) > 1:
            yield (
                f"{len(production)} versions are in stage Production: "
                f"{', '.join(sorted(production, key=_version_order))}"
            )


class StaleStaging(Rule[ModelVersionRecord]):
    """A model version does not sit in Staging longer than the configured number of days.

    Why:
    Staging is meant to be a short waiting room before a decision. Versions left there for weeks
    are either forgotten (and get promoted by accident later) or silently rejected; both make
    the registry lie about what is being evaluated. The time in stage is read from the
    `mlflow_guard.stage_since` tag when the lifecycle helpers set it, otherwise from the
    version's last update time.

    Anti-pattern:
        client.transition_model_version_stage("fraud_scorer", "4", "Staging")
        # ...two months later, still there

    Fix:
    Decide: promote the version to Production or move it to Archived. Tune the limit with
    `stale-staging-days` in `[tool.mlflow-guard]` if the team's review cycle is longer.
    """

    code = "MLG402"
    name = "stale-staging"
    default_severity = "warning"
    kinds = ("model_version",)

    def check(self, obj: ModelVersionRecord, ctx: RuleContext) -> Iterator[str]:
        if obj.stage.lower() != "staging":
            return
        since = parse_timestamp(obj.tags.get(TAG_STAGE_SINCE, ""))
        if since is None and obj.last_updated_time is not None:
            since = as_utc(obj.last_updated_time)
        if since is None:
            return  # no idea how long it has been there: not a finding
        limit = ctx.config.stale_staging_days
        age = ctx.now - since
        if age > timedelta(days=limit):
            yield f"in stage Staging for {age.days} days (limit {limit:g})"


class StageAlias(Rule[ModelVersionRecord]):
    """A version in Staging or Production carries the matching alias, and only such a version does.

    Why:
    MLflow 3 loads models by alias (`models:/name@production`); older code and the guide load by
    stage (`models:/name/Production`). When the `production` alias is missing, or points at a
    version in another stage, the two URI styles load different models, and which one a service
    runs depends on how it was written. Stages are deprecated in MLflow, so the alias is what the
    next consumer will use.

    Anti-pattern:
        client.transition_model_version_stage("fraud_scorer", "7", "Production")
        # no alias: models:/fraud_scorer@production still loads version 5, or nothing

    Fix:
    Move the alias with the stage, or let the lifecycle helpers keep both in step
    (`ExperimentTracker.transition_model`), or backfill with `mlflow-guard fix --apply`:
        client.set_registered_model_alias("fraud_scorer", "production", "7")
    """

    code = "MLG403"
    name = "stage-alias"
    default_severity = "warning"
    kinds = ("model_version",)

    def check(self, obj: ModelVersionRecord, ctx: RuleContext) -> Iterator[str]:
        stage = obj.stage.lower()
        for aliased in ALIASED_STAGES:
            alias = stage_alias(aliased)
            if stage == aliased.lower() and alias not in obj.aliases:
                yield f"'{alias}' alias missing: the version is in stage {aliased}"
            elif stage != aliased.lower() and alias in obj.aliases:
                yield (
                    f"'{alias}' alias is on a version in stage {obj.stage}: "
                    f"models:/{obj.name}@{alias} and models:/{obj.name}/{aliased} differ"
                )


def _version_order(version: str) -> tuple[int, str]:
    # versions are numeric strings in MLflow; sort 10 after 9, tolerate anything else
    return (int(version), "") if version.isdigit() else (2**63, version)


RULES = (SingleProduction(), StaleStaging(), StageAlias())

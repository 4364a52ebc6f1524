"""Hygiene rules (MLG6xx): the store does not hold half-finished or silently damaged runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from pytest_mlflow_guard.gate.rules.base import Rule, RuleContext, as_utc
from pytest_mlflow_guard.records import RunRecord

# MLflow's value limits (mlflow.utils.validation). Some clients cut longer values to exactly
# this length without a word, so a value of exactly the limit is almost certainly truncated.
PARAM_VALUE_LIMIT = 6000
TAG_VALUE_LIMIT = 8000


class StaleRunning(Rule[RunRecord]):
    """No run stays in status RUNNING long after it started.

    Why:
    A run that crashed, was killed or lost its process without `mlflow.end_run()` stays RUNNING
    forever. It looks like work in progress, hides that the training failed, and its partial
    metrics end up in comparisons as if they were final.

    Anti-pattern:
        run = mlflow.start_run(run_name="xgb-baseline")
        train()  # raises; end_run() is never called

    Fix:
    Use `with mlflow.start_run(...):`, which ends the run as FAILED on an exception. Close runs
    that are already stuck:
        MlflowClient().set_terminated(run_id, status="KILLED")
    The age limit is `stale-running-hours` in `[tool.mlflow-guard]`.
    """

    code = "MLG601"
    name = "stale-running"
    default_severity = "warning"
    kinds = ("run",)

    def check(self, obj: RunRecord, ctx: RuleContext) -> Iterator[str]:
        if obj.status.upper() != "RUNNING" or obj.start_time is None:
            return
        limit = ctx.config.stale_running_hours
        age = ctx.now - as_utc(obj.start_time)
        if age > timedelta(hours=limit):
            hours = int(age.total_seconds() // 3600)
            yield f"run still RUNNING {hours} hours after it started (limit {limit:g})"


class TruncatedValue(Rule[RunRecord]):
    """No param or tag value is exactly MLflow's length limit (a sign it was cut off).

    Why:
    MLflow limits param values to 6000 characters and tag values to 8000. Some clients truncate
    longer values to exactly that length instead of failing, so the run records a config,
    feature list or prompt that is not the one that was used, and nothing says so.

    Anti-pattern:
        mlflow.log_param("features", ",".join(all_2000_feature_names))

    Fix:
    Log long values as artifacts and keep a short reference (a hash or a count) as the param:
        mlflow.log_dict({"features": names}, "features.json")
        mlflow.log_param("n_features", len(names))
    """

    code = "MLG602"
    name = "truncated-value"
    default_severity = "warning"
    kinds = ("run",)

    def check(self, obj: RunRecord, ctx: RuleContext) -> Iterator[str]:
        for key in sorted(obj.params):
            if len(obj.params[key]) == PARAM_VALUE_LIMIT:
                yield f"param '{key}' value is exactly {PARAM_VALUE_LIMIT} characters: truncated?"
        for key in sorted(obj.tags):
            if len(obj.tags[key]) == TAG_VALUE_LIMIT:
                yield f"tag '{key}' value is exactly {TAG_VALUE_LIMIT} characters: truncated?"


RULES = (StaleRunning(), TruncatedValue())

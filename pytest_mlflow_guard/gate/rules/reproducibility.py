"""Reproducibility rules (MLG5xx): a run records what is needed to run it again."""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mlflow_guard.gate.rules.base import (
    Rule,
    RuleContext,
    Unchecked,
    is_training_run,
    tag_value,
)
from pytest_mlflow_guard.records import RunRecord
from pytest_mlflow_guard.vocabulary import TAG_SOURCE_COMMAND

#: MLflow 2 records every ``log_model`` call of a run in this tag.
_LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"


class EnvironmentRecorded(Rule[RunRecord]):
    """Training runs, and runs that log a model, record their Python environment.

    Why:
    A model is only reproducible together with the library versions it was trained with;
    pickled models in particular can refuse to load, or load and behave differently, under
    another scikit-learn or NumPy. The guard looks for `environment/requirements.txt` among the
    run's artifacts; when the artifacts could not be listed, the run is reported as unchecked
    (MLG004).

    Anti-pattern:
        with mlflow.start_run(run_name="xgb-baseline", tags={"run.mode": "training"}):
            model.fit(X, y)  # nothing says which xgboost this was

    Fix:
    Log the environment at the start of the run (the guard's tracker does this), or log the
    model with an MLflow flavor, which writes `requirements.txt` next to it:
        mlflow.log_artifact("requirements.txt", artifact_path="environment")
    """

    code = "MLG501"
    name = "environment-recorded"
    default_severity = "error"
    kinds = ("run",)

    def check(self, obj: RunRecord, ctx: RuleContext) -> Iterator[str]:
        logged_model = bool(obj.logged_models) or bool(tag_value(obj.tags, _LOG_MODEL_HISTORY_TAG))
        if not (is_training_run(obj) or logged_model):
            return
        if obj.has_requirements is False:
            what = "training run" if is_training_run(obj) else "run that logged a model"
            yield f"{what} has no environment/requirements.txt artifact"
        elif obj.has_requirements is None and obj.requirements_unreadable:
            yield Unchecked(f"artifacts: {obj.requirements_unreadable}")


class SourceCommand(Rule[RunRecord]):
    """Every run records the command that started it in the `source.command` tag.

    Why:
    The commit says which code ran; the command says how: which entry point, which flags, which
    config file. Without it, reproducing a run means reverse-engineering its params and hoping
    nothing else was passed on the command line.

    Anti-pattern:
        python train.py --config configs/big.yaml --seed 3  # command recorded nowhere

    Fix:
    Record the command line when the run starts (the guard's tracker does this):
        mlflow.set_tag("source.command", shlex.join(sys.argv))
    """

    code = "MLG502"
    name = "source-command"
    default_severity = "warning"
    kinds = ("run",)

    def check(self, obj: RunRecord, ctx: RuleContext) -> Iterator[str]:
        if not tag_value(obj.tags, TAG_SOURCE_COMMAND):
            yield "tag 'source.command' is missing or empty"


class ParamsLogged(Rule[RunRecord]):
    """Training runs log their hyperparameters as params.

    Why:
    Params are what the run table compares and what a rerun needs. A training run with no params
    either used nothing but defaults (worth writing down, since defaults change between library
    versions) or kept its settings in code or a file nobody can query.

    Anti-pattern:
        with mlflow.start_run(run_name="rf-tuned", tags={"run.mode": "training"}):
            RandomForestClassifier(n_estimators=500, max_depth=12).fit(X, y)

    Fix:
    Log the settings explicitly, or enable autologging for the library:
        mlflow.log_params({"n_estimators": 500, "max_depth": 12})
    """

    code = "MLG503"
    name = "params-logged"
    default_severity = "warning"
    kinds = ("run",)

    def check(self, obj: RunRecord, ctx: RuleContext) -> Iterator[str]:
        if is_training_run(obj) and not obj.params:
            yield "training run logged no params"


RULES = (EnvironmentRecorded(), SourceCommand(), ParamsLogged())

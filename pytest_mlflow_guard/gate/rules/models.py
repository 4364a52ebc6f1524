"""Model rules (MLG30x): logged models and registered versions describe and trace themselves."""

from __future__ import annotations

from collections.abc import Iterator

from pytest_mlflow_guard.gate.rules.base import Rule, RuleContext, Unchecked
from pytest_mlflow_guard.records import LoggedModelRecord, ModelVersionRecord


class ModelSignature(Rule[LoggedModelRecord]):
    """Every model a run logs has a signature.

    Why:
    The signature records the input and output schema the model was trained on. Without it,
    serving cannot validate requests, a column renamed upstream fails silently instead of loudly,
    and whoever deploys the model has to guess what it expects. A model whose `MLmodel` file
    could not be read is reported as unchecked (MLG004).

    Anti-pattern:
        mlflow.sklearn.log_model(model, name="model")

    Fix:
    Infer the signature from training data when logging (or pass an input example, from which
    MLflow infers one):
        signature = mlflow.models.infer_signature(X_train, model.predict(X_train))
        mlflow.sklearn.log_model(model, name="model", signature=signature)
    """

    code = "MLG301"
    name = "model-signature"
    default_severity = "error"
    kinds = ("logged_model",)

    def check(self, obj: LoggedModelRecord, ctx: RuleContext) -> Iterator[str]:
        if obj.has_signature is False:
            yield f"logged model '{obj.name}' has no signature"
        elif obj.has_signature is None and obj.unreadable:
            yield Unchecked(f"logged model '{obj.name}': {obj.unreadable}")


class InputExample(Rule[LoggedModelRecord]):
    """Every model a run logs has an input example.

    Why:
    An input example is a real, ready-to-send request: it documents the model better than the
    schema alone, lets MLflow validate the model can actually be served when it is logged, and
    gives whoever picks the model up something to try it with.

    Anti-pattern:
        mlflow.sklearn.log_model(model, name="model", signature=signature)

    Fix:
    Log a few rows of real (non-sensitive) input with the model:
        mlflow.sklearn.log_model(model, name="model", input_example=X_train[:5])
    """

    code = "MLG302"
    name = "input-example"
    default_severity = "warning"
    kinds = ("logged_model",)

    def check(self, obj: LoggedModelRecord, ctx: RuleContext) -> Iterator[str]:
        if obj.has_input_example is False:
            yield f"logged model '{obj.name}' has no input example"
        elif obj.has_input_example is None and obj.unreadable:
            yield Unchecked(f"logged model '{obj.name}': {obj.unreadable}")


class VersionSignature(Rule[ModelVersionRecord]):
    """Every registered model version has a signature.

    Why:
    A registered version is what gets deployed. Its signature is the contract the serving layer
    enforces and the consumers code against; registering a model without one moves the
    guessing from the data scientist to whoever is on call.

    Anti-pattern:
        mlflow.sklearn.log_model(model, name="model")  # no signature
        mlflow.register_model(f"runs:/{run_id}/model", "fraud_scorer")

    Fix:
    Log the model again with a signature and register that new version; then archive or delete
    the version without one.
    """

    code = "MLG303"
    name = "version-signature"
    default_severity = "error"
    kinds = ("model_version",)

    def check(self, obj: ModelVersionRecord, ctx: RuleContext) -> Iterator[str]:
        if obj.has_signature is False:
            yield "model version has no signature"
        elif obj.has_signature is None and obj.signature_unreadable:
            yield Unchecked(obj.signature_unreadable)


class VersionSourceRun(Rule[ModelVersionRecord]):
    """Every registered model version comes from an existing run that passes the error-level rules.

    Why:
    A registered version should be traceable to the run that trained it: its code commit,
    parameters, data and environment. When that run was deleted, or never existed (the model was
    registered from a bare path), or itself breaks error-level conventions (no commit, no
    environment...), the registry holds a model nobody can reproduce or audit. The source run
    is judged by every error-level rule the configuration has not ignored or switched off, even
    when a check selects fewer rules, and its own `mlflow_guard.ignore` tag is honoured.

    Anti-pattern:
        mlflow.register_model("s3://bucket/some/model", "fraud_scorer")  # no run behind it
        client.delete_run(run_id)  # the run behind version 3 is gone

    Fix:
    Register versions from a run (`runs:/<run_id>/model` or the logged model's `models:/` URI)
    whose findings are fixed, and do not delete runs that back registered versions. If the old
    run cannot be repaired, retrain in a compliant run and register the new model.
    """

    code = "MLG304"
    name = "version-source-run"
    default_severity = "error"
    kinds = ("model_version",)

    def check(self, obj: ModelVersionRecord, ctx: RuleContext) -> Iterator[str]:
        if obj.source_run_missing:
            yield f"source run '{obj.run_id or '?'}' no longer exists"
            return
        if not obj.run_id:
            yield f"model version has no source run (registered from {obj.source or '?'})"
            return
        if obj.source_run is None and obj.source_run_unreadable:
            yield Unchecked(f"source run '{obj.run_id}': {obj.source_run_unreadable}")
            return
        errors = ctx.source_run_errors(obj)
        if errors:  # None (not known to this scan) and () (clean) are both fine
            yield f"source run '{obj.run_id}' has error findings: {', '.join(errors)}"


RULES = (ModelSignature(), InputExample(), VersionSignature(), VersionSourceRun())

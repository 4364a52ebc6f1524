"""Reading a registered model's audit trail (``pytest_mlflow_guard/audit.py``) from any store:
a tracking server's URL or the database behind it."""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from pytest_mlflow_guard.audit import AuditEntry, entries_from_tags
from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.mlflow_io.clients import client
from pytest_mlflow_guard.mlflow_io.workspaces import selected
from pytest_mlflow_guard.redact import redact_text

__all__ = ["read_history"]


def read_history(
    tracking_uri: str, model: str, version: str | None = None, workspace: str | None = None
) -> list[AuditEntry]:
    """The model's audit trail; ``workspace``: the one it is in (MLflow 3.10+)."""
    where = redact_text(tracking_uri) + (f" (workspace {workspace})" if workspace else "")
    try:
        with selected(workspace):
            registered = client(tracking_uri, tracking_uri).get_registered_model(model)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise GuardError(f"unknown model: {where} has no registered model {model!r}") from None
        raise
    return entries_from_tags(dict(registered.tags or {}), version)

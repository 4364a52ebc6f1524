"""Where a checked object is in the MLflow UI: the link a finding carries. Standard library only."""

from __future__ import annotations

from collections.abc import Callable

from pytest_mlflow_guard.gate.rules import Checkable
from pytest_mlflow_guard.mlflow_io import links
from pytest_mlflow_guard.records import (
    ExperimentRecord,
    LoggedModelRecord,
    ModelVersionRecord,
    RegisteredModelRecord,
    RunRecord,
)

__all__ = ["UrlFor", "url_builder"]

#: (object, its workspace) -> its page in the UI, or None
UrlFor = Callable[[Checkable, str | None], str | None]


def url_builder(base: str | None) -> UrlFor | None:
    """Links into the UI at ``base``; None when there is no UI to link to."""
    if base is None:
        return None

    def url_for(obj: Checkable, workspace: str | None) -> str | None:
        if isinstance(obj, RunRecord):
            return links.run_url(base, obj.experiment_id, obj.run_id, workspace)
        if isinstance(obj, ExperimentRecord):
            return links.experiment_url(base, obj.experiment_id, workspace)
        if isinstance(obj, LoggedModelRecord):
            return links.logged_model_url(
                base, obj.experiment_id, obj.model_id, obj.run_id, workspace
            )
        if isinstance(obj, ModelVersionRecord):
            return links.model_version_url(base, obj.name, obj.version, workspace)
        if isinstance(obj, RegisteredModelRecord):
            return links.registered_model_url(base, obj.name, workspace)
        return None

    return url_for

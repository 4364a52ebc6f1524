"""Where every MLflow client of the guard comes from, and which store a ``None`` URI means.

MLflow is imported inside the functions: pytest imports the package in every session of the
environment, and ``import mlflow`` alone costs about two seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient


def client(tracking_uri: str | None, registry_uri: str | None = None) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)


def resolved_tracking_uri(tracking_uri: str | None) -> str:
    """The URI MLflow will use: explicit, else ``MLFLOW_TRACKING_URI``, else MLflow's default."""
    if tracking_uri:
        return tracking_uri
    import mlflow

    return str(mlflow.get_tracking_uri())

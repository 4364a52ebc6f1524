"""Listing model versions through MLflow: its client, or the server's own registry store (both
take ``search_model_versions(filter_string, max_results=, page_token=)``)."""

from __future__ import annotations

import logging
from typing import Any

from mlflow.exceptions import MlflowException

from pytest_mlflow_guard.mlflow_io.builders import version_run_id
from pytest_mlflow_guard.mlflow_io.logged_models import unsupported
from pytest_mlflow_guard.mlflow_io.paging import pages
from pytest_mlflow_guard.mlflow_io.scope import quote

__all__ = ["version_run_ids", "versions_of"]

_log = logging.getLogger(__name__)


def versions_of(registry: Any, name: str, page_size: int) -> list[Any]:
    """Every version of the model. A name no filter literal can express (both kinds of quote)
    is matched here instead, over a listing of every version: slower, but nothing dropped."""
    try:
        filter_string: str | None = f"name = {quote(name)}"
    except ValueError:
        filter_string = None
    return [
        mv
        for page in pages(
            lambda token: registry.search_model_versions(
                filter_string, max_results=page_size, page_token=token
            )
        )
        for mv in page
        if mv.name == name
    ]


def version_run_ids(client: Any, page_size: int) -> set[str]:
    """Run ids that model versions name: one paged listing of every version, ids kept only.
    Empty when the registry wants a filter (then each version's run is fetched when needed)."""
    try:
        return {
            run_id
            for page in pages(
                lambda token: client.search_model_versions(max_results=page_size, page_token=token)
            )
            for mv in page
            if (run_id := version_run_id(mv.run_id, mv.source))
        }
    except MlflowException as exc:
        # anything else (a server that stopped answering) is the check's failure, not a reason
        # to wait twice as long
        if exc.error_code != "INVALID_PARAMETER_VALUE" and not unsupported(exc):
            raise
        _log.debug("cannot list model versions up front: %s", exc)
        return set()

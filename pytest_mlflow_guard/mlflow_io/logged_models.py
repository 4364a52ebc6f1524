"""MLflow 3 LoggedModel searches through MLflow's client, as the client reader needs them.

A store without the search (an MLflow 2 server) has no LoggedModels: that is not a failure to
read. Any other failure stops the check: the listing would otherwise say "no models", and every
model rule would pass on nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from mlflow.exceptions import MlflowException

from pytest_mlflow_guard.mlflow_io.paging import pages
from pytest_mlflow_guard.mlflow_io.scope import quote

__all__ = ["logged_model_pages", "run_logged_models", "unsupported"]

_log = logging.getLogger(__name__)
_HTTP_404 = re.compile(r"\berror code 404\b")


def unsupported(exc: MlflowException) -> bool:
    """The store has no such endpoint (an MLflow 2 server): not a failure to read.

    Decided by the error code, or by the HTTP status MLflow reports ("failed with error code
    404"), never by a bare "404" in the message: the message names the request URL, whose port
    may contain those digits (a server that timed out on port 40497 is no MLflow 2 server)."""
    code = str(getattr(exc, "error_code", ""))
    return code in ("ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED") or bool(
        _HTTP_404.search(str(exc.message))
    )


def logged_model_pages(client: Any, experiment_id: str, page_size: int) -> Iterator[list[Any]]:
    """Pages of the experiment's LoggedModels, newest first; none on a store without them."""
    try:
        yield from pages(
            lambda token: client.search_logged_models(
                experiment_ids=[experiment_id],
                max_results=page_size,
                order_by=[{"field_name": "creation_timestamp", "ascending": False}],
                page_token=token,
            )
        )
    except MlflowException as exc:
        if not unsupported(exc):
            raise
        _log.debug("no logged-model search on this store: %s", exc)


def run_logged_models(client: Any, experiment_id: str, run_id: str, page_size: int) -> list[Any]:
    """The LoggedModels of one run (for a version's source run outside the runs pass)."""
    try:
        return [
            model
            for page in pages(
                lambda token: client.search_logged_models(
                    experiment_ids=[experiment_id],
                    filter_string=f"source_run_id = {quote(run_id)}",
                    max_results=page_size,
                    page_token=token,
                )
            )
            for model in page
        ]
    except MlflowException as exc:
        if not unsupported(exc):
            raise
        _log.debug("no logged-model search on this store: %s", exc)
        return []

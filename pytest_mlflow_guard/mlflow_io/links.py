"""Links into the MLflow UI. Standard library only (no MLflow), so reporters may import it cheaply.

The UI uses hash routing: ``<base>/#/experiments/<id>/runs/<run_id>``; an object in a workspace
other than ``default`` gets ``?workspace=<name>`` inside the hash, as MLflow's own "View run"
links do. No URL built here ever carries credentials: the base loses its user info
(:mod:`..redact`), query and fragment.
"""

from __future__ import annotations

import urllib.parse

from pytest_mlflow_guard.redact import redact_text

__all__ = [
    "experiment_url",
    "logged_model_url",
    "model_version_url",
    "registered_model_url",
    "run_url",
    "ui_url_for",
]


def ui_url_for(tracking_uri: str | None, ui_url: str | None) -> str | None:
    """The MLflow UI base URL: the configured ``ui_url``, else an http(s) tracking URI; never
    with credentials. None when neither gives one (a sqlite or file store)."""
    for candidate in (ui_url, tracking_uri):
        scheme = (candidate or "").partition("://")[0].lower()
        if candidate and scheme in ("http", "https"):
            # string operations only: a malformed URL ("http://[::1") must not raise here
            base = redact_text(candidate).split("#", 1)[0].split("?", 1)[0]
            return base.rstrip("/")
    return None


def _q(value: str) -> str:
    return urllib.parse.quote(str(value), safe="")


def _in(url: str, workspace: str | None) -> str:
    """``url`` for the UI of ``workspace`` (the UI opens ``default`` when none is named)."""
    if workspace is None or workspace == "default":
        return url
    return f"{url}?workspace={_q(workspace)}"


def experiment_url(base: str, experiment_id: str, workspace: str | None = None) -> str:
    return _in(f"{base}/#/experiments/{_q(experiment_id)}", workspace)


def run_url(base: str, experiment_id: str, run_id: str, workspace: str | None = None) -> str:
    return _in(f"{base}/#/experiments/{_q(experiment_id)}/runs/{_q(run_id)}", workspace)


def registered_model_url(base: str, name: str, workspace: str | None = None) -> str:
    return _in(f"{base}/#/models/{_q(name)}", workspace)


def model_version_url(base: str, name: str, version: str, workspace: str | None = None) -> str:
    return _in(f"{base}/#/models/{_q(name)}/versions/{_q(version)}", workspace)


def logged_model_url(
    base: str,
    experiment_id: str,
    model_id: str,
    run_id: str | None = None,
    workspace: str | None = None,
) -> str:
    """An MLflow 3 LoggedModel's page; an MLflow 2 style model (id ``runs:/<run>/<path>``, which
    has no page of its own) links to its run."""
    if model_id.startswith("runs:/") and run_id:
        return run_url(base, experiment_id, run_id, workspace)
    url = f"{base}/#/experiments/{_q(experiment_id)}/models/{_q(model_id)}"
    return _in(url, workspace)

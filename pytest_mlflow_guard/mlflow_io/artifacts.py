"""The few artifact reads the gate needs: whether a file exists, and a model's ``MLmodel`` file.

Never more than that: model weights are not downloaded. Local artifact stores are read straight
from disk; anything else goes through MLflow's artifact repository for the URI, fetching the one
small file. A failure means "unknown" (None) together with the reason, which the rules report
as unchecked (MLG004): unreadable evidence is never a pass.
"""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from pytest_mlflow_guard.redact import redact_text

__all__ = ["has_requirements", "local_path", "model_facts", "read_mlmodel"]

_log = logging.getLogger(__name__)


def local_path(uri: str) -> str | None:
    """The filesystem path of a local artifact location, or None for a remote one."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return urllib.request.url2pathname(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return uri
    return None


def _repository(uri: str, tracking_uri: str, artifacts_server: str | None) -> Any:
    # An ``mlflow-artifacts:`` URI means "the server that took the upload": MLflow resolves it
    # against the tracking URI, which must then be that server's URL. From a database URI the
    # user names the server. Inside that server (the tracking-server app) it is the folder or
    # bucket the server keeps them in, read directly: a request to itself could wait on itself.
    if artifacts_server and _is_proxied(uri):
        if urllib.parse.urlsplit(artifacts_server).scheme.lower() in ("http", "https"):
            return get_artifact_repository(uri, tracking_uri=artifacts_server)
        path = urllib.parse.urlsplit(uri).path.lstrip("/")
        return get_artifact_repository(f"{artifacts_server.rstrip('/')}/{path}", tracking_uri)
    return get_artifact_repository(uri, tracking_uri=tracking_uri)


def _is_proxied(uri: str) -> bool:
    return uri.lower().startswith("mlflow-artifacts:")


def _reason(what: str, uri: str, exc: BaseException) -> str:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = f"cannot read {what} at {uri}: {detail[:300]}"
    if _is_proxied(uri) and "http" in detail and "tracking URI" in detail:
        reason += " (name the server that serves these artifacts: --artifacts-server URL)"
    return redact_text(reason)


def has_requirements(
    artifact_uri: str, tracking_uri: str, artifacts_server: str | None = None
) -> tuple[bool | None, str | None]:
    """Whether ``environment/requirements.txt`` is among a run's artifacts, and when that
    cannot be told (``None``), why."""
    try:
        local = local_path(artifact_uri)
        if local is not None:
            return os.path.isfile(os.path.join(local, "environment", "requirements.txt")), None
        repo: Any = _repository(artifact_uri, tracking_uri, artifacts_server)
        files = repo.list_artifacts("environment")
    except Exception as exc:  # unreadable artifact store: unknown, and said so
        _log.debug("cannot list %s/environment: %s", artifact_uri, exc)
        return None, _reason("the run's artifacts", artifact_uri, exc)
    found = any(f.path.rsplit("/", 1)[-1] == "requirements.txt" and not f.is_dir for f in files)
    return found, None


def read_mlmodel(
    model_root_uri: str, tracking_uri: str, artifacts_server: str | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed ``<model_root_uri>/MLmodel`` file (only that file), or None and the reason
    it could not be read (missing, unreadable, not YAML)."""
    try:
        local = local_path(model_root_uri)
        if local is not None:
            text = Path(local, "MLmodel").read_text(encoding="utf-8")
        else:
            repo: Any = _repository(model_root_uri, tracking_uri, artifacts_server)
            with tempfile.TemporaryDirectory(prefix="mlflow-guard-") as tmp:
                target = os.path.join(tmp, "MLmodel")
                try:  # one request for one file (download_artifacts lists the path first)
                    repo._download_file("MLmodel", target)
                except (AttributeError, NotImplementedError):
                    target = repo.download_artifacts("MLmodel", dst_path=tmp)
                text = Path(target).read_text(encoding="utf-8")
        yaml = importlib.import_module("yaml")  # PyYAML ships no type stubs
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception as exc:  # missing or unreadable: unknown, and said so
        _log.debug("cannot read %s/MLmodel: %s", model_root_uri, exc)
        return None, _reason("MLmodel", model_root_uri.rstrip("/") + "/MLmodel", exc)
    if not isinstance(doc, dict):
        return None, redact_text(f"{model_root_uri}/MLmodel is not an MLmodel document")
    return doc, None


def model_facts(doc: dict[str, Any] | None) -> tuple[bool | None, bool | None, tuple[str, ...]]:
    """(has_signature, has_input_example, flavors) from a parsed ``MLmodel`` file."""
    if doc is None:
        return None, None, ()
    flavors = doc.get("flavors")
    return (
        bool(doc.get("signature")),
        "saved_input_example_info" in doc,
        tuple(sorted(flavors)) if isinstance(flavors, dict) else (),
    )

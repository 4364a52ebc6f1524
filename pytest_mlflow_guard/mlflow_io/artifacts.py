"""The few artifact reads the gate needs: whether a file exists, and a model's ``MLmodel`` file.

Never more than that: model weights are not downloaded. Local artifact stores are read straight
from disk; anything else goes through MLflow's artifact repository for the URI, fetching the one
small file. Any failure means "unknown" (None), which rules never count as a violation.
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


def has_requirements(artifact_uri: str, tracking_uri: str) -> bool | None:
    """Whether ``environment/requirements.txt`` is among a run's artifacts (None: unknown)."""
    try:
        local = local_path(artifact_uri)
        if local is not None:
            return os.path.isfile(os.path.join(local, "environment", "requirements.txt"))
        repo: Any = get_artifact_repository(artifact_uri, tracking_uri=tracking_uri)
        files = repo.list_artifacts("environment")
    except Exception as exc:  # unreadable artifact store: unknown, not a violation
        _log.debug("cannot list %s/environment: %s", artifact_uri, exc)
        return None
    return any(f.path.rsplit("/", 1)[-1] == "requirements.txt" and not f.is_dir for f in files)


def read_mlmodel(model_root_uri: str, tracking_uri: str) -> dict[str, Any] | None:
    """The parsed ``<model_root_uri>/MLmodel`` file (only that file), or None when unreadable."""
    try:
        local = local_path(model_root_uri)
        if local is not None:
            text = Path(local, "MLmodel").read_text(encoding="utf-8")
        else:
            repo: Any = get_artifact_repository(model_root_uri, tracking_uri=tracking_uri)
            with tempfile.TemporaryDirectory(prefix="mlflow-guard-") as tmp:
                target = os.path.join(tmp, "MLmodel")
                try:  # one request for one file (download_artifacts lists the path first)
                    repo._download_file("MLmodel", target)
                except (AttributeError, NotImplementedError):
                    target = repo.download_artifacts("MLmodel", dst_path=tmp)
                text = Path(target).read_text(encoding="utf-8")
        yaml = importlib.import_module("yaml")  # PyYAML ships no type stubs
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except Exception as exc:  # missing or unreadable: unknown, not a violation
        _log.debug("cannot read %s/MLmodel: %s", model_root_uri, exc)
        return None
    return doc if isinstance(doc, dict) else None


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

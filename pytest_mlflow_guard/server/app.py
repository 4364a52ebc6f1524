"""The tracking-server apps: ``mlflow server --app-name mlflow-guard`` (the policy alone) and
``--app-name mlflow-guard-basic-auth`` (MLflow's basic-auth first, then the policy).

The mechanism is MLflow's own basic-auth app's (``mlflow/server/auth/__init__.py``): a Flask
``before_request`` hook on MLflow's app finds the request's handler in MLflow's endpoint table
(``get_endpoints``: ``/api/2.0/mlflow/...``, ``/ajax-api/2.0/mlflow/...`` and every other version
and prefix MLflow serves) and may answer instead of it; an ``after_request`` hook acts once the
write was made. Under uvicorn (MLflow's default server) the Flask app is wrapped in MLflow's
FastAPI app exactly as ``basic-auth`` does.

Configuration is read once, when a worker starts: ``[tool.mlflow-guard]`` from the file named by
``MLFLOW_GUARD_CONFIG``, else the nearest ``pyproject.toml`` of the server's working directory,
and the mode from ``MLFLOW_GUARD_SERVER_MODE``. A bad value stops the server with a message
naming it, rather than serving unguarded.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, INVALID_PARAMETER_VALUE
from mlflow.server.handlers import get_endpoints

from pytest_mlflow_guard.config import load_config
from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.server.policy import Policy, server_mode
from pytest_mlflow_guard.server.writes import CHECKS, Pending, record
from pytest_mlflow_guard.vocabulary import ENV_CONFIG, ENV_SERVER_MODE

__all__ = ["create_app", "create_basic_auth_app", "guarded_endpoints", "install"]

_log = logging.getLogger("mlflow_guard.server")
_PENDING = "mlflow_guard_pending"


def guarded_endpoints() -> dict[tuple[str, str], type]:
    """(path, method) -> the request class of every route the policy guards, from the
    installed MLflow's own table."""
    return {
        (path, method): handler
        for path, handler, methods in get_endpoints(lambda cls: cls if cls in CHECKS else None)
        for method in methods
        # explicitly defined endpoints come with their view function, never a request class
        if isinstance(handler, type) and handler in CHECKS
    }


def _user() -> str:
    # basic-auth sets this once it has authenticated the request; otherwise what the request
    # says (a client's MLFLOW_TRACKING_USERNAME arrives as basic credentials), else nobody
    name = getattr(g, "mlflow_authenticated_user", None)
    if not name and request.authorization is not None:
        name = request.authorization.username
    return str(name or "unknown")


def _error(message: str, code: int) -> Response:
    exc = MlflowException(message, code)
    return Response(
        exc.serialize_as_json(), status=exc.get_http_status_code(), mimetype="application/json"
    )


def install(app: Flask, policy: Policy) -> None:
    """Guard MLflow's Flask ``app`` with ``policy``."""
    table = guarded_endpoints()

    def before() -> Response | None:
        request_class = table.get((request.path, request.method))
        if request_class is None:
            return None
        try:
            pending = CHECKS[request_class](policy, _user())
        except MlflowException:
            return None  # malformed, or names nothing: MLflow's handler answers that itself
        except Exception as exc:  # the guard itself failed: what was not checked is not passed
            # redacted, and no traceback: the server's log is read by more people than the client
            reason = redact_text(f"{type(exc).__name__}: {exc}")
            _log.error("could not check %s %s: %s", request.method, request.path, reason)
            if policy.mode == "warn":
                return None
            return _error(f"mlflow-guard could not check this write: {reason}", INTERNAL_ERROR)
        if pending is None:
            return None
        if pending.verdict.refused:
            _log.warning(
                "%s %s: %s", request.method, request.path, clean(pending.verdict.message())
            )
            return _error(pending.verdict.message(), INVALID_PARAMETER_VALUE)
        setattr(g, _PENDING, pending)
        return None

    def after(response: Response) -> Response:
        pending: Pending | None = getattr(g, _PENDING, None)
        if pending is None or response.status_code != 200:
            return response
        try:
            if pending.verdict.findings and pending.tag is not None:
                _log.warning("accepted %s: %s", request.path, clean(pending.verdict.message()))
                pending.tag(response.get_json(silent=True) or {})
            record(pending)
        except Exception as exc:  # the write is made; failing the response now would hide that
            reason = redact_text(f"{type(exc).__name__}: {exc}")
            _log.error("could not record %s %s: %s", request.method, request.path, reason)
        return response

    app.before_request(before)
    app.after_request(after)


def _policy() -> Policy:
    config = load_config(os.environ.get(ENV_CONFIG) or None)
    return Policy(config, server_mode(os.environ.get(ENV_SERVER_MODE)))


def _served(app: Flask) -> Any:
    # the same choice MLflow's basic-auth makes: uvicorn serves the FastAPI wrapper. MLflow's CLI
    # says which server it started in _MLFLOW_SGI_NAME (3.4+, read as MLflow reads it); before
    # 3.4 the variable does not exist and gunicorn serves the Flask app itself
    if os.environ.get("_MLFLOW_SGI_NAME") == "uvicorn":
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(app)
    return app


def _mlflow_app() -> Flask:
    from mlflow.server import app

    return app


def create_app(app: Flask | None = None) -> Any:
    """``mlflow server --app-name mlflow-guard``."""
    flask_app = app or _mlflow_app()
    install(flask_app, _policy())
    return _served(flask_app)


def bootstrap_lock(database_uri: str) -> Path:
    """The lock file the workers of one auth database take turns on."""
    digest = hashlib.sha256(database_uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mlflow-guard-basic-auth-{digest}.lock"


@contextmanager
def _one_worker_at_a_time(database_uri: str) -> Iterator[None]:
    """Workers started together would race the auth database's migration, and all but one
    crash on their first start: they take turns (a lock file per auth database)."""
    with bootstrap_lock(database_uri).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def _bootstrap_basic_auth(auth: Any) -> bool:
    """What MLflow's CLI does for ``basic-auth`` before it starts any worker (MLflow 3.16+):
    check the secret key, migrate the auth database, create the admin user. Here each worker
    does it, one at a time. False where MLflow has no such step (before 3.16 its ``create_app``
    does all of it in each worker)."""
    bootstrap = getattr(auth, "bootstrap_admin_user", None)
    if bootstrap is None:
        return False
    check_secret = getattr(auth, "get_flask_server_secret_key", None)  # 3.17+
    if check_secret is not None:
        check_secret()
    with _one_worker_at_a_time(str(auth.auth_config.database_uri)):
        bootstrap()
    # done: basic-auth's own app then only opens its store, as under the CLI (the variable is
    # MLflow's private flag, read by the same releases that have bootstrap_admin_user)
    os.environ["_MLFLOW_AUTH_ADMIN_BOOTSTRAPPED"] = "true"
    return True


def create_basic_auth_app(app: Flask | None = None) -> Any:
    """``mlflow server --app-name mlflow-guard-basic-auth``: who is asking first, then what.

    MLflow's CLI prepares basic-auth (checks the secret key, creates the admin user) only for
    the app named exactly ``basic-auth``; here the worker does it, with the same functions, so
    a missing secret key stops the server with MLflow's own message.
    """
    from mlflow.server import auth

    flask_app = app or _mlflow_app()
    policy = _policy()  # a bad configuration fails before any user is created
    if _bootstrap_basic_auth(auth):
        served = auth.create_app(flask_app)
    else:  # MLflow < 3.16: its create_app migrates and creates the admin user, so it takes turns
        with _one_worker_at_a_time(str(auth.auth_config.database_uri)):
            served = auth.create_app(flask_app)
    # registered after basic-auth's hooks, so they run after it: refusals only reach users it
    # let in, and the audit trail knows who they are
    install(flask_app, policy)
    return served

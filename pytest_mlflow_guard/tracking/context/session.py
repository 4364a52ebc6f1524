"""``mlflow_guard.session``, ``test.nodeid`` and the marker's tags: what ties a run to the
guarded pytest session (and test) it was made in.

Read from the environment the session exports, so runs made by xdist workers and by subprocesses
a test starts are tied to the session too.
"""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from pathlib import Path

from pytest_mlflow_guard.tracking import session_env
from pytest_mlflow_guard.tracking.context import runtime
from pytest_mlflow_guard.vocabulary import (
    ENV_TEST_TAGS,
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_RUN_NAME,
    MODEL_TYPE_NONE,
    RUN_MODE_VALIDATION,
    TAG_MODEL_TYPE,
    TAG_RUN_MODE,
    TAG_SESSION,
    TAG_TEST_NODEID,
)


def session_tags() -> dict[str, str]:
    """The session's tags for the run being started ({} outside a guarded session)."""
    sid = session_env.session_id()
    if sid is None:
        return {}
    tags = {TAG_SESSION: sid}
    if runtime.started_by_mlflow_test_plugin():
        return {**tags, **_mlflow_test_run_tags()}
    node = runtime.current_test()
    if node:
        tags[TAG_TEST_NODEID] = node
    extra = os.environ.get(ENV_TEST_TAGS)
    if extra:
        # written by the plugin; a hand-edited value must not stop a run
        with contextlib.suppress(ValueError, AttributeError):
            tags.update({str(k): str(v) for k, v in json.loads(extra).items()})
    return tags


def _mlflow_test_run_tags() -> dict[str, str]:
    """What the guard's own session run has, for MLflow's: a child of the guard's session run,
    a name, and the tags every run must carry. It belongs to no single test."""
    tags = {
        MLFLOW_RUN_NAME: f"{datetime.now():%Y%m%d-%H%M%S}_mlflow-test",
        TAG_RUN_MODE: RUN_MODE_VALIDATION,
        TAG_MODEL_TYPE: MODEL_TYPE_NONE,
    }
    parent = session_env.session_run_id()
    if parent:
        tags[MLFLOW_PARENT_RUN_ID] = parent  # MLflow overrides it when nested
    return tags


class SessionProvider:
    def in_context(self) -> bool:
        return session_env.session_id() is not None

    def tags(self, code_path: Path | None) -> dict[str, str]:
        return session_tags()

"""``os.user``: who made the run."""

from __future__ import annotations

import getpass
from pathlib import Path

from pytest_mlflow_guard.vocabulary import TAG_USER


def current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # container uid without a passwd entry
        return "unknown"


class UserProvider:
    def in_context(self) -> bool:
        return True

    def tags(self, code_path: Path | None) -> dict[str, str]:
        return {TAG_USER: current_user()}

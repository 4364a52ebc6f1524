"""``reproduction.of``: `mlflow-guard reproduce` runs the recorded command with the original run's
id in the environment, so the replay's run says which run it reproduces from its first moment,
not only once the replay has finished."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_mlflow_guard.vocabulary import ENV_REPRODUCTION_OF, TAG_REPRODUCTION_OF


class ReplayProvider:
    def in_context(self) -> bool:
        return bool(os.environ.get(ENV_REPRODUCTION_OF))

    def tags(self, code_path: Path | None) -> dict[str, str]:
        return {TAG_REPRODUCTION_OF: os.environ[ENV_REPRODUCTION_OF]}

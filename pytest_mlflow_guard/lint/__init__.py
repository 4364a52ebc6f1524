"""``mlflow-guard lint``: a static check of Python source against the team's conventions.

Before a run reaches the store, the literals in the code that will make it can already be
judged: experiment names (MLG101), registered model names (MLG103) and the values of tags with a
fixed vocabulary such as ``run.mode`` (MLG202), by the very rules ``mlflow-guard check`` applies
later (see :mod:`.checks`). Only literal strings are judged (:mod:`.visitor`); a finding is
silenced by a ``# mlflow-guard: ignore[MLG101]`` comment on its line.

Like the rule engine, this package imports neither MLflow nor pytest.
"""

from __future__ import annotations

from pytest_mlflow_guard.lint.checks import (
    Checker,
    LintFinding,
    SourceError,
    lint_file,
    lint_source,
    suppressions,
)
from pytest_mlflow_guard.lint.files import python_files
from pytest_mlflow_guard.lint.visitor import Site, find_sites

__all__ = [
    "Checker",
    "LintFinding",
    "Site",
    "SourceError",
    "find_sites",
    "lint_file",
    "lint_source",
    "python_files",
    "suppressions",
]

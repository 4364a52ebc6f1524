"""What the session run records: its tags when it opens, its metrics and report files when it
closes. Plain functions of the session's facts (no pytest, no MLflow)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_mlflow_guard.gate.findings import Report
from pytest_mlflow_guard.redact import redact_args
from pytest_mlflow_guard.tracking import context, conventions
from pytest_mlflow_guard.vocabulary import (
    METRIC_GUARD_ERRORS,
    METRIC_GUARD_WARNINGS,
    METRIC_TESTS_DURATION,
    METRIC_TESTS_PREFIX,
    MODEL_TYPE_NONE,
    RUN_MODE_VALIDATION,
    TAG_MODEL_TYPE,
    TAG_PYTEST_ARGS,
    TAG_PYTEST_ROOTDIR,
    TAG_RUN_MODE,
    TEST_COUNT_KEYS,
)


def session_run_tags(rootpath: Path, args: Sequence[str]) -> dict[str, str]:
    """The automatic tags (git facts of the rootdir, CI build), a validation run without a
    model, and the pytest command line (redacted, capped); refused rather than cut by MLflow."""
    tags = context.automatic_tags(rootpath, context.SESSION_RUN_PROVIDERS)
    tags.update(
        {
            TAG_RUN_MODE: RUN_MODE_VALIDATION,
            TAG_MODEL_TYPE: MODEL_TYPE_NONE,
            TAG_PYTEST_ROOTDIR: rootpath.name,
            TAG_PYTEST_ARGS: safe_args(args),
        }
    )
    conventions.check_lengths(tags, conventions.MAX_TAG_VALUE_LENGTH, "tag")
    return tags


def safe_args(args: Sequence[str]) -> str:
    """The pytest command line as recorded: redacted, capped."""
    return shlex.join(redact_args(args))[: context.MAX_COMMAND_LENGTH]


def session_metrics(
    counts: Mapping[str, int], duration_s: float, report: Report | None
) -> dict[str, float]:
    """``tests.<outcome>`` counts, the duration, and the gate's error and warning counts."""
    metrics = {f"{METRIC_TESTS_PREFIX}{k}": float(counts.get(k, 0)) for k in TEST_COUNT_KEYS}
    metrics[METRIC_TESTS_DURATION] = round(duration_s, 3)
    if report is not None:
        summary = report.summary()
        metrics[METRIC_GUARD_ERRORS] = float(summary["error"])
        metrics[METRIC_GUARD_WARNINGS] = float(summary["warning"])
    return metrics


def report_artifacts(report: Report | None) -> dict[str, str]:
    """The gate's report as the session run's ``mlflow_guard/`` artifacts."""
    if report is None:
        return {}
    from pytest_mlflow_guard.gate.reporters import render

    return {"report.json": render("json", report), "report.txt": render("text", report)}

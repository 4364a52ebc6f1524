"""Reproduce a run end to end: pre-flight, replay in a worktree, compare. Used by the CLI and
the pytest ``reproduce`` fixture, so both give the same verdict for the same run.

Nothing is created before the pre-flight passes: an unknown run, a run without a command or a
commit this repository lacks ends with exit 2 and leaves the store and the repository as they
were.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pytest_mlflow_guard.records import RunFacts
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.reproduce import preflight, workspace
from pytest_mlflow_guard.reproduce.compare import (
    Tolerance,
    compare_metrics,
    compare_params,
    failing,
    first_divergence,
    selected,
)
from pytest_mlflow_guard.reproduce.report import ReplayInfo, Reproduction
from pytest_mlflow_guard.tracking import environment
from pytest_mlflow_guard.vocabulary import TAG_REPRODUCTION_OF

ENV_MODES = ("current", "recorded")
#: metrics no replay can reproduce: MLflow's system metrics (CPU, memory) are measurements
DEFAULT_IGNORED_METRICS = ("system/*",)


@dataclass(frozen=True)
class ReproduceOptions:
    run_id: str
    tracking_uri: str | None = None
    repo: Path | None = None  # default: the repository holding the working directory
    env: str = "current"
    python: str | None = None  # interpreter for the --env recorded virtualenv
    check_only: bool = False
    tolerance: Tolerance = field(default_factory=Tolerance)
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)
    metrics: Sequence[str] = ()  # only these (names or globs); empty: all
    ignore_metrics: Sequence[str] = DEFAULT_IGNORED_METRICS
    ignore_params: Sequence[str] = ()
    timeout_s: float | None = None
    output: TextIO | None = None  # where the replayed command's output is copied


def _keep(names: Sequence[str], only: Sequence[str], ignore: Sequence[str]) -> list[str]:
    kept = selected(names, list(only) or None)
    dropped = set(selected(kept, list(ignore))) if ignore else set()
    return [n for n in kept if n not in dropped]


def _interpreter_version(python: str) -> str:
    proc = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.stdout.strip() or "?"


def reproduce_run(options: ReproduceOptions) -> Reproduction:
    """Pre-flight, then (unless ``check_only``) replay and compare. Raises ``GuardError`` only
    for problems with the store itself (unreachable, not an MLflow store); every reason a run
    cannot be replayed is a ``cannot_replay`` verdict with that reason."""
    from pytest_mlflow_guard.mlflow_io import connect
    from pytest_mlflow_guard.mlflow_io import replay as io
    from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri
    from pytest_mlflow_guard.mlflow_io.uris import absolute_tracking_uri

    if options.env not in ENV_MODES:
        raise ValueError(f"env must be one of {ENV_MODES}, not {options.env!r}")
    uri = absolute_tracking_uri(resolved_tracking_uri(options.tracking_uri))
    connect.probe(uri)  # never create an empty store just to find no run in it
    safe_uri = redact_text(uri)
    original = io.fetch_run(uri, options.run_id)
    if original is None:
        return Reproduction(
            options.run_id,
            "cannot_replay",
            reason=f"unknown run: {safe_uri} has no run {options.run_id!r}",
            tracking_uri=safe_uri,
        )
    root = workspace.repo_root(options.repo or Path.cwd())
    current = environment.requirements_txt(root) if options.env == "current" else ""
    local = workspace.local_facts(
        root, original.commit, original.command, original.workdir, options.env, current
    )
    checks = preflight.evaluate(original, local)
    base = Reproduction(
        original.run_id,
        "replayable",
        run_name=original.run_name,
        experiment=original.experiment_name,
        tracking_uri=safe_uri,
        checks=checks,
        tolerance=options.tolerance,
    )
    blocking = preflight.blocking(checks)
    if blocking:
        reason = "; ".join(f"{c.name}: {c.summary}" for c in blocking)
        return _with(base, verdict="cannot_replay", reason=reason)
    if options.check_only:
        return base
    assert root is not None and original.commit and original.command  # the pre-flight said so
    command = preflight.parse_command(original.command)
    try:
        with workspace.worktree(root, original.commit) as ws:
            if options.env == "recorded":
                python = workspace.build_venv(
                    ws.tmp,
                    options.python or sys.executable,
                    original.requirements or "",
                    ws.worktree,
                    options.output,
                )
                paths = workspace.mapped_pythonpath(os.environ.get("PYTHONPATH"), root, ws.worktree)
            else:
                python = sys.executable
                paths = workspace.import_paths(python, root, ws.worktree, ws.tmp / "pythonpath")
            env = workspace.child_env(
                os.environ, uri, original.experiment_id, original.run_id, paths, python, root
            )
            version = _interpreter_version(python)
            since_ms = int(time.time() * 1000) - 5
            result = workspace.run_child(
                command.with_python(python),
                ws.worktree / original.workdir,
                env,
                options.output,
                options.timeout_s,
            )
    except workspace.ReplayError as exc:
        return _with(base, verdict="cannot_replay", reason=str(exc))
    info = ReplayInfo(
        env=options.env,
        python=version,
        command=shlex.join(command.with_python("python")),
        workdir=original.workdir,
        returncode=result.returncode,
        seconds=result.seconds,
        output_tail=redact_text(result.tail),
    )
    replayed = io.find_replayed_run(uri, original, since_ms)
    if replayed is None:
        why = (
            f"the replayed command exited with {result.returncode} before logging a run"
            if result.returncode
            else f"the replayed command logged no run in experiment {original.experiment_name!r}"
            " (does it choose its own tracking URI or experiment?)"
        )
        return _with(base, verdict="cannot_replay", reason=why, replay=info)
    if replayed.tags.get(TAG_REPRODUCTION_OF) != original.run_id:
        io.tag_reproduction(uri, replayed.run_id, original.run_id)
    return _judge(base, options, original, replayed, info, uri)


def _judge(
    base: Reproduction,
    options: ReproduceOptions,
    original: RunFacts,
    replayed: RunFacts,
    info: ReplayInfo,
    uri: str,
) -> Reproduction:
    from pytest_mlflow_guard.mlflow_io import replay as io

    names = _keep([*original.metrics, *replayed.metrics], options.metrics, options.ignore_metrics)
    metrics = compare_metrics(
        original.metrics, replayed.metrics, options.tolerance, options.tolerances, names
    )
    param_names = _keep([*original.params, *replayed.params], (), options.ignore_params)
    params = compare_params(original.params, replayed.params, param_names)
    divergence: dict[str, int] = {}
    for row in metrics:
        if row.status == "differs":
            step = first_divergence(
                io.metric_history(uri, original.run_id, row.name),
                io.metric_history(uri, replayed.run_id, row.name),
                row.tolerance,
            )
            if step is not None:
                divergence[row.name] = step
    reasons = []
    if info.returncode:
        reasons.append(f"the replayed command exited with {info.returncode}")
    bad = failing(metrics)
    if bad:
        reasons.append(f"metrics out of tolerance or missing: {', '.join(bad)}")
    bad_params = failing(params)
    if bad_params:
        reasons.append(f"params differ: {', '.join(bad_params)}")
    note = "" if metrics else "no metrics to compare; params only"
    return _with(
        base,
        verdict="not_reproduced" if reasons else "reproduced",
        reason="; ".join(reasons) or note,
        replay=info,
        replay_run_id=replayed.run_id,
        metrics=metrics,
        params=params,
        divergence=divergence,
    )


def _with(base: Reproduction, **changes: object) -> Reproduction:
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]

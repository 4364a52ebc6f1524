"""The outcome of a reproduction and its renderings (text for people, JSON for tools). Pure.

The JSON document (``"version": 1``) is a public interface like the gate's: keys are only ever
added. Nothing here prints environment variables or credentials: the tracking URI is passed in
already redacted, the replay's environment is never part of the report, and every string goes
through the redaction policy. Run names, params and commands come from the store, so every line
of the text rendering is shown through ``display.clean`` (one line, no control characters).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.reproduce.compare import MetricRow, ParamRow, Tolerance
from pytest_mlflow_guard.reproduce.names import (
    EXIT_CANNOT_REPLAY,
    EXIT_NOT_REPRODUCED,
    EXIT_REPRODUCED,
)
from pytest_mlflow_guard.reproduce.preflight import Check

Verdict = Literal["reproduced", "not_reproduced", "cannot_replay", "replayable"]

_EXIT = {
    "reproduced": EXIT_REPRODUCED,
    "replayable": EXIT_REPRODUCED,
    "not_reproduced": EXIT_NOT_REPRODUCED,
    "cannot_replay": EXIT_CANNOT_REPLAY,
}
_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


@dataclass(frozen=True)
class ReplayInfo:
    env: str  # "current" or "recorded"
    python: str  # the interpreter's version
    command: str  # as executed, interpreter shown as "python"
    workdir: str
    returncode: int
    seconds: float
    output_tail: str = ""


@dataclass(frozen=True)
class Reproduction:
    run_id: str
    verdict: Verdict
    reason: str = ""
    run_name: str = ""
    experiment: str = ""
    tracking_uri: str = ""
    checks: Sequence[Check] = ()
    replay: ReplayInfo | None = None
    replay_run_id: str | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)
    metrics: Sequence[MetricRow] = ()
    params: Sequence[ParamRow] = ()
    divergence: dict[str, int] = field(default_factory=dict)  # metric -> first diverging step

    @property
    def exit_code(self) -> int:
        return _EXIT[self.verdict]

    @property
    def reproduced(self) -> bool:
        return self.verdict == "reproduced"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return f"{value:.6g}" if value != int(value) or abs(value) >= 1e15 else f"{value:.0f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    rows = [[clean(cell) for cell in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = indent + "  ".join(f"{{:<{w}}}" for w in widths)
    return [line.format(*header).rstrip()] + [line.format(*row).rstrip() for row in rows]


def _verdict_line(result: Reproduction) -> str:
    word = {
        "reproduced": "REPRODUCED",
        "not_reproduced": "NOT REPRODUCED",
        "cannot_replay": "CANNOT REPLAY",
        "replayable": "REPLAYABLE (pre-flight only)",
    }[result.verdict]
    text = f"Verdict: {word} (exit {result.exit_code})"
    return f"{text}: {result.reason}" if result.reason else text


def render_text(result: Reproduction) -> str:
    head = f"Run {result.run_id}"
    if result.run_name:
        head += f" ({result.run_name})"
    if result.experiment:
        head += f" in experiment {result.experiment}"
    lines = [head]
    if result.tracking_uri:
        lines.append(f"Store: {result.tracking_uri}")
    if result.checks:
        lines += ["", "Pre-flight"]
        width = max(len(c.name) for c in result.checks)
        for check in result.checks:
            lines.append(f"  {_MARK[check.status]}  {check.name:<{width}}  {check.summary}")
            lines += [f"  {'':4}  {'':<{width}}    {d}" for d in check.details]
    if result.replay is not None:
        r = result.replay
        lines += ["", "Replay"]
        lines.append(f"  $ {r.command}   (in {r.workdir}, env {r.env}, Python {r.python})")
        outcome = f"  exit {r.returncode} after {r.seconds:.1f} s"
        if result.replay_run_id:
            outcome += f"; new run {result.replay_run_id} tagged reproduction.of={result.run_id}"
        lines.append(outcome)
        if r.returncode != 0 and r.output_tail:
            lines += ["  last output lines:"]
            lines += [f"  | {line}" for line in r.output_tail.splitlines()[-20:]]
    if result.metrics:
        lines += ["", f"Metrics (default tolerance: {result.tolerance})"]
        rows = []
        for m in result.metrics:
            status = m.status.upper() if m.status != "ok" else "ok"
            if m.name in result.divergence:
                status += f" (from step {result.divergence[m.name]})"
            rel = m.rel_diff
            rows.append(
                [
                    m.name,
                    _num(m.recorded),
                    _num(m.replayed),
                    _num(m.abs_diff),
                    "-" if rel is None else f"{rel:.2e}",
                    str(m.tolerance),
                    status,
                ]
            )
        header = ["metric", "recorded", "replayed", "difference", "relative", "tolerance", ""]
        lines += table(header, rows)
    elif result.replay_run_id:
        lines += ["", "Metrics: neither run logged any"]
    if result.params:
        bad = [p for p in result.params if p.status != "ok"]
        if not bad:
            lines += ["", f"Params: all {len(result.params)} identical"]
        else:
            lines += ["", f"Params: {len(bad)} of {len(result.params)} differ"]
            lines += table(
                ["param", "recorded", "replayed", ""],
                [[p.name, p.recorded or "-", p.replayed or "-", p.status.upper()] for p in bad],
            )
    lines += ["", _verdict_line(result)]
    return "\n".join(clean(line) for line in lines) + "\n"


def _finite(value: float | None) -> float | str | None:
    """JSON has no NaN or infinity: those go out as strings."""
    if value is None or math.isfinite(value):
        return value
    return str(value)


def as_dict(result: Reproduction) -> dict[str, Any]:
    return {
        "version": 1,
        "run_id": result.run_id,
        "run_name": result.run_name,
        "experiment": result.experiment,
        "tracking_uri": result.tracking_uri,
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "reason": result.reason,
        "preflight": [
            {"check": c.name, "status": c.status, "summary": c.summary, "details": list(c.details)}
            for c in result.checks
        ],
        "replay": None
        if result.replay is None
        else {
            "env": result.replay.env,
            "python": result.replay.python,
            "command": result.replay.command,
            "workdir": result.replay.workdir,
            "returncode": result.replay.returncode,
            "seconds": round(result.replay.seconds, 3),
            "run_id": result.replay_run_id,
            "output_tail": result.replay.output_tail if result.replay.returncode else "",
        },
        "tolerance": {"rtol": result.tolerance.rtol, "atol": result.tolerance.atol},
        "metrics": [
            {
                "name": m.name,
                "recorded": _finite(m.recorded),
                "replayed": _finite(m.replayed),
                "abs_diff": _finite(m.abs_diff),
                "rel_diff": _finite(m.rel_diff),
                "rtol": m.tolerance.rtol,
                "atol": m.tolerance.atol,
                "status": m.status,
                "first_divergent_step": result.divergence.get(m.name),
            }
            for m in result.metrics
        ],
        "params": [
            {"name": p.name, "recorded": p.recorded, "replayed": p.replayed, "status": p.status}
            for p in result.params
        ],
    }


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def render_json(result: Reproduction) -> str:
    return json.dumps(_redacted(as_dict(result)), indent=2) + "\n"


def render(fmt: str, result: Reproduction) -> str:
    return render_json(result) if fmt == "json" else render_text(result)


@dataclass(frozen=True)
class Repeat:
    """One repetition of a ``reproducible`` test: its run and what it logged."""

    run_id: str
    params: dict[str, str]
    metrics: dict[str, float]


def render_repeats(
    test: str,
    repeats: Sequence[Repeat],
    comparisons: Sequence[tuple[Sequence[MetricRow], Sequence[ParamRow]]],
    tolerance: Tolerance,
) -> str:
    """The failure message of the ``reproducible`` marker: repetition 1 against each other
    one, only the rows that differ, then the run ids to look at in the MLflow UI."""
    lines = [
        f"{test} is not reproducible: {len(repeats)} runs with the same inputs logged "
        f"different results (default tolerance: {tolerance})"
    ]
    for index, (metrics, params) in enumerate(comparisons, start=2):
        bad_metrics = [m for m in metrics if m.status != "ok"]
        bad_params = [p for p in params if p.status != "ok"]
        if not bad_metrics and not bad_params:
            continue
        lines.append("")
        if bad_metrics:
            lines += table(
                ["metric", "repeat 1", f"repeat {index}", "difference", "tolerance", ""],
                [
                    [
                        m.name,
                        _num(m.recorded),
                        _num(m.replayed),
                        _num(m.abs_diff),
                        str(m.tolerance),
                        m.status.upper(),
                    ]
                    for m in bad_metrics
                ],
            )
        if bad_params:
            lines += table(
                ["param", "repeat 1", f"repeat {index}", ""],
                [
                    [p.name, p.recorded or "-", p.replayed or "-", p.status.upper()]
                    for p in bad_params
                ],
            )
    lines += ["", "runs: " + ", ".join(f"{i}: {r.run_id}" for i, r in enumerate(repeats, 1))]
    lines.append(
        "Seed every source of randomness (random, numpy, torch, data loader workers and "
        "shuffling), or widen the tolerance: @pytest.mark.reproducible(rtol=...)"
    )
    return "\n".join(clean(line) for line in lines)

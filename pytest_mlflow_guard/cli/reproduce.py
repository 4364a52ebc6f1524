"""``mlflow-guard reproduce``: replay a run and compare its metrics."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_mlflow_guard.cli.common import EXIT_OK, Subparsers, split
from pytest_mlflow_guard.errors import GuardError
from pytest_mlflow_guard.redact import redact_text


def add_parser(sub: Subparsers) -> None:
    from pytest_mlflow_guard.reproduce.names import DEFAULT_ATOL, DEFAULT_RTOL

    reproduce = sub.add_parser(
        "reproduce",
        help="replay a run from its commit, command and params, and compare its metrics",
        description="Pre-flight checks, replay in a temporary git worktree, metric comparison. "
        "Exit 0 reproduced, 1 not reproduced, 2 cannot replay.",
    )
    reproduce.add_argument("run_id")
    reproduce.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, else MLflow's")
    reproduce.add_argument(
        "--repo", help="the git repository to replay from (default: the one holding the cwd)"
    )
    reproduce.add_argument(
        "--check-only", action="store_true", help="stop after the pre-flight checks"
    )
    reproduce.add_argument(
        "--print-steps", action="store_true", help="only print the manual replay steps"
    )
    reproduce.add_argument(
        "--env",
        choices=("current", "recorded"),
        default="current",
        help="current interpreter (default), or a fresh virtualenv from the recorded requirements",
    )
    reproduce.add_argument("--python", help="interpreter for the --env recorded virtualenv")
    reproduce.add_argument("--rtol", type=float, default=DEFAULT_RTOL, help="relative tolerance")
    reproduce.add_argument("--atol", type=float, default=DEFAULT_ATOL, help="absolute tolerance")
    reproduce.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="METRIC=ABS|METRIC=PCT%",
        help="per-metric tolerance, e.g. accuracy=0.01 or loss=0.5%%; METRIC may be a glob",
    )
    reproduce.add_argument(
        "--metric", action="append", default=[], metavar="GLOB", help="compare only these"
    )
    reproduce.add_argument(
        "--ignore-metric",
        action="append",
        default=[],
        metavar="GLOB",
        help="metrics not to compare, e.g. timings (system/* always)",
    )
    reproduce.add_argument(
        "--ignore-param", action="append", default=[], metavar="GLOB", help="params not to compare"
    )
    reproduce.add_argument("--timeout", type=float, help="stop the replay after SECONDS")
    reproduce.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    """The report goes to stdout, the replayed command's own output to stderr, so
    ``--format json`` output stays parseable."""
    from pytest_mlflow_guard.reproduce.compare import Tolerance, parse_tolerance
    from pytest_mlflow_guard.reproduce.report import render
    from pytest_mlflow_guard.reproduce.runner import (
        DEFAULT_IGNORED_METRICS,
        ReproduceOptions,
        reproduce_run,
    )

    if args.print_steps:
        return _print_steps(args)
    if args.rtol < 0 or args.atol < 0:
        raise GuardError("--rtol and --atol cannot be negative")
    options = ReproduceOptions(
        run_id=args.run_id,
        tracking_uri=args.tracking_uri,
        repo=Path(args.repo) if args.repo else None,
        env=args.env,
        python=args.python,
        check_only=args.check_only,
        tolerance=Tolerance(rtol=args.rtol, atol=args.atol),
        tolerances=dict(parse_tolerance(spec) for spec in args.tolerance),
        metrics=split(args.metric),
        ignore_metrics=[*DEFAULT_IGNORED_METRICS, *split(args.ignore_metric)],
        ignore_params=split(args.ignore_param),
        timeout_s=args.timeout,
        output=sys.stderr,
    )
    result = reproduce_run(options)
    sys.stdout.write(render(args.format, result))
    return result.exit_code


def _print_steps(args: argparse.Namespace) -> int:
    from pytest_mlflow_guard.mlflow_io import connect
    from pytest_mlflow_guard.mlflow_io import replay as io
    from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri
    from pytest_mlflow_guard.reproduce.steps import shell_steps

    uri = resolved_tracking_uri(args.tracking_uri)
    connect.probe(uri)
    facts = io.fetch_run(uri, args.run_id)
    if facts is None:
        raise GuardError(f"unknown run: {redact_text(uri)} has no run {args.run_id!r}")
    sys.stdout.write(shell_steps(facts, redact_text(uri)))
    return EXIT_OK

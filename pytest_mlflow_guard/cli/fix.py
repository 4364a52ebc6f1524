"""``mlflow-guard fix``: fill what the conventions ask for from what the store already holds.

A dry run by default: the plan is printed and nothing is written (exit 0). ``--apply`` writes
it; exit 1 when some object changed between the plan and its write and was left as it was.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from pytest_mlflow_guard.cli.common import EXIT_FINDINGS, EXIT_OK, Subparsers
from pytest_mlflow_guard.cli.store_args import (
    add_store_arguments,
    check_store_arguments,
    store_options,
)


def add_parser(sub: Subparsers) -> None:
    fix = sub.add_parser(
        "fix",
        help="backfill the team's tags and stage aliases from what MLflow recorded (dry run)",
        description="Fill git.commit, os.user, source.type and model.type from MLflow's own "
        "tags and the logged model, and the staging/production alias of versions in those "
        "stages; never replaces a value that exists. Prints the plan; --apply writes it.",
    )
    add_store_arguments(fix)
    fix.add_argument("--apply", action="store_true", help="write the plan (default: dry run)")
    fix.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from pytest_mlflow_guard.gate.check import CheckOptions, effective_config
    from pytest_mlflow_guard.gate.fix_report import render_json, render_text
    from pytest_mlflow_guard.gate.fixes import plan_fixes
    from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri
    from pytest_mlflow_guard.mlflow_io.connect import bounded_http, probe
    from pytest_mlflow_guard.mlflow_io.readers import open_reader

    check_store_arguments(args)
    options = CheckOptions(**store_options(args))
    config = effective_config(options)
    uri = resolved_tracking_uri(args.tracking_uri)
    probe(uri)
    with bounded_http():
        choice = open_reader(
            uri,
            args.reader or config.reader,
            config.scope,
            workers=args.workers,
            artifacts_server=args.artifacts_server or config.artifacts_server,
        )
        plan = plan_fixes(choice.reader.iter_records(), config, datetime.now(timezone.utc))
    render = render_json if args.format == "json" else render_text
    if not args.apply:
        sys.stdout.write(render(plan, uri, applied=False))
        return EXIT_OK
    from pytest_mlflow_guard.mlflow_io.edit_writer import apply_edits

    written = apply_edits(uri, plan.edits)
    sys.stdout.write(render(plan, uri, applied=True, conflicts=written.conflicts))
    if written.conflicts:  # also where a CI log's reader looks for what went wrong
        count = len(written.conflicts)
        print(f"mlflow-guard: {count} objects changed since the plan: not fixed", file=sys.stderr)
    return EXIT_FINDINGS if written.conflicts else EXIT_OK

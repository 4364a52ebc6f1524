"""``mlflow-guard check``: audit a tracking store against the conventions."""

from __future__ import annotations

import argparse
import sys

from pytest_mlflow_guard.cli.common import EXIT_FINDINGS, EXIT_OK, Subparsers, positive_int, split
from pytest_mlflow_guard.cli.store_args import (
    add_store_arguments,
    check_store_arguments,
    store_options,
)
from pytest_mlflow_guard.errors import GuardError


def add_parser(sub: Subparsers) -> None:
    from pytest_mlflow_guard.gate.reporters import FORMATS

    check = sub.add_parser("check", help="audit a tracking store against the conventions")
    add_store_arguments(check)
    check.add_argument("--select", action="append", help="rule codes or names (comma separated)")
    check.add_argument("--ignore", action="append", help="rule codes or names (comma separated)")
    check.add_argument(
        "--format",
        action="append",
        choices=FORMATS,
        dest="formats",
        help="report format (repeatable; pairs with --output in order)",
    )
    check.add_argument(
        "--output",
        action="append",
        dest="outputs",
        metavar="FILE",
        help="write the matching --format here instead of stdout",
    )
    check.add_argument("--baseline", metavar="FILE", help="report only findings not in FILE")
    check.add_argument(
        "--write-baseline", metavar="FILE", help="record today's findings in FILE and exit 0"
    )
    check.add_argument(
        "--jobs",
        type=positive_int,
        help="processes that read and check a database store's experiments (default: one per "
        f"core, at most 4, for {50_000:,} runs or more; else 1)",
    )
    check.add_argument(
        "--since-last",
        metavar="STATE_FILE",
        help="check only what changed since the check recorded in STATE_FILE, then record this "
        "one there (a missing file means a full check)",
    )
    check.add_argument(
        "--annotate",
        action="store_true",
        help="tag each checked run mlflow_guard.status (pass or fail) and mlflow_guard.findings "
        "(its rule codes), for filtering in the MLflow UI",
    )


def _pairs(formats: list[str] | None, outputs: list[str] | None) -> list[tuple[str, str | None]]:
    formats = formats or ["text"]
    outputs = outputs or []
    if len(outputs) > len(formats):
        raise GuardError(f"--output {outputs[len(formats)]!r} has no --format to go with it")
    pairs = [(fmt, outputs[i] if i < len(outputs) else None) for i, fmt in enumerate(formats)]
    if sum(1 for _, out in pairs if out is None) > 1:
        raise GuardError("only one --format may go to stdout; give the others an --output FILE")
    return pairs


def run(args: argparse.Namespace) -> int:
    from pytest_mlflow_guard.config import find_pyproject
    from pytest_mlflow_guard.gate import report_files
    from pytest_mlflow_guard.gate.check import CheckOptions, run_check, stderr_if_tty
    from pytest_mlflow_guard.gate.reporters import render_chunks
    from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri

    pairs = _pairs(args.formats, args.outputs)
    check_store_arguments(args)
    if args.annotate and (args.select or args.ignore):
        # the tags say "this run passes the conventions": a check of some rules cannot say that
        option = "--select" if args.select else "--ignore"
        value = ",".join(args.select or args.ignore)
        raise GuardError(
            f"--annotate records the whole check's verdict on each run: not with {option} "
            f"{value!r} (select and ignore rules in the config instead)"
        )
    # every file this command will write is checked before the (possibly long) read of the
    # store: never the store itself, never half a file
    config_file = args.config or find_pyproject()
    protected = report_files.protected_for(resolved_tracking_uri(args.tracking_uri), config_file)
    targets = [("--output", out) for _, out in pairs if out is not None]
    if args.write_baseline:
        targets.append(("--write-baseline", args.write_baseline))
    if args.since_last:
        targets.append(("--since-last", args.since_last))
    report_files.check_targets(targets, protected)
    if args.since_last:  # an existing file that is not a state file is refused now, kept as is
        from pytest_mlflow_guard.gate.state import load_since

        load_since(args.since_last, "")
    options = CheckOptions(
        **store_options(args),
        select=split(args.select),
        ignore=split(args.ignore),
        baseline=args.baseline,
        collect_objects=any(fmt == "junit" for fmt, _ in pairs),
        progress=stderr_if_tty(),
        since_last=args.since_last,
        jobs=args.jobs or 0,
        annotate_runs={} if args.annotate else None,
    )
    report = run_check(options, write_baseline_to=args.write_baseline)
    for fmt, out in pairs:
        color = out is None and fmt == "text" and sys.stdout.isatty()
        chunks = render_chunks(fmt, report, color=color)
        if out is None:
            sys.stdout.writelines(chunks)
        else:
            report_files.write_chunks(out, chunks)
    if args.since_last and report.started_at is not None:
        # recorded only now that the reports are out: a check whose report was lost is done again
        from pytest_mlflow_guard.gate.state import save_state

        save_state(args.since_last, report.tracking_uri, report.started_at)
    if options.annotate_runs is not None:
        from pytest_mlflow_guard.display import clean
        from pytest_mlflow_guard.gate.check import annotate

        for line in annotate(args.tracking_uri, options.annotate_runs, report.findings):
            print(f"mlflow-guard: {clean(line)}", file=sys.stderr)  # clean() redacts
    if args.write_baseline:
        return EXIT_OK
    return EXIT_FINDINGS if report.summary()["error"] else EXIT_OK

"""``mlflow-guard``: audit a tracking store (``check``), explain rules (``rules``), replay a run
(``reproduce``), show who moved a model's stages and aliases (``history``).

Exit codes: 0 no error-level findings, 1 error-level findings, 2 usage, config or connection
error. MLflow is imported only by the subcommands that need it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.errors import GuardError, environment_error
from pytest_mlflow_guard.redact import redact_text
from pytest_mlflow_guard.vocabulary import ENV_MLFLOW_TRACKING_URI, READERS

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1")
    return value


def _split(values: Sequence[str] | None) -> list[str]:
    """``--select A,B --select C`` -> ``[A, B, C]``."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    from pytest_mlflow_guard.gate.reporters import FORMATS

    parser = argparse.ArgumentParser(prog="mlflow-guard", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="audit a tracking store against the conventions")
    check.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, else MLflow's default")
    check.add_argument(
        "--config", help="a pyproject.toml or TOML file (default: nearest pyproject)"
    )
    check.add_argument(
        "--experiment",
        action="append",
        default=[],
        metavar="GLOB",
        help="only experiments whose name matches (repeatable)",
    )
    check.add_argument(
        "--since", help="only runs started since DATE (YYYY-MM-DD) or an age (7d, 12h)"
    )
    check.add_argument(
        "--status",
        action="append",
        default=[],
        help="only runs in these statuses (RUNNING, FINISHED, FAILED, KILLED)",
    )
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
        "--artifacts-server",
        metavar="URL",
        help="the mlflow server that serves the store's mlflow-artifacts: URIs, when "
        "--tracking-uri is its database (default: artifacts-server in the config)",
    )
    check.add_argument(
        "--workers", type=_positive_int, default=8, help="concurrent artifact reads (>= 1)"
    )
    check.add_argument(
        "--reader",
        choices=READERS,
        help="how to read the store: sql (a database URI, read-only SQL), api (MLflow's "
        "client), auto (sql where the schema revision is tested; default: reader in the config)",
    )
    check.add_argument(
        "--jobs",
        type=_positive_int,
        help="processes that read and check a database store's experiments (default: one per "
        f"core, at most 4, for {50_000:,} runs or more; else 1)",
    )
    check.add_argument(
        "--since-last",
        metavar="STATE_FILE",
        help="check only what changed since the check recorded in STATE_FILE, then record this "
        "one there (a missing file means a full check)",
    )

    rules = sub.add_parser("rules", help="list the rules, or explain one")
    rules.add_argument("rule", nargs="?", help="a rule code or name, e.g. MLG201")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    _add_reproduce(sub)

    history = sub.add_parser(
        "history",
        help="who moved a registered model's versions between stages and aliases, and when",
        description="The audit trail the tracking-server app records (mlflow server "
        "--app-name mlflow-guard), read from the server's URL or its database.",
    )
    history.add_argument("model", help="the registered model's name")
    history.add_argument("--version", help="only the changes of this version")
    history.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, else MLflow's")
    history.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def _add_reproduce(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _pairs(formats: list[str] | None, outputs: list[str] | None) -> list[tuple[str, str | None]]:
    formats = formats or ["text"]
    outputs = outputs or []
    if len(outputs) > len(formats):
        raise GuardError(f"--output {outputs[len(formats)]!r} has no --format to go with it")
    pairs = [(fmt, outputs[i] if i < len(outputs) else None) for i, fmt in enumerate(formats)]
    if sum(1 for _, out in pairs if out is None) > 1:
        raise GuardError("only one --format may go to stdout; give the others an --output FILE")
    return pairs


def cmd_check(args: argparse.Namespace) -> int:
    from pytest_mlflow_guard.config import find_pyproject
    from pytest_mlflow_guard.gate import report_files
    from pytest_mlflow_guard.gate.check import CheckOptions, run_check, stderr_if_tty
    from pytest_mlflow_guard.gate.reporters import render_chunks
    from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri
    from pytest_mlflow_guard.mlflow_io.connect import check_uri
    from pytest_mlflow_guard.mlflow_io.scope import since_datetime

    pairs = _pairs(args.formats, args.outputs)
    # bad values are refused here, naming the option, before anything is read or written
    for option, value in (
        ("--tracking-uri", args.tracking_uri),
        ("--artifacts-server", args.artifacts_server),
    ):
        if value is not None:
            check_uri(option, value)
    if args.tracking_uri is None and os.environ.get(ENV_MLFLOW_TRACKING_URI):
        check_uri(ENV_MLFLOW_TRACKING_URI, os.environ[ENV_MLFLOW_TRACKING_URI])
    since_datetime(args.since, where="--since")
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
        tracking_uri=args.tracking_uri,
        config_path=args.config,
        experiments=args.experiment,
        since=args.since,
        statuses=_split(args.status),
        select=_split(args.select),
        ignore=_split(args.ignore),
        baseline=args.baseline,
        collect_objects=any(fmt == "junit" for fmt, _ in pairs),
        workers=args.workers,
        progress=stderr_if_tty(),
        artifacts_server=args.artifacts_server,
        reader=args.reader,
        since_last=args.since_last,
        jobs=args.jobs or 0,
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
    if args.write_baseline:
        return EXIT_OK
    return EXIT_FINDINGS if report.summary()["error"] else EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    from pytest_mlflow_guard.gate.rules import get_rule, rule_infos

    infos = rule_infos()
    if args.rule:
        rule = get_rule(args.rule)
        infos = [info for info in infos if info.code == rule.code]
    if args.format == "json":
        rows = [
            {"code": i.code, "name": i.name, "severity": i.default_severity, "summary": i.summary}
            | ({"doc": i.doc} if args.rule else {})
            for i in infos
        ]
        print(json.dumps(rows, indent=2))
    elif args.format == "markdown":
        print("| code | name | default | what it checks |\n|---|---|---|---|")
        for i in infos:
            print(f"| {i.code} | {i.name} | {i.default_severity} | {i.summary} |")
    elif args.rule:
        info = infos[0]
        print(f"{info.code} {info.name} (default: {info.default_severity})\n\n{info.doc}")
    else:
        width = max(len(i.name) for i in infos)
        for i in infos:
            print(f"{i.code}  {i.name:<{width}}  {i.default_severity:<7}  {i.summary}")
    return EXIT_OK


def cmd_reproduce(args: argparse.Namespace) -> int:
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
        metrics=_split(args.metric),
        ignore_metrics=[*DEFAULT_IGNORED_METRICS, *_split(args.ignore_metric)],
        ignore_params=_split(args.ignore_param),
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


def cmd_history(args: argparse.Namespace) -> int:
    from pytest_mlflow_guard.audit import format_json, format_text
    from pytest_mlflow_guard.mlflow_io import connect
    from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri
    from pytest_mlflow_guard.mlflow_io.history import read_history

    uri = resolved_tracking_uri(args.tracking_uri)
    connect.probe(uri)
    entries = read_history(uri, args.model, args.version)
    render = format_json if args.format == "json" else format_text
    sys.stdout.write(render(args.model, entries))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {
        "check": cmd_check,
        "rules": cmd_rules,
        "reproduce": cmd_reproduce,
        "history": cmd_history,
    }
    try:
        return handlers[args.command](args)
    except GuardError as exc:
        print(f"mlflow-guard: error: {clean(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mlflow-guard: interrupted", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        message = environment_error(exc)
        if message is None:  # a bug: keep the traceback
            raise
        print(f"mlflow-guard: error: {clean(message)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

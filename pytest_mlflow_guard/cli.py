"""``mlflow-guard``: audit a tracking store (``check``), explain rules (``rules``), replay a run
(``reproduce``).

Exit codes: 0 no error-level findings, 1 error-level findings, 2 usage, config or connection
error. MLflow is imported only by the subcommands that need it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import GuardError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def _split(values: Sequence[str] | None) -> list[str]:
    """``--select A,B --select C`` -> ``[A, B, C]``."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    from .reporters import FORMATS

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
    check.add_argument("--workers", type=int, default=8, help="concurrent artifact reads")

    rules = sub.add_parser("rules", help="list the rules, or explain one")
    rules.add_argument("rule", nargs="?", help="a rule code or name, e.g. MLG201")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    reproduce = sub.add_parser("reproduce", help="print the steps that replay a run")
    reproduce.add_argument("run_id")
    reproduce.add_argument("--tracking-uri")
    return parser


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
    from .gate import CheckOptions, run_check, stderr_if_tty
    from .reporters import render

    pairs = _pairs(args.formats, args.outputs)
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
    )
    report = run_check(options, write_baseline_to=args.write_baseline)
    for fmt, out in pairs:
        color = out is None and fmt == "text" and sys.stdout.isatty()
        text = render(fmt, report, color=color)
        if out is None:
            sys.stdout.write(text)
        else:
            Path(out).write_text(text, encoding="utf-8")
    if args.write_baseline:
        return EXIT_OK
    return EXIT_FINDINGS if report.summary()["error"] else EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    from .rules import get_rule, rule_infos

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
    from .reproduce import reproduction_steps

    print(reproduction_steps(args.run_id, args.tracking_uri))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"check": cmd_check, "rules": cmd_rules, "reproduce": cmd_reproduce}
    try:
        return handlers[args.command](args)
    except GuardError as exc:
        print(f"mlflow-guard: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        # MLflow's own errors (unsupported URI scheme, store schema too new...) are usage or
        # connection problems for us; anything else is a bug and keeps its traceback.
        if type(exc).__name__ != "MlflowException":
            raise
        print(f"mlflow-guard: error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mlflow-guard: interrupted", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())

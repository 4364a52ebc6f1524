"""``mlflow-guard lint PATH...``: check Python source for literal names and tag values that break
the conventions, before they reach a store (also the pre-commit hook, ``.pre-commit-hooks.yaml``).

Exit codes as ``check``: 1 when any error-level finding, 0 otherwise (warnings are printed but
pass), 2 for a path that does not exist, a file that is not Python source or was not read (not a
regular file: a device, a named pipe; larger than 8 MiB), or a bad config.
"""

from __future__ import annotations

import argparse
import json
import sys

from pytest_mlflow_guard.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, Subparsers

FORMATS = ("text", "json")


def add_parser(sub: Subparsers) -> None:
    lint = sub.add_parser(
        "lint", help="check Python source for literal names and tag values against the conventions"
    )
    lint.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders to walk for *.py")
    lint.add_argument("--config", help="a pyproject.toml or TOML file (default: nearest pyproject)")
    lint.add_argument("--format", choices=FORMATS, default="text")


def run(args: argparse.Namespace) -> int:
    from pytest_mlflow_guard.config import load_config
    from pytest_mlflow_guard.display import clean
    from pytest_mlflow_guard.gate.reporters._common import plural
    from pytest_mlflow_guard.lint import Checker, LintFinding, SourceError, lint_file, python_files

    checker = Checker(load_config(args.config))
    files = python_files(args.paths)  # every path is checked to exist before any is read
    findings: list[LintFinding] = []
    broken = 0
    for path in files:
        try:
            findings.extend(lint_file(path, checker))
        except SourceError as exc:
            # the other files are still linted: one broken file must not hide their findings
            print(f"mlflow-guard: error: {clean(exc)}", file=sys.stderr)
            broken += 1
    errors = sum(1 for finding in findings if finding.severity == "error")
    if args.format == "json":
        # json.dumps escapes every control character: the literals are shown as written
        print(json.dumps([finding.as_dict() for finding in findings], indent=2))
    else:
        for f in findings:
            print(f"{clean(f.path)}:{f.line}:{f.col}: {f.code} {f.name} {clean(f.message)}")
        counts = (
            f"{plural(errors, 'error')}, {plural(len(findings) - errors, 'warning')}"
            if findings
            else "no findings"
        )
        unread = f" ({broken} not read: see the errors above)" if broken else ""
        print(f"mlflow-guard lint: {counts} in {plural(len(files), 'file')}{unread}")
    if broken:
        return EXIT_USAGE
    return EXIT_FINDINGS if errors else EXIT_OK

"""``mlflow-guard``: audit a tracking store (``check``), fill what can be derived (``fix``), lint
Python source (``lint``), explain rules (``rules``), replay a run (``reproduce``), show who moved a
model's stages and aliases (``history``), print or check the config schema (``config``).

Exit codes: 0 no error-level findings, 1 error-level findings, 2 usage, config or connection
error. MLflow is imported only by the subcommands that need it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from pytest_mlflow_guard.cli import check, config, fix, history, lint, reproduce, rules
from pytest_mlflow_guard.cli.common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, Subparsers
from pytest_mlflow_guard.display import clean
from pytest_mlflow_guard.errors import GuardError, environment_error

__all__ = ["EXIT_FINDINGS", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


class Command(Protocol):
    """A subcommand module (mypy checks each module against this)."""

    def add_parser(self, sub: Subparsers) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


#: subcommand name -> its module (``add_parser(sub)``, ``run(args)``), in ``--help`` order
COMMANDS: dict[str, Command] = {
    "check": check,
    "fix": fix,
    "lint": lint,
    "rules": rules,
    "reproduce": reproduce,
    "history": history,
    "config": config,
}


def build_parser() -> argparse.ArgumentParser:
    description = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="mlflow-guard", description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
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

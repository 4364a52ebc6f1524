"""``mlflow-guard config``: print the JSON Schema of ``[tool.mlflow-guard]`` (``schema``), or
check a file's table the way ``mlflow-guard check`` would at start-up (``check``)."""

from __future__ import annotations

import argparse
import sys

from pytest_mlflow_guard.cli.common import EXIT_OK, Subparsers
from pytest_mlflow_guard.config import GuardConfig, load_config


def add_parser(sub: Subparsers) -> None:
    parser = sub.add_parser("config", help="the configuration's JSON Schema, or check a config")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    actions.add_parser(
        "schema", help="print the JSON Schema of [tool.mlflow-guard] (for editors and CI)"
    )
    check = actions.add_parser(
        "check", help="load a [tool.mlflow-guard] table and report the first error, if any"
    )
    check.add_argument(
        "file",
        nargs="?",
        help="a pyproject.toml or a bare TOML file (default: the nearest pyproject.toml that "
        "has the table)",
    )


def validated(config: GuardConfig) -> GuardConfig:
    """``config``, once what is only checked when a check starts holds too: every rule code or
    name in it exists (``Engine`` refuses unknown ones) and ``scope.since`` is a date or an age.
    A ``ConfigError`` naming the key otherwise."""
    from pytest_mlflow_guard.gate.engine import Engine
    from pytest_mlflow_guard.mlflow_io.scope import since_datetime

    Engine(config)
    since_datetime(config.scope.since)
    return config


def run(args: argparse.Namespace) -> int:
    if args.config_command == "schema":
        from pytest_mlflow_guard.gate.config_schema import render

        sys.stdout.write(render())
        return EXIT_OK
    # a ConfigError propagates: main prints it and exits 2, like every other command
    config = validated(load_config(args.file))
    if config.source is None:
        print("no [tool.mlflow-guard] table found: the defaults apply")
    else:
        print(f"{config.source}: ok")
    return EXIT_OK

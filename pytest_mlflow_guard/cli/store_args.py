"""The options that say which store and which part of it a command reads (``check``, ``fix``),
and their validation: one definition, so the two commands cannot drift apart."""

from __future__ import annotations

import argparse
import os
from typing import TypedDict

from pytest_mlflow_guard.cli.common import positive_int, split
from pytest_mlflow_guard.vocabulary import ENV_MLFLOW_TRACKING_URI, READERS


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tracking-uri", help="default: MLFLOW_TRACKING_URI, else MLflow's default"
    )
    parser.add_argument(
        "--config", help="a pyproject.toml or TOML file (default: nearest pyproject)"
    )
    parser.add_argument(
        "--experiment",
        action="append",
        default=[],
        metavar="GLOB",
        help="only experiments whose name matches (repeatable)",
    )
    parser.add_argument(
        "--since", help="only runs started since DATE (YYYY-MM-DD) or an age (7d, 12h)"
    )
    parser.add_argument(
        "--status",
        action="append",
        default=[],
        help="only runs in these statuses (RUNNING, FINISHED, FAILED, KILLED)",
    )
    parser.add_argument(
        "--workspace",
        action="append",
        default=[],
        metavar="NAME",
        help="only this MLflow workspace (repeatable; default: every workspace of the store)",
    )
    parser.add_argument(
        "--artifacts-server",
        metavar="URL",
        help="the mlflow server that serves the store's mlflow-artifacts: URIs, when "
        "--tracking-uri is its database (default: artifacts-server in the config)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=8, help="concurrent artifact reads (>= 1)"
    )
    parser.add_argument(
        "--reader",
        choices=READERS,
        help="how to read the store: sql (a database URI, read-only SQL), api (MLflow's "
        "client), auto (sql where the schema revision is tested; default: reader in the config)",
    )


def check_store_arguments(args: argparse.Namespace) -> None:
    """Refuse bad values here, naming the option, before anything is read or written."""
    from pytest_mlflow_guard.config import check_workspace_name
    from pytest_mlflow_guard.mlflow_io.connect import check_uri
    from pytest_mlflow_guard.mlflow_io.scope import since_datetime

    for option, value in (
        ("--tracking-uri", args.tracking_uri),
        ("--artifacts-server", args.artifacts_server),
    ):
        if value is not None:
            check_uri(option, value)
    if args.tracking_uri is None and os.environ.get(ENV_MLFLOW_TRACKING_URI):
        check_uri(ENV_MLFLOW_TRACKING_URI, os.environ[ENV_MLFLOW_TRACKING_URI])
    since_datetime(args.since, where="--since")
    for name in args.workspace:
        check_workspace_name(name, "--workspace")


class StoreOptions(TypedDict):
    tracking_uri: str | None
    config_path: str | None
    experiments: list[str]
    since: str | None
    statuses: list[str]
    workers: int
    artifacts_server: str | None
    reader: str | None
    workspaces: list[str]


def store_options(args: argparse.Namespace) -> StoreOptions:
    """``CheckOptions`` keyword arguments for these options."""
    return {
        "tracking_uri": args.tracking_uri,
        "config_path": args.config,
        "experiments": args.experiment,
        "since": args.since,
        "statuses": split(args.status),
        "workers": args.workers,
        "artifacts_server": args.artifacts_server,
        "reader": args.reader,
        "workspaces": args.workspace,
    }

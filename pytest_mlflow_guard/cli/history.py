"""``mlflow-guard history``: who moved a registered model between stages and aliases."""

from __future__ import annotations

import argparse
import sys

from pytest_mlflow_guard.cli.common import EXIT_OK, Subparsers


def add_parser(sub: Subparsers) -> None:
    history = sub.add_parser(
        "history",
        help="who moved a registered model's versions between stages and aliases, and when",
        description="The audit trail the tracking-server app records (mlflow server "
        "--app-name mlflow-guard), read from the server's URL or its database.",
    )
    history.add_argument("model", help="the registered model's name")
    history.add_argument("--version", help="only the changes of this version")
    history.add_argument("--tracking-uri", help="default: MLFLOW_TRACKING_URI, else MLflow's")
    history.add_argument(
        "--workspace",
        metavar="NAME",
        help="the MLflow workspace the model is in (a store with workspaces; default: default)",
    )
    history.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from pytest_mlflow_guard.audit import format_json, format_text
    from pytest_mlflow_guard.config import check_workspace_name
    from pytest_mlflow_guard.mlflow_io import connect
    from pytest_mlflow_guard.mlflow_io.clients import resolved_tracking_uri
    from pytest_mlflow_guard.mlflow_io.history import read_history

    if args.workspace is not None:
        check_workspace_name(args.workspace, "--workspace")
    uri = resolved_tracking_uri(args.tracking_uri)
    connect.probe(uri)
    entries = read_history(uri, args.model, args.version, args.workspace)
    render = format_json if args.format == "json" else format_text
    sys.stdout.write(render(args.model, entries))
    return EXIT_OK

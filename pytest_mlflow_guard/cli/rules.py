"""``mlflow-guard rules``: list the rules, or explain one."""

from __future__ import annotations

import argparse
import json

from pytest_mlflow_guard.cli.common import EXIT_OK, Subparsers


def add_parser(sub: Subparsers) -> None:
    rules = sub.add_parser("rules", help="list the rules, or explain one")
    rules.add_argument("rule", nargs="?", help="a rule code or name, e.g. MLG201")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")


def run(args: argparse.Namespace) -> int:
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

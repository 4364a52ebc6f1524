"""What every subcommand module shares: exit codes and argument types.

Each subcommand is a module with ``add_parser(sub)`` and ``run(args) -> int``; the package's
``main`` assembles them, so a new command is a new module, not an edit of a long file.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TypeAlias

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1")
    return value


def split(values: Sequence[str] | None) -> list[str]:
    """``--select A,B --select C`` -> ``[A, B, C]``."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]

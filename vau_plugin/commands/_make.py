"""What the `make-*` commands share: OUT, --seed and --force, a bench's clip counts, and how they report (what they
wrote on stdout, or one line on stderr and exit status 1 when they refuse)."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

FORCE_HELP = "write into OUT even when it already holds files (those of the same names are replaced)"
# What a `make-*` command turns into one line on stderr and exit 1: a folder it must not write into, bad arguments.
REFUSALS = (FileExistsError, NotADirectoryError, ValueError)


def add_output_arguments(parser: argparse.ArgumentParser, command: str, description: str | None = None) -> None:
    """OUT, --seed and --force on the parser of `command`; its description is `description`, else the command's
    line in `vau-plugin --help` (`vau_plugin.cli.COMMANDS`)."""
    from vau_plugin.cli import COMMANDS

    parser.description = COMMANDS[command][1] if description is None else description
    parser.add_argument("out", help="output directory (new or empty, unless --force)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help=FORCE_HELP)


def add_clip_counts(parser: argparse.ArgumentParser, *, train: int, test: int) -> None:
    """--train and --test: how many clips a bench writes for each split (`train`, `test`: the defaults)."""
    parser.add_argument("--train", type=int, default=train, help="number of training clips")
    parser.add_argument("--test", type=int, default=test, help="number of held-out clips")


def refused(command: str, error: Exception) -> int:
    """One line on stderr for a refused or impossible output folder; exit status 1 (as `vau-plugin recipes`)."""
    print(f"vau-plugin {command}: {error}", file=sys.stderr)
    return 1


def make(command: str, build: Callable[[], str], refusals: tuple[type[Exception], ...] = REFUSALS) -> int:
    """Run `build` (it writes the output and returns what to print); `refusals` become `refused(command, error)`."""
    try:
        report = build()
    except refusals as error:
        return refused(command, error)
    print(report)
    return 0

"""`vau-plugin demo [--workdir DIR]` (`make demo`): see `vau_plugin.demo`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workdir", default=".demo")


def run(args: argparse.Namespace) -> int:
    from vau_plugin.demo import run_demo

    return run_demo(args.workdir)

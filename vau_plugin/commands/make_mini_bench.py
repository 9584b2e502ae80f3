"""`vau-plugin make-mini-bench OUT`: the synthetic mini bench (`vau_plugin.benches.mini`)."""

from __future__ import annotations

import argparse

from vau_plugin.commands._make import add_clip_counts, add_output_arguments, make

COMMAND = "make-mini-bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser, COMMAND)
    add_clip_counts(parser, train=16, test=12)


def run(args: argparse.Namespace) -> int:
    from vau_plugin.benches.mini import make_mini_bench

    return make(COMMAND, lambda: make_mini_bench(
        args.out, seed=args.seed, n_train=args.train, n_test=args.test, overwrite=args.force).describe())  # fmt: skip

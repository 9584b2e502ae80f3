"""`vau-plugin make-motion-bench OUT`: the synthetic motion-dependent bench (`vau_plugin.benches.motion`)."""

from __future__ import annotations

import argparse

from vau_plugin.commands._make import add_clip_counts, add_output_arguments, make

COMMAND = "make-motion-bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser, COMMAND)
    add_clip_counts(parser, train=400, test=200)


def run(args: argparse.Namespace) -> int:
    from vau_plugin.benches.motion import make_motion_bench

    return make(COMMAND, lambda: make_motion_bench(
        args.out, seed=args.seed, n_train=args.train, n_test=args.test, overwrite=args.force).describe())  # fmt: skip

"""`vau-plugin make-colour-bench OUT`: the colour bench (`vau_plugin.benches.colour`)."""

from __future__ import annotations

import argparse

from vau_plugin.commands._make import add_clip_counts, add_output_arguments, make

COMMAND = "make-colour-bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser, COMMAND)
    add_clip_counts(parser, train=64, test=40)


def run(args: argparse.Namespace) -> int:
    from vau_plugin.benches.colour import make_colour_bench

    def build() -> str:
        bench = make_colour_bench(args.out, n_train=args.train, n_test=args.test, seed=args.seed, overwrite=args.force)
        return f"colour bench written to {bench.root}: {args.train} train / {args.test} test clips, control labels in {bench.control}"

    return make(COMMAND, build)

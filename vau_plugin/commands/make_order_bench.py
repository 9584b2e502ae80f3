"""`vau-plugin make-order-bench OUT`: the order bench (`vau_plugin.benches.order`)."""

from __future__ import annotations

import argparse

from vau_plugin.commands._make import add_clip_counts, add_output_arguments, make

COMMAND = "make-order-bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_output_arguments(parser, COMMAND)
    add_clip_counts(parser, train=300, test=200)
    # No `choices` for --tier: make_order_bench's ValueError names the tiers, and the refusal exits 1 like the others.
    parser.add_argument("--tier", default="large", help="large (28-px square, one video token) or small (14 px)")
    parser.add_argument("--val", type=int, default=100, help="number of validation clips (for sweeps)")
    parser.add_argument("--heldout", type=int, default=0,
                        help="number of clips on path offsets no other split uses (heldout.csv; default none)")


def run(args: argparse.Namespace) -> int:
    from vau_plugin.benches.order import make_order_bench

    return make(COMMAND, lambda: make_order_bench(
        args.out, tier=args.tier, n_train=args.train, n_val=args.val, n_test=args.test, n_heldout=args.heldout, seed=args.seed,
        overwrite=args.force).describe())  # fmt: skip

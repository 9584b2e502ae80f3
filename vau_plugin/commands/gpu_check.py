"""`vau-plugin gpu-check [--workdir DIR] [--steps N] [--no-grpo-bench]` (`make gpu-check`): see `vau_plugin.gpu_check`."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vau_plugin.gpu_check import TRAIN_STEPS

    parser.add_argument("--workdir", default=".gpu-check", help="where the model, data, checkpoints and gpu_check.json go")
    parser.add_argument("--steps", type=int, default=TRAIN_STEPS, help="optimizer steps of each training run")
    parser.add_argument("--no-grpo-bench", action="store_true", help="skip the GRPO step timing against bare TRL")


def run(args: argparse.Namespace) -> int:
    from vau_plugin.gpu_check import run_gpu_check

    return run_gpu_check(args.workdir, args.steps, grpo_bench=not args.no_grpo_bench)

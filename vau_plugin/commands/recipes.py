"""`vau-plugin recipes DIR [--workdir DEMO_DIR] [--force]`: copy the shipped recipes out (`vau_plugin.recipes`)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", help="destination directory")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.add_argument(
        "--workdir",
        default=None,
        help="a `vau-plugin demo` folder (e.g. .demo): the _tiny recipes get absolute paths into it (tiny_model, "
        "data, out), so they run from any working directory; without it they read .demo/ from the working directory",
    )


def run(args: argparse.Namespace) -> int:
    """Exit status 0 with the copied files on stdout, 1 with one message on stderr when they cannot be written."""
    from vau_plugin.recipes import copy_recipes, demo_advice, unmet_tiny_recipes

    workdir = args.workdir
    try:
        copied = copy_recipes(args.dir, overwrite=args.force, workdir=workdir)
    except (FileExistsError, OSError) as err:
        print(f"vau-plugin recipes: {err}", file=sys.stderr)
        return 1
    for path in copied:
        print(path)
    for name, missing in (unmet_tiny_recipes(workdir) if workdir is not None else {}).items():
        print(f"vau-plugin recipes: {name} not written: {'; '.join(missing)} ({demo_advice(workdir)})", file=sys.stderr)
    if workdir is None:
        print("vau-plugin recipes: the *_tiny.yaml recipes read .demo/ from the working directory; pass --workdir "
              "PATH/TO/.demo to write absolute paths", file=sys.stderr)
    return 0

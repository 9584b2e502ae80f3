"""`vau-plugin make-tiny-model OUT [--arch ...]`: a tiny random-initialised checkpoint (`vau_plugin.tiny_model`)."""

from __future__ import annotations

import argparse

from vau_plugin.commands._make import add_output_arguments, make

COMMAND = "make-tiny-model"


def tiny_model_help(archs: dict) -> str:
    """The one-line help of `make-tiny-model`, naming every architecture of `archs` (tiny_model.ARCHS)."""
    *others, last = [arch.title for arch in archs.values()]
    return f"write a tiny random-initialised checkpoint ({', '.join(others) + ' or ' if others else ''}{last})"


def arch_help(archs: dict, default: str) -> str:
    """The help of `--arch`: each name of `archs` (tiny_model.ARCHS) with its family, the default marked; read
    from the table so a new architecture cannot be left out."""
    names = [f"{name} ({arch.title}{', the default' if name == default else ''})" for name, arch in archs.items()]
    return "architecture: " + ", ".join(names)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vau_plugin.tiny_model import ARCHS, DEFAULT_ARCH  # light: transformers is imported only when building

    add_output_arguments(parser, COMMAND, description=tiny_model_help(ARCHS))
    parser.add_argument("--arch", choices=tuple(ARCHS), default=DEFAULT_ARCH, help=arch_help(ARCHS, DEFAULT_ARCH))


def run(args: argparse.Namespace) -> int:
    from vau_plugin.tiny_model import get_arch, make_tiny_model

    return make(COMMAND, lambda: f"tiny {get_arch(args.arch).title} checkpoint written to "
                f"{make_tiny_model(args.out, seed=args.seed, overwrite=args.force, arch=args.arch)}",
                refusals=(FileExistsError, NotADirectoryError))  # fmt: skip

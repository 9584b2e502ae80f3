"""LLaMA-Factory recipes for VAU-R1 (GRPO and SFT), shipped in the wheel as `vau_plugin.recipes`.

`vau-plugin recipes DIR` copies them out; then `llamafactory-cli train DIR/vau_r1_grpo.yaml` (after
`vau-plugin prepare ... --out data/vau_r1`). The `_tiny` recipes run on a CPU in a few minutes with the tiny
model and the mini bench, from a working directory where `vau-plugin demo` (or `make demo`) created
`.demo/tiny_model` and `.demo/data`.
"""

from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path
from typing import Union

RECIPE_SUFFIXES = (".yaml", ".json")


def recipe_names() -> list[str]:
    """recipe_names() -> the file names of the shipped recipes (YAMLs and the DeepSpeed config), sorted."""
    root = resources.files(__name__)
    return sorted(p.name for p in root.iterdir() if p.name.endswith(RECIPE_SUFFIXES))


def recipe_path(name: str) -> Path:
    """recipe_path(name) -> the path of a shipped recipe, e.g. recipe_path("vau_r1_grpo_tiny.yaml")."""
    if name not in recipe_names():
        raise FileNotFoundError(f"no shipped recipe {name!r}; available: {', '.join(recipe_names())}")
    return Path(str(resources.files(__name__).joinpath(name)))


def copy_recipes(dest: Union[str, Path], *, overwrite: bool = False) -> list[Path]:
    """copy_recipes(dest, *, overwrite=False) -> the copied paths. Existing files are kept unless overwrite."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in recipe_names():
        target = dest / name
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists; pass --force to overwrite")
        shutil.copyfile(recipe_path(name), target)
        copied.append(target)
    return copied


def add_recipes_parser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """add_recipes_parser(subparsers) -> the `recipes` sub-command parser (its func is `run_recipes`)."""
    p = subparsers.add_parser("recipes", help="copy the shipped LLaMA-Factory recipes (VAU-R1 GRPO/SFT) into DIR")
    p.add_argument("dir", help="destination directory")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=run_recipes)
    return p


def run_recipes(args: argparse.Namespace) -> int:
    """run_recipes(args) -> exit code; prints the copied files."""
    import sys

    try:
        copied = copy_recipes(args.dir, overwrite=args.force)
    except (FileExistsError, OSError) as err:
        print(f"vau-plugin recipes: {err}", file=sys.stderr)
        return 1
    for path in copied:
        print(path)
    return 0

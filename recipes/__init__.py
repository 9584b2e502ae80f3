"""LLaMA-Factory recipes for VAU-R1 (GRPO and SFT), shipped in the wheel as `vau_plugin.recipes`.

`vau-plugin recipes DIR` copies them out; then `llamafactory-cli train DIR/vau_r1_grpo.yaml` (after
`vau-plugin prepare ... --out data/vau_r1`). Relative paths in a recipe are read from the working directory, as
LLaMA-Factory reads them (not from the YAML's folder). The `_tiny` recipes run on a CPU in a few minutes with the
tiny model and the mini bench: as shipped they read `.demo/tiny_model` and `.demo/data` from a working directory
where `vau-plugin demo` (or `make demo`) ran; `vau-plugin recipes DIR --workdir PATH/.demo` writes them with the
absolute paths of that folder instead, so they run from anywhere (the demo writes such a set into its workdir's
`recipes/`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Optional, Union

RECIPE_SUFFIXES = (".yaml", ".json")
TINY_SUFFIX = "_tiny.yaml"
DEMO_PREFIX = ".demo/"
# In the _tiny recipes: `key: .demo/rest  # comment` -> the key, the path under .demo/, the rest of the line.
_DEMO_VALUE = re.compile(r"^(?P<key>model_name_or_path|dataset_dir|output_dir):[ \t]*\.demo/(?P<rest>\S+)(?P<tail>.*)$",
                         re.MULTILINE)
# What `vau-plugin demo` leaves in its workdir and the _tiny recipes read.
DEMO_FILES = ("tiny_model/config.json", "tiny_qwen3_vl/config.json", "data/dataset_info.json")


def recipe_names() -> list[str]:
    """recipe_names() -> the file names of the shipped recipes (YAMLs and the DeepSpeed config), sorted."""
    root = resources.files(__name__)
    return sorted(p.name for p in root.iterdir() if p.name.endswith(RECIPE_SUFFIXES))


def recipe_path(name: str) -> Path:
    """recipe_path(name) -> the path of a shipped recipe, e.g. recipe_path("vau_r1_grpo_tiny.yaml")."""
    if name not in recipe_names():
        raise FileNotFoundError(f"no shipped recipe {name!r}; available: {', '.join(recipe_names())}")
    return Path(str(resources.files(__name__).joinpath(name)))


def demo_workdir_problems(workdir: Union[str, Path]) -> list[str]:
    """demo_workdir_problems(workdir) -> what the _tiny recipes need and `workdir` lacks (empty when complete)."""
    root = Path(workdir)
    return [f"{root / name} not found" for name in DEMO_FILES if not (root / name).is_file()]


def tiny_recipe_text(text: str, workdir: Union[str, Path]) -> str:
    """tiny_recipe_text(text, workdir) -> a _tiny recipe's text with its `.demo/...` values (model_name_or_path,
    dataset_dir, output_dir) replaced by absolute paths under `workdir`; comments and everything else kept."""
    root = Path(workdir).resolve()

    def absolute(match: re.Match) -> str:
        return f"{match['key']}: {json.dumps(str(root / match['rest']))}{match['tail']}"

    return _DEMO_VALUE.sub(absolute, text)


def copy_recipes(dest: Union[str, Path], *, overwrite: bool = False,
                 workdir: Optional[Union[str, Path]] = None) -> list[Path]:
    """copy_recipes(dest, *, overwrite=False, workdir=None) -> the copied paths. Existing files are kept unless
    overwrite. With `workdir` (a folder laid out as `vau-plugin demo` leaves it: tiny_model/, data/), the _tiny
    recipes get absolute paths into it (`tiny_recipe_text`), so they run from any working directory; raises
    FileNotFoundError when it lacks those files."""
    if workdir is not None:
        problems = demo_workdir_problems(workdir)
        if problems:
            raise FileNotFoundError(
                f"--workdir {workdir}: {'; '.join(problems)} (create them with `vau-plugin demo --workdir {workdir}`)"
            )
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in recipe_names():
        target = dest / name
        if target.exists() and not overwrite:
            raise FileExistsError(f"{target} exists; pass --force to overwrite")
        if workdir is not None and name.endswith(TINY_SUFFIX):
            text = recipe_path(name).read_text(encoding="utf-8")
            target.write_text(tiny_recipe_text(text, workdir), encoding="utf-8")
        else:
            shutil.copyfile(recipe_path(name), target)
        copied.append(target)
    return copied


def add_recipes_parser(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """add_recipes_parser(subparsers) -> the `recipes` sub-command parser (its func is `run_recipes`)."""
    p = subparsers.add_parser("recipes", help="copy the shipped LLaMA-Factory recipes (VAU-R1 GRPO/SFT) into DIR")
    p.add_argument("dir", help="destination directory")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument(
        "--workdir",
        default=None,
        help="a `vau-plugin demo` folder (e.g. .demo): the _tiny recipes get absolute paths into it (tiny_model, "
        "data, out), so they run from any working directory; without it they read .demo/ from the working directory",
    )
    p.set_defaults(func=run_recipes)
    return p


def run_recipes(args: argparse.Namespace) -> int:
    """run_recipes(args) -> exit code; prints the copied files."""
    import sys

    workdir = getattr(args, "workdir", None)
    try:
        copied = copy_recipes(args.dir, overwrite=args.force, workdir=workdir)
    except (FileExistsError, OSError) as err:
        print(f"vau-plugin recipes: {err}", file=sys.stderr)
        return 1
    for path in copied:
        print(path)
    if workdir is None:
        print("vau-plugin recipes: the *_tiny.yaml recipes read .demo/ from the working directory; pass --workdir "
              "PATH/TO/.demo to write absolute paths", file=sys.stderr)
    return 0

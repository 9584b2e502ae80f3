"""LLaMA-Factory recipes for VAU-R1 (GRPO and SFT), shipped in the wheel as `vau_plugin.recipes`.

`vau-plugin recipes DIR` copies them out; then `llamafactory-cli train DIR/vau_r1_grpo.yaml` (after
`vau-plugin prepare ... --out data/vau_r1`). Relative paths in a recipe are read from the working directory, as
LLaMA-Factory reads them (not from the YAML's folder). The `_tiny` recipes run on a CPU in a few minutes with the
tiny model and the mini bench: as shipped they read `.demo/tiny_model` and `.demo/data` from a working directory
where `vau-plugin demo` (or `make demo`) ran; `vau-plugin recipes DIR --workdir PATH/.demo` writes them with the
absolute paths of that folder instead, so they run from anywhere (the demo writes such a set into its workdir's
`recipes/`); a _tiny recipe whose model or data that folder lacks (e.g. `tiny_qwen3_vl/` for a Qwen2.5-VL user) is
left out, with a note saying what it lacks.
"""

from __future__ import annotations

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
# What a _tiny recipe reads under the folder its `.demo/` values point to: key -> the file that must be there.
_DEMO_INPUTS = {"model_name_or_path": "config.json", "dataset_dir": "dataset_info.json"}


def recipe_names() -> list[str]:
    """recipe_names() -> the file names of the shipped recipes (YAMLs and the DeepSpeed config), sorted."""
    root = resources.files(__name__)
    return sorted(p.name for p in root.iterdir() if p.name.endswith(RECIPE_SUFFIXES))


def recipe_path(name: str) -> Path:
    """recipe_path(name) -> the path of a shipped recipe, e.g. recipe_path("vau_r1_grpo_tiny.yaml")."""
    if name not in recipe_names():
        raise FileNotFoundError(f"no shipped recipe {name!r}; available: {', '.join(recipe_names())}")
    return Path(str(resources.files(__name__).joinpath(name)))


def tiny_recipe_needs(text: str, workdir: Union[str, Path]) -> list[Path]:
    """tiny_recipe_needs(text, workdir) -> the files under `workdir` that a _tiny recipe written for it reads: its
    model's config.json (model_name_or_path) and its dataset_info.json (dataset_dir); the run makes its output_dir."""
    root = Path(workdir)
    return [root / m["rest"] / _DEMO_INPUTS[m["key"]] for m in _DEMO_VALUE.finditer(text) if m["key"] in _DEMO_INPUTS]


def unmet_tiny_recipes(workdir: Union[str, Path]) -> dict[str, list[str]]:
    """unmet_tiny_recipes(workdir) -> {name: what it reads and `workdir` lacks} for the _tiny recipes that would not
    run if written for `workdir` (empty when every one would)."""
    unmet = {}
    for name in recipe_names():
        if name.endswith(TINY_SUFFIX):
            needs = tiny_recipe_needs(recipe_path(name).read_text(encoding="utf-8"), workdir)
            missing = [f"{path} not found" for path in needs if not path.is_file()]
            if missing:
                unmet[name] = missing
    return unmet


def tiny_recipe_text(text: str, workdir: Union[str, Path]) -> str:
    """tiny_recipe_text(text, workdir) -> a _tiny recipe's text with its `.demo/...` values (model_name_or_path,
    dataset_dir, output_dir) replaced by absolute paths under `workdir`; comments and everything else kept."""
    root = Path(workdir).resolve()

    def absolute(match: re.Match) -> str:
        return f"{match['key']}: {json.dumps(str(root / match['rest']))}{match['tail']}"

    return _DEMO_VALUE.sub(absolute, text)


def demo_advice(workdir: Union[str, Path]) -> str:
    return f"`vau-plugin demo --workdir {workdir}` makes them"


def copy_recipes(dest: Union[str, Path], *, overwrite: bool = False,
                 workdir: Optional[Union[str, Path]] = None) -> list[Path]:
    """copy_recipes(dest, *, overwrite=False, workdir=None) -> the copied paths. Nothing is written when one of them
    exists, unless overwrite. With `workdir` (a folder laid out as `vau-plugin demo` leaves it), the _tiny recipes
    get absolute paths into it (`tiny_recipe_text`), so they run from any working directory; a _tiny recipe whose
    model or data the folder lacks is not written (`unmet_tiny_recipes` says which); raises FileNotFoundError when
    it lacks what every _tiny recipe reads (then it is no such folder)."""
    unmet = unmet_tiny_recipes(workdir) if workdir is not None else {}
    if unmet and len(unmet) == sum(name.endswith(TINY_SUFFIX) for name in recipe_names()):
        problems = sorted({problem for missing in unmet.values() for problem in missing})
        raise FileNotFoundError(f"--workdir {workdir}: {'; '.join(problems)} ({demo_advice(workdir)})")
    dest = Path(dest)
    names = [name for name in recipe_names() if name not in unmet]
    existing = [str(dest / name) for name in names if (dest / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} exist{'s' if len(existing) == 1 else ''}; pass --force to overwrite")
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in names:
        target = dest / name
        if workdir is not None and name.endswith(TINY_SUFFIX):
            text = recipe_path(name).read_text(encoding="utf-8")
            target.write_text(tiny_recipe_text(text, workdir), encoding="utf-8")
        else:
            shutil.copyfile(recipe_path(name), target)
        copied.append(target)
    return copied

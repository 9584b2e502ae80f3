"""A short GRPO run for `make demo` / `vau-plugin demo`: mini bench → dataset → `llamafactory-cli train`.

`run_grpo_demo(workdir)` uses the layout the `_tiny` recipes expect (relative to `workdir`): `tiny_model/`
(created with `make_tiny_model` if absent), `data/` (prepared from the bundled mini bench), and
`out/vau_r1_grpo_tiny/`. It writes the recipes into `workdir/recipes/` with absolute paths into `workdir`
(`demo_recipes`), so `llamafactory-cli train WORKDIR/recipes/vau_r1_grpo_tiny.yaml` runs again from any folder,
and trains from there through the real CLI in a subprocess, as a user would run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence, Union

GRPO_TINY_RECIPE = "vau_r1_grpo_tiny.yaml"


def llamafactory_cli() -> str:
    """llamafactory_cli() -> path of the `llamafactory-cli` next to this interpreter (else the one on PATH)."""
    beside = Path(sys.executable).with_name("llamafactory-cli")
    found = str(beside) if beside.is_file() else shutil.which("llamafactory-cli")
    if not found:
        raise FileNotFoundError("llamafactory-cli not found; install LLaMA-Factory (pip install llamafactory)")
    return found


def cli_env() -> dict[str, str]:
    """cli_env() -> os.environ with this interpreter's bin folder first on PATH (LLaMA-Factory finds `torchrun`
    by name when it re-launches itself) and the offline/quiet settings a local run wants."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("DISABLE_VERSION_CHECK", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def train(recipe: Union[str, Path], overrides: Optional[dict[str, Any]] = None, *, cwd: Optional[Union[str, Path]] = None,
          env: Optional[dict[str, str]] = None, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """train(recipe, overrides, *, cwd, env, timeout) -> CompletedProcess of `llamafactory-cli train recipe k=v ...`
    (stdout and stderr captured together as text)."""
    args = [llamafactory_cli(), "train", str(recipe)] + [f"{k}={v}" for k, v in (overrides or {}).items()]
    return subprocess.run(
        args, cwd=cwd, env=env or cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )


def reward_history(output_dir: Union[str, Path]) -> list[dict[str, float]]:
    """reward_history(output_dir) -> per logged step {"step", "reward", "rewards/<fn>/mean", ...} from
    trainer_state.json."""
    state = json.loads((Path(output_dir) / "trainer_state.json").read_text(encoding="utf-8"))
    rows = []
    for entry in state.get("log_history", []):
        if "reward" in entry:
            rows.append({k: v for k, v in entry.items() if k == "step" or k == "reward" or k.startswith("rewards/")})
    return rows


def prepare_demo_inputs(workdir: Union[str, Path]) -> dict[str, Path]:
    """prepare_demo_inputs(workdir) -> {"model", "data"}: the tiny model (made once) and the GRPO/SFT datasets
    prepared from the bundled mini bench's train split."""
    from vau_plugin.data.mini_bench import bundled_mini_bench
    from vau_plugin.data.prepare import prepare_dataset
    from vau_plugin.tiny_model import make_tiny_model

    workdir = Path(workdir)
    model_dir = workdir / "tiny_model"
    if not (model_dir / "config.json").is_file():
        make_tiny_model(model_dir, seed=0)
    bench = bundled_mini_bench()
    data_dir = workdir / "data"
    prepare_dataset(bench, bench / "videos", data_dir, split="train")
    return {"model": model_dir, "data": data_dir}


def demo_recipes(workdir: Union[str, Path]) -> Path:
    """demo_recipes(workdir) -> `workdir/recipes`, (re)written with every shipped recipe, the `_tiny` ones with
    absolute paths into `workdir` (tiny_model/, data/, out/), so they run from any working directory. `workdir`
    must hold what `prepare_demo_inputs` makes."""
    from vau_plugin.recipes import copy_recipes

    workdir = Path(workdir).resolve()
    folder = workdir / "recipes"
    copy_recipes(folder, overwrite=True, workdir=workdir)
    return folder


def run_grpo_demo(workdir: Union[str, Path] = ".demo", *, extra: Sequence[str] = ()) -> dict[str, Any]:
    """run_grpo_demo(workdir=".demo") -> {"reward_first", "reward_last", "steps", "output_dir", "rewards",
    "recipe"}.

    Prepares the inputs, writes the recipes (`demo_recipes`), runs `workdir/recipes/vau_r1_grpo_tiny.yaml`
    through `llamafactory-cli train` and returns the mean total reward of the first and the last logged step and
    the recipe's path. Raises RuntimeError with the log's tail if the run fails.
    """
    workdir = Path(workdir).resolve()
    prepare_demo_inputs(workdir)
    recipe = demo_recipes(workdir) / GRPO_TINY_RECIPE
    output_dir = workdir / "out" / "vau_r1_grpo_tiny"  # the recipe's output_dir
    overrides: dict[str, Any] = dict(item.split("=", 1) for item in extra)
    output_dir = Path(overrides.get("output_dir", output_dir))
    result = train(recipe, overrides, cwd=workdir)
    (workdir / "grpo_demo.log").write_text(result.stdout, encoding="utf-8")
    if result.returncode != 0:
        raise RuntimeError(f"llamafactory-cli train failed (exit {result.returncode}):\n{result.stdout[-3000:]}")
    history = reward_history(output_dir)
    if not history:
        raise RuntimeError(f"no reward was logged in {output_dir}/trainer_state.json")
    return {
        "reward_first": history[0]["reward"],
        "reward_last": history[-1]["reward"],
        "steps": history[-1]["step"],
        "output_dir": output_dir,
        "rewards": history,
        "recipe": recipe,
    }

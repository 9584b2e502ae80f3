"""Running `llamafactory-cli train` from Python, as a user would (a subprocess), and the `.demo/` layout.

`train` / `train_once` run a recipe (once: a finished output folder is kept); `reward_history` reads a GRPO run's
per-step rewards. `prepare_demo_inputs(workdir)` makes what the `_tiny` recipes expect relative to `workdir`:
`tiny_model/` (made with `make_tiny_model` if absent) and `data/` (prepared from the bundled mini bench);
`demo_recipes(workdir)` writes the recipes into `workdir/recipes/` with absolute paths into `workdir`, so
`llamafactory-cli train WORKDIR/recipes/vau_r1_grpo_tiny.yaml` runs from any folder. `vau-plugin demo` uses both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Union


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


def train_once(recipe: Union[str, Path], output_dir: Union[str, Path], overrides: Optional[dict[str, Any]] = None, *,
               cwd: Optional[Union[str, Path]] = None) -> Path:  # fmt: skip
    """train_once(recipe, output_dir, overrides, *, cwd) -> output_dir, after `llamafactory-cli train recipe k=v ...`
    succeeded; skipped when output_dir already holds a finished model (trainer_state.json and model.safetensors),
    so a stopped pipeline resumes. The log goes to output_dir/train.log; a failure raises RuntimeError with its
    tail. `overrides` should name output_dir when the recipe does not."""
    output_dir = Path(output_dir)
    if (output_dir / "trainer_state.json").is_file() and (output_dir / "model.safetensors").is_file():
        return output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    result = train(recipe, overrides, cwd=cwd)
    (output_dir / "train.log").write_text(result.stdout, encoding="utf-8")
    if result.returncode != 0:
        raise RuntimeError(f"llamafactory-cli train {recipe} failed (exit {result.returncode}); "
                           f"log: {output_dir / 'train.log'}\n{result.stdout[-3000:]}")  # fmt: skip
    return output_dir


def log_history(output_dir: Union[str, Path]) -> list[dict[str, Any]]:
    """log_history(output_dir) -> every logged step of a finished run (trainer_state.json's log_history)."""
    state = json.loads((Path(output_dir) / "trainer_state.json").read_text(encoding="utf-8"))
    return state.get("log_history", [])


def reward_history(output_dir: Union[str, Path]) -> list[dict[str, float]]:
    """reward_history(output_dir) -> per logged step {"step", "reward", "rewards/<fn>/mean", ...} from
    trainer_state.json."""
    rows = []
    for entry in log_history(output_dir):
        if "reward" in entry:
            rows.append({k: v for k, v in entry.items() if k == "step" or k == "reward" or k.startswith("rewards/")})
    return rows


def prepare_demo_inputs(workdir: Union[str, Path]) -> dict[str, Path]:
    """prepare_demo_inputs(workdir) -> {"model", "qwen3_vl_model", "data"}: the tiny Qwen2.5-VL (`tiny_model/`) and
    Qwen3-VL (`tiny_qwen3_vl/`, for vau_r1_grpo_qwen3_vl_tiny.yaml), each made once, and the GRPO/SFT datasets
    prepared from the bundled mini bench's train split."""
    from vau_plugin.benches.mini import bundled_mini_bench
    from vau_plugin.llamafactory.prepare import prepare_dataset
    from vau_plugin.tiny_model import make_tiny_model

    workdir = Path(workdir)
    model_dir = workdir / "tiny_model"
    if not (model_dir / "config.json").is_file():
        make_tiny_model(model_dir, seed=0)
    qwen3_dir = workdir / "tiny_qwen3_vl"
    if not (qwen3_dir / "config.json").is_file():
        make_tiny_model(qwen3_dir, seed=0, arch="qwen3_vl")
    bench = bundled_mini_bench()
    data_dir = workdir / "data"
    # the demo's own folder, rewritten on every run (also one an older plugin wrote, which has no prepare manifest)
    prepare_dataset(bench, bench / "videos", data_dir, split="train", overwrite=True)
    return {"model": model_dir, "qwen3_vl_model": qwen3_dir, "data": data_dir}


def demo_recipes(workdir: Union[str, Path]) -> Path:
    """demo_recipes(workdir) -> `workdir/recipes`, (re)written with every shipped recipe, the `_tiny` ones with
    absolute paths into `workdir` (tiny_model/, data/, out/), so they run from any working directory. `workdir`
    must hold what `prepare_demo_inputs` makes."""
    from vau_plugin.recipes import copy_recipes

    workdir = Path(workdir).resolve()
    folder = workdir / "recipes"
    copy_recipes(folder, overwrite=True, workdir=workdir)
    return folder

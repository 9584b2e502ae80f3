"""Benchmark a GRPO step on the tiny model: the plugin's `stage: grpo` against a bare TRL `GRPOTrainer` script.

Both run in this process, one after the other, with the same tiny random Qwen2.5-VL (full fine-tuning, so both
load a reference model for beta 0.04), the same mini-bench rows (`vau_r1_mixed`, first `max_samples`), the same
settings as recipes/vau_r1_grpo_tiny.yaml (2 generations, batch 2, 16 new tokens, lr 1e-5, seed 42) and the
plugin's three rewards:
- plugin: LLaMA-Factory's `run_exp` with the recipe (what `llamafactory-cli train` runs), video input through
  LLaMA-Factory's template and mm_plugin (4 frames at 2 fps, <= 3136 pixels each);
- bare TRL: `GRPOTrainer` from TRL 0.24, which takes images, not video: each prompt gets half of the same sampled
  frames as images, which gives the same number of visual tokens (Qwen's video patches pair frames in time).
The time per step is the median over the steps after the first (warm-up). The overhead ratio (plugin / bare TRL;
target <= 1.10) and where the time goes come from timers around the trainers' methods: generation
(`_generate_single_turn`), media (plugin: decode + mm_plugin; TRL: the processor call with the images), rewards,
the loss forward (`compute_loss`) and the rest (backward, optimizer, logging).

On a GPU (`--device cuda`, what `vau-plugin gpu-check` runs) both run in bf16 on GPU 0.

Usage: python bench/grpo.py [--quick] [--steps 6] [--device cpu|cuda] [--out bench/results/grpo.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _common import REPO, RESULTS, environment, write_result

DEFAULT_OUT = RESULTS / "grpo.json"
RECIPE = REPO / "recipes" / "vau_r1_grpo_tiny.yaml"


class Timers:
    """Seconds per category, from wrapped methods; a category nested in itself (an override calling super) counts once."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._active: set[str] = set()
        self._undo: list = []

    def wrap(self, owner, attribute: str, category: str) -> None:
        original = owner.__dict__[attribute]
        timers = self

        def timed(*args, **kwargs):
            if category in timers._active:
                return original(*args, **kwargs)
            timers._active.add(category)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers.seconds[category] += time.perf_counter() - start
                timers._active.discard(category)

        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()


def step_timer_callback(times: list[float]):
    """A TrainerCallback appending each optimizer step's wall time to `times`."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self._start)

    return StepTimer()


def _instrument(timers: Timers, plugin: bool) -> None:
    from transformers import Qwen2_5_VLProcessor
    from trl import GRPOTrainer

    timers.wrap(GRPOTrainer, "_calculate_rewards", "rewards")
    timers.wrap(GRPOTrainer, "compute_loss", "loss forward")
    timers.wrap(GRPOTrainer, "_generate_single_turn", "generation")
    if plugin:
        from vau_plugin.llamafactory.trainer import VideoGRPOTrainer

        timers.wrap(VideoGRPOTrainer, "_generate_single_turn", "generation")
        timers.wrap(VideoGRPOTrainer, "_build_mm_inputs", "media")
        timers.wrap(VideoGRPOTrainer, "compute_loss", "loss forward")
    else:
        timers.wrap(Qwen2_5_VLProcessor, "__call__", "media")


def recipe_settings(steps: int) -> dict:
    """The tiny recipe's settings, as a dict (yaml.safe_load), with `steps` steps and no checkpoints."""
    import yaml

    settings = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    settings.update(max_steps=steps, save_strategy="no", report_to="none", logging_steps=1, overwrite_output_dir=True)
    return settings


def run_plugin(model: Path, data: Path, out: Path, steps: int, checkpointing: bool, device: str = "cpu") -> dict:
    """The plugin stage through LLaMA-Factory's run_exp; returns step times and the timer split."""
    from llamafactory.train.tuner import run_exp

    args = {**recipe_settings(steps), "model_name_or_path": str(model), "dataset_dir": str(data), "output_dir": str(out),
            "disable_gradient_checkpointing": not checkpointing, "bf16": device == "cuda"}  # fmt: skip
    times: list[float] = []
    timers = Timers()
    _instrument(timers, plugin=True)
    try:
        run_exp(args=args, callbacks=[step_timer_callback(times)])
    finally:
        timers.restore()
    return {"step_s": times, "split_s": dict(timers.seconds)}


def trl_rows(data: Path, max_samples: int) -> list[dict]:
    """The rows the plugin trains on, as TRL image rows: the prompt text with image placeholders, half of the
    sampled frames as PIL images, and the reward columns."""
    from PIL import Image

    from vau_plugin.budget import SamplingConfig
    from vau_plugin.video import load_video

    settings = recipe_settings(1)
    config = SamplingConfig(fps=settings["video_fps"], max_frames=settings["video_maxlen"], min_pixels=28 * 28,
                            max_pixels=settings["video_max_pixels"], total_pixels=10**9)  # fmt: skip
    rows = json.loads((data / "grpo_mixed.json").read_text(encoding="utf-8"))[:max_samples]
    out = []
    for row in rows:
        frames = load_video(row["videos"][0], config, cache=False).frames[::2]
        images = [Image.fromarray(f.permute(1, 2, 0).numpy()) for f in frames]
        text = row["messages"][0]["content"].replace("<video>", "").strip()
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": text}]
        out.append({"prompt": [{"role": "user", "content": content}], "images": images,
                    "task": row["task"], "answer": row["answer"], "span": row["span"]})  # fmt: skip
    return out


def run_trl(model: Path, data: Path, out: Path, steps: int, checkpointing: bool, device: str = "cpu") -> dict:
    """A bare TRL GRPOTrainer with the recipe's settings on the same rows (images)."""
    from datasets import Dataset
    from transformers import AutoProcessor
    from trl import GRPOConfig, GRPOTrainer

    from vau_plugin.rewards import accuracy_reward, format_reward, tiou_reward

    settings = recipe_settings(steps)
    dataset = Dataset.from_list(trl_rows(data, settings["max_samples"]))
    config = GRPOConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=settings["per_device_train_batch_size"],
        gradient_accumulation_steps=settings["gradient_accumulation_steps"], learning_rate=settings["learning_rate"],
        num_generations=settings["num_generations"], beta=settings["beta"], loss_type=settings["loss_type"],
        max_completion_length=settings["max_completion_length"], temperature=settings["temperature"],
        seed=settings["seed"], bf16=device == "cuda", logging_steps=1, save_strategy="no", report_to="none",
        max_prompt_length=None, use_cpu=device == "cpu", gradient_checkpointing=checkpointing,
    )  # fmt: skip
    times: list[float] = []
    timers = Timers()
    _instrument(timers, plugin=False)
    try:
        trainer = GRPOTrainer(model=str(model), reward_funcs=[format_reward, accuracy_reward, tiou_reward], args=config,
                              train_dataset=dataset, processing_class=AutoProcessor.from_pretrained(model),
                              callbacks=[step_timer_callback(times)])  # fmt: skip
        trainer.train()
    finally:
        timers.restore()
    return {"step_s": times, "split_s": dict(timers.seconds)}


def summarise(name: str, checkpointing: bool, runs: list[dict]) -> dict:
    """Best and median step time over the steps after each run's first (warm-up), and the share of each category
    in the timed runs."""
    steps = [t for run in runs for t in (run["step_s"][1:] or run["step_s"])]
    total = sum(t for run in runs for t in run["step_s"])
    split: dict[str, float] = defaultdict(float)
    for run in runs:
        for key, value in run["split_s"].items():
            split[key] += value
    shares = {k: v / total for k, v in sorted(split.items())}
    shares["other"] = max(0.0, 1 - sum(split.values()) / total)
    return {"runner": name, "gradient_checkpointing": checkpointing, "runs": len(runs), "best_step_s": min(steps),
            "median_step_s": statistics.median(steps), "all_steps_s": [r["step_s"] for r in runs],
            "split_s": dict(split), "share": shares}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 steps, one round, recipe settings only (CI size)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default 6; quick 4)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating runs of each runner (default 2; quick 1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu (float32) or cuda (bf16, GPU 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    args = parser.parse_args(argv)
    steps = args.steps or (4 if args.quick else 6)
    rounds = args.rounds or (1 if args.quick else 2)
    # LLaMA-Factory turns gradient checkpointing on unless told otherwise, so the recipe runs with it; TRL's default
    # is off. Each comparison gives both runners the same setting.
    settings = [True] if args.quick else [True, False]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("DISABLE_VERSION_CHECK", "1")

    from vau_plugin.benches.mini import bundled_mini_bench
    from vau_plugin.llamafactory.prepare import prepare_dataset
    from vau_plugin.tiny_model import make_tiny_model

    rows = []
    with tempfile.TemporaryDirectory(prefix="vau-grpo-bench-") as tmp:
        root = Path(tmp)
        model = make_tiny_model(root / "tiny_model", seed=0)
        bench = bundled_mini_bench()
        prepare_dataset(bench, bench / "videos", root / "data", split="train")
        for checkpointing in settings:
            trl_runs, plugin_runs = [], []
            for index in range(rounds):  # alternate, so that a noisy neighbour hits both
                trl_runs.append(run_trl(model, root / "data", root / f"trl{index}", steps, checkpointing, args.device))
                plugin_runs.append(run_plugin(model, root / "data", root / f"plugin{index}", steps, checkpointing, args.device))
            trl = summarise("bare TRL GRPOTrainer (images)", checkpointing, trl_runs)
            plugin = summarise("plugin stage grpo (video)", checkpointing, plugin_runs)
            plugin["overhead_ratio"] = plugin["best_step_s"] / trl["best_step_s"]
            plugin["overhead_ratio_median"] = plugin["median_step_s"] / trl["median_step_s"]
            rows += [trl, plugin]
    print(f"\nGRPO step on the tiny Qwen2.5-VL ({'GPU, bf16' if args.device == 'cuda' else 'CPU'}), {rounds} x {steps} steps per runner, best step after the first")
    categories = sorted({k for row in rows for k in row["share"]})
    header = f"{'runner':<32}{'ckpt':>6}{'best s':>8}{'median s':>10}{'x TRL':>7}" + "".join(f"{c.split(' ')[0]:>12}" for c in categories)
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = f"{row['overhead_ratio']:.2f}" if "overhead_ratio" in row else "1.00"
        print(f"{row['runner']:<32}{'on' if row['gradient_checkpointing'] else 'off':>6}{row['best_step_s']:>8.3f}"
              f"{row['median_step_s']:>10.3f}{ratio:>7}" + "".join(f"{row['share'].get(c, 0):>12.0%}" for c in categories))  # fmt: skip
    ratios = [row["overhead_ratio"] for row in rows if "overhead_ratio" in row]
    met = all(r <= 1.10 for r in ratios)
    print(f"plugin overhead ratio (best plugin step / best TRL step): {', '.join(f'{r:.2f}' for r in ratios)} "
          f"(target <= 1.10: {'met' if met else 'NOT met'})")  # fmt: skip
    write_result(args.out, {"benchmark": "grpo_step", "quick": args.quick, "steps": steps, "rounds": rounds,
                            "device": args.device, "overhead_ratios": ratios, "target_ratio": 1.10, "target_met": met, **environment(),
                            "rows": rows})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

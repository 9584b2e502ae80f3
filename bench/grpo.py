"""Benchmark a GRPO step: the plugin's `stage: grpo` (with and without its group reuse) against a bare TRL
`GRPOTrainer` on the same model, rows and settings.

Settings: the tiny random Qwen2.5-VL (full fine-tuning, so both load a reference model for beta 0.04), one prompt
a step with G completions (G = 4, the paper's, and 8) of up to 32 new tokens, the recipe's other settings
(recipes/vau_r1_grpo_tiny.yaml: lr 1e-5, seed 42), gradient checkpointing on (LLaMA-Factory's default; the prompt
reuse does not apply) and off (every reuse applies), the same for every runner, the plugin's
three rewards, and a 10-s 320x240 H.264 clip per prompt at the paper's evaluation budgets (`vau_plugin.budget`):
- QA: 1 fps, 128·28² to 768·28² pixels a frame (inference_qa_qwen.py);
- TAG: 2 fps, 256·28² to 768·28² pixels a frame (inference_tag_qwen.py).
Runners, alternating round by round so that a noisy neighbour hits each:
- bare TRL: `GRPOTrainer` from TRL 0.24 takes images, not video: each prompt gets every other sampled frame as an
  image, which gives the same number of visual tokens (Qwen's video patches pair frames in time);
- plugin: LLaMA-Factory's `run_exp` with the recipe (what `llamafactory-cli train` runs), video through its template
  and mm_plugin, group reuse off (`vision_once_per_group: false`, `prefill_once_per_group: false`): TRL's way;
- plugin + reuse: the same with both on (the default; vau_plugin/llamafactory/group_reuse.py).
A step's time is the median or the best of the steps after each run's first (warm-up). Timers around the trainers'
methods split it: generation (`_generate_single_turn`; "prefill" is the reuse's separate prefill, which the other
runners do inside generate), media
(plugin: decode + mm_plugin; TRL: the processor call), rewards, log-prob forwards (`_get_per_token_logps_and_entropies`:
reference, old and loss forwards; the loss forward's backward is in "other"), vision (the vision tower's forward,
wherever it runs) and the rest (backward, optimizer, logging).

On a GPU (`--device cuda`, what `vau-plugin gpu-check` runs) all run in bf16 on GPU 0, timers synchronise the GPU.

Usage: python bench/grpo.py [--quick] [--steps 3] [--rounds 2] [--device cpu|cuda] [--out bench/results/grpo.json]
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

from _common import REPO, RESULTS, VideoSpec, ensure_video, environment, write_result

DEFAULT_OUT = RESULTS / "grpo.json"
RECIPE = REPO / "recipes" / "vau_r1_grpo_tiny.yaml"
COMPLETION_TOKENS = 32
PROMPTS = 4  # distinct rows (each its own clip); one per step
RUNNERS = ("bare TRL GRPOTrainer (images)", "plugin stage grpo (video)", "plugin stage grpo + group reuse (video)")
TRL_RUNNER, PLAIN_RUNNER, REUSE_RUNNER = RUNNERS


class Timers:
    """Seconds per category, from wrapped methods and module hooks; a category nested in itself (an override calling
    super) counts once. With `sync` (a GPU), each boundary waits for the GPU's queued work."""

    def __init__(self, sync: bool = False) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._active: dict[str, float] = {}
        self._undo: list = []
        self._sync = sync

    def _now(self) -> float:
        if self._sync:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def start(self, category: str) -> bool:
        if category in self._active:
            return False
        self._active[category] = self._now()
        return True

    def stop(self, category: str) -> None:
        self.seconds[category] += self._now() - self._active.pop(category)

    def wrap(self, owner, attribute: str, category: str) -> None:
        original = owner.__dict__[attribute]
        timers = self

        def timed(*args, **kwargs):
            if not timers.start(category):
                return original(*args, **kwargs)
            try:
                return original(*args, **kwargs)
            finally:
                timers.stop(category)

        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()


def step_timer_callback(times: list[float], timers: Timers):
    """A TrainerCallback appending each optimizer step's wall time to `times` and timing the vision tower's forwards
    (hooks on the policy's and the reference model's vision tower, added at the start of training)."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        hooked = False

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            trainer = getattr(model, "_bench_trainer", None)
            for candidate in (model, getattr(trainer, "ref_model", None)):
                visual = _vision_tower(candidate)
                if visual is not None:
                    visual.register_forward_pre_hook(lambda *a: timers.start("vision") and None)
                    visual.register_forward_hook(lambda *a: timers.stop("vision") if "vision" in timers._active else None)

        def on_step_begin(self, args, state, control, **kwargs):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self._start)

    return StepTimer()


def _vision_tower(model):
    """The `visual` module of a (PEFT-wrapped) Qwen-VL model, or None."""
    if model is None:
        return None
    from vau_plugin.llamafactory.group_reuse import vision_model

    inner = vision_model(model)
    return getattr(inner, "visual", None)


def _instrument(timers: Timers, plugin: bool) -> None:
    from transformers import Qwen2_5_VLProcessor
    from trl import GRPOTrainer

    timers.wrap(GRPOTrainer, "_calculate_rewards", "rewards")
    timers.wrap(GRPOTrainer, "_get_per_token_logps_and_entropies", "log-prob forwards")
    timers.wrap(GRPOTrainer, "_generate_single_turn", "generation")
    if plugin:
        from vau_plugin.llamafactory import trainer
        from vau_plugin.llamafactory.trainer import VideoGRPOTrainer

        timers.wrap(VideoGRPOTrainer, "_generate_single_turn", "generation")
        timers.wrap(VideoGRPOTrainer, "_build_mm_inputs", "media")
        timers.wrap(VideoGRPOTrainer, "_get_per_token_logps_and_entropies", "log-prob forwards")
        timers.wrap(trainer, "prefill_once", "prefill")  # the module-level name the trainer calls
    else:
        timers.wrap(Qwen2_5_VLProcessor, "__call__", "media")


def _remember_trainer():
    """Give the model a back-reference to its trainer (the callback finds the reference model through it)."""
    from trl import GRPOTrainer

    original = GRPOTrainer.train

    def train(self, *args, **kwargs):
        object.__setattr__(self.model, "_bench_trainer", self)
        return original(self, *args, **kwargs)

    GRPOTrainer.train = train
    return lambda: setattr(GRPOTrainer, "train", original)


def recipe_settings(steps: int, generations: int) -> dict:
    """The tiny recipe's settings (yaml.safe_load) with `steps` steps of one prompt and `generations` completions."""
    import yaml

    settings = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    settings.update(max_steps=steps, save_strategy="no", report_to="none", logging_steps=1, overwrite_output_dir=True,
                    num_generations=generations, per_device_train_batch_size=generations,
                    max_completion_length=COMPLETION_TOKENS, max_samples=PROMPTS)  # fmt: skip
    return settings


def _timed(run, device: str, plugin: bool) -> dict:
    times: list[float] = []
    timers = Timers(sync=device == "cuda")
    _instrument(timers, plugin=plugin)
    forget = _remember_trainer()
    try:
        run(step_timer_callback(times, timers))
    finally:
        timers.restore()
        forget()
    return {"step_s": times, "split_s": dict(timers.seconds)}


def run_plugin(model: Path, data: Path, out: Path, steps: int, generations: int, budget: str, reuse: bool,
               checkpointing: bool, device: str = "cpu") -> dict:  # fmt: skip
    """The plugin stage through LLaMA-Factory's run_exp; returns step times and the timer split."""
    from llamafactory.train.tuner import run_exp

    from vau_plugin.budget import budget_for, llamafactory_keys

    args = {**recipe_settings(steps, generations), **llamafactory_keys(budget_for(budget)), "dataset": f"bench_{budget}",
            "model_name_or_path": str(model), "dataset_dir": str(data), "output_dir": str(out), "bf16": device == "cuda",
            "disable_gradient_checkpointing": not checkpointing,
            "vision_once_per_group": reuse, "prefill_once_per_group": reuse, "prompt_once_per_group": reuse,
            "cutoff_len": 8192}  # fmt: skip  (a TAG-budget prompt is longer than the recipe's 1024)
    return _timed(lambda callback: run_exp(args=args, callbacks=[callback]), device, plugin=True)


def trl_rows(data: Path, budget: str) -> list[dict]:
    """The rows the plugin trains on, as TRL image rows: the prompt text with image placeholders, every other
    sampled frame (at the budget's sampling) as a PIL image, and the reward columns."""
    from PIL import Image

    from vau_plugin.budget import budget_for
    from vau_plugin.video import load_video

    config = budget_for(budget).sampling()
    rows = json.loads((data / f"bench_{budget}.json").read_text(encoding="utf-8"))[:PROMPTS]
    out = []
    for row in rows:
        frames = load_video(row["videos"][0], config, cache=False).frames[::2]
        images = [Image.fromarray(f.permute(1, 2, 0).numpy()) for f in frames]
        text = row["messages"][0]["content"].replace("<video>", "").strip()
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": text}]
        out.append({"prompt": [{"role": "user", "content": content}], "images": images,
                    "task": row["task"], "answer": row["answer"], "span": row["span"]})  # fmt: skip
    return out


def run_trl(model: Path, data: Path, out: Path, steps: int, generations: int, budget: str, checkpointing: bool,
            device: str = "cpu") -> dict:  # fmt: skip
    """A bare TRL GRPOTrainer with the recipe's settings on the same rows (images)."""
    from datasets import Dataset
    from transformers import AutoProcessor
    from trl import GRPOConfig, GRPOTrainer

    from vau_plugin.rewards import accuracy_reward, format_reward, tiou_reward

    settings = recipe_settings(steps, generations)
    dataset = Dataset.from_list(trl_rows(data, budget))
    processor = AutoProcessor.from_pretrained(model)
    # TRL samples visual placeholder tokens too, and a sampled <|image_pad|> ends the run in the next forward
    # ("Image features and image tokens do not match"); the plugin suppresses them, so bare TRL gets the same
    placeholders = ["<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"]
    suppress = [processor.tokenizer.convert_tokens_to_ids(token) for token in placeholders]
    config = GRPOConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=settings["per_device_train_batch_size"],
        gradient_accumulation_steps=settings["gradient_accumulation_steps"], learning_rate=settings["learning_rate"],
        num_generations=settings["num_generations"], beta=settings["beta"], loss_type=settings["loss_type"],
        max_completion_length=settings["max_completion_length"], temperature=settings["temperature"],
        seed=settings["seed"], bf16=device == "cuda", logging_steps=1, save_strategy="no", report_to="none",
        max_prompt_length=None, use_cpu=device == "cpu", gradient_checkpointing=checkpointing,
        generation_kwargs={"suppress_tokens": suppress},
    )  # fmt: skip

    def run(callback) -> None:
        trainer = GRPOTrainer(model=str(model), reward_funcs=[format_reward, accuracy_reward, tiou_reward], args=config,
                              train_dataset=dataset, processing_class=processor,
                              callbacks=[callback])  # fmt: skip
        trainer.train()

    return _timed(run, device, plugin=False)


def make_data(root: Path) -> Path:
    """dataset_dir with `bench_qa` and `bench_tag`: the mini bench's GRPO rows, each on its own 10-s 320x240 clip."""
    from vau_plugin.benches.mini import bundled_mini_bench
    from vau_plugin.llamafactory.prepare import prepare_dataset

    bench = bundled_mini_bench()
    data = root / "data"
    prepare_dataset(bench, bench / "videos", data, split="train")
    clips = [ensure_video(VideoSpec(f"grpo_320x240_10s_{k}", 10.0, 25.0, 320, 240), seed=k) for k in range(PROMPTS)]
    info = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    for task in ("qa", "tag"):
        rows = json.loads((data / f"grpo_{task}.json").read_text(encoding="utf-8"))[:PROMPTS]
        rows = [dict(row, videos=[str(clip)]) for row, clip in zip(rows, clips)]
        (data / f"bench_{task}.json").write_text(json.dumps(rows), encoding="utf-8")
        info[f"bench_{task}"] = dict(info[f"vau_r1_{task}"], file_name=f"bench_{task}.json")
    (data / "dataset_info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return data


def summarise(name: str, runs: list[dict], **setting) -> dict:
    """Best and median step time over the steps after each run's first (warm-up), and each category's share of the
    timed runs' wall time."""
    steps = [t for run in runs for t in (run["step_s"][1:] or run["step_s"])]
    total = sum(t for run in runs for t in run["step_s"])
    split: dict[str, float] = defaultdict(float)
    for run in runs:
        for key, value in run["split_s"].items():
            split[key] += value
    shares = {k: v / total for k, v in sorted(split.items())}
    nested = ("vision", "prefill")  # inside generation and the log-prob forwards, not beside them
    shares["other"] = max(0.0, 1 - sum(v for k, v in split.items() if k not in nested) / total)
    return {"runner": name, **setting, "runs": len(runs), "best_step_s": min(steps),
            "median_step_s": statistics.median(steps), "all_steps_s": [r["step_s"] for r in runs],
            "split_s": dict(split), "share": shares}  # fmt: skip


def ratio_line(row: dict) -> str:
    """`GRPO step vs bare TRL, QA budget, G=8, checkpointing on: 0.42x (median 0.45x)`."""
    return (f"GRPO step vs bare TRL, {row['budget'].upper()} budget, G={row['generations']}, checkpointing "
            f"{'on' if row['gradient_checkpointing'] else 'off'}: {row['overhead_ratio']:.2f}x "
            f"(median {row['overhead_ratio_median']:.2f}x){'' if 'reuse' in row['runner'] else ', group reuse off'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="QA budget, G=4, one round of 2 steps (CI size)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default 3; quick 2)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating runs of each runner (default 2; quick 1)")
    parser.add_argument("--budgets", default=None, help="comma-separated: qa,tag (default both; quick qa)")
    parser.add_argument("--generations", default=None, help="comma-separated G (default 4,8; quick 4)")
    parser.add_argument("--checkpointing", default=None,
                        help="comma-separated on,off: gradient checkpointing for every runner (default both; quick on)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="cpu (float32) or cuda (bf16, GPU 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    args = parser.parse_args(argv)
    steps = args.steps or (2 if args.quick else 3)
    rounds = args.rounds or (1 if args.quick else 2)
    budgets = (args.budgets or ("qa" if args.quick else "qa,tag")).split(",")
    generations = [int(g) for g in (args.generations or ("4" if args.quick else "4,8")).split(",")]
    checkpointing = [c == "on" for c in (args.checkpointing or ("on" if args.quick else "on,off")).split(",")]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("DISABLE_VERSION_CHECK", "1")

    from vau_plugin.tiny_model import make_tiny_model

    rows, lines = [], []
    with tempfile.TemporaryDirectory(prefix="vau-grpo-bench-") as tmp:
        root = Path(tmp)
        model = make_tiny_model(root / "tiny_model", seed=0)
        data = make_data(root)
        for ckpt in checkpointing:
            for budget in budgets:
                for g in generations:
                    runs: dict[str, list] = {name: [] for name in RUNNERS}
                    for index in range(rounds):  # alternate, so that a noisy neighbour hits every runner
                        where = root / f"{budget}_g{g}_{ckpt}_{index}"
                        runs[TRL_RUNNER].append(run_trl(model, data, where / "trl", steps, g, budget, ckpt, args.device))
                        for name, reuse in ((PLAIN_RUNNER, False), (REUSE_RUNNER, True)):
                            runs[name].append(run_plugin(model, data, where / name.split()[-2], steps, g, budget, reuse,
                                                         ckpt, args.device))  # fmt: skip
                    summaries = [summarise(name, runs[name], budget=budget, generations=g, gradient_checkpointing=ckpt)
                                 for name in RUNNERS]  # fmt: skip
                    for row in summaries[1:]:
                        row["overhead_ratio"] = row["best_step_s"] / summaries[0]["best_step_s"]
                        row["overhead_ratio_median"] = row["median_step_s"] / summaries[0]["median_step_s"]
                    rows += summaries
                    lines += [ratio_line(summaries[2]), ratio_line(summaries[1])]
    where = "GPU, bf16" if args.device == "cuda" else "CPU, float32"
    print(f"\nGRPO step on the tiny Qwen2.5-VL ({where}), one prompt a step, {COMPLETION_TOKENS} new tokens, "
          f"{rounds} x {steps} steps per runner, steps after the first")  # fmt: skip
    categories = sorted({k for row in rows for k in row["share"]}, key=lambda c: (c == "other", c))
    header = (f"{'runner':<42}{'budget':>7}{'G':>3}{'ckpt':>5}{'best s':>8}{'median s':>10}{'x TRL':>7}"
              + "".join(f"{c.split(' ')[0]:>12}" for c in categories))  # fmt: skip
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = f"{row['overhead_ratio']:.2f}" if "overhead_ratio" in row else "1.00"
        print(f"{row['runner']:<42}{row['budget']:>7}{row['generations']:>3}{'on' if row['gradient_checkpointing'] else 'off':>5}"
              f"{row['best_step_s']:>8.2f}"
              f"{row['median_step_s']:>10.2f}{ratio:>7}" + "".join(f"{row['share'].get(c, 0):>12.0%}" for c in categories))  # fmt: skip
    print("(vision and prefill are parts of generation and the log-prob forwards, not beside them)")
    print("\n".join(lines))
    ratios = [row["overhead_ratio"] for row in rows if row["runner"] == REUSE_RUNNER]
    write_result(args.out, {"benchmark": "grpo_step", "quick": args.quick, "steps": steps, "rounds": rounds,
                            "device": args.device, "overhead_ratios": ratios, "lines": lines, **environment(),
                            "rows": rows})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

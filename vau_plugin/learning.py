"""Does training use the video? The colour check: format-only SFT, then GRPO, through the real CLIs.

On the colour bench (`vau_plugin.benches.colour`: red clip -> A, blue clip -> B, one fixed question) the tiny
random Qwen2.5-VL first learns the VAU-R1 answer format by SFT on *random* letters, so it answers A or B about
equally often whatever the clip (held-out accuracy ~50 %, chance). GRPO through `llamafactory-cli train`
(`stage: grpo`, rewards format + accuracy) must then raise held-out accuracy, measured by `lmms-eval --model
vau_qwen2_5_vl --tasks vau_bench_qa_think`, to ~100 %; the same GRPO on labels unrelated to the colour (the
control) must leave it at chance. If the video stopped reaching generation or the loss forward, or the reward
read the wrong column, the first would stay at chance; if the answer leaked through the text, the control would
rise. `make demo` runs the SFT, GRPO and evaluations; tests/test_learning.py adds the control.

Settings that matter (found by probes, see README "Does it learn?"): Adam beta2 0.95 in both stages (0.999 kept
SFT on a plateau); GRPO lr 3e-4 (1e-4 moved the answer less than its bias drifted, 1e-3 broke the format);
32 completions a step (4 prompts x 8); no gradient checkpointing (a 2-layer model gains nothing from it).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from vau_plugin.benches.colour import ColourBench, make_colour_bench
from vau_plugin.budget import lmms_budget_args
from vau_plugin.data.sources import load_records

# The video budget of this check, for LLaMA-Factory (recipe keys) and lmms-eval (model_args) alike: both
# frames of the clip, at its own size (LearningConfig.frame_size).
VIDEO_FPS = 2.0
VIDEO_FRAMES = 2
EVAL_TASK = "vau_bench_qa_think"  # the task whose prompt `prepare --prompt-style eval` trains on
SFT_DATASET = "vau_r1_sft_qa"
GRPO_DATASET = "vau_r1_qa"
CHANCE = 50.0


@dataclass(frozen=True)
class LearningConfig:
    """The colour check's settings (each a LLaMA-Factory / TRL recipe value)."""

    seed: int = 0
    frame_size: int = 112  # px, square, a multiple of 28: 4x4 merged video tokens a clip (2x2 learnt too slowly)
    sft_steps: int = 60
    sft_learning_rate: float = 2e-3
    sft_batch_size: int = 8
    grpo_steps: int = 30
    grpo_learning_rate: float = 3e-4
    prompts_per_step: int = 4
    generations: int = 8
    adam_beta2: float = 0.95
    max_completion_length: int = 24
    reward_funcs: str = "format,accuracy"


@dataclass(frozen=True)
class LearningWorkspace:
    """root: the working folder; bench: the colour bench; model: the random tiny model; data / control_data:
    LLaMA-Factory datasets (true / unrelated labels); recipes: the three recipes; out: training outputs."""

    root: Path

    @property
    def bench(self) -> ColourBench:
        return ColourBench(self.root / "colour_bench")

    @property
    def model(self) -> Path:
        return self.root / "tiny_model"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def control_data(self) -> Path:
        return self.root / "control_data"

    def recipe(self, name: str) -> Path:
        return self.root / "recipes" / f"colour_{name}.yaml"

    def output(self, name: str) -> Path:
        return self.root / "out" / name


def prepare_workspace(workdir: str | Path, config: LearningConfig = LearningConfig()) -> LearningWorkspace:
    """prepare_workspace(workdir, config) -> LearningWorkspace: the colour bench, the tiny model (seed
    `config.seed`), both datasets (`vau-plugin prepare --tasks qa --prompt-style eval`) and the recipes; what
    exists is kept."""
    from vau_plugin.llamafactory.prepare import prepare_dataset
    from vau_plugin.tiny_model import make_tiny_model

    space = LearningWorkspace(Path(workdir).resolve())
    bench = space.bench
    if not bench.test.is_file():
        make_colour_bench(bench.root, size=config.frame_size, seed=config.seed, overwrite=True)
    if not (space.model / "config.json").is_file():
        make_tiny_model(space.model, seed=config.seed, overwrite=True)
    for csv, data in ((bench.train, space.data), (bench.control, space.control_data)):
        if not (data / "dataset_info.json").is_file():
            prepare_dataset(csv, bench.videos, data, tasks=("qa",), split="train", prompt_style="eval")
    write_recipes(space, config)
    return space


def video_keys(config: LearningConfig) -> dict[str, Any]:
    """The recipe keys of this check's video budget (one frame size: each frame is exactly frame_size² pixels)."""
    return {"video_fps": VIDEO_FPS, "video_maxlen": VIDEO_FRAMES, "video_max_pixels": config.frame_size**2,
            "video_min_pixels": config.frame_size**2}  # fmt: skip


def _recipe_keys(space: LearningWorkspace, config: LearningConfig) -> dict[str, dict[str, Any]]:
    common = {
        "do_train": True, "finetuning_type": "full", "template": "qwen2_vl_vau",
        **video_keys(config),
        # a model from scratch has random visual features: train the vision tower and projector too
        "freeze_vision_tower": False, "freeze_multi_modal_projector": False, "disable_gradient_checkpointing": True,
        "adam_beta2": config.adam_beta2, "cutoff_len": 1024, "max_samples": 100000, "overwrite_cache": True,
        "overwrite_output_dir": True, "logging_steps": 1, "save_steps": 100000, "report_to": "none", "bf16": False,
        "seed": config.seed,
    }  # fmt: skip
    sft = {
        **common, "stage": "sft", "model_name_or_path": str(space.model), "dataset": SFT_DATASET,
        "dataset_dir": str(space.control_data),  # random letters: SFT teaches the format, not the colour
        "output_dir": str(space.output("sft")), "per_device_train_batch_size": config.sft_batch_size,
        "learning_rate": config.sft_learning_rate, "lr_scheduler_type": "cosine", "warmup_steps": 5, "max_steps": config.sft_steps,
    }  # fmt: skip
    grpo = {
        **common, "stage": "grpo", "model_name_or_path": str(space.output("sft")), "dataset": GRPO_DATASET,
        "dataset_dir": str(space.data), "output_dir": str(space.output("grpo")), "reward_funcs": config.reward_funcs,
        "num_generations": config.generations, "per_device_train_batch_size": config.prompts_per_step * config.generations,
        "max_completion_length": config.max_completion_length, "temperature": 1.0, "beta": 0.0, "loss_type": "grpo",
        "learning_rate": config.grpo_learning_rate, "lr_scheduler_type": "constant", "max_steps": config.grpo_steps,
    }  # fmt: skip
    control = {**grpo, "dataset_dir": str(space.control_data), "output_dir": str(space.output("grpo_control"))}
    return {"sft": sft, "grpo": grpo, "grpo_control": control}


def write_recipes(space: LearningWorkspace, config: LearningConfig = LearningConfig()) -> dict[str, Path]:
    """write_recipes(space, config) -> {"sft", "grpo", "grpo_control"}: recipe files with absolute paths
    (`llamafactory-cli train PATH` runs them from any folder)."""
    import yaml

    paths = {}
    header = f"# The colour check (vau_plugin.learning), written from LearningConfig: {json.dumps(asdict(config))}\n"
    for name, keys in _recipe_keys(space, config).items():
        path = space.recipe(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + yaml.safe_dump(keys, sort_keys=False), encoding="utf-8")
        paths[name] = path
    return paths


def train_stage(space: LearningWorkspace, name: str) -> Path:
    """train_stage(space, "sft" | "grpo" | "grpo_control") -> its output folder, after `llamafactory-cli train
    RECIPE` (`train_once`: skipped when the folder already holds the trained model)."""
    from vau_plugin.runners import train_once

    return train_once(space.recipe(name), space.output(name), cwd=space.root)


def lmms_eval_args(checkpoint: Path, config: LearningConfig = LearningConfig()) -> list[str]:
    """lmms_eval_args(checkpoint, config) -> the `lmms-eval` arguments that score `checkpoint` on the bench's test
    split (greedy, the training's video budget); run them with `lmms_eval_env(bench)` on top."""
    model_args = f"pretrained={checkpoint},device=cpu,device_map=cpu,{lmms_budget_args(video_keys(config))}"
    return [
        "--model", "vau_qwen2_5_vl", "--model_args", model_args, "--tasks", EVAL_TASK, "--gen_kwargs", "max_new_tokens=24",
        "--batch_size", "64", "--seed", "0", "--log_samples",
    ]  # fmt: skip


def lmms_eval_env(bench: ColourBench) -> dict[str, str]:
    """The variables that point the VAU-Bench tasks at the colour bench's held-out split."""
    from vau_plugin.lmms.docs import bench_environment

    return bench_environment(bench.root, bench.videos, "test")


def evaluate(space: LearningWorkspace, checkpoint: Path, name: str, config: LearningConfig = LearningConfig()) -> dict[str, Any]:
    """evaluate(space, checkpoint, name, config) -> {"accuracy", "unparsed", "video_errors", "samples", "answers",
    "results"} (percent; answers: how often each parsed letter was given; results: lmms-eval's metrics of the task) from one `lmms-eval` run into space.root/eval/name."""
    from vau_plugin.runners import check_scored, run_lmms_eval, task_samples

    out = space.root / "eval" / name
    results = run_lmms_eval(lmms_eval_args(checkpoint, config), out, lmms_eval_env(space.bench))
    metrics = results["results"][EVAL_TASK]
    rows = task_samples(out, EVAL_TASK)
    check_scored(len(rows), len(load_records(space.bench.test, split="test")), str(space.bench.test), out)
    answers = Counter(str(row["accuracy"]["pred"]) for row in rows)  # the task's parsed letter (None: unparsed)
    return {"accuracy": metrics["accuracy,none"], "unparsed": metrics["unparsed,none"], "video_errors": metrics["video_errors,none"],
            "samples": len(rows), "answers": dict(answers), "results": {EVAL_TASK: metrics}}  # fmt: skip


def reward_log(output_dir: Path) -> list[dict[str, float]]:
    """reward_log(GRPO output folder) -> per step {"step", "reward", "format", "accuracy"} (means over the
    step's completions), from `reward_history`."""
    from vau_plugin.runners import reward_history

    return [
        {"step": e["step"], "reward": e["reward"], "format": e.get("rewards/format_reward/mean", float("nan")),
         "accuracy": e.get("rewards/accuracy_reward/mean", float("nan"))}  # fmt: skip
        for e in reward_history(output_dir)
    ]


def moving_mean(values: list[float], window: int) -> list[float]:
    """moving_mean(values, window) -> the trailing mean of up to `window` values at each position."""
    return [statistics.fmean(values[max(0, i + 1 - window) : i + 1]) for i in range(len(values))]


def accuracy_trend(log: list[dict[str, float]], steps: int = 5) -> tuple[float, float]:
    """accuracy_trend(reward_log(...), steps=5) -> the mean accuracy reward of the first and of the last `steps`
    steps (fewer when the run logged fewer)."""
    return statistics.fmean(r["accuracy"] for r in log[:steps]), statistics.fmean(r["accuracy"] for r in log[-steps:])


def reward_table(log: list[dict[str, float]], window: int = 5) -> str:
    """reward_table(reward_log(...)) -> one text line per step: rewards and the accuracy's trailing mean."""
    trend = moving_mean([row["accuracy"] for row in log], window)
    lines = [f"{'step':>4} {'reward':>7} {'format':>7} {'accuracy':>9} {f'accuracy ({window}-step mean)':>26}"]
    lines += [f"{r['step']:>4} {r['reward']:>7.3f} {r['format']:>7.3f} {r['accuracy']:>9.3f} {t:>26.3f}" for r, t in zip(log, trend)]
    return "\n".join(lines)


def plot_rewards(logs: dict[str, list[dict[str, float]]], path: Path, window: int = 5) -> Optional[Path]:
    """plot_rewards({label: reward_log}, png path) -> the path, or None when matplotlib is missing: accuracy
    reward per step (thin) and its trailing mean (thick) for each run."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, log in logs.items():
        steps, accuracy = [r["step"] for r in log], [r["accuracy"] for r in log]
        (line,) = ax.plot(steps, accuracy, linewidth=0.8, alpha=0.5)
        ax.plot(steps, moving_mean(accuracy, window), linewidth=2.2, color=line.get_color(), label=label)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
    ax.set(xlabel="GRPO step", ylabel="accuracy reward (mean of the step)", ylim=(0, 1.05), title="GRPO on the colour bench")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

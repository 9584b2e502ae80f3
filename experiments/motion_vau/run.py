"""Motion prompts × GRPO on the order bench (issue 13's redesign of issue 7): one command, fixed seeds, every stage timed.

    python experiments/motion_vau/run.py [--quick] [--seeds 0,1,2] [--variants none,fixed,learnable]
                                         [--sweep] [--report] [--tier large|small]
                                         [--config experiments/motion_vau/config.json] [--out DIR]

The bench (`vau-plugin make-order-bench`): a bright square on a noisy frame, three questions whose answers need
the order of the frames (which way it moves, whether it moves, in which 1-s window it starts); train / val /
test splits. The val split is for the sweep, the test split is held out and only read by the final evaluations.

For each seed and each variant (none / fixed motion prompt / learnable motion prompt), from a random-initialised
tiny Qwen2.5-VL made from the seed (`vau_plugin.tiny_model.make_tiny_model`):
  1. SFT on the train split (prompts of the lmms-eval `_think` tasks) through `llamafactory-cli train`;
  2. from the SFT checkpoint, GRPO (`stage: grpo`, rewards format + accuracy) for N steps;
  3. from the SFT checkpoint, N more SFT steps with a fresh optimiser: the matched control (without it, "GRPO
     helps" could mean "more training helps");
  4. lmms-eval (`vau_qwen2_5_vl`, `vau_bench_qa_think`) of the three checkpoints on the test split.
Chance and majority come from the annotations.

`--sweep` picks the optimisation on the val split, never the test split: SFT for each Adam beta2, then from the
best SFT checkpoint GRPO for each learning rate and the extra SFT for each learning rate (seed and variant from
the config's "sweep" block); it writes sweep.md / sweep.json and says which values are best. The config holds
the values `make experiment-motion` uses; README records the sweep that chose them.

`--tier small` (`make experiment-motion-small`) runs the same protocol, with the settings the sweep chose on the config's
tier, on the harder tier of the bench (a 14-px square, a quarter of a video token) into results/full_small/.

Everything goes under results/<run>/ (git-ignored): summary.json (every number, timings), results.md (mean ± std
table, GRPO minus its matched control, what the models answer), reward_curves.png, and per run the training and
evaluation logs. A finished stage (its output exists) is not run again, so an interrupted run continues where it
stopped; a folder made with other settings is refused.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from vau_plugin.benches.order import TIERS
from vau_plugin.budget import lmms_budget_args
from vau_plugin.learning import moving_mean
from vau_plugin.lmms.docs import bench_environment
from vau_plugin.runners import check_scored, log_history, run_lmms_eval, task_samples

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "config.json"
DEFAULT_RESULTS = HERE / "results"
VARIANTS = ("none", "fixed", "learnable")
SFT_RECIPE = "vau_r1_sft_tiny.yaml"
GRPO_RECIPE = "vau_r1_grpo_tiny.yaml"
TASKS = ("qa", "tag")  # what config["tasks"] may name: QA (every clip) and TAG (the motion span; still clips Normal)
MIX_STRATEGY = "interleave_under"  # LLaMA-Factory's sampling of several datasets by probability, until one runs out
# The checkpoints of one (seed, variant) and their names in the table.
STAGES = {"sft": "SFT", "grpo": "SFT+GRPO", "more_sft": "SFT+more SFT"}


# ------------------------------------------------------------------------------------------------ config


def merge(base: dict, override: dict) -> dict:
    """merge(base, override) -> a deep copy of `base` with `override`'s keys replacing (dicts merged)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(path: Path, quick: bool) -> dict:
    """load_config(path, quick) -> the settings, with the `quick` block applied when `quick`."""
    config = json.loads(Path(path).read_text(encoding="utf-8"))
    quick_block = config.pop("quick", {})
    config.pop("comment", None)
    return merge(config, quick_block) if quick else config


# ------------------------------------------------------------------------------------------------ timing


class Timer:
    """Wall-clock seconds per named stage, appended to a list and to timings.json as they finish."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else []

    def run(self, name: str, fn, *args, **kwargs):
        """run(name, fn, *args) -> fn(*args); logs and records its duration."""
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        started = time.monotonic()
        result = fn(*args, **kwargs)
        seconds = round(time.monotonic() - started, 1)
        self.rows.append({"stage": name, "seconds": seconds})
        self.path.write_text(json.dumps(self.rows, indent=1) + "\n", encoding="utf-8")
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {seconds:.1f} s", flush=True)
        return result


# ------------------------------------------------------------------------------------------------ inputs


def bench_dir(results: Path, bench: dict) -> Path:
    """bench_dir(results, bench settings) -> the folder of the bench with these settings (shared by runs)."""
    tag = "_".join(f"{k}{bench[k]:g}" if isinstance(bench[k], float) else f"{k}{bench[k]}" for k in sorted(bench))
    return results / "benches" / tag


def ensure_bench(results: Path, bench: dict) -> Path:
    """ensure_bench(results, bench settings) -> order-bench root (generated unless its manifest exists)."""
    from vau_plugin.benches.order import make_order_bench

    root = bench_dir(results, bench)
    if not (root / "manifest.json").is_file():
        summary = make_order_bench(root, overwrite=True, **bench)
        print(summary.describe(), flush=True)
    return root


def ensure_dataset(bench: Path, prompt_style: str, tasks: list[str]) -> Path:
    """ensure_dataset(bench root, prompt_style, tasks) -> LLaMA-Factory dataset folder (rows of `tasks`, and the
    mixed file of them all) prepared from the train split (see `vau_plugin.llamafactory.prepare.PROMPT_STYLES`)."""
    from vau_plugin.llamafactory.prepare import prepare_dataset

    out = bench / f"lf_data_{prompt_style}_{'-'.join(tasks)}"
    if not (out / "dataset_info.json").is_file():
        summary = prepare_dataset(bench / "train.csv", bench / "videos", out, tasks=tasks, split="train", prompt_style=prompt_style)
        print(summary.describe(), flush=True)
    return out


def ensure_model(results: Path, seed: int) -> Path:
    """ensure_model(results, seed) -> a random-initialised tiny Qwen2.5-VL made from `seed` (once)."""
    from vau_plugin.tiny_model import make_tiny_model

    out = results / "models" / f"tiny_seed{seed}"
    if not (out / "config.json").is_file():
        make_tiny_model(out, seed=seed, overwrite=True)
    return out


# ------------------------------------------------------------------------------------------------ training


def motion_keys(variant: str, motion: dict, start_from: Path | None) -> dict[str, Any]:
    """motion_keys(variant, motion settings, start_from) -> the recipe keys of a variant.

    none: qwen2_vl_vau (qwen2_vl with the plugin's video decoder). fixed: qwen2_vl_motion with (m, n) fixed. learnable: qwen2_vl_motion with
    (m, n) trained in the model, starting from `start_from`'s motion_prompt.json when given (after SFT)."""
    if variant == "none":
        return {"template": "qwen2_vl_vau"}
    keys: dict[str, Any] = {"template": "qwen2_vl_motion", "vau_motion_fill": motion["fill"]}
    if variant == "fixed":
        keys.update(vau_motion_m=motion["m"], vau_motion_n=motion["n"])
    elif variant == "learnable":
        keys.update(vau_motion_learnable="true")
        if start_from is not None and (start_from / "motion_prompt.json").is_file():
            keys.update(vau_motion_weights=start_from)
        else:
            keys.update(vau_motion_m=motion["m"], vau_motion_n=motion["n"])
    else:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return keys


def train_stage(recipe: str, overrides: dict[str, Any], output_dir: Path) -> Path:
    """train_stage(recipe, overrides, output_dir) -> output_dir, after `llamafactory-cli train` succeeded
    (`train_once`: skipped when output_dir already holds a finished model); the log goes to output_dir/train.log."""
    from vau_plugin.recipes import recipe_path

    from vau_plugin.runners import train_once

    return train_once(recipe_path(recipe), output_dir, {**overrides, "output_dir": output_dir})


def common_overrides(config: dict, model: Path, data: Path, seed: int, dataset: dict[str, Any], stage_cfg: dict) -> dict[str, Any]:
    """The recipe keys shared by every stage: model, data, video sampling, what trains and how (config
    "finetune": the vision tower and projector train too, since LLaMA-Factory's default of freezing them would
    leave a random model with random visual features; Adam beta2), seed, then the stage's own settings."""
    return {
        "model_name_or_path": model,
        "dataset_dir": data,
        **dataset,
        "max_samples": 100000,
        "seed": seed,
        "save_steps": 100000,  # only the final model is kept
        **config["video"],
        **config["finetune"],
        **stage_cfg,
    }


def stage_settings(config: dict, stage: str) -> dict[str, Any]:
    """stage_settings(config, "sft" | "grpo" | "more_sft") -> the stage's recipe keys. The extra SFT always runs
    as many steps as GRPO (the match is not a setting that can drift)."""
    if stage == "more_sft":
        return {**config["more_sft"], "max_steps": config["grpo"]["max_steps"]}
    return dict(config[stage])


def check_tasks(config: dict) -> list[str]:
    """check_tasks(config) -> the tasks trained and evaluated, the keys of config["tasks"] ({task: share of the
    training rows}); ValueError naming what is expected when a task is unknown or the shares are not positive
    and summing to 1."""
    shares = config["tasks"]
    if not isinstance(shares, dict) or not shares or any(t not in TASKS for t in shares):
        raise ValueError(f"config tasks: {shares!r}; expected {{task: share}} with tasks among {', '.join(TASKS)}")
    if any(not isinstance(v, (int, float)) or v <= 0 for v in shares.values()) or abs(sum(shares.values()) - 1.0) > 1e-9:
        raise ValueError(f"config tasks: shares {list(shares.values())} must be positive and sum to 1")
    return list(shares)


def stage_data(config: dict, stage: str) -> dict[str, Any]:
    """stage_data(config, stage) -> the recipe keys of what a stage trains on: the SFT files (targets with the
    reasoning) for SFT and the extra SFT, the GRPO files (ground truth for the rewards) for GRPO; with several
    tasks, LLaMA-Factory interleaves their files with config["tasks"]'s shares as probabilities."""
    from vau_plugin.llamafactory.prepare import dataset_name

    tasks = check_tasks(config)
    keys: dict[str, Any] = {"dataset": ",".join(dataset_name(t, sft=stage != "grpo") for t in tasks)}
    if len(tasks) > 1:
        keys.update(mix_strategy=MIX_STRATEGY, interleave_probs=",".join(f"{config['tasks'][t]:g}" for t in tasks))
    return keys


def train_checkpoint(config: dict, stage: str, start: Path, data: Path, seed: int, variant: str, out: Path) -> Path:
    """train_checkpoint(config, stage, start checkpoint, data, seed, variant, out) -> out, trained by `stage`
    from `start` on `stage_data`; a learnable motion prompt continues from `start`'s."""
    recipe = GRPO_RECIPE if stage == "grpo" else SFT_RECIPE
    keys = {**common_overrides(config, start, data, seed, stage_data(config, stage), stage_settings(config, stage)),
            **motion_keys(variant, config["motion"], None if stage == "sft" else start)}  # fmt: skip
    return train_stage(recipe, keys, out)


GRPO_LOGGED = ("step", "reward", "reward_std", "entropy", "frac_reward_zero_std")


def grpo_log(grpo_dir: Path) -> list[dict[str, Any]]:
    """grpo_log(GRPO output folder) -> per logged step: total reward, each reward function's mean, reward std,
    policy entropy and the share of prompts whose completions all scored the same (no learning signal)."""
    return [
        {k: v for k, v in e.items() if k in GRPO_LOGGED or (k.startswith("rewards/") and k.endswith("/mean"))}
        for e in log_history(grpo_dir)
        if "reward" in e
    ]


def loss_log(output_dir: Path) -> list[dict[str, float]]:
    """loss_log(SFT output folder) -> [{"step", "loss"}] per logged step."""
    return [{"step": e["step"], "loss": e["loss"]} for e in log_history(output_dir) if "loss" in e]


# ------------------------------------------------------------------------------------------------ evaluation


def lmms_model_args(checkpoint: Path, variant: str, config: dict) -> str:
    """lmms_model_args(checkpoint, variant, config) -> --model_args for vau_qwen2_5_vl, sampling frames as in
    training (fps, frame cap, pixel budget) and prompting as the variant trained."""
    video = config["video"]
    args = [
        f"pretrained={checkpoint}", "device=cpu", "device_map=cpu", lmms_budget_args(video),
    ]  # fmt: skip
    if variant == "fixed":
        args += ["motion_prompt=true", f"motion_m={config['motion']['m']}", f"motion_n={config['motion']['n']}", f"motion_fill={config['motion']['fill']}"]
    elif variant == "learnable":
        args += ["motion_prompt=true", f"motion_weights={checkpoint}", f"motion_fill={config['motion']['fill']}"]
    return ",".join(args)


def split_clips(bench: Path, split: str) -> dict[str, dict]:
    """split_clips(bench, split) -> {video name: manifest entry} of the clips in `split`."""
    manifest = json.loads((bench / "manifest.json").read_text(encoding="utf-8"))
    return {c["name"]: c for c in manifest["clips"] if c["split"] == split}


def eval_task(task: str) -> str:
    """eval_task("qa" | "tag") -> the lmms-eval task that scores it (the `_think` prompts the training used)."""
    return f"vau_bench_{task}_think"


def evaluate(checkpoint: Path, variant: str, config: dict, bench: Path, out: Path, split: str = "test") -> dict[str, float]:
    """evaluate(checkpoint, variant, config, bench, out, split="test") -> {"qa_accuracy", "qa_accuracy_<type>",
    "qa_samples", "tag_mIoU", "tag_R@0.5", "tag_normal_accuracy", "tag_samples", ...} for config["tasks"]: one
    lmms-eval call on the bench's `split`; cached in out/metrics.json. Raises when lmms-eval scored another number
    of clips than the split holds for any task (a mean over a smaller base must not pass as the split's)."""
    cached = out / "metrics.json"
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    tasks = check_tasks(config)
    args = [
        "--model", "vau_qwen2_5_vl", "--model_args", lmms_model_args(checkpoint, variant, config),
        "--tasks", ",".join(eval_task(t) for t in tasks),
        "--gen_kwargs", f"max_new_tokens={config['eval']['max_new_tokens']}", "--log_samples", "--verbosity", "DEBUG",
        "--seed", "0", "--batch_size", str(config["eval"].get("batch_size", 1)),
    ]  # fmt: skip
    results = run_lmms_eval(args, out, bench_environment(bench, bench / "videos", split))["results"]
    clips = split_clips(bench, split)
    metrics: dict[str, float] = {}
    for task in tasks:
        values = results[eval_task(task)]
        metrics.update({f"{task}_{key[: -len(',none')]}": float(value) for key, value in values.items()
                        if key.endswith(",none") and "stderr" not in key and isinstance(value, (int, float))})  # fmt: skip
        if task == "qa":
            per_type, scored = qa_by_question_type(out, clips)
            metrics.update(per_type)
        else:
            scored = tag_scored(out, clips)
        check_scored(scored, len(clips), f"the {split} split ({eval_task(task)})", out)
        metrics[f"{task}_samples"] = scored
    cached.write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    return metrics


def qa_by_question_type(out: Path, clips: dict[str, dict]) -> tuple[dict[str, float], int]:
    """qa_by_question_type(eval folder, clips of the split) -> ({"qa_accuracy_<type>": percent}, clips scored),
    from lmms-eval's per-sample log and the bench manifest."""
    scores: dict[str, list[float]] = {}
    for sample in task_samples(out, eval_task("qa")):
        scored = sample.get("accuracy")  # the task's per-sample record: video, raw, pred, gt, score
        if isinstance(scored, dict) and scored.get("video") in clips and isinstance(scored.get("score"), (int, float)):
            scores.setdefault(clips[scored["video"]]["question_type"], []).append(float(scored["score"]))
    return {f"qa_accuracy_{t}": 100.0 * sum(v) / len(v) for t, v in scores.items() if v}, sum(map(len, scores.values()))


def tag_scored(out: Path, clips: dict[str, dict]) -> int:
    """tag_scored(eval folder, clips of the split) -> how many clips of the split lmms-eval's TAG log scored
    (anomalous ones count in mIoU / R@t, still ones in normal_accuracy)."""
    records = (sample.get("mIoU") for sample in task_samples(out, eval_task("tag")))
    return sum(1 for r in records if isinstance(r, dict) and r.get("video") in clips)


# ------------------------------------------------------------------------------------------------ baselines


def baselines(bench: Path, split: str = "test", tasks: tuple[str, ...] = ("qa",)) -> dict[str, dict[str, float]]:
    """baselines(bench, split="test", tasks=("qa",)) -> {"chance": ..., "majority": ...} on `split`, from the
    annotations only.

    chance: a uniform guess among the four options (25 % for every question type); none for TAG.
    majority: per question type, the train split's most frequent answer letter; for TAG (`tag_constant_span`),
    the train split's most frequent anomaly span, answered for every clip."""
    train, held_out = list(split_clips(bench, "train").values()), list(split_clips(bench, split).values())
    types = sorted({c["question_type"] for c in held_out})
    majority_letter = {}
    for qtype in types:
        letters = sorted(c["correct_option"] for c in train if c["question_type"] == qtype)
        majority_letter[qtype] = max(sorted(set(letters)), key=letters.count) if letters else None

    def score(pick) -> dict[str, float]:
        hits = {t: [pick(c) for c in held_out if c["question_type"] == t] for t in types}
        overall = [h for values in hits.values() for h in values]
        return {"qa_accuracy": 100.0 * statistics.fmean(overall), **{f"qa_accuracy_{t}": 100.0 * statistics.fmean(v) for t, v in hits.items() if v}}

    chance = {"qa_accuracy": 25.0, **{f"qa_accuracy_{t}": 25.0 for t in types}}
    majority = score(lambda c: float(c["correct_option"] == majority_letter[c["question_type"]]))
    if "tag" in tasks:
        majority.update(tag_constant_span(bench, split))
    return {"chance": chance, "majority": majority}


def tag_constant_span(bench: Path, split: str) -> dict[str, float]:
    """tag_constant_span(bench, split) -> {"tag_mIoU", "tag_R@0.3", "tag_R@0.5", "tag_R@0.7", "tag_normal_accuracy",
    "tag_span_start", "tag_span_end"} of one answer for every clip of `split`: the most frequent span of the train
    split's anomalous clips (a model that ignores the video can learn it; normal_accuracy is 0 as it never
    answers Normal). Scored by `vau_plugin.metrics.temporal_grounding`, as the TAG task scores a model."""
    from vau_plugin.data.sources import load_records
    from vau_plugin.metrics import temporal_grounding

    spans = Counter(tuple(r.span) for r in load_records(bench / "train.csv") if r.usable_tag)
    constant = max(sorted(spans), key=spans.__getitem__)
    held_out = load_records(bench / f"{split}.csv")
    expected = len(split_clips(bench, split))
    if len(held_out) != expected:  # the reader drops rows it cannot read; a baseline over fewer clips is wrong
        raise RuntimeError(f"{len(held_out)} readable rows in {split}.csv, the manifest's {split} split holds {expected}; "
                           f"run `vau-plugin validate {bench / f'{split}.csv'}`")  # fmt: skip
    grounding = temporal_grounding([constant] * len(held_out), [r.span if r.usable_tag else None for r in held_out])
    return {**{f"tag_{k}": grounding[k] for k in ("mIoU", "R@0.3", "R@0.5", "R@0.7")}, "tag_normal_accuracy": 0.0,
            "tag_span_start": constant[0], "tag_span_end": constant[1]}  # fmt: skip


# ------------------------------------------------------------------------------------------------ one pipeline


def run_pipeline(config: dict, model: Path, run_dir: Path, bench: Path, data: Path, seed: int, variant: str, timer: Timer) -> dict:
    """run_pipeline(...) -> {"seed", "variant", "sft" / "grpo" / "more_sft": test metrics, "rewards", "sft_loss",
    "more_sft_loss", "motion_prompt"} for one (seed, variant): SFT from the random model, then GRPO and the
    matched extra SFT, both from the SFT checkpoint; each checkpoint evaluated on the test split."""
    where = run_dir / f"seed{seed}" / variant
    label = f"seed{seed}/{variant}"
    result: dict[str, Any] = {"seed": seed, "variant": variant}
    for stage in STAGES:
        start = model if stage == "sft" else where / "sft"
        checkpoint = timer.run(f"{label} {stage}", train_checkpoint, config, stage, start, data, seed, variant, where / stage)
        result[stage] = timer.run(f"{label} eval {stage}", evaluate, checkpoint, variant, config, bench, where / f"eval_{stage}")
    result["rewards"] = grpo_log(where / "grpo")
    result["sft_loss"], result["more_sft_loss"] = loss_log(where / "sft"), loss_log(where / "more_sft")
    result["motion_prompt"] = {
        stage: json.loads((where / stage / "motion_prompt.json").read_text(encoding="utf-8"))
        for stage in STAGES
        if (where / stage / "motion_prompt.json").is_file()
    }
    return result


# ------------------------------------------------------------------------------------------------ sweep


def run_sweep(config: dict, results: Path, where: Path, bench: Path, data: Path) -> dict[str, Any]:
    """run_sweep(config, results, where, bench, data) -> the sweep's numbers, all on the val split: SFT for each Adam
    beta2 of config["sweep"]["adam_beta2"]; from the best of those (`val_score`), with its beta2, GRPO for
    each "grpo_learning_rate" and the extra SFT for each "more_sft_learning_rate". Written to `where`
    (results/sweep/): sweep.json and sweep.md; finished runs are reused."""
    sweep = config["sweep"]
    seed, variant = sweep["seed"], sweep["variant"]
    where.mkdir(parents=True, exist_ok=True)
    timer = Timer(where / "timings.json")
    model = timer.run(f"seed{seed} model", ensure_model, results, seed)
    rows: list[dict[str, Any]] = []

    def one(stage: str, setting: str, value: float, tuned: dict, start: Path) -> dict:
        name = f"{stage}_{setting}{value:g}"
        checkpoint = timer.run(name, train_checkpoint, tuned, stage, start, data, seed, variant, where / name)
        metrics = timer.run(f"eval {name}", evaluate, checkpoint, variant, tuned, bench, where / f"eval_{name}", "val")
        row = {"stage": stage, "setting": setting, "value": value, "checkpoint": str(checkpoint), **metrics, "val_score": val_score(metrics)}
        if stage == "grpo":
            rewards = grpo_log(checkpoint)
            for short in SWEEP_REWARDS:
                key = f"rewards/{short}_reward/mean"
                if any(key in e for e in rewards):
                    row[f"{short}_reward_first5"] = statistics.fmean(e.get(key, 0.0) for e in rewards[:5])
                    row[f"{short}_reward_last5"] = statistics.fmean(e.get(key, 0.0) for e in rewards[-5:])
        rows.append(row)
        return row

    for beta2 in sweep["adam_beta2"]:
        one("sft", "adam_beta2", beta2, merge(config, {"finetune": {"adam_beta2": beta2}}), model)
    best_sft = max(rows, key=lambda r: r["val_score"])
    base = merge(config, {"finetune": {"adam_beta2": best_sft["value"]}})
    for lr in sweep["grpo_learning_rate"]:
        one("grpo", "learning_rate", lr, merge(base, {"grpo": {"learning_rate": lr}}), Path(best_sft["checkpoint"]))
    for lr in sweep["more_sft_learning_rate"]:
        one("more_sft", "learning_rate", lr, merge(base, {"more_sft": {"learning_rate": lr}}), Path(best_sft["checkpoint"]))
    best = {stage: max((r for r in rows if r["stage"] == stage), key=lambda r: r["val_score"]) for stage in STAGES}
    summary = {
        "seed": seed, "variant": variant, "rows": rows, "timings": timer.rows,
        "best": {"adam_beta2": best["sft"]["value"], "grpo learning_rate": best["grpo"]["value"], "more_sft learning_rate": best["more_sft"]["value"]},
        "configured": {"adam_beta2": config["finetune"]["adam_beta2"], "grpo learning_rate": config["grpo"]["learning_rate"],
                       "more_sft learning_rate": config["more_sft"]["learning_rate"]},
    }  # fmt: skip
    (where / "sweep.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    (where / "sweep.md").write_text(sweep_table(summary) + "\n", encoding="utf-8")
    return summary


# What the sweep maximises on the val split: the mean of these metrics over the tasks evaluated (QA accuracy
# alone when only QA is), so that a setting that helps one task by ruining the other does not win.
SCORED = {"qa": "qa_accuracy", "tag": "tag_mIoU"}
SWEEP_REWARDS = ("accuracy", "tiou", "format")  # logged as rewards/<name>_reward/mean


def val_score(metrics: dict[str, float]) -> float:
    """val_score(metrics) -> the mean of QA accuracy and TAG mIoU (those present; percent): what the sweep picks by."""
    return statistics.fmean(metrics[key] for key in SCORED.values() if key in metrics)


def sweep_table(summary: dict) -> str:
    """sweep_table(sweep summary) -> markdown: one row per sweep run (val split), then the best values against
    the configured ones."""
    lines = ["| stage | setting | val score | QA acc | direction | moves | start | TAG mIoU | TAG normal acc | accuracy reward, first 5 -> last 5 steps | tIoU reward, first 5 -> last 5 | format reward, last 5 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip

    def cell(row: dict, key: str) -> str:
        return f"{row[key]:.1f}" if key in row else "–"

    def trend(row: dict, short: str) -> str:
        return f"{row[f'{short}_reward_first5']:.2f} -> {row[f'{short}_reward_last5']:.2f}" if f"{short}_reward_first5" in row else "–"

    for row in summary["rows"]:
        fmt = f"{row['format_reward_last5']:.2f}" if "format_reward_last5" in row else "–"
        metrics = [cell(row, k) for k in ("qa_accuracy", "qa_accuracy_direction", "qa_accuracy_moves", "qa_accuracy_start", "tag_mIoU", "tag_normal_accuracy")]
        lines.append(f"| {STAGES[row['stage']]} | {row['setting']} {row['value']:g} | {val_score(row):.1f} | {' | '.join(metrics)} | "
                     f"{trend(row, 'accuracy')} | {trend(row, 'tiou')} | {fmt} |")  # fmt: skip
    lines.append("")
    lines += [f"- {key}: best on val {value:g}, configured {summary['configured'][key]:g}" for key, value in summary["best"].items()]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ report


def mean_std(values: list[float]) -> tuple[float, float]:
    """mean_std(values) -> (mean, sample std; 0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


METRICS = ("qa_accuracy", "qa_accuracy_direction", "qa_accuracy_moves", "qa_accuracy_start", "tag_mIoU", "tag_R@0.5", "tag_normal_accuracy")


def aggregate(runs: list[dict], base: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """aggregate(runs, baselines) -> table rows {"method", "n", metric: [mean, std]} for the baselines, for each
    (stage, variant) over seeds, and for GRPO minus its matched extra SFT (paired by seed; std of the
    differences)."""
    rows = [{"method": name, "n": None, **{m: [v[m], None] for m in METRICS if m in v}} for name, v in base.items()]
    for stage, label in STAGES.items():
        for variant in VARIANTS:
            chosen = [r[stage] for r in runs if r["variant"] == variant and stage in r]
            if chosen:
                row: dict[str, Any] = {"method": f"{label}, motion={variant}", "n": len(chosen)}
                row.update({m: list(mean_std([c[m] for c in chosen if m in c])) for m in METRICS if any(m in c for c in chosen)})
                rows.append(row)
    for variant in VARIANTS:
        paired = [r for r in runs if r["variant"] == variant and "grpo" in r and "more_sft" in r]
        if paired:
            row = {"method": f"GRPO − more SFT, motion={variant}", "n": len(paired)}
            for metric in METRICS:
                diffs = [r["grpo"][metric] - r["more_sft"][metric] for r in paired if metric in r["grpo"] and metric in r["more_sft"]]
                if diffs:
                    row[metric] = list(mean_std(diffs))
            rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """markdown_table(rows) -> the results table (mean ± std over seeds, percent; TAG mIoU and R@0.5 over the
    anomalous clips, normal acc over the still ones)."""
    header = "| method | seeds | QA acc | direction | moves | start | TAG mIoU | TAG R@0.5 | TAG normal acc |\n|---|---|---|---|---|---|---|---|---|"
    lines = [header]
    for row in rows:
        cells = [("–" if m not in row else f"{row[m][0]:.1f}" if row[m][1] is None else f"{row[m][0]:.1f} ± {row[m][1]:.1f}") for m in METRICS]
        lines.append(f"| {row['method']} | {row['n'] or '–'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


CURVES = (
    ("reward", "GRPO total reward (sum of the rewards)"),
    ("rewards/accuracy_reward/mean", "GRPO accuracy reward"),
    ("rewards/tiou_reward/mean", "GRPO temporal IoU reward (all completions; QA rows score 0)"),
    ("rewards/format_reward/mean", "GRPO format reward"),
    ("entropy", "policy entropy (nats / token)"),
)
COLOURS = {"none": "tab:grey", "fixed": "tab:blue", "learnable": "tab:orange"}


def plot_rewards(runs: list[dict], path: Path, window: int = 5) -> Path | None:
    """plot_rewards(runs, path, window=5) -> path of a PNG: per GRPO step, the total, accuracy and format rewards
    and the policy entropy (thin: each seed; thick: mean over seeds; both a trailing `window`-step mean, since
    one step sees few prompts) and the SFT loss per logged step; None when no reward was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(r.get("rewards") for r in runs):
        return None
    fig, axes = plt.subplots(1, len(CURVES) + 1, figsize=(24, 3.8))
    for variant in VARIANTS:
        chosen = [r for r in runs if r["variant"] == variant and r.get("rewards")]
        for ax, (key, title) in zip(axes, CURVES):
            series = []
            for run in chosen:
                points = [(e["step"], e[key]) for e in run["rewards"] if e.get(key) is not None]
                if points:
                    steps, values = zip(*points)
                    smooth = moving_mean(list(values), window)
                    ax.plot(steps, smooth, color=COLOURS[variant], alpha=0.25, linewidth=0.8)
                    series.append((steps, smooth))
            if series:
                length = min(len(s[1]) for s in series)
                mean = [statistics.fmean(s[1][i] for s in series) for i in range(length)]
                ax.plot(series[0][0][:length], mean, color=COLOURS[variant], linewidth=2, label=f"motion={variant} (n={len(series)})")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("GRPO step")
        for run in [r for r in runs if r["variant"] == variant]:
            if run.get("sft_loss"):
                axes[-1].plot([e["step"] for e in run["sft_loss"]], [e["loss"] for e in run["sft_loss"]], color=COLOURS[variant], alpha=0.6, linewidth=1)
    axes[-1].set_title("SFT loss (each seed)", fontsize=9)
    axes[-1].set_xlabel("SFT step")
    axes[-1].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def prediction_stats(eval_dir: Path) -> dict[str, Any]:
    """prediction_stats(eval folder) -> what the model answered, from lmms-eval's per-sample logs: the share of
    the most frequent QA letter and the share of answers that could not be parsed (a model that ignores the
    video gives one answer for every clip)."""
    letters: list[str | None] = []
    for path in eval_dir.rglob("*samples_*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            sample = json.loads(line)
            if isinstance(sample.get("accuracy"), dict):
                letters.append(sample["accuracy"].get("pred"))
    if not letters:
        return {}
    parsed = [p for p in letters if p]
    top = Counter(parsed).most_common(1)[0][1] if parsed else 0
    return {"qa_top_answer_share": 100.0 * top / len(letters), "qa_unparsed_share": 100.0 * (len(letters) - len(parsed)) / len(letters)}


def prediction_table(run_dir: Path, runs: list[dict]) -> str:
    """prediction_table(run_dir, runs) -> markdown: per (stage, variant), mean over seeds of `prediction_stats`."""
    lines = ["| checkpoint | seeds | share of the most frequent letter | unparsed answers |", "|---|---|---|---|"]
    for stage, label in STAGES.items():
        for variant in VARIANTS:
            stats = [prediction_stats(run_dir / f"seed{r['seed']}" / variant / f"eval_{stage}") for r in runs if r["variant"] == variant]
            stats = [s for s in stats if s]
            if stats:
                share = statistics.fmean(s["qa_top_answer_share"] for s in stats)
                unparsed = statistics.fmean(s["qa_unparsed_share"] for s in stats)
                lines.append(f"| {label}, motion={variant} | {len(stats)} | {share:.1f} % | {unparsed:.1f} % |")
    return "\n".join(lines)


def write_report(run_dir: Path, summary: dict) -> tuple[str, Path | None]:
    """write_report(run_dir, summary) -> (markdown table, plot path): results.md and reward_curves.png from the
    numbers in `summary` (as saved in summary.json)."""
    table = markdown_table(aggregate(summary["runs"], summary["baselines"]))
    report = table + "\n\n" + prediction_table(run_dir, summary["runs"])
    (run_dir / "results.md").write_text(report + "\n", encoding="utf-8")
    return table, plot_rewards(summary["runs"], run_dir / "reward_curves.png")


# ------------------------------------------------------------------------------------------------ main


def settings(values: dict) -> dict:
    """What decides the outputs of a stage (seeds and variants only pick runs; the sweep block only the sweep)."""
    return {k: v for k, v in values.items() if k not in ("seeds", "variants", "sweep")}


def sweep_settings(values: dict) -> dict:
    """What decides the outputs of the sweep: everything but the seeds, the variants and the three values the
    sweep sets itself (so that writing the sweep's best values into the config keeps its runs reusable)."""
    swept = {"finetune": "adam_beta2", "grpo": "learning_rate", "more_sft": "learning_rate"}
    kept = {k: v for k, v in values.items() if k not in ("seeds", "variants")}
    return {k: ({kk: vv for kk, vv in v.items() if kk != swept[k]} if k in swept else v) for k, v in kept.items()}


def check_results_folder(run_dir: Path, config: dict, parser: argparse.ArgumentParser, decisive=settings) -> None:
    """Finished stages are reused, so a results folder must come from the same settings (`decisive` picks which
    count): exit 2 otherwise."""
    saved = run_dir / "config.json"
    if saved.is_file():
        earlier, current = decisive(json.loads(saved.read_text(encoding="utf-8"))), decisive(config)
        if earlier != current:
            changed = sorted(k for k in current.keys() | earlier.keys() if current.get(k) != earlier.get(k))
            parser.error(f"{run_dir} holds a run made with other settings ({', '.join(changed)} differ); delete that folder or pass --out DIR")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 seed, 1 variant: the pipeline in a few minutes")
    parser.add_argument("--seeds", help="comma-separated seeds (default: the config's)")
    parser.add_argument("--variants", help=f"comma-separated subset of {','.join(VARIANTS)} (default: the config's)")
    parser.add_argument("--sweep", action="store_true", help="the optimisation sweep on the val split (results/sweep/)")
    parser.add_argument("--report", action="store_true", help="only redraw results.md and reward_curves.png from an earlier run's summary.json")
    parser.add_argument("--tier", choices=TIERS, help="the bench's tier for the full run (default: the config's); "
                        "another tier than the config's writes results/full_<tier>/ with the config's swept settings")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help="results folder (default experiments/motion_vau/results)")
    args = parser.parse_args(argv)

    config = load_config(args.config, args.quick)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(config["seeds"])
    variants = args.variants.split(",") if args.variants else list(config["variants"])
    for variant in variants:
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}; expected some of {','.join(VARIANTS)}")
    results = args.out.resolve()
    run_dir = results / ("quick" if args.quick else "full")
    if args.tier and args.tier != config["bench"]["tier"]:
        if args.sweep:
            parser.error("--tier: the sweep runs on the config's tier; its settings serve the other tier's full run")
        config = merge(config, {"bench": {"tier": args.tier}})
        run_dir = run_dir.with_name(f"{run_dir.name}_{args.tier}")
    if args.report:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        table, plot = write_report(run_dir, summary)
        print(table + (f"\nreward curves: {plot}" if plot else ""))
        return 0
    if args.sweep:
        run_dir = results / "sweep"
    check_results_folder(run_dir, config, parser, sweep_settings if args.sweep else settings)
    bench = ensure_bench(results, config["bench"])
    data = ensure_dataset(bench, config["prompt_style"], check_tasks(config))
    if args.sweep:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        summary = run_sweep(config, results, run_dir, bench, data)
        print(sweep_table(summary))
        return 0
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({**config, "seeds": seeds, "variants": variants}, indent=1) + "\n")
    timer = Timer(run_dir / "timings.json")
    started = time.monotonic()
    runs = []
    for seed in seeds:
        model = timer.run(f"seed{seed} model", ensure_model, results, seed)
        for variant in variants:
            runs.append(run_pipeline(config, model, run_dir, bench, data, seed, variant, timer))
    base = baselines(bench, tasks=tuple(check_tasks(config)))
    summary = {
        "config": config, "seeds": seeds, "variants": variants, "bench": str(bench), "baselines": base,
        "runs": runs, "table": aggregate(runs, base), "timings": timer.rows, "total_seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    table, plot = write_report(run_dir, summary)
    print("\n" + table)
    print(f"\nreward curves: {plot}" if plot else "\nno GRPO reward logged")
    print(f"summary: {run_dir / 'summary.json'}; total {summary['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Motion prompts × GRPO on the synthetic motion bench (issue 7): one command, fixed seeds, every stage timed.

    python experiments/motion_vau/run.py [--quick] [--seeds 0,1,2] [--variants none,fixed,learnable]
                                         [--no-align] [--config experiments/motion_vau/config.json] [--out DIR]

For each seed:
  0. a random-initialised tiny Qwen2.5-VL (`vau_plugin.tiny_model.make_tiny_model(seed)`), aligned to video by a
     short caption SFT (`<video>Describe the anomaly.` -> the Reasoning sentence) through `llamafactory-cli train
     recipes/vau_r1_sft_tiny.yaml`, plain frames; shared by the three variants (`--no-align` skips it);
and for each variant (none / fixed motion prompt / learnable motion prompt), from that checkpoint:
  1. SFT on the train split (prompts of the lmms-eval `_think` tasks) through `llamafactory-cli train`;
  2. lmms-eval (QA + TAG in one call) of the SFT checkpoint on the held-out split;
  3. GRPO from the SFT checkpoint through `llamafactory-cli train recipes/vau_r1_grpo_tiny.yaml k=v ...`;
  4. lmms-eval of the GRPO checkpoint.
The bench (`vau_plugin.data.motion_bench`) and the LLaMA-Factory dataset (`vau_plugin.data.prepare`) are made
once per bench setting and reused. Chance / majority baselines come from the annotations. Everything goes under
results/<run>/ (git-ignored): summary.json (every number, timings), results.md (mean ± std table),
reward_curves.png, and per run the training and evaluation logs. A finished stage (its output file exists) is
not run again, so an interrupted run continues where it stopped; delete the folder to start over.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from vau_plugin.learning import moving_mean
from vau_plugin.lmms.docs import bench_environment

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "config.json"
DEFAULT_RESULTS = HERE / "results"
VARIANTS = ("none", "fixed", "learnable")
SFT_RECIPE = "vau_r1_sft_tiny.yaml"
# Alignment pre-training (stage 0, as an MLLM is pre-trained before instruction tuning): video, then this short
# instruction -> the clip's Reasoning sentence. Short sequences put the answer next to the video tokens, which
# is what lets a randomly initialised model start reading the video at all (see README, "Why stage 0").
CAPTION_PROMPT = "Describe the anomaly."
CAPTION_DATASET = "motion_caption"
GRPO_RECIPE = "vau_r1_grpo_tiny.yaml"
# lmms-eval result keys (metric,filter) reported in the table, per task kind.
REPORTED = {"qa": ("accuracy",), "tag": ("mIoU", "R@0.5")}


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
    """ensure_bench(results, bench settings) -> bench root (generated unless its manifest exists)."""
    from vau_plugin.data.motion_bench import make_motion_bench

    root = bench_dir(results, bench)
    if not (root / "manifest.json").is_file():
        summary = make_motion_bench(root, **bench)
        print(summary.describe(), flush=True)
    return root


def ensure_dataset(bench: Path, tasks: list[str], prompt_style: str) -> Path:
    """ensure_dataset(bench root, tasks, prompt_style) -> LLaMA-Factory dataset folder prepared from its train
    split (see `vau_plugin.data.prepare.PROMPT_STYLES`)."""
    from vau_plugin.data.prepare import prepare_dataset

    out = bench / f"lf_data_{prompt_style}"
    if not (out / "dataset_info.json").is_file():
        summary = prepare_dataset(bench, bench / "videos", out, tasks=tasks, split="train", prompt_style=prompt_style)
        print(summary.describe(), flush=True)
    return out


def ensure_caption_dataset(bench: Path, data: Path) -> str:
    """ensure_caption_dataset(bench root, LLaMA-Factory folder) -> dataset name of the stage-0 rows (one per
    train clip: `<video>` + CAPTION_PROMPT -> the Reasoning sentence), added to the folder's dataset_info.json."""
    from vau_plugin.data.prepare import DATASET_INFO, VIDEO_PLACEHOLDER, dataset_info_entry
    from vau_plugin.data.reader import load_records

    file_name = f"{CAPTION_DATASET}.json"
    info = json.loads((data / DATASET_INFO).read_text(encoding="utf-8"))
    if CAPTION_DATASET not in info:
        rows = [
            {
                "messages": [
                    {"role": "user", "content": VIDEO_PLACEHOLDER + CAPTION_PROMPT},
                    {"role": "assistant", "content": record.reasoning},
                ],
                "videos": [str((bench / "videos" / record.video).resolve())],
            }
            for record in load_records(bench, split="train")
        ]
        (data / file_name).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
        info[CAPTION_DATASET] = dataset_info_entry(file_name)
        (data / DATASET_INFO).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return CAPTION_DATASET


def ensure_model(results: Path, seed: int) -> Path:
    """ensure_model(results, seed) -> a random-initialised tiny Qwen2.5-VL made from `seed` (once)."""
    from vau_plugin.tiny_model import make_tiny_model

    out = results / "models" / f"tiny_seed{seed}"
    if not (out / "config.json").is_file():
        make_tiny_model(out, seed=seed)
    return out


# ------------------------------------------------------------------------------------------------ training


def motion_keys(variant: str, motion: dict, start_from: Path | None) -> dict[str, Any]:
    """motion_keys(variant, motion settings, start_from) -> the recipe keys of a variant.

    none: qwen2_vl_vau (qwen2_vl with the plugin's video decoder). fixed: qwen2_vl_motion with (m, n) fixed. learnable: qwen2_vl_motion with
    (m, n) trained in the model, starting from `start_from`'s motion_prompt.json when given (GRPO after SFT)."""
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
    from vau_plugin.llamafactory.demo import train_once
    from vau_plugin.recipes import recipe_path

    return train_once(recipe_path(recipe), output_dir, {**overrides, "output_dir": output_dir})


def common_overrides(config: dict, model: Path, data: Path, seed: int, dataset: str, stage_cfg: dict) -> dict[str, Any]:
    """The recipe keys shared by SFT and GRPO: model, data, video sampling, what trains, seed, the stage's own
    settings. The vision tower and projector train too (LLaMA-Factory freezes them by default, which would leave
    a randomly initialised model with random visual features)."""
    return {
        "model_name_or_path": model,
        "dataset_dir": data,
        "dataset": dataset,
        "max_samples": 100000,
        "seed": seed,
        "save_steps": 100000,  # only the final model is kept
        **config["video"],
        **config["finetune"],
        **stage_cfg,
    }


def log_history(output_dir: Path) -> list[dict[str, Any]]:
    """log_history(output_dir) -> trainer_state.json's log_history (every logged step)."""
    state = json.loads((output_dir / "trainer_state.json").read_text(encoding="utf-8"))
    return state.get("log_history", [])


GRPO_LOGGED = ("step", "reward", "reward_std", "entropy", "frac_reward_zero_std")


def grpo_log(grpo_dir: Path) -> list[dict[str, Any]]:
    """grpo_log(GRPO output folder) -> per logged step: total reward, each reward function's mean, reward std,
    policy entropy and the share of prompts whose completions all scored the same (no learning signal)."""
    return [
        {k: v for k, v in e.items() if k in GRPO_LOGGED or (k.startswith("rewards/") and k.endswith("/mean"))}
        for e in log_history(grpo_dir)
        if "reward" in e
    ]


# ------------------------------------------------------------------------------------------------ evaluation


def lmms_model_args(checkpoint: Path, variant: str, config: dict) -> str:
    """lmms_model_args(checkpoint, variant, config) -> --model_args for vau_qwen2_5_vl, sampling frames as in
    training (fps, frame cap, pixel budget) and prompting as the variant trained."""
    video = config["video"]
    args = [
        f"pretrained={checkpoint}", "device=cpu", "device_map=cpu", f"fps={video['video_fps']}",
        f"max_num_frames={video['video_maxlen']}", f"min_pixels={video['video_min_pixels']}", f"max_pixels={video['video_max_pixels']}",
    ]  # fmt: skip
    if variant == "fixed":
        args += ["motion_prompt=true", f"motion_m={config['motion']['m']}", f"motion_n={config['motion']['n']}", f"motion_fill={config['motion']['fill']}"]
    elif variant == "learnable":
        args += ["motion_prompt=true", f"motion_weights={checkpoint}", f"motion_fill={config['motion']['fill']}"]
    return ",".join(args)


def evaluate(checkpoint: Path, variant: str, config: dict, bench: Path, out: Path) -> dict[str, float]:
    """evaluate(checkpoint, variant, config, bench, out) -> {"qa_accuracy", "tag_mIoU", "tag_R@0.5", ...}: one
    lmms-eval call (QA + TAG tasks) on the bench's held-out split; cached in out/metrics.json."""
    from vau_plugin.data.motion_bench import LMMS_SPLIT

    cached = out / "metrics.json"
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    tool = Path(sys.executable).with_name("lmms-eval")
    cmd = [
        str(tool), "--model", "vau_qwen2_5_vl", "--model_args", lmms_model_args(checkpoint, variant, config),
        "--tasks", ",".join(config["eval"]["tasks"]), "--gen_kwargs", f"max_new_tokens={config['eval']['max_new_tokens']}",
        "--output_path", str(out), "--log_samples", "--verbosity", "DEBUG", "--seed", "0",
        "--batch_size", str(config["eval"].get("batch_size", 1)),
    ]  # fmt: skip
    if config["eval"].get("limit"):
        cmd += ["--limit", str(config["eval"]["limit"])]
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
        **bench_environment(bench, bench / "videos", LMMS_SPLIT),
    }  # fmt: skip
    with open(out / "lmms_eval.log", "w", encoding="utf-8") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    found = sorted(out.rglob("*_results.json"))
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"lmms-eval failed (exit {proc.returncode}); see {out / 'lmms_eval.log'}")
    results = json.loads(found[-1].read_text(encoding="utf-8"))["results"]
    metrics: dict[str, float] = {}
    for task, values in results.items():
        kind = "qa" if "_qa_" in task else "tag" if "_tag_" in task else None
        if kind is None:
            continue
        for key, value in values.items():
            if key.endswith(",none") and "stderr" not in key and isinstance(value, (int, float)):
                metrics[f"{kind}_{key[: -len(',none')]}"] = float(value)
    metrics.update(qa_by_question_type(out, bench))
    cached.write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    return metrics


def qa_by_question_type(out: Path, bench: Path) -> dict[str, float]:
    """qa_by_question_type(eval folder, bench) -> {"qa_accuracy_timing", "qa_accuracy_kind"} (percent) from
    lmms-eval's per-sample log and the bench manifest; {} when the samples are not found."""
    manifest = json.loads((bench / "manifest.json").read_text(encoding="utf-8"))
    qtype = {c["name"]: c["question_type"] for c in manifest["clips"]}
    scores: dict[str, list[float]] = {}
    for path in out.rglob("*samples_*qa*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            scored = json.loads(line).get("accuracy")  # the task's per-sample record: video, raw, pred, gt, score
            if isinstance(scored, dict) and scored.get("video") in qtype and isinstance(scored.get("score"), (int, float)):
                scores.setdefault(qtype[scored["video"]], []).append(float(scored["score"]))
    return {f"qa_accuracy_{t}": 100.0 * sum(v) / len(v) for t, v in scores.items() if v}


# ------------------------------------------------------------------------------------------------ baselines


def baselines(bench: Path) -> dict[str, dict[str, float]]:
    """baselines(bench) -> {"chance": ..., "majority": ...} on the held-out split, from the annotations only.

    chance: QA 25 %; TAG the mean over 1000 uniformly random spans inside the clip (seed 0).
    majority: QA the most frequent train answer per question type; TAG the mean train span for every video."""
    import numpy as np

    from vau_plugin.metrics import temporal_grounding

    manifest = json.loads((bench / "manifest.json").read_text(encoding="utf-8"))
    train = [c for c in manifest["clips"] if c["split"] == "train"]
    test = [c for c in manifest["clips"] if c["split"] == "test"]
    gt = [c["span"] for c in test]
    duration = manifest["spec"]["n_frames"] / manifest["spec"]["fps"]
    rng = np.random.default_rng(0)
    draws = [temporal_grounding([sorted(rng.uniform(0, duration, 2)) for _ in gt], gt) for _ in range(1000)]
    chance = {"qa_accuracy": 100.0 / 4, "tag_mIoU": float(np.mean([d["mIoU"] for d in draws])), "tag_R@0.5": float(np.mean([d["R@0.5"] for d in draws]))}
    majority_answer = {}
    for qtype in {c["question_type"] for c in train}:
        answers = [c["correct_option"] for c in train if c["question_type"] == qtype]
        majority_answer[qtype] = max(sorted(set(answers)), key=answers.count)
    qa = 100.0 * float(np.mean([c["correct_option"] == majority_answer.get(c["question_type"]) for c in test]))
    mean_span = [float(np.mean([c["span"][0] for c in train])), float(np.mean([c["span"][1] for c in train]))]
    tag = temporal_grounding([mean_span] * len(gt), gt)
    majority = {"qa_accuracy": qa, "tag_mIoU": tag["mIoU"], "tag_R@0.5": tag["R@0.5"], "mean_train_span": mean_span}
    return {"chance": chance, "majority": majority}


# ------------------------------------------------------------------------------------------------ one pipeline


def align_stage(config: dict, results: Path, run_dir: Path, data: Path, seed: int, timer: Timer) -> Path:
    """align_stage(...) -> the stage-0 checkpoint of `seed`: the random model trained on the caption rows with
    plain frames, shared by the three variants (motion prompts enter at fine-tuning, as in the motion-prompt
    paper, where a pre-trained model gets the layer)."""
    model = timer.run(f"seed{seed} model", ensure_model, results, seed)
    if not config.get("align"):
        return model  # ablation: fine-tune the random model directly
    keys = {**common_overrides(config, model, data, seed, CAPTION_DATASET, config["align"]), "template": "qwen2_vl_vau"}
    return timer.run(f"seed{seed} align", train_stage, SFT_RECIPE, keys, run_dir / f"seed{seed}" / "align")


KIND_WORDS = {  # words of each kind's Reasoning sentence (vau_plugin.data.motion_bench) that no other kind uses
    "object_falling": "object",
    "car_crash": "car",
    "person_falling": "walking person",
    "snatch_run": "snatch",
}


def caption_probe(checkpoint: Path, bench: Path, config: dict, split: str = "test", batch_size: int = 16) -> dict[str, Any]:
    """caption_probe(stage-0 checkpoint, bench, config) -> does the aligned model read the video? It captions
    every clip of `split` as in stage 0 (greedy, the evaluation's frame sampling) and scores the caption's kind
    (KIND_WORDS) and start time (inside the clip's 1-s start window); chance is 25 % for both. Cached in
    checkpoint/probe_<split>.json."""
    import re

    import torch
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from vau_plugin.llamafactory.mm_plugin import sampling_config
    from vau_plugin.video import load_video

    cached = checkpoint / f"probe_{split}.json"
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    processor = AutoProcessor.from_pretrained(checkpoint)
    processor.tokenizer.padding_side = "left"
    for key, value in config["video"].items():  # the frames training saw (the plugin's decoder, qwen2_vl_vau)
        setattr(processor, key, value)
    sampling = sampling_config(processor)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint).eval()
    clips = [c for c in json.loads((bench / "manifest.json").read_text(encoding="utf-8"))["clips"] if c["split"] == split]
    kind_hits = start_hits = 0
    named: Counter[str] = Counter()
    for first in range(0, len(clips), batch_size):
        batch = clips[first : first + batch_size]
        messages = [[{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": CAPTION_PROMPT}]}] for _ in batch]
        texts = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        videos = [load_video(bench / "videos" / c["name"], sampling) for c in batch]
        inputs = processor(text=texts, videos=[v.frames for v in videos], fps=[v.sample_fps for v in videos],
                           padding=True, return_tensors="pt")  # fmt: skip
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=48, do_sample=False)
        for clip, ids in zip(batch, output[:, inputs["input_ids"].shape[1] :]):
            caption = processor.tokenizer.decode(ids, skip_special_tokens=True)
            kind = next((kind for kind, word in KIND_WORDS.items() if word in caption), "none")
            named[kind] += 1
            kind_hits += kind == clip["kind"]
            start = re.search(r"from (\d+(?:\.\d+)?) s", caption)
            start_hits += bool(start) and clip["start_window"][0] <= float(start.group(1)) < clip["start_window"][1]
    result = {"clips": len(clips), "kind_accuracy": 100.0 * kind_hits / len(clips),
              "start_window_accuracy": 100.0 * start_hits / len(clips), "kinds_named": dict(named)}  # fmt: skip
    cached.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def run_pipeline(config: dict, aligned: Path, run_dir: Path, bench: Path, data: Path, seed: int, variant: str, timer: Timer) -> dict:
    """run_pipeline(...) -> {"sft": metrics, "grpo": metrics, "rewards": [...], "sft_loss": [...]} for one
    (seed, variant): SFT from the stage-0 checkpoint `aligned`, eval, GRPO from the SFT checkpoint, eval."""
    where = run_dir / f"seed{seed}" / variant
    label = f"seed{seed}/{variant}"
    sft_dir = where / "sft"
    sft_keys = {**common_overrides(config, aligned, data, seed, "vau_r1_sft_mixed", config["sft"]), **motion_keys(variant, config["motion"], None)}
    timer.run(f"{label} sft", train_stage, SFT_RECIPE, sft_keys, sft_dir)
    sft_metrics = timer.run(f"{label} eval sft", evaluate, sft_dir, variant, config, bench, where / "eval_sft")
    grpo_dir = where / "grpo"
    grpo_keys = {**common_overrides(config, sft_dir, data, seed, "vau_r1_mixed", config["grpo"]), **motion_keys(variant, config["motion"], sft_dir)}
    timer.run(f"{label} grpo", train_stage, GRPO_RECIPE, grpo_keys, grpo_dir)
    grpo_metrics = timer.run(f"{label} eval grpo", evaluate, grpo_dir, variant, config, bench, where / "eval_grpo")
    rewards = grpo_log(grpo_dir)
    sft_loss = [{"step": e["step"], "loss": e["loss"]} for e in log_history(sft_dir) if "loss" in e]
    motion = {}
    for stage, folder in (("sft", sft_dir), ("grpo", grpo_dir)):
        if (folder / "motion_prompt.json").is_file():
            motion[stage] = json.loads((folder / "motion_prompt.json").read_text(encoding="utf-8"))
    return {"seed": seed, "variant": variant, "sft": sft_metrics, "grpo": grpo_metrics, "rewards": rewards, "sft_loss": sft_loss, "motion_prompt": motion}


# ------------------------------------------------------------------------------------------------ report


def mean_std(values: list[float]) -> tuple[float, float]:
    """mean_std(values) -> (mean, sample std; 0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


METRICS = ("qa_accuracy", "qa_accuracy_timing", "qa_accuracy_kind", "tag_mIoU", "tag_R@0.5")


def aggregate(runs: list[dict], base: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """aggregate(runs, baselines) -> table rows {"method", "n", metric: [mean, std]} for baselines and for each
    (stage, variant) over seeds."""
    rows = [{"method": name, "n": None, **{m: [v[m], None] for m in METRICS if m in v}} for name, v in base.items()]
    for stage in ("sft", "grpo"):
        for variant in VARIANTS:
            chosen = [r[stage] for r in runs if r["variant"] == variant]
            if not chosen:
                continue
            row: dict[str, Any] = {"method": f"{'SFT' if stage == 'sft' else 'SFT+GRPO'}, motion={variant}", "n": len(chosen)}
            for metric in METRICS:
                values = [c[metric] for c in chosen if metric in c]
                if values:
                    row[metric] = list(mean_std(values))
            rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """markdown_table(rows) -> the results table (mean ± std over seeds, percent)."""
    header = "| method | seeds | QA acc | QA acc (timing) | QA acc (kind) | TAG mIoU | TAG R@0.5 |\n|---|---|---|---|---|---|---|"
    lines = [header]
    for row in rows:
        cells = [("–" if m not in row else f"{row[m][0]:.1f}" if row[m][1] is None else f"{row[m][0]:.1f} ± {row[m][1]:.1f}") for m in METRICS]
        lines.append(f"| {row['method']} | {row['n'] or '–'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


CURVES = (
    ("reward", "GRPO total reward (format + accuracy + tIoU)"),
    ("rewards/accuracy_reward/mean", "GRPO accuracy reward"),
    ("rewards/tiou_reward/mean", "GRPO tIoU reward"),
    ("entropy", "policy entropy (nats / token)"),
)
COLOURS = {"none": "tab:grey", "fixed": "tab:blue", "learnable": "tab:orange"}


def plot_rewards(runs: list[dict], path: Path, window: int = 8) -> Path | None:
    """plot_rewards(runs, path, window=8) -> path of a PNG: per GRPO step, the total, accuracy and tIoU rewards
    (thin: each seed; thick: mean over seeds; both a trailing `window`-step mean, since one step sees few
    prompts) and the SFT loss per logged step; None when no reward was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(r["rewards"] for r in runs):
        return None
    fig, axes = plt.subplots(1, len(CURVES) + 1, figsize=(20, 3.8))
    for variant in VARIANTS:
        chosen = [r for r in runs if r["variant"] == variant and r["rewards"]]
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
    the most frequent QA letter, the number of distinct TAG spans and their mean (a model that ignores the video
    gives one answer and one span for every clip)."""
    letters: list[str] = []
    spans: list[tuple[float, float]] = []
    for path in eval_dir.rglob("*samples_*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            sample = json.loads(line)
            if isinstance(sample.get("accuracy"), dict):
                letters.append(str(sample["accuracy"].get("pred")))
            elif isinstance(sample.get("mIoU"), dict) and sample["mIoU"].get("pred"):
                spans.append(tuple(sample["mIoU"]["pred"]))
    stats: dict[str, Any] = {}
    if letters:
        stats["qa_top_answer_share"] = 100.0 * Counter(letters).most_common(1)[0][1] / len(letters)
    if spans:
        stats["tag_distinct_spans"] = len(set(spans))
        stats["tag_mean_span"] = [round(statistics.fmean(s[0] for s in spans), 2), round(statistics.fmean(s[1] for s in spans), 2)]
    return stats


def prediction_table(run_dir: Path, runs: list[dict]) -> str:
    """prediction_table(run_dir, runs) -> markdown: per (stage, variant), mean over seeds of `prediction_stats`."""
    lines = ["| checkpoint | seeds | QA: share of the most frequent letter | TAG: distinct spans (of 200) | TAG: mean span (s) |", "|---|---|---|---|---|"]
    for stage in ("sft", "grpo"):
        for variant in VARIANTS:
            stats = [prediction_stats(run_dir / f"seed{r['seed']}" / variant / f"eval_{stage}") for r in runs if r["variant"] == variant]
            stats = [s for s in stats if s]
            if not stats:
                continue
            share = statistics.fmean(s.get("qa_top_answer_share", float("nan")) for s in stats)
            distinct = statistics.fmean(s.get("tag_distinct_spans", 0) for s in stats)
            spans = [s["tag_mean_span"] for s in stats if "tag_mean_span" in s]
            mean_span = f"[{statistics.fmean(x[0] for x in spans):.2f}, {statistics.fmean(x[1] for x in spans):.2f}]" if spans else "–"
            lines.append(f"| {'SFT' if stage == 'sft' else 'SFT+GRPO'}, motion={variant} | {len(stats)} | {share:.1f} % | {distinct:.1f} | {mean_span} |")
    return "\n".join(lines)


def write_report(run_dir: Path, summary: dict) -> tuple[str, Path | None]:
    """write_report(run_dir, summary) -> (markdown table, plot path): results.md and reward_curves.png from the
    numbers in `summary` (as saved in summary.json)."""
    rows = aggregate(summary["runs"], summary["baselines"])
    table = markdown_table(rows)
    predictions = prediction_table(run_dir, summary["runs"])
    probes = summary.get("align_probe") or {}
    probe_lines = ["| stage-0 checkpoint | held-out clips | caption names the right kind | caption's start in the right 1-s window |", "|---|---|---|---|"]
    probe_lines += [f"| seed {seed} | {p['clips']} | {p['kind_accuracy']:.1f} % | {p['start_window_accuracy']:.1f} % |" for seed, p in probes.items()]
    report = table + "\n\n" + predictions + ("\n\n" + "\n".join(probe_lines) if probes else "")
    (run_dir / "results.md").write_text(report + "\n", encoding="utf-8")
    return table, plot_rewards(summary["runs"], run_dir / "reward_curves.png")


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 seed, 1 variant: the pipeline in < 5 minutes")
    parser.add_argument("--seeds", help="comma-separated seeds (default: the config's)")
    parser.add_argument("--variants", help=f"comma-separated subset of {','.join(VARIANTS)} (default: the config's)")
    parser.add_argument("--report", action="store_true", help="only redraw results.md and reward_curves.png from an earlier run's summary.json")
    parser.add_argument("--probe", action="store_true", help="caption-probe the stage-0 checkpoints of an earlier run, then --report")
    parser.add_argument("--no-align", action="store_true", help="ablation: skip stage 0 (SFT starts from the random model); results go to full_no_align/")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help="results folder (default experiments/motion_vau/results)")
    args = parser.parse_args(argv)

    config = load_config(args.config, args.quick)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(config["seeds"])
    variants = args.variants.split(",") if args.variants else list(config["variants"])
    for variant in variants:
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}; expected some of {','.join(VARIANTS)}")
    if args.no_align:
        config["align"] = None
    results = args.out.resolve()
    run_dir = results / (("quick" if args.quick else "full") + ("_no_align" if args.no_align else ""))
    if args.report or args.probe:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        for run in summary["runs"]:  # re-read: summaries written before GRPO_LOGGED grew lack entropy
            grpo_dir = run_dir / f"seed{run['seed']}" / run["variant"] / "grpo"
            if (grpo_dir / "trainer_state.json").is_file():
                run["rewards"] = grpo_log(grpo_dir)
        if args.probe:  # for a run made before the probe was part of the pipeline
            bench = bench_dir(results, config["bench"])
            summary["align_probe"] = {s: caption_probe(run_dir / f"seed{s}" / "align", bench, config) for s in summary["seeds"]}
            (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
        table, plot = write_report(run_dir, summary)
        print(table + (f"\nreward curves: {plot}" if plot else ""))
        return 0
    run_dir.mkdir(parents=True, exist_ok=True)
    def settings(values: dict) -> dict:  # what decides the outputs of a stage (seeds and variants only pick runs)
        return {k: v for k, v in values.items() if k not in ("seeds", "variants")}

    saved = run_dir / "config.json"
    if saved.is_file():
        earlier, current = settings(json.loads(saved.read_text(encoding="utf-8"))), settings(config)
        if earlier != current:  # finished stages are reused, so they must come from the same settings
            changed = sorted(k for k in current.keys() | earlier.keys() if current.get(k) != earlier.get(k))
            parser.error(f"{run_dir} holds a run made with other settings ({', '.join(changed)} differ); "
                         f"delete that folder or pass --out DIR")
    saved.write_text(json.dumps({**config, "seeds": seeds, "variants": variants}, indent=1) + "\n")
    timer = Timer(run_dir / "timings.json")
    started = time.monotonic()

    bench = timer.run("bench", ensure_bench, results, config["bench"])
    data = timer.run("prepare", ensure_dataset, bench, config["tasks"], config["prompt_style"])
    ensure_caption_dataset(bench, data)
    base = baselines(bench)
    runs = []
    probes: dict[int, dict] = {}
    for seed in seeds:
        aligned = align_stage(config, results, run_dir, data, seed, timer)
        if config.get("align"):
            probes[seed] = timer.run(f"seed{seed} probe", caption_probe, aligned, bench, config)
        for variant in variants:
            runs.append(run_pipeline(config, aligned, run_dir, bench, data, seed, variant, timer))
    summary = {
        "config": config, "seeds": seeds, "variants": variants, "bench": str(bench), "baselines": base,
        "runs": runs, "align_probe": probes, "table": aggregate(runs, base), "timings": timer.rows, "total_seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    table, plot = write_report(run_dir, summary)
    print("\n" + table)
    print(f"\nreward curves: {plot}" if plot else "\nno GRPO reward logged")
    print(f"summary: {run_dir / 'summary.json'}; total {summary['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

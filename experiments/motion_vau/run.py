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
from pathlib import Path
from typing import Any

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

    none: the plain qwen2_vl template. fixed: qwen2_vl_motion with (m, n) fixed. learnable: qwen2_vl_motion with
    (m, n) trained in the model, starting from `start_from`'s motion_prompt.json when given (GRPO after SFT)."""
    if variant == "none":
        return {"template": "qwen2_vl"}
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
    (skipped when output_dir already holds a finished model); the log goes to output_dir/train.log."""
    from vau_plugin.recipes import recipe_path

    from vau_plugin.llamafactory.demo import train

    if (output_dir / "trainer_state.json").is_file() and (output_dir / "model.safetensors").is_file():
        return output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    result = train(recipe_path(recipe), {**overrides, "output_dir": output_dir})
    (output_dir / "train.log").write_text(result.stdout, encoding="utf-8")
    if result.returncode != 0:
        raise RuntimeError(f"llamafactory-cli train {recipe} failed (exit {result.returncode}); log: {output_dir}/train.log\n{result.stdout[-3000:]}")
    return output_dir


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
        "VAU_BENCH_ROOT": str(bench), "VAU_BENCH_SPLITS": LMMS_SPLIT, "VAU_BENCH_VIDEO_ROOT": str(bench / "videos"),
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
    keys = {**common_overrides(config, model, data, seed, CAPTION_DATASET, config["align"]), "template": "qwen2_vl"}
    return timer.run(f"seed{seed} align", train_stage, SFT_RECIPE, keys, run_dir / f"seed{seed}" / "align")


def run_pipeline(config: dict, aligned: Path, run_dir: Path, bench: Path, data: Path, seed: int, variant: str, timer: Timer) -> dict:
    """run_pipeline(...) -> {"sft": metrics, "grpo": metrics, "rewards": [...], "sft_loss": [...]} for one
    (seed, variant): SFT from the stage-0 checkpoint `aligned`, eval, GRPO from the SFT checkpoint, eval."""
    where = run_dir / f"seed{seed}" / variant
    label = f"seed{seed}/{variant}"
    model = aligned
    sft_dir = where / "sft"
    sft_keys = {**common_overrides(config, model, data, seed, "vau_r1_sft_mixed", config["sft"]), **motion_keys(variant, config["motion"], None)}
    timer.run(f"{label} sft", train_stage, SFT_RECIPE, sft_keys, sft_dir)
    sft_metrics = timer.run(f"{label} eval sft", evaluate, sft_dir, variant, config, bench, where / "eval_sft")
    grpo_dir = where / "grpo"
    grpo_keys = {**common_overrides(config, sft_dir, data, seed, "vau_r1_mixed", config["grpo"]), **motion_keys(variant, config["motion"], sft_dir)}
    timer.run(f"{label} grpo", train_stage, GRPO_RECIPE, grpo_keys, grpo_dir)
    grpo_metrics = timer.run(f"{label} eval grpo", evaluate, grpo_dir, variant, config, bench, where / "eval_grpo")
    rewards = [
        {k: v for k, v in e.items() if k in ("step", "reward", "reward_std") or k.startswith("rewards/")}
        for e in log_history(grpo_dir)
        if "reward" in e
    ]
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
    rows = [{"method": name, "n": 1, **{m: [v[m], 0.0] for m in METRICS if m in v}} for name, v in base.items()]
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
        cells = [f"{row[m][0]:.1f} ± {row[m][1]:.1f}" if m in row else "–" for m in METRICS]
        lines.append(f"| {row['method']} | {row['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_rewards(runs: list[dict], path: Path) -> Path | None:
    """plot_rewards(runs, path) -> path of a PNG with the GRPO mean total reward per step (one line per run),
    or None when nothing was logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(r["rewards"] for r in runs):
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    colours = {"none": "tab:grey", "fixed": "tab:blue", "learnable": "tab:orange"}
    for run in runs:
        steps = [e["step"] for e in run["rewards"]]
        for ax, key in zip(axes, ("reward", "rewards/accuracy_reward/mean", "rewards/tiou_reward/mean")):
            values = [e.get(key) for e in run["rewards"]]
            if any(v is not None for v in values):
                ax.plot(steps, values, color=colours.get(run["variant"]), alpha=0.8, label=f"{run['variant']} s{run['seed']}")
                ax.set_title(key)
                ax.set_xlabel("GRPO step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 seed, 1 variant: the pipeline in < 5 minutes")
    parser.add_argument("--seeds", help="comma-separated seeds (default: the config's)")
    parser.add_argument("--variants", help=f"comma-separated subset of {','.join(VARIANTS)} (default: the config's)")
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
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({**config, "seeds": seeds, "variants": variants}, indent=1) + "\n")
    timer = Timer(run_dir / "timings.json")
    started = time.monotonic()

    bench = timer.run("bench", ensure_bench, results, config["bench"])
    data = timer.run("prepare", ensure_dataset, bench, config["tasks"], config["prompt_style"])
    ensure_caption_dataset(bench, data)
    base = baselines(bench)
    runs = []
    for seed in seeds:
        aligned = align_stage(config, results, run_dir, data, seed, timer)
        for variant in variants:
            runs.append(run_pipeline(config, aligned, run_dir, bench, data, seed, variant, timer))
    rows = aggregate(runs, base)
    table = markdown_table(rows)
    plot = plot_rewards(runs, run_dir / "reward_curves.png")
    summary = {
        "config": config, "seeds": seeds, "variants": variants, "bench": str(bench), "baselines": base,
        "runs": runs, "table": rows, "timings": timer.rows, "total_seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    (run_dir / "results.md").write_text(table + "\n", encoding="utf-8")
    print("\n" + table)
    print(f"\nreward curves: {plot}" if plot else "\nno GRPO reward logged")
    print(f"summary: {run_dir / 'summary.json'}; total {summary['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""GRPO against matched SFT from a converged SFT checkpoint, with a random-reward noise control (issue 27).

    python experiments/grpo_vs_sft/run.py [--quick] [--seeds 0,1,2] [--curve] [--sweep] [--motion] [--report]
                                          [--config experiments/grpo_vs_sft/config.json] [--out DIR]

The question, the rule and the protocol are in README.md, written before the main run. In short, on the order
bench (`vau-plugin make-order-bench`, QA only, answer-only prompts: `prepare --prompt-style answer` to train,
lmms-eval `vau_bench_qa_answer` to test), for each seed, from a random-initialised tiny Qwen2.5-VL:

  1. SFT for config["sft"]["max_steps"] steps (chosen with --curve so that more SFT gains about nothing on val);
  2. from that checkpoint, three arms of config["steps"] steps each, checkpoints every config["save_every"]:
     grpo (reward `gated_accuracy`: right answer in exactly `<answer>X</answer>`), grpo_random (reward
     `random_reward`: the noise control, same settings), more_sft (supervised steps with their own tuned lr);
  3. lmms-eval on the test split: greedy for the SFT checkpoint and the last 3 checkpoints of each arm, sampled
     at T = 1 for the SFT checkpoint and each arm's last one;
  4. when the bench has a held-out split (config["bench"]["n_heldout"]: paths on offsets no training clip uses),
     greedy on it too, for the same checkpoints: the held-out-factor comparison, judged by the same rule.

`--motion` is the motion prompts' own question (issue 27 item 7): per seed, the same SFT with each motion-prompt
variant of config["motion"]["variants"], against the SFT without (the main run's, shared), greedy on test and the
held-out split, judged by its own rule (README).

`--curve` trains one long SFT run (seed config["curve"]["seed"]) and evaluates its checkpoints on val;
`--sweep` runs the arms from the SFT checkpoint of the sweep seed for each learning rate of config["sweep"] on val.
Neither reads the test split. `--report` rewrites results.md from summary.json.

Every stage's output folder is named by a digest of the settings that decide it, so a changed setting never
reuses an old result, and a stopped run continues where it stopped. Training runs `llamafactory-cli train` as a
subprocess; the evaluations run lmms-eval's CLI in this process (`vau_plugin.runners.run_lmms_eval_in_process`: the
same samples, without its start-up each time). Both get the thread count of config["threads"] (OMP/MKL and
torch's), which the numbers depend on; decoded frames are cached in results/frame_cache.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "config.json"
DEFAULT_RESULTS = HERE / "results"
ARMS = ("grpo", "grpo_random", "more_sft")
REWARDS = {"grpo": "grpo_vs_sft_rewards:gated_accuracy", "grpo_random": "grpo_vs_sft_rewards:random_reward"}
EVAL_TASK = "vau_bench_qa_answer"
SFT_RECIPE = "vau_r1_sft_tiny.yaml"
GRPO_RECIPE = "vau_r1_grpo_tiny.yaml"
LAST_CHECKPOINTS = 3  # greedy accuracy is averaged over an arm's last 3 saved checkpoints (it flips between neighbours)
HELDOUT = "heldout"  # the order bench's split of held-out path offsets (vau_plugin.benches.order.HELDOUT_SPLIT)


def _motion_vau():
    """The motion-prompt experiment's runner, for the helpers both experiments share (bench, model, timer, logs)."""
    spec = importlib.util.spec_from_file_location("motion_vau_run", HERE.parent / "motion_vau" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shared = _motion_vau()
merge, Timer, ensure_bench, ensure_model, split_clips = shared.merge, shared.Timer, shared.ensure_bench, shared.ensure_model, shared.split_clips
motion_keys, lmms_model_args = shared.motion_keys, shared.lmms_model_args  # a motion-prompt variant's recipe keys, lmms-eval args


# ------------------------------------------------------------------------------------------------ config


load_config = shared.load_config  # (path, quick) -> the settings, with the `quick` block applied when `quick`


def digest(value: Any) -> str:
    """digest(value) -> 10 hex digits naming a folder by the settings that decide its contents."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:10]


def set_process_env(config: dict, seed: int, results: Path) -> None:
    """Pin what the numbers depend on: the thread count of the subprocesses and of this process, which runs the
    evaluations (reductions sum in another order with another count), this folder on PYTHONPATH (the reward
    module) and the random reward's seed. Decoded frames are cached in results/frame_cache (`VAU_FRAME_CACHE`,
    unless set): every stage reads the same clips again, and a hit returns the same frames without decoding."""
    import torch

    threads = str(config["threads"])
    os.environ.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, GRPO_VS_SFT_SEED=str(seed))
    os.environ.setdefault("VAU_FRAME_CACHE", str(results / "frame_cache"))
    torch.set_num_threads(config["threads"])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(HERE) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), *paths])


# ------------------------------------------------------------------------------------------------ training


def stage_keys(config: dict, kind: str, start: Path, data: Path, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    """stage_keys(config, "sft" | "grpo" | "grpo_random" | "more_sft", start, data, seed, settings) -> the recipe
    keys of one stage: the start checkpoint, the answer-only QA rows (SFT targets for SFT stages, ground truth
    for GRPO), video budget, what trains (config["finetune"]), then `settings` (steps, lr, ...)."""
    from vau_plugin.llamafactory.prepare import dataset_name

    grpo = {**config["grpo"], "reward_funcs": REWARDS[kind], "reward_weights": "[1.0]"} if kind in REWARDS else {}
    return {
        "model_name_or_path": start, "dataset_dir": data, "dataset": dataset_name("qa", sft=kind not in REWARDS),
        "max_samples": 100000, "seed": seed, "template": "qwen2_vl_vau", **config["video"], **config["finetune"], **grpo, **settings,
    }  # fmt: skip


def train(kind: str, keys: dict[str, Any], out: Path) -> Path:
    """train(kind, recipe keys, out) -> out after `llamafactory-cli train` (skipped when out holds a finished
    model). Its checkpoint-N folders hold the processor too (LLaMA-Factory's SFT callback, the Trainer's save of
    the processing class for GRPO), so lmms-eval loads any of them."""
    from vau_plugin.recipes import recipe_path

    from vau_plugin.runners import train_once

    recipe = GRPO_RECIPE if kind in REWARDS else SFT_RECIPE
    return train_once(recipe_path(recipe), out, {**keys, "output_dir": out})


def checkpoints(out: Path) -> list[Path]:
    """checkpoints(output folder) -> its checkpoint-N folders by step."""
    return sorted((p for p in out.glob("checkpoint-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))


def arm_settings(config: dict, arm: str, lr: float | None = None) -> dict[str, Any]:
    """arm_settings(config, arm, lr=None) -> the step count, checkpointing and lr of one arm: every arm runs
    config["steps"] steps and saves every config["save_every"] (the last LAST_CHECKPOINTS kept); GRPO arms take
    config["grpo"] (added by `stage_keys`), more_sft its own block (batch, lr, schedule); `lr` overrides (the sweep)."""
    settings = {"max_steps": config["steps"], "save_steps": config["save_every"], "save_total_limit": LAST_CHECKPOINTS}
    if arm not in REWARDS:
        settings.update(config["more_sft"])
    if lr is not None:
        settings["learning_rate"] = lr
    return settings


def sft_settings(config: dict, steps: int, save_every: int) -> dict[str, Any]:
    """sft_settings(config, steps, save_every) -> the keys of the SFT from scratch."""
    return {**config["sft"], "max_steps": steps, "save_steps": save_every, "save_total_limit": 100}


# ------------------------------------------------------------------------------------------------ evaluation


def evaluate(checkpoint: Path, config: dict, bench: Path, out: Path, split: str, *, sampled: bool = False, variant: str = "none") -> dict[str, Any]:
    """evaluate(checkpoint, config, bench, out, split, *, sampled=False, variant="none") -> {"accuracy",
    "accuracy_<type>", "clips": {video: 0/1}}: lmms-eval `vau_bench_qa_answer` on `split`, greedy or sampled at
    T = 1, with the motion prompt `variant` trained with (none, fixed, learnable); cached in out/metrics.json.
    Raises when another number of clips than the split holds was scored."""
    return evaluate_splits(checkpoint, config, bench, {split: out}, sampled=sampled, variant=variant)[split]


def evaluate_splits(checkpoint: Path, config: dict, bench: Path, outs: dict[str, Path], *, sampled: bool = False, variant: str = "none") -> dict[str, dict[str, Any]]:
    """evaluate_splits(checkpoint, config, bench, {split: out folder}, ...) -> {split: metrics as `evaluate`}: one
    lmms-eval call over all the splits (one model load instead of one a split), each split's clips scored apart
    and cached in its own out/metrics.json; the call's log and samples go to the first folder, with "+<split>"
    appended for each further split. lmms-eval's CLI runs in this process (`run_lmms_eval_in_process`: the same
    samples as a subprocess, without ~10 s of start-up for each of the run's ~40 evaluations)."""
    from vau_plugin.lmms.docs import bench_environment
    from vau_plugin.runners import check_scored, run_lmms_eval_in_process, task_samples

    cached = {split: out / "metrics.json" for split, out in outs.items()}
    if all(path.is_file() for path in cached.values()):
        return {split: json.loads(path.read_text(encoding="utf-8")) for split, path in cached.items()}
    first, *rest = outs
    where = Path("+".join([str(outs[first]), *rest]))
    gen = f"max_new_tokens={config['eval']['max_new_tokens']}" + (",temperature=1.0,do_sample=True" if sampled else "")
    args = [
        "--model", "vau_qwen2_5_vl",
        "--model_args", lmms_model_args(checkpoint, variant, config),
        "--tasks", EVAL_TASK, "--gen_kwargs", gen, "--log_samples", "--seed", "0", "--batch_size", str(config["eval"]["batch_size"]),
    ]  # fmt: skip
    run_lmms_eval_in_process(args, where, bench_environment(bench, bench / "videos", ",".join(outs)))
    samples = [sample.get("accuracy") for sample in task_samples(where, EVAL_TASK)]
    results = {}
    for split, path in cached.items():
        clips = split_clips(bench, split)
        scores = {r["video"]: float(r["score"]) for r in samples if isinstance(r, dict) and r.get("video") in clips}
        check_scored(len(scores), len(clips), f"the {split} split ({EVAL_TASK})", where)
        metrics: dict[str, Any] = {"accuracy": 100.0 * statistics.fmean(scores.values())}
        for qtype in sorted({c["question_type"] for c in clips.values()}):
            values = [s for v, s in scores.items() if clips[v]["question_type"] == qtype]
            metrics[f"accuracy_{qtype}"] = 100.0 * statistics.fmean(values)
        metrics["clips"] = scores
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
        results[split] = metrics
    return results


def greedy_splits(config: dict) -> list[str]:
    """greedy_splits(config) -> the splits the main and motion runs score greedily: test, and the held-out offsets
    when the bench has them (in one lmms-eval call, for every checkpoint alike)."""
    return ["test", *([HELDOUT] if config["bench"].get("n_heldout") else [])]


@functools.cache
def _letter_probability_module():
    """letter_probability.py, loaded once (a script beside this one, not a package module)."""
    spec = importlib.util.spec_from_file_location("letter_probability", HERE / "letter_probability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def letter_probability(checkpoint: Path, config: dict, bench: Path, out: Path, split: str) -> dict[str, Any]:
    """letter_probability(checkpoint, config, bench, out, split) -> {"p_correct", "clips"}: the probability of the
    right option under the forced answer layout (`letter_probability.py`, run in this process with its pinned
    threads; os.environ restored afterwards); cached in out."""
    from vau_plugin.runners import environment

    if not out.is_file():
        with environment():  # it sets the bench's split variables for its task
            result = _letter_probability_module().letter_probabilities(checkpoint, bench, split, config["video"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return json.loads(out.read_text(encoding="utf-8"))


def mean_over(evaluations: list[dict[str, Any]]) -> dict[str, Any]:
    """mean_over(evaluations of several checkpoints) -> the same keys, each metric and each clip's score averaged."""
    keys = [k for k in evaluations[0] if k != "clips"]
    merged: dict[str, Any] = {k: statistics.fmean(e[k] for e in evaluations) for k in keys}
    merged["clips"] = {v: statistics.fmean(e["clips"][v] for e in evaluations) for v in evaluations[0]["clips"]}
    return merged


# ------------------------------------------------------------------------------------------------ statistics


def mcnemar_exact(b: int, c: int) -> float:
    """mcnemar_exact(b, c) -> the two-sided exact McNemar p-value for b pairs where only the first is right and c
    where only the second is (a binomial test of min(b, c) in b + c draws at 1/2); 1.0 without discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def bootstrap_ci(differences: dict[str, list[float]], *, draws: int = 10000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """bootstrap_ci({clip: [difference per seed]}, draws, seed, level) -> the percentile interval of the mean
    difference (percentage points), resampling clips with all their seeds (the same clips are tested in every
    seed, so they are the unit that varies)."""
    rng = random.Random(seed)
    rows = [statistics.fmean(v) for v in differences.values()]
    means = sorted(100.0 * statistics.fmean(rng.choices(rows, k=len(rows))) for _ in range(draws))
    low = means[int((1 - level) / 2 * draws)]
    high = means[min(draws - 1, int((1 + level) / 2 * draws))]
    return low, high


def paired(first: list[dict[str, float]], second: list[dict[str, float]]) -> dict[str, Any]:
    """paired(per-seed clip scores of A, of B) -> {"mean" (A − B, points), "ci95", "b", "c", "p"}: McNemar on the
    binary outcomes (scores rounded: 1 right, 0 wrong) pooled over seeds, the mean and bootstrap interval on the
    scores as given (averages over checkpoints allowed)."""
    differences: dict[str, list[float]] = {}
    b = c = 0
    for one, two in zip(first, second, strict=True):
        for video in one:
            differences.setdefault(video, []).append(one[video] - two[video])
            right_a, right_b = one[video] >= 0.5, two[video] >= 0.5
            b += right_a and not right_b
            c += right_b and not right_a
    mean = 100.0 * statistics.fmean(d for values in differences.values() for d in values)
    return {"mean": mean, "ci95": bootstrap_ci(differences), "b": b, "c": c, "p": mcnemar_exact(b, c)}


def verdict(rule: dict[str, float], primary: dict[str, Any], random_minus_sft: float, reward_rise: float) -> str:
    """verdict(rule, primary comparison, random arm − SFT (points), GRPO's sampled training accuracy rise) -> the
    README's pre-registered decision: "void" (the random arm moved more than rule["random_band"] points: noise
    dominates, lower the lr), "helps", "falsified" (checks pass and the CI excludes a gain above
    rule["min_gain"]) or "inconclusive"."""
    if abs(random_minus_sft) > rule["random_band"]:
        return "void"
    checks = reward_rise > 0
    if checks and primary["mean"] > 0 and primary["p"] < rule["alpha"]:
        return "helps"
    if checks and primary["ci95"][1] < rule["min_gain"]:
        return "falsified"
    return "inconclusive"


def reward_rise(grpo_dir: Path, key: str = "rewards/gated_accuracy/mean", window: int = 5) -> float:
    """reward_rise(GRPO output folder) -> the mean of `key` over the last `window` logged steps minus the first:
    whether GRPO's sampled training accuracy rose."""
    from vau_plugin.runners import log_history

    values = [e[key] for e in log_history(grpo_dir) if key in e]
    if not values:
        return float("nan")
    return statistics.fmean(values[-window:]) - statistics.fmean(values[:window])


# ------------------------------------------------------------------------------------------------ stages


def inputs(config: dict, results: Path, timer: Timer) -> tuple[Path, Path]:
    """inputs(config, results, timer) -> (bench root, answer-only QA dataset folder of its train split)."""
    from vau_plugin.llamafactory.prepare import prepare_dataset

    bench = timer.run("bench", ensure_bench, results, config["bench"])
    data = bench / "lf_data_answer_qa"
    if not (data / "dataset_info.json").is_file():
        prepare_dataset(bench / "train.csv", bench / "videos", data, tasks=["qa"], split="train", prompt_style="answer")
    return bench, data


def sft_checkpoint(config: dict, results: Path, seed: int, data: Path, timer: Timer) -> Path:
    """sft_checkpoint(config, results, seed, data, timer) -> the SFT-from-scratch output folder of `seed`."""
    model = timer.run(f"seed{seed} model", ensure_model, results, seed)
    settings = sft_settings(config, config["sft"]["max_steps"], config["sft"]["max_steps"])
    keys = stage_keys(config, "sft", model, data, seed, settings)
    out = results / "sft" / f"seed{seed}_{digest([keys, config['bench'], config['threads']])}"
    return timer.run(f"seed{seed} sft", train, "sft", keys, out)


def run_arm(config: dict, arm: str, start: Path, data: Path, seed: int, where: Path, timer: Timer, lr: float | None = None) -> Path:
    """run_arm(...) -> the output folder of one arm trained from `start` (named by its settings' digest)."""
    keys = stage_keys(config, arm, start, data, seed, arm_settings(config, arm, lr))
    out = where / f"{arm}_{digest([keys, config['threads']])}"
    return timer.run(f"seed{seed} {arm}" + (f" lr {lr:g}" if lr else ""), train, arm, keys, out)


def arm_results(config: dict, out: Path, bench: Path, splits: list[str], timer: Timer, *, sampled: bool) -> dict[str, Any]:
    """arm_results(config, out, bench, splits, timer, *, sampled) -> {"greedy": the first split's metrics, mean
    over the last checkpoints, "greedy_each": [accuracy of each], "heldout": the same mean on the held-out split
    when listed, "sampled" and "p_correct" (last checkpoint, first split) when `sampled`}."""
    kept = checkpoints(out)[-LAST_CHECKPOINTS:] or [out]
    split = splits[0]
    each = [timer.run(f"eval {c.parent.name}/{c.name}", evaluate_splits, c, config, bench, {s: c / f"eval_{s}" for s in splits}) for c in kept]
    result: dict[str, Any] = {"greedy": mean_over([e[split] for e in each]), "greedy_each": [e[split]["accuracy"] for e in each]}
    if HELDOUT in splits:
        result[HELDOUT] = mean_over([e[HELDOUT] for e in each])
    if sampled:
        result["sampled"] = timer.run(f"eval sampled {out.name}", evaluate, kept[-1], config, bench, kept[-1] / f"eval_{split}_T1", split, sampled=True)
        result["p_correct"] = timer.run(f"p(correct) {out.name}", letter_probability, kept[-1], config, bench, kept[-1] / f"p_correct_{split}.json", split)
    return result


# ------------------------------------------------------------------------------------------------ the three commands


def run_curve(config: dict, results: Path, timer: Timer) -> dict[str, Any]:
    """--curve: one long SFT (config["curve"]) evaluated on val at every checkpoint: where more SFT stops paying."""
    curve = config["curve"]
    seed = curve["seed"]
    set_process_env(config, seed, results)
    bench, data = inputs(config, results, timer)
    model = timer.run(f"seed{seed} model", ensure_model, results, seed)
    keys = stage_keys(config, "sft", model, data, seed, sft_settings(config, curve["steps"], curve["save_every"]))
    out = timer.run("curve sft", train, "sft", keys, results / "curve" / digest([keys, config["bench"], config["threads"]]))
    points = []
    for checkpoint in checkpoints(out):
        metrics = timer.run(f"eval {checkpoint.name}", evaluate, checkpoint, config, bench, checkpoint / "eval_val", "val")
        points.append({"step": int(checkpoint.name.split("-")[1]), **{k: v for k, v in metrics.items() if k != "clips"}})
    lines = ["| SFT step | val QA acc | " + " | ".join(k for k in points[0] if k.startswith("accuracy_")) + " |"]
    lines.append("|---" * (len(points[0])) + "|")
    lines += [f"| {p['step']} | {p['accuracy']:.1f} | " + " | ".join(f"{p[k]:.1f}" for k in p if k.startswith("accuracy_")) + " |" for p in points]
    return {"points": points, "table": "\n".join(lines), "folder": str(out)}


def run_sweep(config: dict, results: Path, timer: Timer) -> dict[str, Any]:
    """--sweep: from the sweep seed's SFT checkpoint, GRPO and the extra SFT at each lr of config["sweep"], then the
    random-reward arm at GRPO's best lr (or at each lr of config["sweep"]["random_learning_rate"]), greedy on val over the last checkpoints; says which lr is best, whether it
    lies inside its grid, and how far the random arm moved from SFT."""
    seed = config["sweep"]["seed"]
    set_process_env(config, seed, results)
    bench, data = inputs(config, results, timer)
    start = sft_checkpoint(config, results, seed, data, timer)
    base = timer.run("eval sft (val)", evaluate, start, config, bench, start / "eval_val", "val")["accuracy"]
    rows = []

    def one(arm: str, lr: float) -> None:
        out = run_arm(config, arm, start, data, seed, results / "sweep", timer, lr)
        greedy = arm_results(config, out, bench, ["val"], timer, sampled=False)["greedy"]["accuracy"]
        rows.append({"arm": arm, "lr": lr, "val_accuracy": greedy, "minus_sft": greedy - base})

    for lr in config["sweep"]["grpo_learning_rate"]:
        one("grpo", lr)
    for lr in config["sweep"]["more_sft_learning_rate"]:
        one("more_sft", lr)
    best = {}
    for arm, grid in (("grpo", "grpo_learning_rate"), ("more_sft", "more_sft_learning_rate")):
        if not config["sweep"][grid]:
            continue  # an empty grid: this arm's lr is not swept again (the config's value stands)
        chosen = max((r for r in rows if r["arm"] == arm), key=lambda r: r["val_accuracy"])
        values = sorted(config["sweep"][grid])
        best[arm] = {"lr": chosen["lr"], "inside": values[0] < chosen["lr"] < values[-1] or len(values) == 1}
    for lr in config["sweep"].get("random_learning_rate") or [best.get("grpo", {}).get("lr", config["grpo"]["learning_rate"])]:
        one("grpo_random", lr)  # the noise control at the lr GRPO would use (and, when listed, at others)
    lines = [f"SFT checkpoint (seed {seed}): val QA {base:.1f}", "", "| arm | lr | val QA (last 3 checkpoints) | − SFT |", "|---|---|---|---|"]
    lines += [f"| {r['arm']} | {r['lr']:g} | {r['val_accuracy']:.1f} | {r['minus_sft']:+.1f} |" for r in rows]
    lines += [""] + [f"- {arm}: best lr {b['lr']:g} ({'inside' if b['inside'] else 'at the edge of'} the grid)" for arm, b in best.items()]
    return {"sft_val": base, "rows": rows, "best": best, "table": "\n".join(lines)}


def run_main(config: dict, results: Path, seeds: list[int], timer: Timer) -> dict[str, Any]:
    """The main run: per seed, SFT, the three arms, the test evaluations; then the paired statistics and verdict."""
    runs = []
    for seed in seeds:
        set_process_env(config, seed, results)
        bench, data = inputs(config, results, timer)
        start = sft_checkpoint(config, results, seed, data, timer)
        where = results / "main" / f"seed{seed}"
        splits = greedy_splits(config)
        greedy = timer.run(f"seed{seed} eval sft", evaluate_splits, start, config, bench, {s: start / f"eval_{s}" for s in splits})
        run: dict[str, Any] = {"seed": seed, "sft": {"greedy": greedy["test"], **({HELDOUT: greedy[HELDOUT]} if HELDOUT in greedy else {})}}
        run["sft"]["sampled"] = timer.run(f"seed{seed} eval sft T1", evaluate, start, config, bench, start / "eval_test_T1", "test", sampled=True)
        run["sft"]["p_correct"] = timer.run(f"seed{seed} p(correct) sft", letter_probability, start, config, bench, start / "p_correct_test.json", "test")
        for arm in ARMS:
            out = run_arm(config, arm, start, data, seed, where, timer)
            run[arm] = arm_results(config, out, bench, splits, timer, sampled=arm != "grpo_random")
            if arm == "grpo":
                run["reward_rise"] = reward_rise(out)
        runs.append(run)
    return summarise(config, runs)


def motion_sft(config: dict, results: Path, seed: int, data: Path, variant: str, timer: Timer) -> Path:
    """motion_sft(config, results, seed, data, variant, timer) -> the SFT-from-scratch output folder of `seed`
    trained with the motion prompt `variant` (fixed or learnable; config["motion"]): the main run's SFT but for
    the template and motion keys."""
    model = timer.run(f"seed{seed} model", ensure_model, results, seed)
    settings = sft_settings(config, config["sft"]["max_steps"], config["sft"]["max_steps"])
    keys = {**stage_keys(config, "sft", model, data, seed, settings), **motion_keys(variant, config["motion"], None)}
    out = results / "motion" / f"seed{seed}_{variant}_{digest([keys, config['bench'], config['threads']])}"
    return timer.run(f"seed{seed} sft {variant}", train, "sft", keys, out)


def motion_verdict(rule: dict[str, float], comparison: dict[str, Any], n_variants: int) -> str:
    """motion_verdict(rule, variant − none comparison, number of variants judged) -> the README's motion rule:
    "helps" (mean > 0 and McNemar p below rule["alpha"] / n_variants, Bonferroni over the variants),
    "falsified" (the 95 % interval's upper end below rule["min_gain"]) or "inconclusive"."""
    if comparison["mean"] > 0 and comparison["p"] < rule["alpha"] / n_variants:
        return "helps"
    if comparison["ci95"][1] < rule["min_gain"]:
        return "falsified"
    return "inconclusive"


def run_motion(config: dict, results: Path, seeds: list[int], timer: Timer) -> dict[str, Any]:
    """--motion: per seed the SFT without motion prompts (the main run's) and with each variant, greedy on test
    (and the held-out split); per variant the paired difference to none, pooled over seeds, and its verdict."""
    variants = list(config["motion"]["variants"])
    splits = greedy_splits(config)
    runs = []
    for seed in seeds:
        set_process_env(config, seed, results)
        bench, data = inputs(config, results, timer)
        checkpoints_by_variant = {"none": sft_checkpoint(config, results, seed, data, timer)}
        for variant in variants:
            checkpoints_by_variant[variant] = motion_sft(config, results, seed, data, variant, timer)
        run: dict[str, Any] = {"seed": seed}
        for variant, checkpoint in checkpoints_by_variant.items():
            outs = {split: checkpoint / f"eval_{split}" for split in splits}  # the none SFT's: the main run's, cached
            run[variant] = timer.run(f"seed{seed} eval sft {variant}", evaluate_splits, checkpoint, config, bench, outs, variant=variant)
        runs.append(run)
    return motion_summary(config, runs)


def motion_summary(config: dict, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """motion_summary(config, runs of run_motion) -> {"runs", "variants", <split>: {"table", "comparisons",
    "verdicts"}} for each split the runs were evaluated on."""
    variants = list(config["motion"]["variants"])
    summary: dict[str, Any] = {"runs": runs, "variants": variants}
    for split in runs[0]["none"]:
        table = [{"variant": v, **{k: statistics.fmean(r[v][split][k] for r in runs) for k in runs[0][v][split] if k != "clips"}} for v in ("none", *variants)]
        comparisons = {v: paired([r[v][split]["clips"] for r in runs], [r["none"][split]["clips"] for r in runs]) for v in variants}
        verdicts = {v: motion_verdict(config["rule"], c, len(variants)) for v, c in comparisons.items()}
        summary[split] = {"table": table, "comparisons": comparisons, "verdicts": verdicts}
    return summary


def motion_report(summary: dict[str, Any]) -> str:
    """motion_report(summary of run_motion) -> markdown: per split, the SFT table by variant and each variant's
    paired difference to none with its verdict."""
    lines = []
    for split in [s for s in ("test", HELDOUT) if s in summary]:
        part = summary[split]
        keys = [k for k in part["table"][0] if k != "variant"]
        lines += [f"SFT with and without motion prompts, greedy {split} QA (mean over seeds):", "",
                  "| variant | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|",
                  *(f"| {row['variant']} | " + " | ".join(f"{row[k]:.1f}" for k in keys) + " |" for row in part["table"]), ""]  # fmt: skip
        for variant, c in part["comparisons"].items():
            lines.append(f"{variant} − none ({split}): {c['mean']:+.1f} points, 95 % CI [{c['ci95'][0]:+.1f}, {c['ci95'][1]:+.1f}]; "
                         f"McNemar b={c['b']}, c={c['c']}, p={c['p']:.3g}; verdict ({split}, {variant}): {part['verdicts'][variant]}")  # fmt: skip
        lines.append("")
    return "\n".join(lines).rstrip()


def summarise(config: dict, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """summarise(config, runs) -> the table rows, the primary comparison, the checks and the verdict; with a
    held-out split, the same under "heldout" (its table, comparison, random arm and verdict; the reward rise is
    the training's, shared)."""
    def clips(arm: str, kind: str = "greedy") -> list[dict[str, float]]:
        return [r[arm][kind]["clips"] for r in runs]

    primary = paired(clips("grpo"), clips("more_sft"))
    random_minus_sft = paired(clips("grpo_random"), clips("sft"))["mean"]
    rise = statistics.fmean(r["reward_rise"] for r in runs)
    decision = verdict(config["rule"], primary, random_minus_sft, rise)
    table = greedy_table(runs, "greedy")
    for arm, row in zip(("sft", *ARMS), table, strict=True):
        if "sampled" in runs[0][arm]:
            row["sampled_accuracy"] = statistics.fmean(r[arm]["sampled"]["accuracy"] for r in runs)
            row["p_correct"] = statistics.fmean(r[arm]["p_correct"]["p_correct"] for r in runs)
    secondary = {"sampled": paired(clips("grpo", "sampled"), clips("more_sft", "sampled")),
                 "p_correct": paired(clips("grpo", "p_correct"), clips("more_sft", "p_correct"))}  # fmt: skip
    summary = {"runs": runs, "table": table, "primary": primary, "secondary": secondary, "grpo_vs_sft": paired(clips("grpo"), clips("sft")),
               "random_minus_sft": random_minus_sft, "reward_rise": rise, "verdict": decision}  # fmt: skip
    if HELDOUT in runs[0]["sft"]:
        held = paired(clips("grpo", HELDOUT), clips("more_sft", HELDOUT))
        held_random = paired(clips("grpo_random", HELDOUT), clips("sft", HELDOUT))["mean"]
        summary[HELDOUT] = {"table": greedy_table(runs, HELDOUT), "primary": held, "grpo_vs_sft": paired(clips("grpo", HELDOUT), clips("sft", HELDOUT)),
                            "random_minus_sft": held_random, "verdict": verdict(config["rule"], held, held_random, rise)}  # fmt: skip
    return summary


def greedy_table(runs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """greedy_table(runs, "greedy" | "heldout") -> a row per arm (SFT first): each greedy metric, mean over seeds."""
    rows = []
    for arm in ("sft", *ARMS):
        row: dict[str, Any] = {"arm": arm}
        for key in [k for k in runs[0][arm][kind] if k != "clips"]:
            row[key] = statistics.fmean(r[arm][kind][key] for r in runs)
        rows.append(row)
    return rows


def markdown_table(table: list[dict[str, Any]]) -> list[str]:
    """markdown_table(rows of greedy_table) -> the lines of a markdown table, "–" where an arm lacks a metric."""
    keys = [k for k in table[0] if k not in ("arm",)]
    lines = ["| arm | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    return lines + [f"| {row['arm']} | " + " | ".join(f"{row[k]:.1f}" if k in row else "–" for k in keys) + " |" for row in table]


def report(summary: dict[str, Any]) -> str:
    """report(summary) -> markdown: the table (test split, mean over seeds), the comparison and the verdict; then
    the same for the held-out split when there is one."""
    lines = markdown_table(summary["table"])
    p = summary["primary"]
    lines += ["", f"GRPO − more SFT (greedy test QA, last {LAST_CHECKPOINTS} checkpoints, pooled over seeds): {p['mean']:+.1f} points, "
              f"95 % CI [{p['ci95'][0]:+.1f}, {p['ci95'][1]:+.1f}]; McNemar (last checkpoints' rounding) b={p['b']}, c={p['c']}, p={p['p']:.3g}",
              f"random-reward GRPO − SFT: {summary['random_minus_sft']:+.1f} points; GRPO's training accuracy rise: {summary['reward_rise']:+.3f}",
              *(f"GRPO − more SFT, {name} (last checkpoint): {c['mean']:+.1f} points, 95 % CI [{c['ci95'][0]:+.1f}, {c['ci95'][1]:+.1f}]"
                for name, c in summary["secondary"].items()),
              f"verdict: {summary['verdict']}"]  # fmt: skip
    if HELDOUT in summary:
        held = summary[HELDOUT]
        h = held["primary"]
        lines += ["", f"Held-out path offsets (split {HELDOUT}, greedy, last {LAST_CHECKPOINTS} checkpoints, mean over seeds):", "",
                  *markdown_table(held["table"]), "",
                  f"GRPO − more SFT (held-out): {h['mean']:+.1f} points, 95 % CI [{h['ci95'][0]:+.1f}, {h['ci95'][1]:+.1f}]; "
                  f"McNemar b={h['b']}, c={h['c']}, p={h['p']:.3g}",
                  f"random-reward GRPO − SFT (held-out): {held['random_minus_sft']:+.1f} points; GRPO's training accuracy rise: {summary['reward_rise']:+.3f}",
                  f"verdict (held-out): {held['verdict']}"]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 seed: the pipeline in a few minutes")
    parser.add_argument("--seeds", help="comma-separated seeds (default: the config's)")
    parser.add_argument("--curve", action="store_true", help="the SFT curve on val (results/curve/)")
    parser.add_argument("--sweep", action="store_true", help="the learning-rate sweep of the arms on val (results/sweep/)")
    parser.add_argument("--motion", action="store_true", help="the motion prompts' own run: SFT with each variant against none (results/motion.md)")
    parser.add_argument("--report", action="store_true", help="print results.md again from summary.json")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help="results folder (default experiments/grpo_vs_sft/results)")
    args = parser.parse_args(argv)
    config = load_config(args.config, args.quick)
    results = (args.out / "quick" if args.quick else args.out).resolve()
    results.mkdir(parents=True, exist_ok=True)
    name = "curve" if args.curve else "sweep" if args.sweep else "motion" if args.motion else "main"
    if args.report:
        summary = json.loads((results / "summary.json").read_text(encoding="utf-8"))
        print(report(summary))
        return 0
    timer = Timer(results / f"timings_{name}.json")
    started = time.monotonic()
    if args.curve:
        outcome = run_curve(config, results, timer)
    elif args.sweep:
        outcome = run_sweep(config, results, timer)
    else:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(config["seeds"])
        if args.motion:
            outcome = run_motion(config, results, seeds, timer)
            outcome["table"] = motion_report(outcome)
        else:
            outcome = run_main(config, results, seeds, timer)
            outcome["table_md"] = report(outcome)
    outcome.update(config=config, seconds=round(time.monotonic() - started, 1))
    (results / f"{'summary' if name == 'main' else name}.json").write_text(json.dumps(outcome, indent=1, default=str) + "\n", encoding="utf-8")
    text = outcome.get("table") if name != "main" else outcome["table_md"]
    (results / f"{'results' if name == 'main' else name}.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"{name}: {outcome['seconds']:.0f} s; {results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

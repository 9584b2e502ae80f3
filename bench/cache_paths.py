"""Benchmark the frame cache (`VAU_FRAME_CACHE`) on the real main paths: an lmms-eval rerun, two GRPO epochs.

The two paths are the `lmms-eval` command line (`--model vau_qwen2_5_vl`) and `llamafactory-cli train` (stage grpo).

Data (made once, reused): synthetic CCTV-like H.264 clips of realistic size (640x360, 10 to 20 s, 25 or 30 fps;
bench/results/videos/cp_*.mp4), a bench in the VAU-Bench CSV schema over them (the mini bench's annotation rows with
the video names replaced; test.csv and train.csv hold the same rows), the tiny random Qwen2.5-VL of
`vau-plugin make-tiny-model` and the LLaMA-Factory dataset of `vau-plugin prepare --split train` (all under
bench/results/cache_paths/).

lmms-eval (`--model vau_qwen2_5_vl`, tasks `vau_bench_qa` + `vau_bench_tag` on split `test`, each task's own VAU-R1
video budget: QA 1 fps, TAG 2 fps, 256..768 x 28^2 px a frame; greedy, 8 new tokens), three runs in a row:
no cache; cache cold (first run, empty `VAU_FRAME_CACHE` folder); cache warm (second run, same folder).
GRPO (`llamafactory-cli train recipes/vau_r1_grpo_tiny.yaml`, dataset `vau_r1_mixed`: every clip as a QA, TAG and
CLS row, num_train_epochs=2, no checkpoints) without and with the cache (an empty folder), plus one epoch with
`num_iterations=2` (no cache) to count whether TRL's reuse of a generation batch decodes the videos again.

Each run is the real command line in its own process, started through bench/_timed_cli.py, which calls the console
script's entry point with the same arguments after wrapping timers around the video path (see that file); each run
gets a fresh HF_HOME, so only the frame cache carries over from one run to the next. Wall time is the whole process
(imports, model load, dataset building included); the decode time is the time inside the wrapper's `encode_video`
(lmms-eval) or `vau_plugin.video.load_video` (the mm_plugin, GRPO): with the cache on that is the cache lookup plus,
on a miss, decoding and writing the entry. The outputs of the three lmms-eval runs are compared sample by sample
(the cache must not change an answer).

Columns. lmms-eval: wall s (the whole command), eval s (`lmms_eval.evaluator.evaluate`: tasks run after the model is
loaded and the tasks are built), decode s and ms/video (`encode_video`), model s (the wrapper's `_generate`:
processor + `generate`), hits/miss (the frame cache's counters), cache MB (the folder after the run), RSS MB (peak
resident memory). GRPO: train s (Trainer's train begin to end), steps (optimizer steps), rounds (generation rounds,
`_generate_and_score_completions`), decodes and decode s (`load_video` calls and seconds, hits included), epoch N s
(dec) (on_epoch_begin to on_epoch_end, with its decode seconds). The 1-minute load average before and after each run
is stored: the machine has 2 cores, so a load well above 2 means a neighbour slowed that run.

--quick: 4 clips and no num_iterations run (about 1.5 minutes on 2 quiet cores; the full run about 3.5).

Usage: python bench/cache_paths.py [--quick] [--clips N] [--out bench/results/cache_paths.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    REPO,
    RESULTS,
    VIDEO_DIR,
    VideoSpec,
    ensure_video,
    environment,
    write_result,
)

DEFAULT_OUT = RESULTS / "cache_paths.json"
WORK = RESULTS / "cache_paths"
BIN = Path(sys.executable).parent
LAUNCHER = Path(__file__).resolve().parent / "_timed_cli.py"
RECIPE = REPO / "recipes" / "vau_r1_grpo_tiny.yaml"
MINI = REPO / "vau_plugin" / "data" / "mini"
# (seconds, fps) cycled over the clips: 10 to 20 s at 25 or 30 fps, 640x360.
SHAPES = [(12, 25), (16, 30), (20, 25), (10, 30)]
FULL_CLIPS, QUICK_CLIPS = 16, 4
# Rows of the num_iterations=2 run (enough to count decodes per generation round).
NUM_ITERATIONS_ROWS = 12
LMMS_TASKS = "vau_bench_qa,vau_bench_tag"
MAX_NEW_TOKENS = 8


# ------------------------------------------------------------------------------------------------- data
def clip_specs(count: int) -> list[VideoSpec]:
    return [VideoSpec(f"cp_{index:04d}", *SHAPES[index % len(SHAPES)], 640, 360) for index in range(count)]


def ensure_clips(count: int) -> list[Path]:
    """The first `count` clips (the quick set is the first clips of the full one: nothing new to encode)."""
    paths = []
    for index, spec in enumerate(clip_specs(count)):
        if not (VIDEO_DIR / f"{spec.name}.mp4").is_file():
            print(f"encoding {spec.name}.mp4 ({spec.seconds:g} s at {spec.fps:g} fps, 640x360), once", flush=True)
        paths.append(ensure_video(spec, VIDEO_DIR, seed=100 + index))
    return paths


def write_bench(count: int) -> Path:
    """A VAU-Bench-schema folder (test.csv = train.csv) whose rows are the mini bench's with our clips' names."""
    rows = []
    for split in ("test", "train"):
        with open(MINI / f"{split}.csv", newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            rows += list(reader)
    chosen = [dict(rows[index % len(rows)], **{"Video Name": f"{spec.name}.mp4"}) for index, spec in enumerate(clip_specs(count))]
    folder = WORK / f"bench_{count}"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("test", "train"):
        with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(chosen)
    return folder


def ensure_model() -> Path:
    model = WORK / "tiny_model"
    if not (model / "config.json").is_file():
        subprocess.run([str(BIN / "vau-plugin"), "make-tiny-model", str(model)], check=True, capture_output=True)
    return model


def ensure_dataset(bench: Path, count: int) -> Path:
    data = WORK / f"data_{count}"
    stale = not (data / "dataset_info.json").is_file() or (data / "dataset_info.json").stat().st_mtime < (bench / "train.csv").stat().st_mtime
    if stale:
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run([str(BIN / "vau-plugin"), "prepare", "--annotations", str(bench), "--split", "train",
                        "--videos", str(VIDEO_DIR), "--out", str(data), "--no-sft"], check=True, capture_output=True)  # fmt: skip
    return data


# ------------------------------------------------------------------------------------------------- runs
def base_env(tmp: Path, name: str, cache: Path | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAU_FRAME_CACHE")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", DISABLE_VERSION_CHECK="1",
               HF_HOME=str(tmp / f"hf_{name}"), LMMS_EVAL_DATASETS_CACHE=str(tmp / f"datasets_{name}"))  # fmt: skip
    if cache is not None:
        env["VAU_FRAME_CACHE"] = str(cache)
    return env


def launch(tool: str, args: list[str], env: dict, tmp: Path, name: str, timeout: int = 600) -> dict:
    """Run `tool args` through the timing launcher; returns the wall time and the launcher's timings."""
    timings = tmp / f"timings_{name}.json"
    cmd = [sys.executable, str(LAUNCHER), str(timings), tool, *args]
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{tool} run {name} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    # The 1-minute load average before and after: well above the 2 cores' worth means a neighbour disturbed the run.
    return {"wall_s": wall, "load_1m": [load_before, os.getloadavg()[0]],
            "timings": json.loads(timings.read_text(encoding="utf-8"))}


def _samples(out: Path) -> dict:
    """(task, doc_id) -> the model's raw answer, from the --log_samples files of one run."""
    answers = {}
    for path in sorted(out.rglob("*_samples_*.jsonl")):
        task = path.stem.split("_samples_", 1)[1]
        for line in path.read_text(encoding="utf-8").splitlines():
            sample = json.loads(line)
            answers[(task, sample["doc_id"])] = json.dumps(sample.get("resps") or sample.get("filtered_resps"))
    return answers


def run_lmms(model: Path, bench: Path, tmp: Path) -> list[dict]:
    cache = tmp / "lmms_frame_cache"
    runs, answers = [], []
    for name, folder in (("no cache", None), ("cache cold", cache), ("cache warm", cache)):
        tag = name.replace(" ", "_")
        env = base_env(tmp, tag, folder)
        env.update(VAU_BENCH_ROOT=str(bench), VAU_BENCH_VIDEO_ROOT=str(VIDEO_DIR), VAU_BENCH_SPLITS="test")
        out = tmp / f"lmms_out_{tag}"
        args = ["--model", "vau_qwen2_5_vl", "--model_args", f"pretrained={model},device=cpu,device_map=cpu",
                "--tasks", LMMS_TASKS, "--batch_size", "1", "--gen_kwargs", f"max_new_tokens={MAX_NEW_TOKENS}",
                "--output_path", str(out), "--log_samples"]  # fmt: skip
        print(f"lmms-eval: {name} ...", flush=True)
        result = launch("lmms-eval", args, env, tmp, f"lmms_{tag}")
        print(f"  {result['wall_s']:.1f} s (load {result['load_1m'][0]:.1f} -> {result['load_1m'][1]:.1f})", flush=True)
        t = result["timings"]
        seconds, calls = t["seconds"], t["calls"]
        answers.append(_samples(out))
        runs.append({
            "run": name,
            "samples": calls.get("model _generate", 0),
            "videos_decoded_or_read": calls.get("encode_video", 0),
            "wall_s": result["wall_s"],
            "load_1m": result["load_1m"],
            "evaluate_s": seconds.get("evaluate", 0.0),
            "decode_s": seconds.get("encode_video", 0.0),
            "model_s": seconds.get("model _generate", 0.0),
            "startup_and_load_s": result["wall_s"] - seconds.get("evaluate", 0.0),
            "max_rss_mb": t["max_rss_mb"],
            "cache": t["cache"],
            "cache_bytes": _folder_bytes(folder) if folder else 0,
        })  # fmt: skip
    same = all(a == answers[0] for a in answers[1:]) and bool(answers[0])
    for run in runs:
        run["answers_identical_to_no_cache"] = same
    return runs


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _epochs(events: list[dict]) -> list[dict]:
    """Per-epoch seconds, decode seconds, load_video calls and cache hits/misses from the launcher's events."""
    begins = [e for e in events if e["event"] == "on_epoch_begin"]
    ends = [e for e in events if e["event"] == "on_epoch_end"]
    epochs = []
    for index, (begin, end) in enumerate(zip(begins, ends), 1):
        row = {"epoch": index, "seconds": end["t"] - begin["t"], "steps": end["step"] - begin["step"],
               "decode_s": end["load_video_s"] - begin["load_video_s"],
               "load_video_calls": end["load_video_calls"] - begin["load_video_calls"]}  # fmt: skip
        if begin["cache"] is not None and end["cache"] is not None:
            row["hits"] = end["cache"]["hits"] - begin["cache"]["hits"]
            row["misses"] = end["cache"]["misses"] - begin["cache"]["misses"]
        epochs.append(row)
    return epochs


def run_grpo(model: Path, data: Path, tmp: Path, num_iterations_check: bool) -> list[dict]:
    rows = len(json.loads((data / "grpo_mixed.json").read_text(encoding="utf-8")))
    base = [f"model_name_or_path={model}", f"dataset_dir={data}", "dataset=vau_r1_mixed", "max_steps=-1",
            "save_strategy='no'", "report_to=none", "logging_steps=1"]  # fmt: skip
    two_epochs = [f"max_samples={rows}", "num_train_epochs=2"]
    plans = [("no cache", None, two_epochs), ("cache", tmp / "grpo_frame_cache", two_epochs)]
    if num_iterations_check:
        subset = min(rows, NUM_ITERATIONS_ROWS)
        plans.append(("no cache, num_iterations=2", None, [f"max_samples={subset}", "num_train_epochs=1", "num_iterations=2"]))
    runs = []
    for name, folder, extra in plans:
        tag = name.replace(" ", "_").replace(",", "").replace("=", "")
        env = base_env(tmp, f"grpo_{tag}", folder)
        args = ["train", str(RECIPE), *base, f"output_dir={tmp / f'grpo_out_{tag}'}", *extra]
        print(f"llamafactory-cli train: {name} ...", flush=True)
        result = launch("llamafactory-cli", args, env, tmp, f"grpo_{tag}")
        print(f"  {result['wall_s']:.1f} s (load {result['load_1m'][0]:.1f} -> {result['load_1m'][1]:.1f})", flush=True)
        t = result["timings"]
        events = t["events"]
        train_begin = next(e for e in events if e["event"] == "on_train_begin")
        train_end = next(e for e in events if e["event"] == "on_train_end")
        steps = [b["t"] - a["t"] for a, b in zip(t["steps"], t["steps"][1:])]
        runs.append({
            "run": name,
            "rows": int(next(a for a in extra if a.startswith("max_samples=")).split("=")[1]),
            "settings": extra,
            "wall_s": result["wall_s"],
            "load_1m": result["load_1m"],
            "train_s": train_end["t"] - train_begin["t"],
            "decode_s": t["seconds"].get("load_video", 0.0),
            "media_s": t["seconds"].get("media (_build_mm_inputs)", 0.0),
            "load_video_calls": t["calls"].get("load_video", 0),
            "generation_rounds": t["calls"].get("generation rounds", 0),
            "optimizer_steps": t["calls"].get("optimizer steps", 0),
            "token_count_probes": t["calls"].get("sample_plan", 0),
            "token_count_probe_s": t["seconds"].get("sample_plan", 0.0),
            "epochs": _epochs(events),
            "step_s_after_first": steps,
            "max_rss_mb": t["max_rss_mb"],
            "cache": t["cache"],
            "cache_bytes": _folder_bytes(folder) if folder else 0,
        })  # fmt: skip
    return runs


# ------------------------------------------------------------------------------------------------- report
def print_tables(lmms: list[dict], grpo: list[dict]) -> None:
    print(f"\nlmms-eval CLI, {LMMS_TASKS} on split test ({lmms[0]['samples']} samples), tiny Qwen2.5-VL on CPU")
    header = (f"{'run':<12}{'wall s':>8}{'eval s':>8}{'decode s':>10}{'ms/video':>10}{'model s':>9}{'hits/miss':>11}"
              f"{'cache MB':>10}{'RSS MB':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for run in lmms:
        cache = run["cache"]
        hm = f"{cache['hits']}/{cache['misses']}" if cache else "-"
        per = run["decode_s"] / max(run["videos_decoded_or_read"], 1) * 1e3
        print(f"{run['run']:<12}{run['wall_s']:>8.1f}{run['evaluate_s']:>8.1f}{run['decode_s']:>10.2f}{per:>10.1f}"
              f"{run['model_s']:>9.1f}{hm:>11}{run['cache_bytes'] / 1e6:>10.1f}{run['max_rss_mb']:>8.0f}")  # fmt: skip
    base, warm = lmms[0], lmms[-1]
    print(f"warm rerun vs no cache: decode {base['decode_s']:.2f} -> {warm['decode_s']:.2f} s "
          f"({base['decode_s'] / max(warm['decode_s'], 1e-9):.0f}x less), evaluation {base['evaluate_s']:.1f} -> "
          f"{warm['evaluate_s']:.1f} s, whole command {base['wall_s']:.1f} -> {warm['wall_s']:.1f} s; "
          f"answers identical in the three runs: {base['answers_identical_to_no_cache']}")  # fmt: skip

    print("\nllamafactory-cli train vau_r1_grpo_tiny.yaml, dataset vau_r1_mixed, tiny Qwen2.5-VL on CPU")
    header = (f"{'run':<28}{'rows':>5}{'wall s':>8}{'train s':>9}{'steps':>7}{'rounds':>8}{'decodes':>9}{'decode s':>10}"
              f"{'epoch 1 s (dec)':>17}{'epoch 2 s (dec)':>17}{'hits/miss':>11}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for run in grpo:
        epochs = [f"{e['seconds']:.1f} ({e['decode_s']:.1f})" for e in run["epochs"]] + ["-", "-"]
        cache = run["cache"]
        hm = f"{cache['hits']}/{cache['misses']}" if cache else "-"
        print(f"{run['run']:<28}{run['rows']:>5}{run['wall_s']:>8.1f}{run['train_s']:>9.1f}{run['optimizer_steps']:>7}"
              f"{run['generation_rounds']:>8}{run['load_video_calls']:>9}{run['decode_s']:>10.2f}{epochs[0]:>17}"
              f"{epochs[1]:>17}{hm:>11}")  # fmt: skip
    plain, cached = grpo[0], grpo[1]
    if len(plain["epochs"]) == 2 and len(cached["epochs"]) == 2:
        print(f"cache vs no cache: epoch 2 {plain['epochs'][1]['seconds']:.1f} -> {cached['epochs'][1]['seconds']:.1f} s, "
              f"training {plain['train_s']:.1f} -> {cached['train_s']:.1f} s; cache hits/misses per epoch "
              + ", ".join(f"{e['hits']}/{e['misses']}" for e in cached["epochs"]))  # fmt: skip
    for run in grpo[2:]:
        again = "decodes every video again" if run["load_video_calls"] > run["rows"] else "does not decode again"
        print(f"{run['run']}: {run['rows']} rows, {run['optimizer_steps']} steps, {run['generation_rounds']} generation "
              f"rounds, {run['load_video_calls']} decodes: the reused generation batch {again}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CLIPS} clips instead of {FULL_CLIPS}, no num_iterations run (CI size)")
    parser.add_argument("--clips", type=int, default=None, help=f"number of clips (default {FULL_CLIPS}; quick {QUICK_CLIPS})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    args = parser.parse_args(argv)
    count = args.clips or (QUICK_CLIPS if args.quick else FULL_CLIPS)

    start = time.perf_counter()
    clips = ensure_clips(count)
    bench = write_bench(count)
    model = ensure_model()
    data = ensure_dataset(bench, count)
    setup_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="vau-cache-paths-") as tmp_name:
        tmp = Path(tmp_name)
        lmms = run_lmms(model, bench, tmp)
        grpo = run_grpo(model, data, tmp, num_iterations_check=not args.quick)
    print_tables(lmms, grpo)
    write_result(args.out, {"benchmark": "frame_cache_main_paths", "quick": args.quick, "clips": count,
                            "clip_shapes": [{"name": s.name, "seconds": s.seconds, "fps": s.fps, "size": "640x360",
                                             "bytes": p.stat().st_size} for s, p in zip(clip_specs(count), clips)],
                            "setup_s": setup_s, **environment(), "lmms_eval": lmms, "grpo": grpo})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

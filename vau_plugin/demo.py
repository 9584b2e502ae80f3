"""`vau-plugin demo` (what `make demo` runs): the main jobs on the bundled mini bench and the tiny model.

1. check the bundled mini bench with the VAU-Bench validator;
2. build the tiny random Qwen2.5-VL checkpoint;
3. evaluate it with the real `lmms-eval` CLI (`--model vau_qwen2_5_vl`, the plugin's decoder) on the
   `vau_bench_mini` group and print the metrics table (video_errors included);
4. run a short GRPO fine-tuning through `llamafactory-cli train` and print the reward before and after.
The tiny model is random, so its scores are near zero: the demo shows the pipeline, not a result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from vau_plugin.data.mini_bench import bundled_mini_bench
from vau_plugin.data.validate import validate_path

LMMS_MODEL = "vau_qwen2_5_vl"
LMMS_TASKS = "vau_bench_mini"
# Small enough for a CPU: few frames, small frames, short answers (they replace the tasks' paper budgets).
CPU_MODEL_ARGS = "device=cpu,device_map=cpu,max_num_frames=4,min_pixels=3136,max_pixels=12544"
MAX_NEW_TOKENS = 16


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def _tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def metrics_table(results: dict) -> str:
    """A plain table of every task's metrics from an lmms-eval results JSON."""
    lines = [f"{'task':<24} {'metric':<22} {'value':>8}", "-" * 56]
    for task in sorted(results["results"]):
        for key, value in sorted(results["results"][task].items()):
            if not key.endswith(",none") or "stderr" in key or not isinstance(value, (int, float)):
                continue
            lines.append(f"{task:<24} {key[: -len(',none')]:<22} {value:>8.2f}")
    return "\n".join(lines)


def run_lmms_eval(model_dir: Path, out_dir: Path) -> dict:
    """Evaluate a checkpoint on the mini bench with the real lmms-eval CLI; returns the results JSON."""
    cmd = [
        _tool("lmms-eval"), "--model", LMMS_MODEL, "--model_args", f"pretrained={model_dir},{CPU_MODEL_ARGS}",
        "--tasks", LMMS_TASKS, "--gen_kwargs", f"max_new_tokens={MAX_NEW_TOKENS}",
        "--output_path", str(out_dir), "--log_samples", "--verbosity", "DEBUG",
    ]  # fmt: skip
    print("$ " + " ".join(cmd), flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "lmms_eval.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)
    found = sorted(out_dir.rglob("*_results.json"))
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"lmms-eval failed (exit {proc.returncode}); see {log}")
    return json.loads(found[-1].read_text(encoding="utf-8"))


def run_demo(workdir: str | Path) -> int:
    root = Path(workdir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    _step("1. the bundled mini bench, checked by `vau-plugin validate`")
    bench = bundled_mini_bench()
    for split in ("train", "test"):
        report = validate_path(bench / f"{split}.csv", video_root=bench / "videos")
        videos = report.get("videos", {})
        print(
            f"{split}: {report['rows']} rows, usable {report['usable']}, "
            f"{len(report['errors'])} errors, videos found {videos.get('found', '?')}/{report['rows']}"
        )

    _step("2. the tiny random Qwen2.5-VL checkpoint")
    from vau_plugin.tiny_model import make_tiny_model

    model_dir = root / "tiny_model"
    if not (model_dir / "config.json").is_file():
        make_tiny_model(model_dir, seed=0)
    print(f"checkpoint: {model_dir}")

    _step(f"3. lmms-eval --model {LMMS_MODEL} --tasks {LMMS_TASKS}")
    eval_dir = root / "lmms_eval"
    results = run_lmms_eval(model_dir, eval_dir / time.strftime("%Y%m%d-%H%M%S"))
    print(metrics_table(results))

    _step("4. GRPO through llamafactory-cli train")
    from vau_plugin.llamafactory.demo import run_grpo_demo

    summary = run_grpo_demo(root)
    print(f"GRPO ({summary['steps']} steps): mean total reward {summary['reward_first']:.3f} -> {summary['reward_last']:.3f}")
    print(f"checkpoint: {summary['output_dir']}")
    print(f"recipe (absolute paths, runs from any folder): llamafactory-cli train {summary['recipe']}")

    print(f"\ndemo finished in {time.monotonic() - started:.0f} s; files under {root}")
    return 0

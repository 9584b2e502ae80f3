"""Benchmark lmms-eval on the bundled mini bench: samples/s, and where the time goes (task code vs the model).

Runs `lmms_eval.evaluator.simple_evaluate` in-process with `--model vau_qwen2_5_vl` on the tiny random Qwen2.5-VL
(CPU), the same call the `lmms-eval` CLI makes, with timers around the plugin wrapper's methods:
- `VAUQwen2_5_VL.encode_video`: video decoding (probe, decode, resize by `vau_plugin.video.load_video`), the
  wrapper's only video path since it stopped calling qwen-vl-utils' `process_vision_info`;
- `VAUQwen2_5_VL._generate`: the model (processor on the decoded frames, then `generate`);
- `VAUQwen2_5_VL.generate_until`: the wrapper's whole loop; what it spends outside the two above (document lookup,
  chat template, grouping, the per-sample video error handling) is reported as "wrapper";
- the rest of the run: lmms-eval's harness plus the task code (docs from the CSV, prompts, parsing, metrics).
The frame cache is switched off (`VAU_FRAME_CACHE` is removed from the environment), so every sample decodes its
video; bench/cache_paths.py measures the cache. The model is tiny, so this measures the harness and the task code,
which a real model would hide.

Usage: python bench/lmms.py [--quick] [--repeats 2] [--out bench/results/lmms.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _common import RESULTS, environment, write_result

DEFAULT_OUT = RESULTS / "lmms.json"
CPU_ARGS = "device=cpu,device_map=cpu,max_num_frames=4,min_pixels=3136,max_pixels=12544,fps=2"


class Timers:
    """Accumulated seconds per name, from wrapped callables."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed


def instrument(timers: Timers) -> None:
    """Wrap the plugin wrapper's entry points (once per process)."""
    from vau_plugin.lmms.model import VAUQwen2_5_VL

    VAUQwen2_5_VL.encode_video = timers.wrap("video (encode_video)", VAUQwen2_5_VL.encode_video)
    VAUQwen2_5_VL._generate = timers.wrap("model (_generate)", VAUQwen2_5_VL._generate)
    VAUQwen2_5_VL.generate_until = timers.wrap("plugin wrapper generate_until", VAUQwen2_5_VL.generate_until)


def run_once(model, tasks: list[str], max_new_tokens: int, timers: Timers, out: Path) -> dict:
    """One evaluation; returns wall time, samples and the timer split."""
    from lmms_eval.evaluator import simple_evaluate

    timers.seconds.clear()
    start = time.perf_counter()
    results = simple_evaluate(model=model, tasks=tasks, gen_kwargs=f"max_new_tokens={max_new_tokens}",
                              log_samples=True, batch_size=1)  # fmt: skip
    wall = time.perf_counter() - start
    samples = sum(v["effective"] for v in results["n-samples"].values())
    model_s = timers.seconds["model (_generate)"]
    video_s = timers.seconds["video (encode_video)"]
    wrapper_s = timers.seconds["plugin wrapper generate_until"]
    other_s = wrapper_s - model_s - video_s
    return {
        "tasks": tasks,
        "samples": samples,
        "wall_s": wall,
        "samples_per_s": samples / wall,
        "model_s": model_s,
        "video_s": video_s,
        "video_per_sample_s": video_s / samples,
        "plugin_wrapper_other_s": other_s,
        "task_and_harness_s": wall - wrapper_s,
        "share_model": model_s / wall,
        "share_video": video_s / wall,
        "share_plugin_wrapper_other": other_s / wall,
        "share_task_and_harness": (wall - wrapper_s) / wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only vau_bench_qa_mini (12 samples)")
    parser.add_argument("--repeats", type=int, default=2, help="evaluations (the fastest is reported)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("VAU_FRAME_CACHE", "VAU_FRAME_CACHE_MAX_BYTES"):  # decode every time (see the docstring)
        os.environ.pop(name, None)
    tasks = ["vau_bench_qa_mini"] if args.quick else ["vau_bench_mini"]
    with tempfile.TemporaryDirectory(prefix="vau-lmms-bench-") as tmp:
        os.environ.setdefault("HF_HOME", str(Path(tmp) / "hf"))
        from lmms_eval.models import get_model

        from vau_plugin.tiny_model import make_tiny_model

        logging.getLogger().setLevel(logging.WARNING)
        model_dir = make_tiny_model(Path(tmp) / "tiny_model", seed=0)
        timers = Timers()
        instrument(timers)
        runs, load_s = [], 0.0
        for _ in range(args.repeats):  # a fresh model each time: simple_evaluate releases the model when done
            start = time.perf_counter()
            model = get_model("vau_qwen2_5_vl").create_from_arg_string(f"pretrained={model_dir},{CPU_ARGS}", {"batch_size": 1})
            load_s = max(load_s, time.perf_counter() - start)
            runs.append(run_once(model, tasks, args.max_new_tokens, timers, Path(tmp)))
    best = min(runs, key=lambda r: r["wall_s"])
    print(f"lmms-eval {', '.join(tasks)} on the tiny Qwen2.5-VL (CPU), model load {load_s:.1f} s (not counted)")
    header = (f"{'run':<5}{'samples':>8}{'wall s':>8}{'samples/s':>11}{'model':>8}{'video':>8}{'ms/video':>10}"
              f"{'wrapper':>9}{'task+harness':>14}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for index, run in enumerate(runs, 1):
        print(f"{index:<5}{run['samples']:>8}{run['wall_s']:>8.2f}{run['samples_per_s']:>11.2f}"
              f"{run['share_model']:>8.0%}{run['share_video']:>8.0%}{run['video_per_sample_s'] * 1e3:>10.1f}"
              f"{run['share_plugin_wrapper_other']:>9.0%}{run['share_task_and_harness']:>14.0%}")  # fmt: skip
    print("model: the wrapper's _generate (processor + generate); video: its encode_video (decode + resize); "
          "wrapper: the rest of its generate_until; task+harness: everything else in simple_evaluate")
    write_result(args.out, {"benchmark": "lmms_eval_mini", "quick": args.quick, "model_load_s": load_s,
                            **environment(), "runs": runs, "best": best})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

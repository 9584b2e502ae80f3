"""Benchmark the motion prompt layer: frames/s and effective GB/s for 16-32 frames at 448x448.

Compared with
- a plain copy of the same input into an output of the prompted size (the memory-bound floor: the layer must
  read every input frame and write every output frame at least once), into a ready buffer and into a fresh
  tensor (`clone`: what any layer returning a new tensor pays, page faults included, on CPU), and
- a per-frame Python loop computing the same prompts one frame pair at a time.

Usage: python bench/motion.py [--frames 16 32] [--size 448] [--repeats 7] [--out bench/results/motion.json]
Prints a table and writes JSON. Runs in well under a minute on 2 CPU cores; on a CUDA machine it adds bf16 rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vau_plugin.motion import FrameMotionPrompt, MotionPrompt, shift, slope

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "motion.json"


def per_frame_loop(layer: MotionPrompt, frames: torch.Tensor) -> torch.Tensor:
    """The same prompts, one frame pair per Python iteration (what a naive port does)."""
    a, b = slope(layer.m), shift(layer.n)
    fill = layer._fill_value(frames)
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=frames.dtype, device=frames.device).view(3, 1, 1)
    out = []
    for t in range(frames.shape[0] - 1):
        previous = (frames[t] / 255.0 * weights).sum(0, keepdim=True)
        current = (frames[t + 1] / 255.0 * weights).sum(0, keepdim=True)
        attention = torch.sigmoid(a * (current - previous - b))
        out.append(fill + attention * (frames[t + 1] - fill))
    return torch.stack(out)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_it(fn, device: torch.device, repeats: int) -> tuple[float, float]:
    """(best, median) seconds of `repeats` calls after one warm-up call; the best is the one less disturbed by
    other processes on a shared machine, so the table uses it."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def bench_case(frames: int, size: int, dtype: torch.dtype, device: torch.device, repeats: int) -> list[dict]:
    """Rows for T = `frames` prompted frames (T+1 in) at size x size, one per method."""
    generator = torch.Generator().manual_seed(0)
    clip = (torch.rand(frames + 1, 3, size, size, generator=generator) * 255).to(device=device, dtype=dtype)
    layer = MotionPrompt(0.5, 0.1).to(device).requires_grad_(False)
    hook = FrameMotionPrompt(layer)
    copy_target = torch.empty(frames, 3, size, size, dtype=dtype, device=device)
    element = clip.element_size()
    moved = (clip.numel() + copy_target.numel()) * element  # read T+1 frames, write T frames

    def layer_call():
        with torch.no_grad():
            return layer(clip)[0]

    methods = {
        "copy into buffer (floor)": lambda: copy_target.copy_(clip[1:]),
        "clone (alloc + copy)": lambda: clip[1:].clone(),
        "MotionPrompt (vectorised)": layer_call,
        "FrameMotionPrompt.prompt": lambda: hook.prompt(clip),
        "per-frame loop": lambda: per_frame_loop(layer, clip),
    }
    with torch.no_grad():
        reference = layer_call()
        looped = per_frame_loop(layer, clip)
    max_difference = float((reference.float() - looped.float()).abs().max())
    rows = []
    for name, fn in methods.items():
        with torch.no_grad():
            seconds, median = time_it(fn, device, repeats)
        rows.append(
            {
                "method": name,
                "frames_out": frames,
                "size": size,
                "dtype": str(dtype).replace("torch.", ""),
                "device": device.type,
                "seconds": seconds,
                "seconds_median": median,
                "frames_per_s": frames / seconds,
                "effective_GB_per_s": moved / seconds / 1e9,
                "bytes_moved": moved,
                "loop_vs_vectorised_max_abs_diff": max_difference,
            }
        )
    floor = rows[0]["seconds"]
    for row in rows:
        row["x_copy_time"] = row["seconds"] / floor
    return rows


def print_table(rows: list[dict]) -> None:
    header = f"{'method':<28}{'T':>4}{'dtype':>10}{'dev':>6}{'ms':>10}{'frames/s':>11}{'GB/s':>8}{'x copy':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['method']:<28}{row['frames_out']:>4}{row['dtype']:>10}{row['device']:>6}"
            f"{row['seconds'] * 1e3:>10.1f}{row['frames_per_s']:>11.1f}{row['effective_GB_per_s']:>8.2f}"
            f"{row['x_copy_time']:>8.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 32], help="prompted frames T (T+1 in)")
    parser.add_argument("--size", type=int, default=448, help="frame height and width")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per method (best and median kept)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    args = parser.parse_args(argv)

    cases = [(torch.device("cpu"), torch.float32)]
    if torch.cuda.is_available():
        cases += [(torch.device("cuda"), torch.float32), (torch.device("cuda"), torch.bfloat16)]
    rows = []
    for device, dtype in cases:
        for frames in args.frames:
            rows.extend(bench_case(frames, args.size, dtype, device, args.repeats))
    print_table(rows)
    result = {
        "benchmark": "motion_prompt",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

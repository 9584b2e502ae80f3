"""Benchmark video loading: `vau_plugin.video.load_video` against the decode floor and against qwen-vl-utils.

For real mp4 files (H.264, written once with PyAV and kept under bench/results/videos/) of several lengths and
resolutions, with the VAU-R1 setting (2 fps, 3584 visual tokens per clip), it times
- `decord.VideoReader(...).get_batch(indices)` on the very indices load_video samples, without resizing: the floor
  (any loader must at least open the file and decode those frames);
- `qwen_vl_utils.fetch_video` (what VAU-R1 and lmms-eval's Qwen2.5-VL use), same file and settings;
- `load_video` with backend decord and with backend pyav.
Each row reports the best of `--repeats` calls after a warm-up and the ratio to the floor measured in the same run.
A column checks that load_video returns the same pixels as fetch_video.

Usage: python bench/video.py [--quick] [--repeats 3] [--out bench/results/video.json]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from _common import RESULTS, VideoSpec, ensure_video, environment, time_best, write_result

from vau_plugin.budget import SamplingConfig
from vau_plugin.sampling import sample_indices
from vau_plugin.video import load_video, probe

DEFAULT_OUT = RESULTS / "video.json"

SPECS = [
    VideoSpec("10s_320x240", 10, 30, 320, 240),
    VideoSpec("30s_640x360", 30, 30, 640, 360),
    VideoSpec("20s_1280x720", 20, 25, 1280, 720),
    VideoSpec("120s_640x360", 120, 25, 640, 360),
]
QUICK_SPECS = [VideoSpec("4s_320x240", 4, 30, 320, 240), VideoSpec("8s_640x360", 8, 25, 640, 360)]


def qwen_element(path: Path, config: SamplingConfig) -> dict:
    """The qwen-vl-utils `ele` dict equivalent to `config`."""
    return {
        "video": str(path),
        "fps": config.fps,
        "min_frames": config.min_frames,
        "max_frames": config.max_frames,
        "min_pixels": config.min_pixels,
        "total_pixels": config.total_pixels,
    }


def bench_video(path: Path, spec: VideoSpec, repeats: int) -> list[dict]:
    """One row per loader for one file."""
    import decord
    from qwen_vl_utils.vision_process import fetch_video

    config = SamplingConfig.vau_r1(backend="decord")
    indices, _ = sample_indices(probe(path), config)

    def floor():
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
        return reader.get_batch(indices).asnumpy()

    methods = {
        "decord get_batch (floor)": floor,
        "qwen_vl_utils.fetch_video": lambda: fetch_video(qwen_element(path, config)),
        "load_video decord": lambda: load_video(path, config, cache=False),
        "load_video pyav": lambda: load_video(path, SamplingConfig.vau_r1(backend="pyav"), cache=False),
    }
    ours = load_video(path, config, cache=False)
    theirs = fetch_video(qwen_element(path, config))
    same_as_qwen = bool(torch.equal(ours.frames.float(), theirs))
    rows = []
    for name, fn in methods.items():
        best, median = time_best(fn, repeats)
        rows.append(
            {
                "video": spec.name,
                "duration_s": spec.seconds,
                "source_size": f"{spec.width}x{spec.height}",
                "source_frames": spec.frames,
                "method": name,
                "frames_sampled": len(indices),
                "output_size": "x".join(map(str, ours.size[::-1])),
                "seconds": best,
                "seconds_median": median,
                "sampled_frames_per_s": len(indices) / best,
                "same_pixels_as_fetch_video": same_as_qwen,
            }
        )
    for row in rows:
        row["x_floor"] = row["seconds"] / rows[0]["seconds"]
    return rows


def print_table(rows: list[dict]) -> None:
    header = f"{'video':<15}{'method':<28}{'T':>5}{'out':>9}{'ms':>10}{'frames/s':>10}{'x floor':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['video']:<15}{row['method']:<28}{row['frames_sampled']:>5}{row['output_size']:>9}"
            f"{row['seconds'] * 1e3:>10.1f}{row['sampled_frames_per_s']:>10.1f}{row['x_floor']:>9.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two short clips (CI size)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per loader (best and median kept)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    args = parser.parse_args(argv)

    rows = []
    for spec in QUICK_SPECS if args.quick else SPECS:
        rows.extend(bench_video(ensure_video(spec), spec, args.repeats))
    print_table(rows)
    mismatched = sorted({r["video"] for r in rows if not r["same_pixels_as_fetch_video"]})
    print("load_video == fetch_video pixels:", "yes" if not mismatched else f"NO for {mismatched}")
    result = {"benchmark": "video_loading", "quick": args.quick, **environment(), "rows": rows}
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark the decoded-frame cache: a warm hit against decoding, on the same files in the same run.

For each bench video (see bench/video.py) with the VAU-R1 setting it times
- `load_video(..., cache=False)`: probe, decode, resize (what every visit costs without a cache);
- a cold visit with the cache on: the same plus writing the entry (paid once per file and setting);
- a warm hit: stat the file, read the JSON sidecar and the .npy frames.
The target is a hit at least 10x faster than decoding. It then replays an access pattern where the cache holds only
part of the working set, and checks the folder never exceeds its byte budget.

Usage: python bench/cache.py [--quick] [--repeats 5] [--out bench/results/cache.json]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import RESULTS, VideoSpec, ensure_video, environment, time_best, write_result

from vau_plugin.budget import SamplingConfig
from vau_plugin.cache import FrameCache
from vau_plugin.video import load_video

DEFAULT_OUT = RESULTS / "cache.json"
TARGET_RATIO = 10.0
SPECS = [
    VideoSpec("10s_320x240", 10, 30, 320, 240),
    VideoSpec("30s_640x360", 30, 30, 640, 360),
    VideoSpec("20s_1280x720", 20, 25, 1280, 720),
]
QUICK_SPECS = [VideoSpec("4s_320x240", 4, 30, 320, 240), VideoSpec("8s_640x360", 8, 25, 640, 360)]


def bench_file(path: Path, spec: VideoSpec, root: Path, repeats: int) -> dict:
    """Decode vs cold vs warm timings for one file (a fresh cache folder for the cold visits)."""
    config = SamplingConfig.vau_r1()
    decode, decode_median = time_best(lambda: load_video(path, config, cache=False), repeats)
    colds = []
    for attempt in range(max(2, repeats // 2)):
        cache = FrameCache(root / f"cold_{spec.name}_{attempt}")
        start = time.perf_counter()
        load_video(path, config, cache=cache)
        colds.append(time.perf_counter() - start)
    cache = FrameCache(root / f"warm_{spec.name}")
    sampled = load_video(path, config, cache=cache)
    hit, hit_median = time_best(lambda: load_video(path, config, cache=cache), repeats * 4)
    return {
        "video": spec.name,
        "source_size": f"{spec.width}x{spec.height}",
        "frames_sampled": len(sampled.indices),
        "entry_bytes": cache.size_bytes(),
        "decode_s": decode,
        "decode_median_s": decode_median,
        "cold_s": min(colds),
        "hit_s": hit,
        "hit_median_s": hit_median,
        "speedup_hit_vs_decode": decode / hit,
        "cold_overhead": min(colds) / decode,
        "meets_target": decode / hit >= TARGET_RATIO,
    }


def bench_eviction(paths: list[Path], root: Path, rounds: int = 3) -> dict:
    """Visit every file `rounds` times through a cache with room for about half of them."""
    config = SamplingConfig.vau_r1()
    probe_cache = FrameCache(root / "probe")
    sizes = []
    for path in paths:
        load_video(path, config, cache=probe_cache)
        sizes.append(probe_cache.size_bytes() - sum(sizes))
    budget = max(sum(sizes) // 2, max(sizes))
    cache = FrameCache(root / "bounded", max_bytes=budget)
    largest_seen = 0
    for _ in range(rounds):
        for path in paths:
            load_video(path, config, cache=cache)
            largest_seen = max(largest_seen, cache.size_bytes())
    return {
        "budget_bytes": budget,
        "working_set_bytes": sum(sizes),
        "largest_folder_bytes": largest_seen,
        "within_budget": largest_seen <= budget,
        "hits": cache.hits,
        "misses": cache.misses,
    }


def print_table(rows: list[dict], eviction: dict) -> None:
    header = f"{'video':<15}{'T':>5}{'entry MB':>10}{'decode ms':>11}{'cold ms':>9}{'hit ms':>8}{'x faster':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['video']:<15}{row['frames_sampled']:>5}{row['entry_bytes'] / 1e6:>10.2f}{row['decode_s'] * 1e3:>11.1f}"
            f"{row['cold_s'] * 1e3:>9.1f}{row['hit_s'] * 1e3:>8.2f}{row['speedup_hit_vs_decode']:>10.1f}"
        )
    print(
        f"bounded cache: budget {eviction['budget_bytes'] / 1e6:.2f} MB for a {eviction['working_set_bytes'] / 1e6:.2f} MB "
        f"working set, largest folder {eviction['largest_folder_bytes'] / 1e6:.2f} MB "
        f"({'within' if eviction['within_budget'] else 'OVER'} budget), {eviction['hits']} hits / {eviction['misses']} misses"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two short clips (CI size)")
    parser.add_argument("--repeats", type=int, default=5, help="timed decodes per file (hits: 4x as many)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    args = parser.parse_args(argv)

    specs = QUICK_SPECS if args.quick else SPECS
    paths = [ensure_video(spec) for spec in specs]
    with tempfile.TemporaryDirectory(prefix="vau-cache-bench-") as tmp:
        rows = [bench_file(path, spec, Path(tmp), args.repeats) for path, spec in zip(paths, specs)]
        eviction = bench_eviction(paths, Path(tmp))
    print_table(rows, eviction)
    ok = all(row["meets_target"] for row in rows) and eviction["within_budget"]
    print(f"target: warm hit >= {TARGET_RATIO:.0f}x faster than decoding, folder within budget: {'met' if ok else 'NOT met'}")
    write_result(
        args.out,
        {"benchmark": "frame_cache", "quick": args.quick, "target_ratio": TARGET_RATIO, "target_met": ok,
         **environment(), "rows": rows, "eviction": eviction},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

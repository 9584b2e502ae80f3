"""Helpers shared by the bench scripts: timing, machine facts, result files and the synthetic test videos.

Each script runs standalone (`python bench/<name>.py`), which puts this folder on sys.path.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS = Path(__file__).resolve().parent / "results"
VIDEO_DIR = RESULTS / "videos"


def time_best(fn, repeats: int, warmup: int = 1) -> tuple[float, float]:
    """(best, median) seconds of `repeats` calls after `warmup` untimed calls; the best is the one least
    disturbed by other processes on a shared machine, so tables use it."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def environment() -> dict:
    """Library versions and machine facts recorded with every result."""
    import torch

    facts = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    for name in ("decord", "av", "transformers", "trl", "lmms_eval"):
        try:
            facts[name] = __import__(name).__version__
        except Exception:  # not installed or no __version__
            facts[name] = None
    return facts


def write_result(out: Path, result: dict) -> None:
    """Write `result` as indented JSON to `out` (folders created) and say where."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")


@dataclass(frozen=True)
class VideoSpec:
    """A synthetic surveillance-like clip: `seconds` long at `fps`, `width` x `height`."""

    name: str
    seconds: float
    fps: float
    width: int
    height: int

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)


def synthetic_frames(spec: VideoSpec, seed: int = 0):
    """Frames of a static textured scene with a few moving blocks and sensor noise (compresses like CCTV)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : spec.height, 0 : spec.width]
    background = np.stack([(xx * 255 // spec.width), (yy * 255 // spec.height), (xx + yy) % 256], -1).astype(np.int16)
    background += rng.integers(-20, 20, background.shape, dtype=np.int16)
    movers = rng.integers(0, 255, (4, 3))
    size = max(spec.height // 8, 8)
    for t in range(spec.frames):
        frame = background.copy()
        for index, colour in enumerate(movers):
            x = int((t * (index + 1) * 3) % max(spec.width - size, 1))
            y = int((index + 1) * spec.height // 6) % max(spec.height - size, 1)
            frame[y : y + size, x : x + size] = colour
        frame += rng.integers(-3, 4, frame.shape, dtype=np.int16)
        yield np.clip(frame, 0, 255).astype(np.uint8)


def ensure_video(spec: VideoSpec, folder: Path = VIDEO_DIR, seed: int = 0) -> Path:
    """The mp4 for `spec`, encoded on first use (H.264, crf 23) and reused by later runs (`seed`: the scene's
    colours and noise; a file already there is reused whatever its seed, so give each seed its own name)."""
    from vau_plugin.benches.writer import write_mp4

    path = folder / f"{spec.name}.mp4"
    if not path.is_file():
        partial = folder / f".{spec.name}.partial.mp4"
        write_mp4(partial, synthetic_frames(spec, seed), spec.fps, crf=23)
        os.replace(partial, path)
    return path

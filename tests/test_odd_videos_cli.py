"""Odd but real videos through the real CLIs: `lmms-eval --model vau_qwen2_5_vl` scores every document and counts the
clips no frame size of the budget fits in `video_errors` (a 7680x40 clip once ended the whole run with exit 0 and no
results), and `vau-plugin validate --videos` flags, with the evaluation budgets, the clips evaluation cannot sample."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from _csv_rows import write_csv
from _lmms_cli import CPU_ARGS, LMMS_EVAL, results_json, run_offline, samples_jsonl
from _odd_videos import noise_clip, one_frame_gif, one_pixel_clip, same_pts_clip
from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.benches.writer import write_mp4

TASK = "vau_bench_qa"

# Every test here starts a real `lmms-eval` process (conftest.py: the e2e tier).
pytestmark = pytest.mark.e2e


def _odd_bench(tmp_path):
    """test.csv with one row per clip (QA rows), the clips named as the rows' videos; returns (root, videos, names
    of the clips that CPU_ARGS' 3136..12544 px a frame cannot fit, names of those the default budgets cannot fit)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    writers = {
        "good": lambda p: shutil.copy(bundled_mini_bench() / "videos" / "mini_test_0001.mp4", p),
        "one_frame": lambda p: write_mp4(p, np.zeros((1, 32, 32, 3), np.uint8), 2.0),
        "two_frames": lambda p: write_mp4(p, np.zeros((2, 32, 32, 3), np.uint8), 2.0),
        "one_pixel": one_pixel_clip,
        "same_pts": same_pts_clip,
        "gif": one_frame_gif,
        "wide": lambda p: noise_clip(p, 40, 7680),  # 7672x28 once rounded: aspect ratio 274
        "tall": lambda p: noise_clip(p, 7680, 40),
        "w3840x64": lambda p: noise_clip(p, 64, 3840),  # fits the default budgets; its 64-px side -> 0 px at 12544 px
    }
    suffix = {"same_pts": ".mkv", "gif": ".gif"}
    names = {kind: f"msad_{kind}{suffix.get(kind, '.mp4')}" for kind in writers}
    for kind, write in writers.items():
        write(videos / names[kind])
    root = tmp_path / "bench"
    root.mkdir()
    write_csv(root / "test.csv", [{"Video Name": name} for name in names.values()])
    unfit_small = [names[k] for k in ("wide", "tall", "w3840x64")]
    unfit_default = [names[k] for k in ("wide", "tall")]
    return root, videos, unfit_small, unfit_default


def test_odd_videos_are_counted_in_video_errors_and_the_run_scores_every_document(tmp_path, tiny_model_dir):
    root, videos, unfit_small, unfit_default = _odd_bench(tmp_path)
    out = tmp_path / "out"
    cmd = [
        LMMS_EVAL, "--model", "vau_qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir},{CPU_ARGS}",
        "--tasks", TASK, "--gen_kwargs", "max_new_tokens=4", "--batch_size", "2",
        "--output_path", str(out), "--log_samples",
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path, timeout=900, VAU_BENCH_ROOT=str(root), VAU_BENCH_SPLITS="test",
                       VAU_BENCH_VIDEO_ROOT=str(videos))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_json(out)
    assert results["n-samples"][TASK]["effective"] == 9
    assert results["results"][TASK]["video_errors,none"] == len(unfit_small) == 3
    samples = {s["accuracy"]["video"]: s["accuracy"] for s in samples_jsonl(out, TASK)}
    assert len(samples) == 9
    assert sorted(name for name, s in samples.items() if s["video_error"]) == sorted(unfit_small)
    assert all(samples[name]["score"] == 0.0 for name in unfit_small)

    # validate runs evaluation's checks with the evaluation budgets (it cannot know a run's model_args): it flags the
    # clips those budgets cannot fit, and passes the rest.
    done = subprocess.run(
        [sys.executable, "-m", "vau_plugin.cli", "validate", str(root / "test.csv"), "--videos", str(videos), "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["videos"]["found"] == 9
    assert sorted(report["videos"]["undecodable_examples"]) == sorted(unfit_default)
    assert all("cannot be sampled for budget qa at 28 px a token" in e for e in report["errors"]), report["errors"]

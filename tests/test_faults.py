"""Faults not covered elsewhere, through the real CLIs: broken videos in an lmms-eval run of `vau_qwen2_5_vl`, and
a GRPO training process killed with SIGKILL mid-step, then resumed.

Covered elsewhere: corrupt/truncated/zero-length/missing files in `load_video` (test_video.py) and in the frame
cache (test_cache.py); CSV encodings, extra/missing columns, CRLF and quoted newlines (test_data_reader.py); a judge
endpoint that times out, returns 500 or garbage (test_judge.py); a garbage video and missing videos through
lmms-eval (test_lmms_cli.py); broken videos during GRPO (test_grpo_stage.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from _fixtures_grpo import GRPOWorkspace
from _lmms_cli import CPU_ARGS, LMMS_EVAL, custom_bench, results_json, run_offline, samples_jsonl
from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.benches.writer import write_mp4
from vau_plugin.runners import cli_env, llamafactory_cli
from vau_plugin.video import load_video

GOOD_CLIP = bundled_mini_bench() / "videos" / "mini_test_0001.mp4"

# Every test here starts a real `lmms-eval` or `llamafactory-cli` process (conftest.py: the e2e tier).
pytestmark = pytest.mark.e2e


def _truncated_faststart_copy(target: Path) -> None:
    """The good clip re-encoded with its index first, then cut in the middle of the frame data: the header is
    readable, the frames run out."""
    frames = load_video(GOOD_CLIP, cache=False)
    full = target.with_suffix(".full.mp4")
    source = frames.frames.permute(0, 2, 3, 1).numpy()
    write_mp4(full, np.repeat(source, 8, axis=0), fps=frames.info.fps, faststart=True)
    data = full.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    full.unlink()


def test_truncated_and_zero_length_videos_are_recorded_per_sample_and_the_rest_is_scored(
    tmp_path, tiny_model_dir, shared_vau_bench
):
    annotations, videos = custom_bench(tmp_path, shared_vau_bench, rows=4, corrupt=0)
    names = sorted(p.name for p in videos.iterdir())
    rows = [r for r in (annotations / "test_msad.csv").read_text(encoding="utf-8").splitlines()[1:]]
    order = [row.split(",")[0] for row in rows]
    truncated_tail, faststart_half, empty = videos / order[0], videos / order[1], videos / order[2]
    truncated_tail.write_bytes(GOOD_CLIP.read_bytes()[: GOOD_CLIP.stat().st_size * 2 // 3])  # index lost
    _truncated_faststart_copy(faststart_half)
    empty.write_bytes(b"")
    assert sorted(p.name for p in videos.iterdir()) == names
    out = tmp_path / "out"
    cmd = [
        LMMS_EVAL, "--model", "vau_qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir},{CPU_ARGS},fps=2",
        "--tasks", "vau_bench_qa_msad", "--gen_kwargs", "max_new_tokens=4", "--batch_size", "2",
        "--output_path", str(out), "--log_samples", "--verbosity", "INFO",
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path, VAU_BENCH_ROOT=str(annotations), VAU_BENCH_VIDEO_ROOT=str(videos))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert results_json(out)["n-samples"]["vau_bench_qa_msad"]["effective"] == 4
    samples = {s["accuracy"]["video"]: s["accuracy"] for s in samples_jsonl(out, "vau_bench_qa_msad")}
    assert set(samples) == set(order)
    for broken in (truncated_tail, faststart_half, empty):
        assert samples[broken.name]["video_error"] is True and samples[broken.name]["score"] == 0.0, broken.name
    assert samples[order[3]]["video_error"] is False  # the healthy sample was scored, not lost
    log = proc.stdout + proc.stderr
    assert f"{empty.name}: video file is empty (0 bytes)" in log
    assert f"{truncated_tail.name}: cannot read as a video" in log
    # Frames run out mid-stream: qwen-vl-utils' decord read fails and its torchvision fallback does not exist in
    # torchvision >= 0.26; the wrapper still records the sample as a video error instead of stopping the run.
    assert f"doc {order.index(faststart_half.name)}: video skipped" in log


def _one_frame_clip(target: Path) -> None:
    frame = load_video(GOOD_CLIP, cache=False).frames[:1].permute(0, 2, 3, 1).numpy()
    write_mp4(target, frame, fps=10.0)


def _png_named_mp4(target: Path) -> None:
    from PIL import Image

    Image.fromarray(load_video(GOOD_CLIP, cache=False).frames[0].permute(1, 2, 0).numpy()).save(target, format="PNG")


def _last_frames_cut(target: Path) -> None:
    """A faststart copy whose last few frames are cut off: decodable but for its tail (within the decoder's
    tolerance, which repeats the last decoded frame)."""
    frames = load_video(GOOD_CLIP, cache=False).frames.permute(0, 2, 3, 1).numpy()
    full = target.with_suffix(".full.mp4")
    write_mp4(full, np.repeat(frames, 4, axis=0), fps=10.0, faststart=True, crf=30)
    data = full.read_bytes()
    target.write_bytes(data[: len(data) - 100])
    full.unlink()


def test_unusual_videos_are_read_and_video_errors_are_counted_in_the_results(tmp_path, tiny_model_dir, shared_vau_bench):
    """A 1-frame clip, a PNG named .mp4 and a file missing its last frames used to be flagged video_error (qwen-vl-utils'
    torchvision fallback is gone in torchvision 0.26) although the plugin's decoder reads them; and no results file
    said how many samples had a video error."""
    annotations, videos = custom_bench(tmp_path, shared_vau_bench, rows=5, corrupt=0)
    order = [row.split(",")[0] for row in (annotations / "test_msad.csv").read_text(encoding="utf-8").splitlines()[1:]]
    _one_frame_clip(videos / order[0])
    _png_named_mp4(videos / order[1])
    _last_frames_cut(videos / order[2])
    (videos / order[3]).write_bytes(b"")
    out = tmp_path / "out"
    cmd = [
        LMMS_EVAL, "--model", "vau_qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir},{CPU_ARGS}",
        "--tasks", "vau_bench_qa_msad", "--gen_kwargs", "max_new_tokens=4", "--batch_size", "2",
        "--output_path", str(out), "--log_samples",
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path, VAU_BENCH_ROOT=str(annotations), VAU_BENCH_VIDEO_ROOT=str(videos))
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = {s["accuracy"]["video"]: s["accuracy"] for s in samples_jsonl(out, "vau_bench_qa_msad")}
    assert [samples[name]["video_error"] for name in order] == [False, False, False, True, False]
    assert results_json(out)["results"]["vau_bench_qa_msad"]["video_errors,none"] == 1.0
    assert "read_video" not in proc.stdout + proc.stderr


def test_a_run_whose_videos_all_fail_stops_with_one_message(tmp_path, tiny_model_dir, shared_vau_bench):
    """720 empty files used to give "accuracy 0" and exit status 0."""
    annotations, videos = custom_bench(tmp_path, shared_vau_bench, rows=3, corrupt=0)
    for video in videos.iterdir():
        video.write_bytes(b"")
    out = tmp_path / "out"
    cmd = [
        LMMS_EVAL, "--model", "vau_qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir},{CPU_ARGS}",
        "--tasks", "vau_bench_qa_msad", "--gen_kwargs", "max_new_tokens=4", "--output_path", str(out),
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path, VAU_BENCH_ROOT=str(annotations), VAU_BENCH_VIDEO_ROOT=str(videos))
    assert proc.returncode != 0
    assert "none of the 3 samples could be run" in proc.stderr and "video file is empty" in proc.stderr
    assert not list(out.rglob("*_results.json"))


# A reward function that holds step 3 (the first step after checkpoint-2) until the test kills the run, so that the
# SIGKILL lands inside a training step whatever the machine's speed; on the resumed run it is a plain zero reward.
STALL_MODULE = """
import os, time
from pathlib import Path

def stall_in_step_3(completions, **kwargs):
    marker = os.environ.get("VAU_TEST_STALL_MARKER")
    if marker and (Path(os.environ["VAU_TEST_OUTPUT_DIR"]) / "checkpoint-2" / "trainer_state.json").is_file():
        Path(marker).write_text("in step 3")
        time.sleep(600)
    return [0.0] * len(completions)
"""
REWARDS = "format,accuracy,iou,stall_hook:stall_in_step_3"


def _train_args(ws: GRPOWorkspace, output_dir: Path, **overrides) -> list[str]:
    args = [llamafactory_cli(), "train", str(ws.recipes / "vau_r1_grpo_lora_tiny.yaml")]
    return args + [f"{k}={v}" for k, v in ws.overrides(output_dir, reward_funcs=REWARDS, **overrides).items()]


def _env(hooks: Path, output_dir: Path, **extra: str) -> dict[str, str]:
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(hooks), env.get("PYTHONPATH", "")])
    env.update(VAU_TEST_OUTPUT_DIR=str(output_dir), **extra)
    return env


def _state(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_grpo_killed_with_sigkill_mid_step_resumes_from_its_last_checkpoint(grpo_workspace, tmp_path):
    ws = grpo_workspace
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "stall_hook.py").write_text(STALL_MODULE)
    out, marker, log = tmp_path / "killed", tmp_path / "in_step_3", tmp_path / "first.log"
    settings = dict(max_steps=4, save_steps=1)
    with open(log, "w") as handle:
        proc = subprocess.Popen(_train_args(ws, out, **settings), cwd=ws.root, stdout=handle, stderr=subprocess.STDOUT,
                                env=_env(hooks, out, VAU_TEST_STALL_MARKER=str(marker)), start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not marker.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.is_file(), log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole process group this test started
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "checkpoint-3").exists() and not (out / "trainer_state.json").exists()
    before = _state(out / "checkpoint-2" / "trainer_state.json")
    assert before["global_step"] == 2

    result = subprocess.run(_train_args(ws, out, overwrite_output_dir="false", **settings), cwd=ws.root,
                            env=_env(hooks, out), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Resuming training from" in result.stdout and "checkpoint-2" in result.stdout
    after = _state(out / "trainer_state.json")
    assert after["global_step"] == 4
    assert [e["step"] for e in after["log_history"] if "reward" in e] == [1, 2, 3, 4]
    # what finished before the kill is kept as it was
    assert [e for e in after["log_history"] if e["step"] <= 2] == [e for e in before["log_history"] if e["step"] <= 2]

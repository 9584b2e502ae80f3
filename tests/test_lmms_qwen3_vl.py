"""`--model vau_qwen3_vl` on the tiny Qwen3-VL: the real time of every frame pair is written into the prompt (a
variable-frame-rate clip and motion prompts included), each task's budget gives the visual tokens it gives Qwen2.5-VL,
a checkpoint of the other family is refused, and the real `lmms-eval` CLI scores the mini tasks with it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from lmms_eval.protocol import ChatMessages

from _lmms_cli import LMMS_EVAL, results_json, run_offline, samples_jsonl
from vau_plugin.video import write_mp4

# A burst of 20 frames in the first 0.38 s (50 fps), then one frame a second up to 8 s: the average rate (3.5 fps)
# says nothing about when each sampled frame is shown.
VFR_TIMES = [i * 0.02 for i in range(20)] + [float(s) for s in range(1, 9)]


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory) -> Path:
    frames = np.zeros((len(VFR_TIMES), 96, 128, 3), np.uint8)
    frames[..., 0] = np.linspace(0, 255, len(VFR_TIMES), dtype=np.uint8)[:, None, None]
    return write_mp4(tmp_path_factory.mktemp("vfr") / "vfr.mp4", frames, 50.0, timestamps=VFR_TIMES)


def _messages(path: Path) -> ChatMessages:
    return ChatMessages(messages=[{"role": "user", "content": [{"type": "video", "url": str(path)}, {"type": "text", "text": "Which?"}]}])


def _prompt_times(model, inputs) -> list[float]:
    return [float(t) for t in re.findall(r"<([0-9.]+) seconds>", model.tokenizer.decode(inputs["input_ids"][0]))]


def _pair_means(times: list[float]) -> list[float]:
    return [round((a + b) / 2, 1) for a, b in zip(times[::2], times[1::2])]


@pytest.fixture(scope="module")
def models(tiny_qwen3_vl_dir):
    from vau_plugin.lmms.model import VAUQwen3_VL

    args = dict(pretrained=str(tiny_qwen3_vl_dir), device="cpu", max_num_frames=8)
    return {"plain": VAUQwen3_VL(**args), "motion": VAUQwen3_VL(**args, motion_prompt=True, motion_m=0.5, motion_n=0.1)}


def test_real_frame_times_are_written_into_the_prompt(models, vfr_clip):
    from vau_plugin.video import load_video

    doc = {"task": "tag"}
    model = models["plain"]
    text, videos = model.prepare(doc, _messages(vfr_clip))
    sampled = load_video(vfr_clip, model.budget(doc).sampling())
    inputs = model.inputs([text], videos)
    assert videos[0].times == pytest.approx(sampled.timestamps)
    # frames sampled evenly in time, not in index: the 50-fps burst gives at most the first frame
    assert _prompt_times(model, inputs) == pytest.approx(_pair_means(sampled.timestamps), abs=1e-9)
    assert max(_prompt_times(model, inputs)) > 6.0  # an index / average-rate time would stop near 3.9 s
    assert inputs["video_grid_thw"][0][0] == len(sampled.timestamps) // 2


def test_with_motion_prompts_each_frame_has_the_time_of_the_frame_it_shows(models, vfr_clip):
    from vau_plugin.video import load_video

    doc = {"task": "tag"}
    model = models["motion"]
    text, videos = model.prepare(doc, _messages(vfr_clip))
    sampled = load_video(vfr_clip, replace(model.budget(doc).sampling(), extra_frames=1))
    assert len(sampled.timestamps) == len(videos[0].times) + 1
    assert videos[0].times == pytest.approx(sampled.timestamps[1:])  # frame j shows the motion into sampled frame j + 1
    assert _prompt_times(model, model.inputs([text], videos)) == pytest.approx(_pair_means(sampled.timestamps[1:]), abs=1e-9)


@pytest.mark.parametrize("task", ["qa", "tag"])
def test_each_task_budget_gives_the_visual_tokens_it_gives_qwen2_5_vl(task, models, tiny_model_dir):
    from vau_plugin.benches.mini import bundled_mini_bench
    from vau_plugin.lmms.model import VAUQwen2_5_VL

    clip = bundled_mini_bench() / "videos" / "mini_test_0001.mp4"  # 128x96, 6 s
    qwen2_5 = VAUQwen2_5_VL(pretrained=str(tiny_model_dir), device="cpu", max_num_frames=8)
    grids = {}
    for name, model in (("qwen2_5", qwen2_5), ("qwen3", models["plain"])):
        text, videos = model.prepare({"task": task}, _messages(clip))
        grids[name] = model.inputs([text], videos)["video_grid_thw"].tolist()
    # the same merged tokens a frame (patches of 14 and 32 px): the budget is scaled to the model's units
    assert grids["qwen3"] == grids["qwen2_5"] and grids["qwen3"][0][1] * grids["qwen3"][0][2] >= 4 * 256
    budget = models["plain"].budget({"task": task})
    assert budget.image_factor == 32 and budget.processor_min_pixels == 256 * 32 * 32


def test_a_checkpoint_of_the_other_family_is_refused(tiny_model_dir, tiny_qwen3_vl_dir):
    from vau_plugin.lmms.model import VAUQwen2_5_VL, VAUQwen3_VL

    with pytest.raises(ValueError, match="is a qwen3_vl checkpoint.*use --model vau_qwen3_vl"):
        VAUQwen2_5_VL(pretrained=str(tiny_qwen3_vl_dir), device="cpu")
    with pytest.raises(ValueError, match="is a qwen2_5_vl checkpoint.*use --model vau_qwen2_5_vl"):
        VAUQwen3_VL(pretrained=str(tiny_model_dir), device="cpu")


def test_lmms_eval_scores_the_mini_tasks_with_vau_qwen3_vl(tmp_path, tiny_qwen3_vl_dir):
    out = tmp_path / "out"
    cmd = [
        LMMS_EVAL, "--model", "vau_qwen3_vl",
        "--model_args", f"pretrained={tiny_qwen3_vl_dir},device=cpu,max_num_frames=4,motion_prompt=true,motion_m=0.5,motion_n=0.1",
        "--tasks", "vau_bench_qa_mini,vau_bench_tag_mini", "--limit", "4", "--batch_size", "4",
        "--gen_kwargs", "max_new_tokens=8", "--output_path", str(out), "--log_samples",
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "vau_qwen3_vl: motion prompts on (m=0.5, n=0.1, fill=mean)" in proc.stdout + proc.stderr
    results = results_json(out)
    for task, metric in (("vau_bench_qa_mini", "accuracy"), ("vau_bench_tag_mini", "mIoU")):
        assert results["n-samples"][task]["effective"] == 4
        assert 0.0 <= results["results"][task][f"{metric},none"] <= 100.0
        samples = samples_jsonl(out, task)
        assert len(samples) == 4 and not any(s[metric]["video_error"] for s in samples)

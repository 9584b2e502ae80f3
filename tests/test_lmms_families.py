"""The lmms-eval wrappers beyond Qwen2.5-VL, on tiny random checkpoints. `--model vau_qwen3_vl`: the real time of
every frame pair is written into the prompt (a variable-frame-rate clip and motion prompts included) and the real
`lmms-eval` CLI scores the mini tasks with it. `--model vau_qwen2_vl` (the paper's 2B family) loads and answers. Each
task's budget gives every family the same visual tokens, and a checkpoint of another family is refused."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from lmms_eval.protocol import ChatMessages

from _lmms_cli import LMMS_EVAL, results_json, run_offline, samples_jsonl
from vau_plugin.benches.writer import write_mp4

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


@pytest.fixture(scope="module")
def family_dirs(tiny_model_dir, tiny_qwen2_vl_dir, tiny_qwen3_vl_dir) -> dict:
    return {"vau_qwen2_5_vl": tiny_model_dir, "vau_qwen2_vl": tiny_qwen2_vl_dir, "vau_qwen3_vl": tiny_qwen3_vl_dir}


@pytest.mark.parametrize("task", ["qa", "tag"])
def test_each_task_budget_gives_every_family_the_same_visual_tokens(task, models, family_dirs):
    from vau_plugin.benches.mini import bundled_mini_bench
    from vau_plugin.lmms.model import VAUQwen2_5_VL, VAUQwen2_VL

    clip = bundled_mini_bench() / "videos" / "mini_test_0001.mp4"  # 128x96, 6 s
    evaluators = {"qwen3": models["plain"]}
    for name, wrapper in (("qwen2_5", VAUQwen2_5_VL), ("qwen2", VAUQwen2_VL)):
        evaluators[name] = wrapper(pretrained=str(family_dirs[wrapper.model_name]), device="cpu", max_num_frames=8)
    grids = {}
    for name, model in evaluators.items():
        text, videos = model.prepare({"task": task}, _messages(clip))
        grids[name] = model.inputs([text], videos)["video_grid_thw"].tolist()
    # the same merged tokens a frame (patches of 14 and 32 px): the budget is scaled to the model's units
    assert grids["qwen3"] == grids["qwen2_5"] == grids["qwen2"] and grids["qwen3"][0][1] * grids["qwen3"][0][2] >= 4 * 256
    budget = models["plain"].budget({"task": task})
    assert budget.image_factor == 32 and budget.processor_min_pixels == 256 * 32 * 32
    # Qwen2-VL answers (its processor takes no rate: its temporal position ids step one per temporal patch)
    text, videos = evaluators["qwen2"].prepare({"task": task}, _messages(clip))
    assert "second_per_grid_ts" not in evaluators["qwen2"].inputs([text], videos)
    assert isinstance(evaluators["qwen2"]._generate([text], videos, {"max_new_tokens": 2})[0].text, str)


def test_a_checkpoint_of_another_family_is_refused(family_dirs):
    from vau_plugin.lmms.model import MODELS

    for wrapper in MODELS:
        for name, path in family_dirs.items():
            if name != wrapper.model_name:
                with pytest.raises(ValueError, match=f"is a .* checkpoint.*use .*--model {name} for"):
                    wrapper(pretrained=str(path), device="cpu")


@pytest.mark.e2e
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

"""The paper's video budgets (vau_plugin.budget) are the task defaults, and they give the token counts VAU-R1's own
inference pipeline gives: qwen-vl-utils' `fetch_video` on the scripts' video element, then an AutoProcessor with
min_pixels 256·28² and max_pixels 768·28², fps passed (TAG/CLS) or not (QA/reasoning)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from vau_plugin.benches.writer import write_mp4
from vau_plugin.budget import BUDGETS, PROCESSOR_MAX_PIXELS, PROCESSOR_MIN_PIXELS, TRAIN, budget_for, llamafactory_keys

REPO = Path(__file__).resolve().parents[1]
PX = 28 * 28


def test_budgets_are_the_reference_scripts_settings():
    qa, tag, cls, reason = (budget_for(t) for t in ("qa", "tag", "cls", "reason"))
    # inference_qa_qwen.py: {"type": "video", "max_pixels": 768*28*28, "fps": 1.0}; add_vision_id=True; no fps to
    # the processor (which then assumes 2 fps)
    assert (qa.fps, qa.min_pixels, qa.max_pixels, qa.processor_fps, qa.add_vision_id) == (1.0, 128 * PX, 768 * PX, 2.0, True)
    # inference_tag/cls_qwen.py: {"max_pixels": 768*28*28, "min_pixels": 256*28*28}, qwen-vl-utils' 2 fps, fps passed
    for budget in (tag, cls):
        assert (budget.fps, budget.min_pixels, budget.max_pixels, budget.processor_fps, budget.add_vision_id) == (
            2.0, 256 * PX, 768 * PX, None, False)  # fmt: skip
    assert (reason.fps, reason.min_pixels, reason.add_vision_id) == (1.0, 128 * PX, True)
    for budget in (qa, tag, cls, reason):
        assert (budget.processor_min_pixels, budget.processor_max_pixels) == (PROCESSOR_MIN_PIXELS, PROCESSOR_MAX_PIXELS)
    with pytest.raises(KeyError, match="known: qa, tag"):
        budget_for("qc")


@pytest.mark.parametrize("recipe", ["vau_r1_grpo.yaml", "vau_r1_sft.yaml"])
def test_recipes_default_to_the_training_budget(recipe):
    keys = yaml.safe_load((REPO / "recipes" / recipe).read_text())
    assert {k: keys[k] for k in llamafactory_keys(TRAIN)} == llamafactory_keys(TRAIN)
    assert keys["template"] == "qwen2_vl_vau"
    # 64 frames x 87808 px is at most VAU-R1's 3584 visual tokens for a clip
    assert TRAIN.max_frames * TRAIN.max_pixels // (28 * 28 * 2) == 3584


def test_every_task_reads_its_budget():
    tasks = {path.stem for path in (REPO / "tasks" / "vau_bench").glob("_*.yaml")} - {"_common"}
    assert {name.lstrip("_") for name in tasks} == set(BUDGETS) - {"train"}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """A UCF-Crime-like 320x240 clip and an MSAD-like 1280x720 one, 10 s at 4 fps, a gradient moving over them."""
    root = tmp_path_factory.mktemp("budget")
    out = {}
    for name, (height, width) in {"ucf": (240, 320), "msad": (720, 1280)}.items():
        y, x = np.mgrid[0:height, 0:width]
        frames = np.stack([np.stack([(x + 8 * t) % 256, (y * 2) % 256, (x + y + 16 * t) % 256], -1) for t in range(40)])
        out[name] = write_mp4(root / f"{name}.mp4", frames.astype(np.uint8), 4.0)
    return out


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from vau_plugin.lmms.model import VAUQwen2_5_VL

    return VAUQwen2_5_VL(pretrained=str(tiny_model_dir), device="cpu")


def reference_inputs(tiny_model_dir: Path, video: Path, task: str) -> dict:
    """VAU-R1's inference path for `task`: qwen-vl-utils on the script's video element, then the processor."""
    from qwen_vl_utils import process_vision_info
    from transformers import AutoProcessor

    element = {"type": "video", "video": str(video), "max_pixels": 768 * PX}
    if task == "qa":
        element["fps"] = 1.0
    else:
        element["min_pixels"] = 256 * PX
    messages = [{"role": "user", "content": [element, {"type": "text", "text": "?"}]}]
    _, frames, kwargs = process_vision_info(messages, return_video_kwargs=True)
    processor = AutoProcessor.from_pretrained(tiny_model_dir, min_pixels=256 * PX, max_pixels=768 * PX)
    processor.video_processor.size = {"shortest_edge": 256 * PX, "longest_edge": 768 * PX}  # as in VAU-R1's processor
    fps = {} if task == "qa" else {"fps": kwargs["fps"]}
    return processor(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=frames, return_tensors="pt", **fps)


# (clip, task) -> video grid (t, h, w) worked out by hand from the budget:
# 10 s clips. qa 320x240: 10 frames; 128·28² floor -> 280x392, processor floor 256·28² -> 392x532 (28x38 patches)
# tag 320x240: 20 frames; 256·28² floor -> 392x532. msad 1280x720: 768·28² cap -> 560x1008 (40x72) at both rates
EXPECTED_GRID = {
    ("ucf", "qa"): [5, 28, 38],
    ("ucf", "tag"): [10, 28, 38],
    ("msad", "qa"): [5, 40, 72],
    ("msad", "tag"): [10, 40, 72],
}


@pytest.mark.parametrize("clip, task", sorted(EXPECTED_GRID))
def test_task_defaults_give_the_reference_token_counts(videos, model, tiny_model_dir, clip, task):
    doc = {"task": task, "video": f"{clip}.mp4"}
    encoded = model.encode_video(str(videos[clip]), model.budget(doc))
    ours = model.inputs(["<|vision_start|><|video_pad|><|vision_end|>"], [encoded])
    theirs = reference_inputs(tiny_model_dir, videos[clip], task)
    assert ours["video_grid_thw"].tolist() == theirs["video_grid_thw"].tolist() == [EXPECTED_GRID[clip, task]]
    t, h, w = EXPECTED_GRID[clip, task]
    assert int((ours["input_ids"] == model.processor.tokenizer.convert_tokens_to_ids("<|video_pad|>")).sum()) == t * h * w // 4
    assert [float(s) for s in ours["second_per_grid_ts"]] == pytest.approx([float(s) for s in theirs["second_per_grid_ts"]])
    assert float(ours["second_per_grid_ts"][0]) == 1.0  # QA: the processor's 2-fps assumption; TAG: 2 fps sampled
    # same frames; QA's are resized once here, twice (128·28², then the processor's floor) by the reference
    difference = (ours["pixel_values_videos"] - theirs["pixel_values_videos"]).abs().mean().item()
    assert difference < (0.15 if (clip, task) == ("ucf", "qa") else 0.02)


def test_model_args_replace_budget_fields(tiny_model_dir):
    from vau_plugin.lmms.model import VAUQwen2_5_VL

    model = VAUQwen2_5_VL(pretrained=str(tiny_model_dir), device="cpu", fps=1.75, max_num_frames=14, min_pixels=3136, max_pixels=6000)
    qa = model.budget({"task": "qa"})
    assert (qa.fps, qa.max_frames, qa.min_pixels, qa.max_pixels) == (1.75, 14, 3136, 6000)
    assert qa.processor_fps is None and qa.add_vision_id  # an fps of one's own is encoded as sampled
    assert model.budget({"task": "something else"}).fps == 1.75

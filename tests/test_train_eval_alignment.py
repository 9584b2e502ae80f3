"""What a model is trained on (LLaMA-Factory's qwen2_vl template and mm_plugin, `prepare --prompt-style eval`)
is what it is evaluated on (lmms-eval's `vau_bench_*_think` tasks through `vau_qwen2_5_vl`): the same token ids,
the same video grid, the same time step of the temporal position ids, nearly the same pixels. Checked on a
motion-bench clip with the video settings of experiments/motion_vau/config.json, the setting in which a model
trained from scratch depends on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vau_plugin.data.motion_bench import LMMS_SPLIT, make_motion_bench
from vau_plugin.data.prepare import prepare_dataset
from vau_plugin.lmms.model import VideoHookProcessor, sampled_fps

REPO = Path(__file__).resolve().parents[1]
VIDEO = json.loads((REPO / "experiments/motion_vau/config.json").read_text())["video"]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("align") / "bench"
    make_motion_bench(root, seed=1, n_train=8, n_test=8)
    prepare_dataset(root, root / "videos", root / "lf", tasks=("qa", "tag"), split=LMMS_SPLIT, prompt_style="eval")
    return root


def llamafactory_inputs(model_dir: Path, row: dict) -> tuple[list[int], dict]:
    """Token ids and video tensors of one SFT row the way `llamafactory-cli train` builds them."""
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    template = get_template_and_fix_tokenizer(processor.tokenizer, DataArguments(template="qwen2_vl"))
    # the attributes LLaMA-Factory's loader sets on the processor from the model arguments
    settings = dict(image_max_pixels=768 * 768, image_min_pixels=32 * 32, image_do_pan_and_scan=False,
                    crop_to_patches=False, use_audio_in_video=False, **VIDEO)  # fmt: skip
    for key, value in settings.items():
        setattr(processor, key, value)
    messages = template.mm_plugin.process_messages([dict(m) for m in row["messages"]], [], row["videos"], [], processor)
    prompt_ids, _ = template.encode_oneturn(processor.tokenizer, messages, None, None)
    return prompt_ids, template.mm_plugin._get_mm_inputs([], row["videos"], [], processor)


def lmms_eval_inputs(model_dir: Path, task_name: str, video_name: str, monkeypatch, bench: Path) -> dict:
    """The processor output of lmms-eval's chat qwen2_5_vl for one document of a real task object."""
    from lmms_eval.protocol import ChatMessages
    from lmms_eval.tasks import TaskManager, get_task_dict
    from qwen_vl_utils import process_vision_info
    from transformers import AutoProcessor

    monkeypatch.setenv("VAU_BENCH_ROOT", str(bench))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(bench / "videos"))
    monkeypatch.setenv("VAU_BENCH_SPLITS", LMMS_SPLIT)
    task = get_task_dict([task_name], TaskManager(), task_type="chat")[task_name]  # as for vau_qwen2_5_vl
    doc = next(d for d in task.test_docs() if d["video"] == video_name)
    messages = ChatMessages(messages=task.doc_to_messages(doc))
    video_kwargs = {"max_pixels": VIDEO["video_max_pixels"], "min_pixels": VIDEO["video_min_pixels"], "fps": VIDEO["video_fps"]}
    hf_messages = [messages.to_hf_messages(video_kwargs=video_kwargs)]
    processor = VideoHookProcessor(AutoProcessor.from_pretrained(model_dir))
    text = processor.apply_chat_template(hf_messages, tokenize=False, add_generation_prompt=True)
    _, videos, _ = process_vision_info(hf_messages, return_video_kwargs=True, return_video_metadata=True)
    frames, metadata = zip(*videos)
    return processor(text=text, videos=list(frames), video_metadata=list(metadata), return_tensors="pt")


@pytest.mark.parametrize("task", ["qa", "tag"])
def test_training_and_evaluation_inputs_agree(bench, tiny_model_dir, monkeypatch, task):
    rows = json.loads((bench / "lf" / f"sft_{task}.json").read_text())
    row = rows[0]
    train_ids, train_video = llamafactory_inputs(tiny_model_dir, row)
    evaluated = lmms_eval_inputs(tiny_model_dir, f"vau_bench_{task}_think", row["video_id"], monkeypatch, bench)
    assert evaluated["input_ids"][0].tolist() == train_ids
    assert evaluated["video_grid_thw"].tolist() == train_video["video_grid_thw"].tolist()
    assert evaluated["video_grid_thw"][0, 0].item() * 2 == round(VIDEO["video_fps"] * 8)  # all frames of the 8-s clip
    assert list(evaluated["second_per_grid_ts"]) == pytest.approx(list(train_video["second_per_grid_ts"]))
    assert float(evaluated["second_per_grid_ts"][0]) == pytest.approx(2 / VIDEO["video_fps"])
    difference = (evaluated["pixel_values_videos"] - train_video["pixel_values_videos"]).abs()
    assert difference.mean().item() < 0.05  # two resize paths (PIL then processor vs torchvision), same frames


def test_upstream_processor_call_would_encode_two_fps(bench, tiny_model_dir):
    """Without the wrapper the processor falls back to 2 fps: the reason VideoHookProcessor passes fps."""
    from qwen_vl_utils import process_vision_info
    from transformers import AutoProcessor

    video = str(next((bench / "videos").glob("*.mp4")))
    messages = [[{"role": "user", "content": [{"type": "video", "video": video, "fps": 1.25, "max_pixels": 3136, "min_pixels": 3136}]}]]
    _, videos, _ = process_vision_info(messages, return_video_kwargs=True, return_video_metadata=True)
    frames, metadata = zip(*videos)
    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    plain = processor(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=list(frames), video_metadata=list(metadata))
    wrapped = VideoHookProcessor(processor)(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=list(frames), video_metadata=list(metadata))
    assert sampled_fps(metadata[0]) == pytest.approx(1.25)
    assert list(plain["second_per_grid_ts"]) == [1.0]
    assert list(wrapped["second_per_grid_ts"]) == pytest.approx([2 / 1.25])


def test_sampled_fps_needs_complete_metadata():
    assert sampled_fps({"fps": 5.0, "frames_indices": list(range(14)), "total_num_frames": 40}) == pytest.approx(1.75)
    assert sampled_fps({"fps": 5.0, "frames_indices": None, "total_num_frames": 40}) is None
    assert sampled_fps({}) is None

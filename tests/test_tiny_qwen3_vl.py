"""`make-tiny-model --arch qwen3_vl`: a tiny Qwen3-VL that transformers and LLaMA-Factory load offline and that
runs on a real mp4, with the frame times written into the prompt as Qwen3-VL does; the default stays Qwen2.5-VL."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from _tiny_checkpoint import VIDEO_MESSAGE, bar_sweep_mp4, llamafactory_encode
from vau_plugin.tiny_model import (
    ARCHS,
    DEFAULT_ARCH,
    QWEN3_VL_CHAT_TEMPLATE,
    VIDEO_PAD,
    VISION_END,
    VISION_START,
    build_config,
    build_model,
    build_tokenizer,
    make_tiny_model,
)

FPS = 4  # the test clip: 8 frames at 4 fps, 64 x 48 px


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, offline_hub) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny_qwen3_vl") / "model", seed=0, arch="qwen3_vl")


@pytest.fixture(scope="module")
def loaded(tiny_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return {
        "processor": AutoProcessor.from_pretrained(tiny_dir),
        "model": AutoModelForImageTextToText.from_pretrained(tiny_dir).eval(),
    }


def _decode_mp4(path: Path) -> np.ndarray:
    """All frames of `path` as a (T, H, W, 3) uint8 array."""
    import av

    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def test_checkpoint_is_a_small_qwen3_vl(tiny_dir):
    names = {p.name for p in tiny_dir.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "preprocessor_config.json",
            "video_preprocessor_config.json", "chat_template.jinja", "README.md"} <= names  # fmt: skip
    config = json.loads((tiny_dir / "config.json").read_text())
    assert config["model_type"] == "qwen3_vl" and config["architectures"] == ["Qwen3VLForConditionalGeneration"]
    vision, text = config["vision_config"], config["text_config"]
    assert (vision["patch_size"], vision["spatial_merge_size"], vision["temporal_patch_size"]) == (ARCHS["qwen3_vl"].patch_size, 2, 2)
    assert ARCHS["qwen3_vl"].patch_size == 16 and ARCHS["qwen2_5_vl"].patch_size == 14
    assert all(0 <= i < vision["depth"] for i in vision["deepstack_visual_indexes"])
    assert len(vision["deepstack_visual_indexes"]) <= text["num_hidden_layers"]
    assert math.isqrt(vision["num_position_embeddings"]) ** 2 == vision["num_position_embeddings"]
    assert sum(text["rope_scaling"]["mrope_section"]) * 2 == text["head_dim"] and text["rope_scaling"]["mrope_interleaved"]
    video_config = json.loads((tiny_dir / "video_preprocessor_config.json").read_text())
    assert video_config["video_processor_type"] == "Qwen3VLVideoProcessor" and video_config["patch_size"] == 16
    card = (tiny_dir / "README.md").read_text()
    assert "Qwen3-VL" in card and "random" in card.lower() and "--arch qwen3_vl" in card


def test_auto_classes_load_it_offline(loaded):
    from transformers import Qwen2TokenizerFast, Qwen3VLForConditionalGeneration, Qwen3VLProcessor, Qwen3VLVideoProcessor

    processor, model = loaded["processor"], loaded["model"]
    tokenizer = processor.tokenizer
    assert isinstance(processor, Qwen3VLProcessor) and isinstance(processor.video_processor, Qwen3VLVideoProcessor)
    assert isinstance(tokenizer, Qwen2TokenizerFast)
    assert processor.chat_template == tokenizer.chat_template == QWEN3_VL_CHAT_TEMPLATE
    assert isinstance(model, Qwen3VLForConditionalGeneration) and model.dtype == torch.float32
    assert 1_000_000 < sum(p.numel() for p in model.parameters()) < 20_000_000  # as small as the tiny Qwen2.5-VL
    assert model.config.video_token_id == tokenizer.convert_tokens_to_ids(VIDEO_PAD)
    assert model.generation_config.do_sample is False
    # Qwen3's reasoning tags are single added tokens, as in the real tokenizer.
    for tag in ("<think>", "</think>"):
        assert tokenizer(tag)["input_ids"] == [tokenizer.convert_tokens_to_ids(tag)]
    assert model.config.text_config.vocab_size >= len(tokenizer)


def test_chat_template_has_no_default_system_prompt(loaded):
    prompt = loaded["processor"].apply_chat_template(VIDEO_MESSAGE, tokenize=False, add_generation_prompt=True)
    assert prompt == ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Which anomaly class is shown?<|im_end|>\n<|im_start|>assistant\n")
    with_system = [{"role": "system", "content": "Be brief."}, *VIDEO_MESSAGE]
    rendered = loaded["processor"].apply_chat_template(with_system, tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")


def test_an_mp4_becomes_timestamped_frames_and_the_model_runs_and_generates(loaded, tmp_path):
    from transformers.video_utils import VideoMetadata

    processor, model = loaded["processor"], loaded["model"]
    tokenizer = processor.tokenizer
    frames = _decode_mp4(bar_sweep_mp4(tmp_path / "clip.mp4", frames=8, fps=FPS))
    assert frames.shape == (8, 48, 64, 3)
    metadata = VideoMetadata(total_num_frames=8, fps=FPS, width=64, height=48, frames_indices=list(range(8)))
    prompt = processor.apply_chat_template(VIDEO_MESSAGE, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[prompt], videos=[frames], video_metadata=[metadata], do_sample_frames=False, return_tensors="pt")

    grid_t, grid_h, grid_w = inputs["video_grid_thw"][0].tolist()
    assert (grid_t, grid_h, grid_w) == (4, 4, 4)  # 8 frames / temporal patch 2; 48 and 64 px -> 64 px / patch 16
    assert inputs["pixel_values_videos"].shape == (grid_t * grid_h * grid_w, 3 * 2 * 16 * 16)
    assert "second_per_grid_ts" not in inputs  # time is in the text, not in the position ids
    text = tokenizer.decode(inputs["input_ids"][0])
    # One "<t seconds>" per temporal patch: the mean time of its two frames (0 and 0.25 s -> 0.1), then that patch's tokens.
    assert re.findall(r"<([0-9.]+) seconds>", text) == ["0.1", "0.6", "1.1", "1.6"]
    per_frame = grid_h * grid_w // 4
    assert f"<0.6 seconds>{VISION_START}{VIDEO_PAD * per_frame}{VISION_END}<1.1 seconds>" in text
    assert int((inputs["input_ids"] == tokenizer.convert_tokens_to_ids(VIDEO_PAD)).sum()) == grid_t * per_frame

    with torch.no_grad():
        logits = model(**inputs).logits
        generated = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4)
    n_prompt = inputs["input_ids"].shape[1]
    assert logits.shape == (1, n_prompt, model.config.text_config.vocab_size) and torch.isfinite(logits).all()
    assert generated.shape == (1, n_prompt + 4) and torch.equal(generated[:, :n_prompt], inputs["input_ids"])


def test_same_seed_same_checkpoint_other_seed_other_weights_default_arch_unchanged(
    tiny_dir,
    loaded,
    tmp_path,
    offline_hub,
    capsys,
):
    from vau_plugin.cli import build_parser, main

    again = tmp_path / "again"
    assert main(["make-tiny-model", str(again), "--arch", "qwen3_vl"]) == 0
    assert capsys.readouterr().out.strip() == f"tiny Qwen3-VL checkpoint written to {again}"
    for path in sorted(tiny_dir.iterdir()):
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name

    tokenizer = loaded["processor"].tokenizer
    reference = loaded["model"].state_dict()
    other = build_model(build_config(tokenizer, "qwen3_vl"), seed=1).state_dict()
    assert reference.keys() == other.keys()
    assert not all(torch.equal(reference[name], other[name]) for name in reference)

    assert DEFAULT_ARCH == "qwen2_5_vl" and build_parser("make-tiny-model").parse_args(["make-tiny-model", "x"]).arch == "qwen2_5_vl"
    assert build_config(build_tokenizer()).model_type == "qwen2_5_vl"
    with pytest.raises(ValueError, match="qwen3_vl"):
        build_tokenizer("qwen4_vl")
    with pytest.raises(SystemExit):
        main(["make-tiny-model", str(tmp_path / "bad"), "--arch", "qwen4_vl"])


def test_llamafactory_encodes_a_video_sample_with_the_qwen3_vl_template(tiny_dir, tmp_path, offline_hub):
    video = str(bar_sweep_mp4(tmp_path / "clip.mp4", frames=8, fps=FPS))
    done = llamafactory_encode(tiny_dir, video, "qwen3_vl_nothink", "<answer>Fire</answer>")
    assert "seconds>" + VISION_START in done["messages"][0]["content"]  # LLaMA-Factory writes the frame times too
    grid = done["mm_inputs"]["video_grid_thw"]
    video_pad = done["tokenizer"].convert_tokens_to_ids(VIDEO_PAD)
    assert sum(i == video_pad for i in done["input_ids"]) == int(grid.prod()) // 4 > 0
    assert math.isfinite(done["loss"])


def test_lmms_eval_qwen3_vl_model_loads_it_and_answers_on_an_mp4(tiny_dir, tmp_path, offline_hub):
    from lmms_eval.api.instance import Instance
    from lmms_eval.models.simple.qwen3_vl import Qwen3_VL

    clip = str(bar_sweep_mp4(tmp_path / "clip.mp4", frames=8, fps=FPS))
    model = Qwen3_VL(pretrained=str(tiny_dir), device="cpu", device_map="cpu", max_num_frames=4, min_pixels=4 * 32 * 32,
                     max_pixels=64 * 32 * 32)  # fmt: skip
    model.task_dict = {"t": {"test": [{"video": clip}]}}
    gen_kwargs = {"max_new_tokens": 3, "until": ["<|im_end|>"]}
    request = Instance("generate_until", ("Which?", gen_kwargs, lambda doc: [doc["video"]], 0, "t", "test"), idx=0,
                       metadata={"task": "t", "doc_id": 0, "repeats": 1})  # fmt: skip
    inputs = model._preprocess_chunk([request.args])[0]
    # Frames 0, 2, 5, 7 of the 4-fps clip (qwen-vl-utils' uniform 4): two temporal patches at 0.25 s and 1.5 s.
    text = model.tokenizer.decode(inputs["input_ids"][0])
    assert re.findall(r"<([0-9.]+) seconds>", text) == ["0.2", "1.5"]
    assert inputs["video_grid_thw"].tolist() == [[2, 4, 4]]
    outputs = model.generate_until([request])
    assert len(outputs) == 1 and isinstance(outputs[0], str)

"""LLaMA-Factory glue for motion prompts: the `qwen2_vl_motion` template / mm_plugin on a real mp4, YAML keys,
and the learnable in-model variant switched on through LLaMA-Factory's own model loader (LoRA)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vau_plugin.benches.writer import write_mp4
from vau_plugin.llamafactory import motion as lf_motion
from vau_plugin.llamafactory import patch
from vau_plugin.llamafactory.mm_plugin import MOTION_PLUGIN  # the motion template and its mm_plugin share the name
from vau_plugin.motion import (
    QWEN_VL_MEAN,
    QWEN_VL_STD,
    FrameMotionPrompt,
    PatchGeometry,
    unpatchify_videos,
)
from vau_plugin.tiny_model import VIDEO_PAD

MOTION_ENV = tuple(lf_motion.ENV_VARS.values())


@pytest.fixture(autouse=True)
def clean_motion_env(monkeypatch):
    for name in MOTION_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def lf(tiny_model_dir):
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from llamafactory.model import load_tokenizer

    patch.register_templates()
    patch.register_templates()  # idempotent
    model_args = ModelArguments(model_name_or_path=str(tiny_model_dir))
    modules = load_tokenizer(model_args)
    tokenizer = modules["tokenizer"]
    return {
        "model_args": model_args,
        "tokenizer": tokenizer,
        "processor": modules["processor"],
        "motion": get_template_and_fix_tokenizer(tokenizer, DataArguments(template=MOTION_PLUGIN)),
        "plain": get_template_and_fix_tokenizer(tokenizer, DataArguments(template="qwen2_vl")),
        "vau": get_template_and_fix_tokenizer(tokenizer, DataArguments(template="qwen2_vl_vau")),
    }


def moving_bar_clip(path, frames=12, fps=4, height=56, width=56):
    """A white bar sweeping right over a dark background: every frame differs from the last."""
    clip = np.full((frames, height, width, 3), 30, dtype=np.uint8)
    for t in range(frames):
        clip[t, 8:48, 4 * t : 4 * t + 10] = 255
    return str(write_mp4(path, clip, fps=fps, crf=0))


def encode(template, tokenizer, processor, video):
    messages = [
        {"role": "user", "content": "<video>What happens in the video?"},
        {"role": "assistant", "content": "<answer>A</answer>"},
    ]
    messages = template.mm_plugin.process_messages(messages, [], [video], [], processor)
    prompt_ids, response_ids = template.encode_oneturn(tokenizer, messages)
    input_ids = prompt_ids + response_ids
    mm_inputs = template.mm_plugin.get_mm_inputs([], [video], [], [0], [1], [0], [input_ids], processor)
    return input_ids, mm_inputs


def decode_all(video):
    import av

    with av.open(video) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_register_adds_a_qwen2_vl_template_with_the_motion_plugin(lf):
    import dataclasses

    from llamafactory.data.mm_plugin import PLUGINS, Qwen2VLPlugin
    from llamafactory.data.template import TEMPLATES

    motion, plain = TEMPLATES[MOTION_PLUGIN], TEMPLATES["qwen2_vl"]
    assert issubclass(PLUGINS[MOTION_PLUGIN], Qwen2VLPlugin)
    assert isinstance(motion.mm_plugin, PLUGINS[MOTION_PLUGIN])
    for field in dataclasses.fields(plain):
        if field.name != "mm_plugin":
            assert getattr(motion, field.name) == getattr(plain, field.name), field.name
    assert motion.mm_plugin.video_token == plain.mm_plugin.video_token == VIDEO_PAD


@pytest.mark.parametrize("video_fps, expected_frames", [(2.0, 6), (1.0, 4)])  # 6 sampled; 3 sampled -> 4 (even)
def test_a_real_mp4_gives_the_expected_tokens_and_prompted_frames(lf, tmp_path, monkeypatch, video_fps, expected_frames):
    monkeypatch.setenv("VAU_MOTION_M", "0.4")
    monkeypatch.setenv("VAU_MOTION_N", "-0.1")
    processor = lf["processor"]
    monkeypatch.setattr(processor, "video_fps", video_fps, raising=False)
    video = moving_bar_clip(tmp_path / "clip.mp4")  # 12 frames at 4 fps = 3 s
    input_ids, mm = encode(lf["motion"], lf["tokenizer"], processor, video)
    plain_ids, plain_mm = encode(lf["vau"], lf["tokenizer"], processor, video)  # same decoder, no motion

    grid = mm["video_grid_thw"]
    merge = processor.video_processor.merge_size
    video_token = lf["tokenizer"].convert_tokens_to_ids(VIDEO_PAD)
    assert grid.tolist() == [[expected_frames // 2, 4, 4]] == plain_mm["video_grid_thw"].tolist()
    assert sum(i == video_token for i in input_ids) == int(grid.prod()) // merge**2 == 4 * expected_frames // 2
    assert input_ids == plain_ids
    assert mm["pixel_values_videos"].shape == plain_mm["pixel_values_videos"].shape
    seconds = mm["second_per_grid_ts"]
    assert len(seconds) == 1 and seconds[0] == pytest.approx(2 / (expected_frames / 3.0))

    # the model sees FrameMotionPrompt.prompt of T+1 evenly spaced frames (decoded independently here)
    source = decode_all(video)
    picks = torch.linspace(0, len(source) - 1, expected_frames + 1).round().long().numpy()
    clip = torch.from_numpy(source[picks]).permute(0, 3, 1, 2)
    expected = FrameMotionPrompt.from_settings(m=0.4, n=-0.1).prompt(clip).float()
    geometry = PatchGeometry(merge_size=merge)
    (frames,) = unpatchify_videos(mm["pixel_values_videos"], grid, geometry)
    mean, std = torch.tensor(QWEN_VL_MEAN).view(3, 1, 1), torch.tensor(QWEN_VL_STD).view(3, 1, 1)
    seen = (frames * std + mean) * 255
    assert seen.shape == expected.shape
    assert (seen - expected).abs().max() < 0.01
    (plain_frames,) = unpatchify_videos(plain_mm["pixel_values_videos"], grid, geometry)
    assert not torch.allclose(frames, plain_frames)


def test_learnable_mode_leaves_frames_to_the_model(lf, tmp_path, monkeypatch):
    monkeypatch.setenv("VAU_MOTION_LEARNABLE", "true")
    video = moving_bar_clip(tmp_path / "clip.mp4")
    _, mm = encode(lf["motion"], lf["tokenizer"], lf["processor"], video)
    _, plain = encode(lf["vau"], lf["tokenizer"], lf["processor"], video)
    assert torch.equal(mm["pixel_values_videos"], plain["pixel_values_videos"])


def test_yaml_keys_become_environment_settings(monkeypatch):
    args = {"stage": "sft", "template": "qwen2_vl_motion", "vau_motion_m": 0.5, "vau_motion_fill": "black",
            "vau_motion_learnable": True}
    rest = lf_motion.consume_motion_args(args)
    assert rest == {"stage": "sft", "template": "qwen2_vl_motion"} and "vau_motion_m" in args
    settings = lf_motion.MotionSettings.from_env()
    assert (settings.m, settings.n, settings.fill, settings.learnable) == (0.5, None, "black", True)
    argv = ["--stage", "sft", "--vau_motion_n", "-0.25", "--vau_motion_reg_weight=0.1", "--do_train"]
    assert lf_motion.consume_motion_args(argv) == ["--stage", "sft", "--do_train"]
    settings = lf_motion.MotionSettings.from_env()
    assert (settings.n, settings.reg_weight) == (-0.25, 0.1)
    with pytest.raises(ValueError, match="vau_motion_fill='white'"):  # the recipe key, not the variable
        lf_motion.consume_motion_args({"vau_motion_fill": "white"})
    with pytest.raises(ValueError, match="VAU_MOTION_M='abc'"):
        lf_motion.MotionSettings.from_env({"VAU_MOTION_M": "abc"})
    assert lf_motion.consume_motion_args(None) is None


def test_learnable_variant_through_llamafactory_load_model_with_lora(lf, tmp_path, monkeypatch):
    from llamafactory.hparams import FinetuningArguments
    from llamafactory.model import load_model

    monkeypatch.setenv("VAU_MOTION_LEARNABLE", "1")
    monkeypatch.setenv("VAU_MOTION_M", "0.5")
    workflow = SimpleNamespace(load_model=load_model)  # stands in for llamafactory.train.sft.workflow
    patch.patch_sft_workflow(workflow)
    patch.patch_sft_workflow(workflow)  # idempotent
    assert workflow.load_model.__wrapped__ is load_model
    finetuning = FinetuningArguments(finetuning_type="lora", lora_target="q_proj,v_proj", lora_rank=4)
    model = workflow.load_model(lf["tokenizer"], lf["model_args"], finetuning, True)

    from vau_plugin.motion_model import get_motion_prompt

    motion = get_motion_prompt(model)
    assert motion is not None and motion.layer.m.requires_grad and motion.layer.n.requires_grad
    assert motion.layer.m.item() == pytest.approx(0.5)
    video = moving_bar_clip(tmp_path / "clip.mp4")
    input_ids, mm = encode(lf["plain"], lf["tokenizer"], lf["processor"], video)
    ids = torch.tensor([input_ids])
    mm = {k: torch.as_tensor(v) for k, v in mm.items()}
    model.train()
    loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids, **mm).loss
    assert math.isfinite(loss.item())
    loss.backward()
    assert motion.layer.m.grad.abs() > 0 and motion.layer.n.grad.abs() > 0
    model.save_pretrained(tmp_path / "ckpt")
    resumed = lf_motion.enable_learnable_motion(model, resume_from=str(tmp_path / "ckpt"))
    assert resumed is motion  # already attached: the same layer
    assert FrameMotionPrompt.from_settings(weights=tmp_path / "ckpt").layer.m.item() == pytest.approx(0.5)

    monkeypatch.setenv("VAU_MOTION_LEARNABLE", "0")
    untouched = workflow.load_model(lf["tokenizer"], lf["model_args"], FinetuningArguments(), False)
    assert get_motion_prompt(untouched) is None


@pytest.mark.e2e
def test_llamafactory_cli_sft_trains_m_n_from_recipe_keys(tiny_model_dir, tmp_path):
    """`llamafactory-cli train recipe.yaml` with vau_motion_* keys (start-up hook): (m, n) train and are saved."""
    from _lf_sft import run_sft

    proc, out = run_sft(tiny_model_dir, tmp_path, moving_bar_clip, template="qwen2_vl_motion", learning_rate=0.05,
                        vau_motion_m=0.5, vau_motion_n=0.1, vau_motion_learnable=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads((out / "motion_prompt.json").read_text())
    assert (saved["m"], saved["n"]) != (0.5, 0.1) and math.isfinite(saved["m"]) and math.isfinite(saved["n"])
    assert (out / "adapter_model.safetensors").is_file()

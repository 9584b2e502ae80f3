"""Qwen3-VL through the LLaMA-Factory training path: the `qwen3_vl_vau` / `qwen3_vl_motion` templates give exactly
what transformers' Qwen3VLProcessor gives for the same decoded frames and real frame times (per video, whatever
message a video is in), the learnable motion prompt's un-/re-patchify fits Qwen3-VL's 16-px layout, and real
`llamafactory-cli train` GRPO runs (full + fixed motion + save + resume; LoRA + learnable motion) on the tiny
random Qwen3-VL and real mp4s."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from _fixtures_grpo import logps_with_other_pixels
from _grpo_runs import TEST_REWARDS, assert_rewards_logged, train_ok, trainer_state
from vau_plugin.benches.writer import write_mp4
from vau_plugin.llamafactory import motion as lf_motion
from vau_plugin.tiny_model import VIDEO_PAD, VISION_END, VISION_START

VIDEO_TEXT = VISION_START + VIDEO_PAD + VISION_END  # what Qwen3VLProcessor expands, once per video
VFR_TIMES = [i * 0.02 for i in range(30)] + [float(s) for s in range(1, 11)]  # a 50 fps burst, then 1 fps


@pytest.fixture(autouse=True)
def clean_motion_env(monkeypatch):
    for name in lf_motion.ENV_VARS.values():
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def qwen3_dir(tiny_qwen3_vl_dir, offline_hub) -> Path:
    return tiny_qwen3_vl_dir


def _clip(path: Path, frames: int, fps: float = 4.0, timestamps=None) -> Path:
    """An mp4 of a bar sweeping right over a changing background (frames differ from each other)."""
    rows = []
    for i in range(frames):
        frame = np.full((48, 64, 3), 30 * i % 256, np.uint8)
        frame[:, : (i + 1) * 64 // frames, 0] = 255
        rows.append(frame)
    return write_mp4(path, np.stack(rows), fps, timestamps=timestamps)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qwen3_clips")
    return {"short": _clip(root / "short.mp4", 8), "long": _clip(root / "long.mp4", 24),
            "vfr": _clip(root / "vfr.mp4", len(VFR_TIMES), 50.0, VFR_TIMES)}  # fmt: skip


@pytest.fixture(scope="module")
def lf(qwen3_dir):
    """LLaMA-Factory's tokenizer/processor for the tiny Qwen3-VL (video budget 4096 px a frame, 2 fps) and the
    plugin's templates."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from llamafactory.model import load_tokenizer

    from vau_plugin.llamafactory import patch

    patch.register_templates()
    modules = load_tokenizer(ModelArguments(model_name_or_path=str(qwen3_dir), video_max_pixels=4096, video_fps=2.0))
    tokenizer, processor = modules["tokenizer"], modules["processor"]
    templates = {name: get_template_and_fix_tokenizer(tokenizer, DataArguments(template=name))
                 for name in ("qwen3_vl_vau", "qwen3_vl_motion")}  # fmt: skip
    return {"tokenizer": tokenizer, "processor": processor, **templates}


def _decoded(processor, video: Path, motion: bool):
    """The frames the model sees and their Qwen3-VL metadata, decoded here with vau_plugin.video."""
    from vau_plugin.llamafactory.mm_plugin import sampling_config
    from vau_plugin.sampling import timestamp_metadata
    from vau_plugin.video import load_video

    sampled = load_video(video, sampling_config(processor, extra_frames=int(motion), processor_range=False), cache=False)
    frames = sampled.frames
    if motion:
        frames = lf_motion.hook_for(lf_motion.MotionSettings.from_env()).prompt(frames)
    return frames, timestamp_metadata(sampled.model_timestamps), sampled


def _reference(processor, text: str, videos: list[Path], motion: bool = False) -> dict:
    """transformers' Qwen3VLProcessor on `text` (one VIDEO_TEXT per video) with the same frames and metadata."""
    decoded = [_decoded(processor, video, motion) for video in videos]
    return processor(text=[text], videos=[d[0] for d in decoded], video_metadata=[d[1] for d in decoded],
                     do_resize=False, do_sample_frames=False, return_tensors="pt"), decoded  # fmt: skip


@pytest.mark.parametrize("case", ["cfr", "vfr", "motion"])
def test_template_gives_what_the_transformers_processor_gives(lf, clips, monkeypatch, case):
    """Prompt token ids, pixel_values_videos and the grid from `qwen3_vl_vau` (`qwen3_vl_motion` for the motion case)
    equal Qwen3VLProcessor's for the same decoded frames and `timestamp_metadata`; the prompt holds the real times
    (the variable-frame-rate clip's PTS, not index / average fps; with motion, the times of the last T of T + 1)."""
    if case == "motion":
        monkeypatch.setenv("VAU_MOTION_M", "0.4")
        monkeypatch.setenv("VAU_MOTION_N", "-0.1")
    motion = case == "motion"
    template = lf["qwen3_vl_motion" if motion else "qwen3_vl_vau"]
    tokenizer, processor = lf["tokenizer"], lf["processor"]
    video = clips["vfr" if case == "vfr" else "long"]
    messages = [{"role": "user", "content": "<video>Which anomaly class is shown?"},
                {"role": "assistant", "content": "<think>A fire.</think><answer>Fire</answer>"}]  # fmt: skip
    expanded = template.mm_plugin.process_messages(messages, [], [str(video)], [], processor)
    prompt_ids, response_ids = template.encode_oneturn(tokenizer, expanded)
    input_ids = prompt_ids + response_ids
    mm = template.mm_plugin.get_mm_inputs([], [str(video)], [], [0], [1], [0], [input_ids], processor)

    plain = [dict(m, content=m["content"].replace("<video>", VIDEO_TEXT)) for m in messages]
    text = tokenizer.decode(sum(template.encode_oneturn(tokenizer, plain), []))
    expected, ((frames, metadata, sampled),) = _reference(processor, text, [video], motion)
    assert input_ids == expected["input_ids"][0].tolist()
    assert torch.equal(mm["video_grid_thw"], expected["video_grid_thw"])
    assert torch.equal(mm["pixel_values_videos"], expected["pixel_values_videos"])
    assert "second_per_grid_ts" not in mm

    times = sampled.timestamps[1:] if motion else sampled.timestamps
    assert len(times) == len(frames) and len(sampled.timestamps) == len(frames) + int(motion)
    written = [float(t) for t in re.findall(r"<([0-9.]+) seconds>", expanded[0]["content"])]
    assert written == [round((a + b) / 2, 1) for a, b in zip(times[::2], times[1::2])]
    if case == "vfr":
        assert sampled.info.variable_rate and max(written) > 9.0  # the 1-fps tail, at its real time


def test_each_video_gets_its_own_times_and_frame_count(lf, clips):
    """Two videos of different lengths, the second in a later message: each is expanded as Qwen3VLProcessor expands
    it alone (LLaMA-Factory 0.9.5's Qwen3VLPlugin reads metadata by message index, an IndexError here, and gives
    every video the first one's frame count)."""
    tokenizer, processor, template = lf["tokenizer"], lf["processor"], lf["qwen3_vl_vau"]
    videos = [clips["short"], clips["long"]]
    messages = [{"role": "user", "content": "<video>Describe it."}, {"role": "assistant", "content": "A street."},
                {"role": "user", "content": "And <video>this one?"}, {"role": "assistant", "content": "A fire."}]  # fmt: skip
    expanded = template.mm_plugin.process_messages(messages, [], [str(v) for v in videos], [], processor)
    alone = []
    for video in videos:
        reference, _ = _reference(processor, VIDEO_TEXT, [video])
        alone.append(tokenizer.decode(reference["input_ids"][0]))
    assert alone[0].count("seconds>") == 2 and alone[1].count("seconds>") == 6  # 4 and 12 frames at 2 fps
    assert expanded[0]["content"] == alone[0] + "Describe it."
    assert expanded[2]["content"] == "And " + alone[1] + "this one?"
    mm = template.mm_plugin.get_mm_inputs([], [str(v) for v in videos], [], [0], [2], [0], [[]], processor)
    assert mm["video_grid_thw"][:, 0].tolist() == [2, 6]


@pytest.mark.parametrize("answer", ["<think>a person falls</think><answer>A</answer>", "<answer>A</answer>", ""])
def test_enable_thinking_changes_neither_the_prompt_nor_the_answer_trained_on(lf, clips, answer):
    """The templates are LLaMA-Factory's plain `qwen3_vl_nothink` (the Instruct chat template, which lmms-eval's
    prompt is) with the plugin's mm_plugin: with the reasoning `qwen3_vl`, an answer without a think block (a no-think
    row; GRPO's prompt-only rows) got an empty <think></think> appended to its prompt under `enable_thinking: false`
    (not in the evaluated prompt), and prepended to the answer trained on otherwise."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments

    tokenizer = lf["tokenizer"]
    messages = [{"role": "user", "content": "<video>Which?"}, {"role": "assistant", "content": answer}]
    encoded = {}
    for thinking in (True, False):
        template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template="qwen3_vl_vau", enable_thinking=thinking))
        expanded = template.mm_plugin.process_messages(messages, [], [str(clips["short"])], [], lf["processor"])
        encoded[thinking] = template.encode_oneturn(tokenizer, expanded)
    assert encoded[True] == encoded[False]
    prompt, response = encoded[False]
    assert tokenizer.decode(prompt).endswith("Which?<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.decode(response) == answer + "<|im_end|>\n"


def test_a_template_of_another_family_is_refused_naming_the_right_one(lf, clips, tiny_model_dir):
    """Qwen3-VL under `qwen2_vl_vau` would train without the frame times it sees at inference, and Qwen2.5-VL under
    `qwen3_vl_vau` would fail deep in the processor: both stop at once, naming the family's templates."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoProcessor

    messages = [{"role": "user", "content": "<video>Which?"}, {"role": "assistant", "content": "A"}]
    qwen2_template = get_template_and_fix_tokenizer(lf["tokenizer"], DataArguments(template="qwen2_vl_vau"))
    with pytest.raises(ValueError, match=r"template qwen2_vl_vau / qwen2_vl_motion does not fit model family Qwen3-VL "
                                         r"\(the model's processor is Qwen3VLProcessor\): .* use template: qwen3_vl_vau"):
        qwen2_template.mm_plugin.process_messages(messages, [], [str(clips["short"])], [], lf["processor"])
    qwen2_5 = AutoProcessor.from_pretrained(tiny_model_dir)
    with pytest.raises(ValueError, match=r"does not fit model family Qwen2-VL / Qwen2.5-VL \(the model's processor is "
                                         r"Qwen2_5_VLProcessor\): .* use template: qwen2_vl_vau or qwen2_vl_motion"):
        lf["qwen3_vl_vau"].mm_plugin.process_messages(messages, [], [str(clips["short"])], [], qwen2_5)


def test_frame_budget_is_per_frame_and_the_clip_bound_is_not_applied_to_a_frame(lf, clips, monkeypatch):
    """`video_max_pixels` bounds a frame; Qwen3VLVideoProcessor's `size` (4096..2M px here) bounds the whole clip, so
    it must not enlarge a 1024-px frame to its 4096-px minimum (its own resize would keep the 12-frame clip's 12288
    px: no change). The frames go in as decoded, and the ids still equal the processor's."""
    processor, template = lf["processor"], lf["qwen3_vl_vau"]
    monkeypatch.setattr(processor, "video_max_pixels", 2048)
    video = str(clips["long"])  # 64 x 48 px -> 32 x 32 within 2048 px
    mm = template.mm_plugin.get_mm_inputs([], [video], [], [0], [1], [0], [[]], processor)
    assert mm["video_grid_thw"].tolist() == [[6, 2, 2]]
    expanded = template.mm_plugin.process_messages([{"role": "user", "content": "<video>"}], [], [video], [], processor)
    reference, _ = _reference(processor, VIDEO_TEXT, [clips["long"]])
    assert lf["tokenizer"].decode(reference["input_ids"][0]) == expanded[0]["content"]
    assert torch.equal(reference["pixel_values_videos"], mm["pixel_values_videos"])


def test_learnable_motion_patch_layout_is_exact_for_qwen3_vl(qwen3_dir, lf):
    """Qwen3VLVideoProcessor's pixel_values_videos un-patchify (geometry from the model config: 16-px patches) to the
    normalised frames it was given, and re-patchify byte-identically; the in-model layer attached to a Qwen3-VL
    model takes that geometry."""
    from transformers import AutoConfig, AutoModelForImageTextToText

    from vau_plugin.motion import PatchGeometry, patchify_videos, unpatchify_videos
    from vau_plugin.motion_model import attach_motion_prompt
    from vau_plugin.sampling import timestamp_metadata

    geometry = PatchGeometry.from_vision_config(AutoConfig.from_pretrained(qwen3_dir).vision_config)
    assert geometry.patch_size == 16
    video_processor = lf["processor"].video_processor
    generator = torch.Generator().manual_seed(0)
    videos = [torch.randint(0, 256, (4, 3, 64, 96), dtype=torch.uint8, generator=generator),
              torch.randint(0, 256, (2, 3, 32, 64), dtype=torch.uint8, generator=generator)]  # fmt: skip
    out = video_processor(videos=videos, video_metadata=[timestamp_metadata(range(len(v))) for v in videos],
                          do_resize=False, do_sample_frames=False, return_tensors="pt")  # fmt: skip
    mean = torch.tensor(video_processor.image_mean).view(3, 1, 1)
    std = torch.tensor(video_processor.image_std).view(3, 1, 1)
    back = unpatchify_videos(out["pixel_values_videos"], out["video_grid_thw"], geometry)
    for frames, given in zip(back, videos):
        assert torch.allclose(frames, (given.float() / 255 - mean) / std, atol=1e-5)
    assert torch.equal(patchify_videos(back, geometry), out["pixel_values_videos"])

    model = AutoModelForImageTextToText.from_pretrained(qwen3_dir)
    assert attach_motion_prompt(model, m=0.5).geometry == geometry


# ------------------------------------------------------------------------------------- llamafactory-cli train runs
# Each run is a subprocess started as a user starts it (start-up hook of the installed package), on the shipped
# vau_r1_grpo_qwen3_vl_tiny.yaml pointed at the session's mini-bench datasets and the tiny Qwen3-VL.
RECIPE = "vau_r1_grpo_qwen3_vl_tiny.yaml"
ALL_REWARDS = ("format_reward", "accuracy_reward", "tiou_reward", "diversity_reward")


@pytest.fixture(scope="module")
def ws(grpo_workspace, qwen3_dir):
    """The GRPO workspace (mini-bench datasets, recipes) with the tiny Qwen3-VL as its model."""
    import dataclasses

    return dataclasses.replace(grpo_workspace, model=qwen3_dir)


def _changed(before: Path, after: Path) -> list[str]:
    from transformers import AutoModelForImageTextToText

    trained, initial = AutoModelForImageTextToText.from_pretrained(after), AutoModelForImageTextToText.from_pretrained(before)
    return [n for n, p in trained.named_parameters() if not torch.equal(p, initial.get_parameter(n))]


@pytest.mark.e2e
def test_grpo_full_with_fixed_motion_trains_saves_and_resumes(ws, tmp_path):
    """Full fine-tuning, `qwen3_vl_motion` (fixed m, n): generation and loss run on the video (non-zero gradient, no
    sample skipped: every decoded video matches its prompt's token count), the checkpoint loads and differs from the
    start outside the frozen vision tower; a run whose last checkpoint is gone resumes from checkpoint-1 with the
    restored log history."""
    out = tmp_path / "full_motion"
    run = {"template": "qwen3_vl_motion", "vau_motion_m": 0.4, "vau_motion_n": -0.1, "reward_funcs": TEST_REWARDS}
    train_ok(ws, RECIPE, out, **run)
    history = assert_rewards_logged(out, names=ALL_REWARDS)
    logged = [e for e in trainer_state(out)["log_history"] if "reward" in e]
    assert len(logged) == 2 and logged[0]["grad_norm"] > 0
    assert all(e["skipped_samples"] == 0 for e in logged)
    assert history[0]["reward"] > 0  # non-empty completions were generated
    assert (out / "checkpoint-2" / "model.safetensors").is_file()
    changed = _changed(ws.model, out)
    assert changed and not any(".visual." in n for n in changed), changed[:5]

    first = trainer_state(out)
    import shutil

    shutil.rmtree(out / "checkpoint-2")  # the run "died" after checkpoint-1
    result = train_ok(ws, RECIPE, out, overwrite_output_dir="false", **run)
    assert "Resuming training from" in result.stdout and "checkpoint-1" in result.stdout
    assert "Continuing training from global step 1" in result.stdout
    second = trainer_state(out)
    assert second["global_step"] == 2 and [e["step"] for e in second["log_history"] if "reward" in e] == [1, 2]
    assert [e for e in second["log_history"] if e["step"] <= 1] == [e for e in first["log_history"] if e["step"] <= 1]


@pytest.mark.e2e
def test_grpo_lora_with_learnable_motion_trains_m_n(ws, tmp_path):
    """LoRA with the learnable in-model motion prompt on `qwen3_vl_vau`: the adapter is saved and (m, n) trained
    (the layer un-/re-patchifies Qwen3-VL's 16-px pixel_values_videos inside the forward)."""
    out = tmp_path / "lora_learnable"
    train_ok(ws, RECIPE, out, finetuning_type="lora", lora_rank=8, lora_target="all", max_steps=1, learning_rate=0.05,
             vau_motion_learnable="true", vau_motion_m=0.5, vau_motion_n=0.1, reward_funcs=TEST_REWARDS)  # fmt: skip
    assert_rewards_logged(out, names=ALL_REWARDS)
    assert all(e["skipped_samples"] == 0 for e in trainer_state(out)["log_history"] if "reward" in e)
    assert (out / "adapter_config.json").is_file() and (out / "checkpoint-1" / "adapter_model.safetensors").is_file()
    saved = json.loads((out / "motion_prompt.json").read_text())
    assert (saved["m"], saved["n"]) != (0.5, 0.1) and all(np.isfinite([saved["m"], saved["n"]]))


def test_trainer_gives_qwen3_vl_forward_its_video_inputs(ws):
    """In-process: the GRPO trainer's visual inputs for a Qwen3-VL row are exactly pixel_values_videos and
    video_grid_thw (no second_per_grid_ts, no video_metadata), their token count matches the prompt (which holds
    the frame times), they reach Qwen3VLModel.forward and change the log-probs."""
    import yaml
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.model import load_model, load_tokenizer

    from vau_plugin.llamafactory import patch
    from vau_plugin.llamafactory.args import get_grpo_train_args, reward_funcs_of
    from vau_plugin.llamafactory.dataset import load_grpo_datasets
    from vau_plugin.llamafactory.trainer import VideoGRPOTrainer

    patch.apply()
    args = yaml.safe_load((ws.recipes / RECIPE).read_text())
    args.update({k: str(v) for k, v in ws.overrides(ws.root / "inproc_qwen3").items()}, max_samples=2)
    model_args, data_args, training_args, finetuning_args, _ = get_grpo_train_args(args)
    tok = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tok["tokenizer"], data_args)
    data = load_grpo_datasets(template, model_args, data_args, training_args, tok["tokenizer"], tok["processor"])
    model = load_model(tok["tokenizer"], model_args, finetuning_args, True)
    trainer = VideoGRPOTrainer(model=model, reward_funcs=reward_funcs_of(training_args), args=training_args,
                               train_dataset=data["train_dataset"], processing_class=tok["processor"], template=template,
                               lf_processor=tok["processor"])  # fmt: skip
    row = data["train_dataset"][0]
    mm = trainer._build_mm_inputs(row)
    assert set(mm) == {"pixel_values_videos", "video_grid_thw"}
    video_id = tok["tokenizer"].convert_tokens_to_ids(VIDEO_PAD)
    assert row["prompt_ids"].count(video_id) == int(mm["video_grid_thw"].prod()) // 4
    prompt = tok["tokenizer"].decode(row["prompt_ids"])
    assert prompt.count(" seconds>" + VISION_START) == int(mm["video_grid_thw"][0, 0])

    seen = []
    model.model.register_forward_pre_hook(lambda module, a, kw: seen.append(set(kw)), with_kwargs=True)
    with_video, other_video = logps_with_other_pixels(trainer, model, row["prompt_ids"], tok["tokenizer"].eos_token_id, mm)
    assert seen and all({"pixel_values_videos", "video_grid_thw"} <= keys for keys in seen)
    assert not torch.allclose(with_video, other_video), "the video content must reach the model"

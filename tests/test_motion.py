"""Motion prompts: the layer against an independent float64 computation, the hook, the Qwen2-VL patch layout,
the learnable in-model variant on the tiny Qwen2.5-VL model (also under LoRA), saving/reloading and the preview."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from vau_plugin.motion import (
    QWEN_VL_MEAN,
    QWEN_VL_STD,
    VMP_MEAN,
    FrameMotionPrompt,
    MotionPrompt,
    PatchGeometry,
    VideoPatchMotionPrompt,
    patchify_videos,
    read_settings,
    unpatchify_videos,
)

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def reference(frames, m, n, *, fill="mean", mean=None, std=None, fill_colour=None):
    """The VMP formula in float64, in [0, 1] units, written independently of the layer."""
    x = np.asarray(frames, dtype=np.float64)
    if mean is None:
        unit = x / 255.0
    else:
        shape = (3, 1, 1)
        unit = x * np.reshape(std, shape) + np.reshape(mean, shape)
    r, g, b = unit[..., 0, :, :], unit[..., 1, :, :], unit[..., 2, :, :]
    grey = 0.299 * r + 0.587 * g + 0.114 * b
    diff = grey[..., 1:, :, :] - grey[..., :-1, :, :]
    a = 5.0 / (0.45 * abs(math.tanh(m)) + 0.1)
    shift = 0.6 * math.tanh(n)
    attention = 1.0 / (1.0 + np.exp(-a * (diff - shift)))
    colour = fill_colour if fill_colour is not None else (mean if mean is not None else VMP_MEAN)
    zero = np.reshape(colour if fill == "mean" else (0.0, 0.0, 0.0), (3, 1, 1))
    prompted_unit = zero + attention[..., None, :, :] * (unit[..., 1:, :, :, :] - zero)
    if mean is None:
        prompted = prompted_unit * 255.0
    else:
        prompted = (prompted_unit - np.reshape(mean, (3, 1, 1))) / np.reshape(std, (3, 1, 1))
    reg = np.mean((attention[..., 1:, :, :] - attention[..., :-1, :, :]) ** 2) if attention.shape[-3] > 1 else 0.0
    return prompted, attention, reg


def random_frames(shape, kind, generator):
    raw = torch.randint(0, 256, shape, dtype=torch.uint8, generator=generator)
    if kind == "uint8":
        return raw
    if kind == "float255":
        return raw.float() + torch.rand(shape, generator=generator) * 0.5
    normalised = (raw.double() / 255.0 - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    return normalised.float()


@pytest.mark.parametrize("kind", ["uint8", "float255", "normalised"])
@pytest.mark.parametrize("fill", ["mean", "black"])
@pytest.mark.parametrize("shape", [(5, 3, 6, 7), (2, 4, 3, 5, 6), (2, 1, 3, 3, 4, 4)])
def test_layer_matches_an_independent_float64_computation(kind, fill, shape):
    generator = torch.Generator().manual_seed(hash((kind, fill, shape)) % 2**31)
    frames = random_frames(shape, kind, generator)
    m, n = 0.7, -0.3
    normalised = kind == "normalised"
    layer = MotionPrompt(m, n, fill=fill, reg_weight=2.5, mean=MEAN if normalised else None, std=STD if normalised else None)
    prompted, reg = layer(frames)
    expected, attention, expected_reg = reference(
        frames.numpy(), m, n, fill=fill, mean=MEAN if normalised else None, std=STD if normalised else None
    )
    assert prompted.shape == (*shape[:-4], shape[-4] - 1, *shape[-3:])
    assert prompted.dtype == torch.float32
    scale = 1.0 if normalised else 255.0
    np.testing.assert_allclose(prompted.detach().numpy(), expected, atol=2e-6 * scale * 10, rtol=1e-5)
    np.testing.assert_allclose(layer.attention(frames).squeeze(-3).detach().numpy(), attention, atol=1e-6)
    assert reg.dim() == 0
    assert reg.item() == pytest.approx(2.5 * expected_reg, rel=1e-4, abs=1e-9)


def test_zero_attention_shows_the_fill_colour():
    frames = torch.zeros(2, 3, 2, 2)
    # a strongly negative difference (and b > 0) drives A to 0: the prompt becomes the fill colour
    frames[0], frames[1] = 255.0, 0.0
    mean_layer = MotionPrompt(0.0, 2.0, fill="mean")
    black_layer = MotionPrompt(0.0, 2.0, fill="black")
    with torch.no_grad():
        grey, _ = mean_layer(frames)
        black, _ = black_layer(frames)
    assert torch.allclose(grey, torch.full_like(grey, 0.45 * 255), atol=1e-3)
    assert torch.allclose(black, torch.zeros_like(black), atol=1e-3)
    # on normalised frames "mean" is 0, as in the published layer
    normalised = MotionPrompt(0.0, 2.0, mean=MEAN, std=STD)
    with torch.no_grad():
        out, _ = normalised((frames / 255 - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1))
    assert out.abs().max() < 1e-3


def test_luma_uses_rgb_order():
    """Pure red brightening counts 0.299, pure blue 0.114: the attentions must differ accordingly."""
    frames = torch.zeros(3, 3, 1, 1)
    frames[1, 0] = 255.0  # red appears
    frames[2, 0] = 255.0
    frames[2, 2] = 255.0  # then blue appears as well
    attention = MotionPrompt(0.0, 0.0).attention(frames).flatten()
    a = 50.0
    assert attention[0].item() == pytest.approx(1 / (1 + math.exp(-a * 0.299)), rel=1e-5)
    assert attention[1].item() == pytest.approx(1 / (1 + math.exp(-a * 0.114)), rel=1e-5)


def test_gradients_reach_m_and_n():
    generator = torch.Generator().manual_seed(0)
    frames = random_frames((2, 6, 3, 8, 8), "float255", generator)
    layer = MotionPrompt(0.4, 0.2)
    prompted, reg = layer(frames)
    (prompted.mean() + reg).backward()
    assert layer.m.grad is not None and layer.n.grad is not None
    assert layer.m.grad.abs() > 0 and layer.n.grad.abs() > 0
    # the regulariser alone reaches both too
    layer.zero_grad()
    layer(frames)[1].backward()
    assert layer.m.grad.abs() > 0 and layer.n.grad.abs() > 0


def test_regulariser_none_under_no_grad_and_zero_for_one_attention_map():
    frames = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    layer = MotionPrompt(0.5, 0.1)
    with torch.no_grad():
        assert layer(frames)[1] is None
    prompted, reg = layer(frames)
    assert prompted.shape == (1, 3, 4, 4)
    assert reg.dim() == 0 and reg.item() == 0.0 and math.isfinite(reg.item())
    reg.backward()  # connected to the graph, no NaN from a mean over nothing
    assert torch.isfinite(layer.m.grad) and torch.isfinite(layer.n.grad)


@pytest.mark.parametrize(
    "shape, message",
    [((1, 3, 4, 4), "at least 2 frames"), ((3, 4, 4, 4), r"\(\.\.\., T, 3, H, W\)"), ((3, 4, 4), r"\(\.\.\., T, 3, H, W\)")],
)
def test_bad_shapes_raise_clear_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        MotionPrompt()(torch.zeros(shape))


def test_bad_settings_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="fill"):
        MotionPrompt(fill="white")
    with pytest.raises(ValueError, match="both mean and std"):
        MotionPrompt(mean=MEAN)
    with pytest.raises(ValueError, match="std must be positive"):
        MotionPrompt(mean=MEAN, std=(0.2, 0.0, 0.2))
    (tmp_path / "motion_prompt.json").write_text(json.dumps({"m": "x", "n": 0}))
    with pytest.raises(ValueError, match="'m' must be a finite number"):
        read_settings(tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_settings(tmp_path / "missing")


def test_bf16_runs_on_cpu_close_to_float32():
    generator = torch.Generator().manual_seed(3)
    frames = random_frames((6, 3, 16, 16), "normalised", generator)
    layer = MotionPrompt(0.3, 0.1, mean=MEAN, std=STD)
    full, reg_full = layer(frames)
    half, reg_half = layer(frames.bfloat16())
    assert half.dtype == torch.bfloat16
    assert torch.allclose(half.float(), full, atol=0.05, rtol=0.02)
    assert reg_half.item() == pytest.approx(reg_full.item(), rel=0.05, abs=1e-4)
    reg_half.backward()
    assert layer.m.grad is not None


# ------------------------------------------------------------------ the preprocessing hook
def test_hook_keeps_the_frame_count_and_reuses_the_first_prompt():
    frames = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    hook = FrameMotionPrompt.from_settings(m=0.5, n=-0.2)
    out = hook(frames)
    raw = hook.prompt(frames)
    assert out.shape == frames.shape and out.dtype == torch.uint8
    assert raw.shape == (5, 3, 8, 8)
    assert torch.equal(out[0], out[1]) and torch.equal(out[1:], raw)
    expected, _, _ = reference(frames.numpy(), 0.5, -0.2)
    assert np.abs(raw.numpy().astype(np.float64) - expected).max() <= 0.5 + 1e-6
    as_float = hook(frames.float())
    assert as_float.dtype == torch.float32 and torch.allclose(as_float.round(), out.float())
    assert not any(p.requires_grad for p in hook.layer.parameters())


def test_hook_settings_come_from_a_saved_file(tmp_path):
    trained = MotionPrompt(1.25, -0.5, fill="black", mean=QWEN_VL_MEAN, std=QWEN_VL_STD)
    trained.save(tmp_path / "ckpt")
    hook = FrameMotionPrompt.from_settings(weights=tmp_path / "ckpt")
    assert hook.layer.m.item() == pytest.approx(1.25) and hook.layer.n.item() == pytest.approx(-0.5)
    assert hook.layer.fill == "black" and "m=1.25" in hook.describe()
    overridden = FrameMotionPrompt.from_settings(m=0.0, weights=tmp_path / "ckpt" / "motion_prompt.json")
    assert overridden.layer.m.item() == 0.0 and overridden.layer.n.item() == pytest.approx(-0.5)
    # a layer trained on normalised frames with "mean" fill shows the processor's mean colour: so does the hook
    MotionPrompt(0.2, 0.0, mean=QWEN_VL_MEAN, std=QWEN_VL_STD).save(tmp_path / "grey")
    grey = FrameMotionPrompt.from_settings(weights=tmp_path / "grey")
    assert grey.layer.fill_colour == pytest.approx(QWEN_VL_MEAN)


# ------------------------------------------------------------------ Qwen2-VL patch layout
def test_unpatchify_inverts_the_real_processor_exactly():
    from transformers import Qwen2VLVideoProcessor

    processor = Qwen2VLVideoProcessor(
        size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112}, patch_size=14, temporal_patch_size=2, merge_size=2
    )
    generator = torch.Generator().manual_seed(5)
    videos = [
        torch.randint(0, 256, (4, 3, 56, 84), dtype=torch.uint8, generator=generator),
        torch.randint(0, 256, (3, 3, 112, 56), dtype=torch.uint8, generator=generator),  # odd: padded by the processor
    ]
    out = processor(videos=videos, return_tensors="pt", do_resize=False, do_sample_frames=False)
    rows, grid = out["pixel_values_videos"], out["video_grid_thw"]
    geometry = PatchGeometry(patch_size=14, temporal_patch_size=2, merge_size=2)
    frames = unpatchify_videos(rows, grid, geometry)
    assert [tuple(f.shape) for f in frames] == [(4, 3, 56, 84), (4, 3, 112, 56)]
    assert torch.equal(patchify_videos(frames, geometry), rows)
    mean, std = torch.tensor(QWEN_VL_MEAN).view(3, 1, 1), torch.tensor(QWEN_VL_STD).view(3, 1, 1)
    for got, video in zip(frames, videos):
        padded = torch.cat([video, video[-1:].expand(got.shape[0] - video.shape[0], -1, -1, -1)])
        assert torch.allclose(got * std + mean, padded.float() / 255, atol=1e-5)
    with pytest.raises(ValueError, match="covers"):
        unpatchify_videos(rows[:-1], grid, geometry)


def test_patch_variant_keeps_the_layout_and_prompts_each_video():
    geometry = PatchGeometry()
    generator = torch.Generator().manual_seed(7)
    videos = [torch.randn(4, 3, 28, 56, generator=generator), torch.randn(2, 3, 56, 28, generator=generator)]
    rows = patchify_videos(videos, geometry)
    grid = torch.tensor([[2, 2, 4], [1, 4, 2]])
    variant = VideoPatchMotionPrompt(geometry, m=0.3, n=0.1)
    out, reg = variant(rows, grid)
    assert out.shape == rows.shape and reg.dim() == 0
    for got, video in zip(unpatchify_videos(out, grid, geometry), videos):
        prompted, _ = variant.layer(video)
        assert torch.allclose(got[1:], prompted) and torch.equal(got[0], got[1])
    variant.enabled = False
    same, none = variant(rows, grid)
    assert same is rows and none is None


# ------------------------------------------------------------------ the learnable in-model variant
@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_model_dir)
    generator = torch.Generator().manual_seed(11)
    video = torch.randint(0, 256, (4, 3, 56, 84), dtype=torch.uint8, generator=generator)
    messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True) + "A fight."
    inputs = processor(text=[text], videos=[video], return_tensors="pt", do_sample_frames=False)

    def load():
        return AutoModelForImageTextToText.from_pretrained(tiny_model_dir).eval()

    return {"processor": processor, "inputs": dict(inputs), "load": load}


def _attach(model, processor, **kwargs):
    from vau_plugin.motion_model import attach_motion_prompt

    vp = processor.video_processor
    return attach_motion_prompt(model, mean=vp.image_mean, std=vp.image_std, **kwargs)


def test_in_model_variant_disabled_gives_bit_equal_logits(tiny):
    from vau_plugin.motion_model import set_enabled

    model, inputs = tiny["load"](), tiny["inputs"]
    with torch.no_grad():
        plain = model(**inputs).logits
    _attach(model, tiny["processor"], m=0.5)
    set_enabled(model, False)
    with torch.no_grad():
        disabled = model(**inputs).logits
    set_enabled(model, True)
    with torch.no_grad():
        prompted = model(**inputs).logits
        text_only = model(input_ids=inputs["input_ids"][:, :5]).logits
    assert torch.equal(plain, disabled)
    assert not torch.allclose(plain, prompted)
    assert torch.isfinite(prompted).all() and text_only.shape[1] == 5


def test_in_model_variant_trains_m_n_and_adds_the_regulariser_to_the_loss(tiny):
    from vau_plugin.motion_model import get_motion_prompt, take_regulariser

    model, inputs = tiny["load"](), tiny["inputs"]
    motion = _attach(model, tiny["processor"], m=0.5, n=0.1, reg_weight=0.0)
    labels = inputs["input_ids"].clone()
    model.train()
    base_loss = model(**inputs, labels=labels).loss.detach()
    motion.layer.reg_weight = 1000.0
    out = model(**inputs, labels=labels)
    with torch.enable_grad():
        _, reg = motion(inputs["pixel_values_videos"], inputs["video_grid_thw"])
    assert reg.item() > 0
    assert (out.loss - base_loss).item() == pytest.approx(reg.item(), rel=1e-3)
    out.loss.backward()
    assert motion.layer.m.grad.abs() > 0 and motion.layer.n.grad.abs() > 0
    assert take_regulariser(model) is None  # consumed by the loss
    model(**inputs)  # no labels (a trainer computing its own loss, e.g. GRPO): the regulariser waits
    pending = take_regulariser(model)
    assert pending is not None and pending.requires_grad
    assert get_motion_prompt(model) is motion and "motion_prompt.layer.m" in dict(model.named_parameters())


def test_in_model_variant_under_lora_trains_m_n_and_saves_them(tiny, tmp_path):
    from peft import LoraConfig, get_peft_model

    from vau_plugin.motion_model import attach_motion_prompt

    model = tiny["load"]()
    early = _attach(model, tiny["processor"], m=0.5, n=0.1)  # attached before PEFT: get_peft_model freezes it
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    assert not early.layer.m.requires_grad
    motion = attach_motion_prompt(peft_model)  # idempotent: same layer, trainable again
    assert motion is early and motion.layer.m.requires_grad and motion.layer.n.requires_grad
    peft_model.train()
    inputs = tiny["inputs"]
    peft_model(**inputs, labels=inputs["input_ids"]).loss.backward()
    assert motion.layer.m.grad.abs() > 0 and motion.layer.n.grad.abs() > 0
    lora_grads = [p.grad for name, p in peft_model.named_parameters() if "lora_" in name]
    assert lora_grads and all(g is not None for g in lora_grads)
    with torch.no_grad():
        motion.layer.m.fill_(0.75)
        motion.layer.n.fill_(-0.25)
    peft_model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    hook = FrameMotionPrompt.from_settings(weights=tmp_path / "adapter")
    assert hook.layer.m.item() == pytest.approx(0.75) and hook.layer.n.item() == pytest.approx(-0.25)
    assert hook.layer.fill_colour == pytest.approx(tuple(tiny["processor"].video_processor.image_mean))


def test_in_model_variant_survives_deepcopy_and_full_save(tiny, tmp_path):
    model = tiny["load"]()
    _attach(model, tiny["processor"], m=0.5)
    twin = copy.deepcopy(model)
    from vau_plugin.motion_model import get_motion_prompt

    with torch.no_grad():
        get_motion_prompt(twin).layer.n.fill_(2.0)  # only the copy changes
        a = model(**tiny["inputs"]).logits
        b = twin(**tiny["inputs"]).logits
    assert not torch.allclose(a, b)
    model.save_pretrained(tmp_path / "full")
    assert read_settings(tmp_path / "full")["m"] == pytest.approx(0.5)


def test_m_and_n_have_one_dimension_and_checkpoints_with_0_dim_ones_still_load(tiny):
    """DeepSpeed (>= 0.17) broadcasts parameters as bytes, which torch refuses for 0-dim tensors: m and n are shape
    [1] (still one learnable scalar each, read with .item() or float()); a state dict written when they were 0-dim
    loads."""
    layer = MotionPrompt(m=0.5, n=-0.25)
    assert layer.m.shape == layer.n.shape == (1,) and layer.m.dim() == 1
    assert (layer.m.item(), layer.n.item()) == (0.5, -0.25)
    layer.m.data.view(torch.uint8)  # what DeepSpeed's broadcast does; a 0-dim parameter raises here
    layer.load_state_dict({"m": torch.tensor(0.75), "n": torch.tensor(-0.5)})
    assert (layer.m.item(), layer.n.item()) == (0.75, -0.5) and layer.m.shape == (1,)

    model = tiny["load"]()
    motion = _attach(model, tiny["processor"], m=0.5)
    old_checkpoint = {k: (v.reshape(()) if k.startswith("motion_prompt.layer.") else v) for k, v in model.state_dict().items()}
    old_checkpoint["motion_prompt.layer.n"] = torch.tensor(0.3)
    assert old_checkpoint["motion_prompt.layer.m"].dim() == 0
    model.load_state_dict(old_checkpoint)  # strict, as a Trainer resuming without DeepSpeed loads it
    assert motion.layer.n.item() == pytest.approx(0.3) and motion.layer.n.shape == (1,)


def test_saving_takes_m_and_n_from_the_state_dict_being_saved(tiny, tmp_path):
    """Under DeepSpeed ZeRO-3 a partitioned m / n holds no data on any process; the Trainer saves the consolidated
    weights it gathered on all processes (`save_pretrained(state_dict=...)`), and motion_prompt.json takes m and n
    from them, never gathering on the saving process alone (a collective there would hang)."""
    from peft import LoraConfig, get_peft_model

    from vau_plugin.motion_model import attach_motion_prompt

    model = tiny["load"]()
    _attach(model, tiny["processor"], m=0.5, n=0.1)
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    motion = attach_motion_prompt(peft_model)
    consolidated = {k: v.clone() for k, v in peft_model.state_dict().items()}
    consolidated["base_model.model.motion_prompt.layer.m"] = torch.tensor([0.625])
    consolidated["base_model.model.motion_prompt.layer.n"] = torch.tensor([-0.125])
    motion.layer.m.data = torch.empty(0)  # what ZeRO-3 leaves in a partitioned parameter
    motion.layer.n.data = torch.empty(0)
    peft_model.save_pretrained(tmp_path / "ckpt", state_dict=consolidated)
    saved = read_settings(tmp_path / "ckpt")
    assert (saved["m"], saved["n"]) == (0.625, -0.125)


def test_attach_rejects_a_model_without_a_vision_encoder():
    from vau_plugin.motion_model import attach_motion_prompt

    with pytest.raises(TypeError, match="Qwen2/2.5-VL"):
        attach_motion_prompt(torch.nn.Linear(2, 2))


# ------------------------------------------------------------------ the preview
def test_motion_preview_writes_a_strip(tmp_path):
    from PIL import Image

    from vau_plugin.benches.writer import write_mp4
    from vau_plugin.motion_preview import (
        HEADER_HEIGHT,
        LABEL_WIDTH,
        TILE_HEIGHT,
        run_motion_preview,
    )

    frames = np.zeros((12, 48, 64, 3), dtype=np.uint8)
    for t in range(12):
        frames[t, 10:30, 4 * t : 4 * t + 12] = 255
    video = write_mp4(tmp_path / "clip.mp4", frames, fps=4)
    out = run_motion_preview(video, tmp_path / "sub" / "preview.png", frames=5, m=0.3, fill="black")
    image = Image.open(out)
    width = round(64 * TILE_HEIGHT / 48)
    assert image.format == "PNG" and image.size == (LABEL_WIDTH + 5 * width, HEADER_HEIGHT + 3 * TILE_HEIGHT)
    attention_row = np.asarray(image)[HEADER_HEIGHT + TILE_HEIGHT : HEADER_HEIGHT + 2 * TILE_HEIGHT, LABEL_WIDTH:]
    assert attention_row.max() > 200 and attention_row.min() < 60  # the moving bar lights up, the rest does not
    with pytest.raises(ValueError, match="frames"):
        run_motion_preview(video, tmp_path / "x.png", frames=0)

"""The learnable motion prompt in front of a Qwen2/2.5-VL model's vision encoder (fine-tuning).

`attach_motion_prompt(model, ...)` registers a `VideoPatchMotionPrompt` as the submodule `motion_prompt` of
the Hugging Face model (under a PEFT wrapper: of its base model) and hooks it in:

- a forward pre-hook on the inner `Qwen2(_5)_VLModel` rewrites the `pixel_values_videos` keyword
  (un-patchify by `video_grid_thw`, prompt, re-patchify; images and text pass untouched);
- a forward hook on the top model adds the regulariser to `outputs.loss` when the model computed a loss
  (labels given). Trainers that compute their own loss (TRL's GRPO) call `take_regulariser(model)` after the
  forward and add it themselves;
- `save_pretrained` of the object passed in (and of the base model) also writes `motion_prompt.json`, which the
  lmms-eval wrapper reads back with `motion_weights=CHECKPOINT`; m and n come from the `state_dict` being saved
  when it holds them (a trainer's consolidated weights, the only copy of a ZeRO-3-partitioned m / n on the saving
  process), else from the parameters.

m and n are trainable parameters (`motion_prompt.layer.m` / `.n`). PEFT's `get_peft_model` freezes every
non-adapter parameter, so attach *after* it (or call `attach_motion_prompt` again after it: the call is
idempotent and turns requires_grad back on). `set_enabled(model, False)` gives the plain model's computation
(bit-equal logits). The hooks are bound methods of the submodule, so `copy.deepcopy(model)` copies them along.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vau_plugin.motion import (
    QWEN_VL_MEAN,
    QWEN_VL_STD,
    WEIGHTS_FILE,
    Fill,
    PatchGeometry,
    VideoPatchMotionPrompt,
    read_settings,
    scalar_value,
)

logger = logging.getLogger(__name__)

MODULE_NAME = "motion_prompt"


class InModelMotionPrompt(VideoPatchMotionPrompt):
    """`VideoPatchMotionPrompt` plus the model hooks; `pending_reg` holds the last forward's regulariser
    until a loss takes it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending_reg: torch.Tensor | None = None

    def before_inner_forward(self, module: nn.Module, args: tuple, kwargs: dict):
        pixel_values_videos = kwargs.get("pixel_values_videos")
        video_grid_thw = kwargs.get("video_grid_thw")
        if not self.enabled or pixel_values_videos is None or video_grid_thw is None:
            return None
        rows, reg = self(pixel_values_videos, video_grid_thw)
        self.pending_reg = reg
        return args, {**kwargs, "pixel_values_videos": rows}

    def after_model_forward(self, module: nn.Module, args: tuple, kwargs: dict, output: Any):
        reg = self.pending_reg
        loss = getattr(output, "loss", None)
        if reg is None or loss is None or not self.enabled:
            return None
        self.pending_reg = None
        output.loss = loss + reg.to(loss.dtype)
        return output


class _SaveWithMotionPrompt:
    """Replaces an instance's `save_pretrained`: saves as before, then writes `motion_prompt.json`.

    m and n come from the `state_dict` being saved when it holds them (a trainer's consolidated weights: under
    DeepSpeed ZeRO-3 a partitioned parameter holds no data on any process outside a gather, and this runs on the
    saving process only, where a gather, a collective, would hang), else from the parameters themselves."""

    def __init__(self, original: Any, motion: InModelMotionPrompt) -> None:
        self.original = original
        self.motion = motion

    def __call__(self, save_directory: str | Path, *args: Any, **kwargs: Any) -> Any:
        result = self.original(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            owner = getattr(self.original, "__self__", None)
            values = saved_motion_values(owner, self.motion, kwargs.get("state_dict"))
            if values is None:
                logger.warning(
                    "vau-plugin: %s not written to %s: DeepSpeed ZeRO-3 partitions the motion prompt's m and n and the "
                    "weights being saved do not hold them (stage3_gather_16bit_weights_on_model_save is false). Set it "
                    "to true in the DeepSpeed config, or read %s from the weights that DeepSpeed's zero_to_fp32.py "
                    "recovers", WEIGHTS_FILE, save_directory, " and ".join(_parameter_names(owner, self.motion).values()),
                )
            else:
                self.motion.layer.save(save_directory, **values)
        return result


def _parameter_names(owner: nn.Module | None, motion: InModelMotionPrompt) -> dict[str, str]:
    """{"m": qualified name, "n": ...} of the layer's parameters in `owner` (the model being saved)."""
    wanted = {id(getattr(motion.layer, key)): key for key in ("m", "n")}
    names = {}
    if owner is not None:
        for name, param in owner.named_parameters():
            if id(param) in wanted:
                names[wanted[id(param)]] = name
    return names


def saved_motion_values(owner: nn.Module | None, motion: InModelMotionPrompt,
                        state_dict: Mapping[str, Any] | None) -> dict[str, float] | None:
    """saved_motion_values(model being saved, motion, state dict being saved or None) -> {"m": float, "n": float}:
    each from `state_dict` where it holds the parameter (by its qualified name in `owner`), else from the parameter;
    None when a parameter holds no data here (partitioned by ZeRO-3) and the state dict does not hold it."""
    names = _parameter_names(owner, motion)
    values = {}
    for key in ("m", "n"):
        name = names.get(key)
        if state_dict and name in state_dict:
            values[key] = scalar_value(key, state_dict[name])
        elif getattr(motion.layer, key).numel() == 0:
            return None
        else:
            values[key] = scalar_value(key, getattr(motion.layer, key))
    return values


def base_model(model: nn.Module) -> nn.Module:
    """base_model(model) -> the Hugging Face model under a PEFT wrapper (or `model` itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def inner_vl_model(model: nn.Module) -> nn.Module:
    """The module whose forward takes `pixel_values_videos` and owns the vision encoder `visual`."""
    for candidate in (getattr(model, "model", None), model):
        if isinstance(candidate, nn.Module) and hasattr(candidate, "visual") and hasattr(candidate, "get_video_features"):
            return candidate
    raise TypeError(
        f"{type(model).__name__}: no Qwen2/2.5-VL vision encoder found (expected `.model.visual` with "
        "`get_video_features`); the in-model motion prompt supports Qwen2-VL, Qwen2.5-VL and Qwen3-VL models"
    )


def get_motion_prompt(model: nn.Module) -> InModelMotionPrompt | None:
    """get_motion_prompt(model) -> the attached InModelMotionPrompt, or None."""
    module = getattr(base_model(model), MODULE_NAME, None)
    return module if isinstance(module, InModelMotionPrompt) else None


def _wrap_save(target: nn.Module, motion: InModelMotionPrompt) -> None:
    current = getattr(target, "save_pretrained", None)
    if current is None or isinstance(current, _SaveWithMotionPrompt):
        return
    target.save_pretrained = _SaveWithMotionPrompt(current, motion)


def attach_motion_prompt(
    model: nn.Module,
    *,
    m: float = 0.0,
    n: float = 0.0,
    fill: Fill = "mean",
    reg_weight: float = 1.0,
    mean: Sequence[float] = QWEN_VL_MEAN,
    std: Sequence[float] = QWEN_VL_STD,
    weights: str | Path | None = None,
) -> InModelMotionPrompt:
    """attach_motion_prompt(model, *, m, n, fill, reg_weight, mean, std, weights) -> InModelMotionPrompt.

    `model`: a Qwen2/2.5-VL `...ForConditionalGeneration`, or a PEFT model around one. `mean`/`std`: the
    processor's `image_mean`/`image_std` (what `pixel_values_videos` are normalised with). `weights`: a
    `motion_prompt.json` (or a checkpoint folder with one) whose m, n (and fill) start the layer instead.
    A second call returns the attached layer (settings unchanged), with m, n trainable again.
    """
    hf_model = base_model(model)
    motion = get_motion_prompt(hf_model)
    if motion is None:
        inner = inner_vl_model(hf_model)
        if weights:
            saved = read_settings(weights)
            m, n, fill = saved["m"], saved["n"], saved.get("fill", fill)
        vision_config = getattr(hf_model.config, "vision_config", None)
        geometry = PatchGeometry.from_vision_config(vision_config) if vision_config is not None else PatchGeometry()
        motion = InModelMotionPrompt(geometry, m=m, n=n, fill=fill, reg_weight=reg_weight, mean=mean, std=std)
        reference = next(hf_model.parameters(), None)
        if reference is not None:
            motion.to(device=reference.device)  # m, n stay float32 whatever the model dtype
        hf_model.add_module(MODULE_NAME, motion)
        inner.register_forward_pre_hook(motion.before_inner_forward, with_kwargs=True)
        hf_model.register_forward_hook(motion.after_model_forward, with_kwargs=True)
    motion.layer.requires_grad_(True)
    _wrap_save(hf_model, motion)
    if model is not hf_model:
        _wrap_save(model, motion)
    return motion


def set_enabled(model: nn.Module, enabled: bool) -> None:
    """set_enabled(model, enabled): switch the attached motion prompt on or off (off = the plain model)."""
    motion = get_motion_prompt(model)
    if motion is None:
        raise ValueError(f"{type(model).__name__}: no motion prompt attached (call attach_motion_prompt first)")
    motion.enabled = bool(enabled)
    motion.pending_reg = None


def take_regulariser(model: nn.Module) -> torch.Tensor | None:
    """take_regulariser(model) -> the last forward's regulariser not yet added to a loss (then cleared), or None."""
    motion = get_motion_prompt(model)
    if motion is None:
        return None
    reg, motion.pending_reg = motion.pending_reg, None
    return reg

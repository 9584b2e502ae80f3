"""Motion prompts in LLaMA-Factory: the `qwen2_vl_motion` / `qwen3_vl_motion` templates' settings, and the learnable
in-model switch.

Fixed (m, n), as preprocessing: `template: qwen2_vl_motion` (the `qwen2_vl` template with the plugin's
mm_plugin, `vau_plugin.llamafactory.mm_plugin`). For a video file the mm_plugin decodes, with the plugin's one
decoder, T + 1 frames evenly spread over the video, where T is the frame count the model sees, and maps them to
T prompted frames with `FrameMotionPrompt.prompt` (the same hook and the same frames as the lmms-eval wrapper
with `motion_prompt=true`). grid_t, the video token count and `second_per_grid_ts` are those of the T frames.
Pre-sampled frame lists keep their count (`FrameMotionPrompt.__call__`).

Learnable (m, n), in the model: `vau_motion_learnable: true` attaches `vau_plugin.motion_model`'s layer
after the model is loaded (`attach_learnable_motion`, which the SFT stage's wrapped `load_model` and `stage: grpo`
call; see `vau_plugin.llamafactory.patch`); the plugin then passes frames through unprompted so nothing is
prompted twice.

Settings, from the recipe YAML. LLaMA-Factory's argument dataclasses reject unknown keys, so the plugin's
`_training_function` wrapper (`vau_plugin.llamafactory.patch`) removes these keys from the raw arguments before
LLaMA-Factory parses them (`consume_motion_args`) and exports them as environment variables, which every later
reader (dataset workers, torchrun ranks re-reading the YAML do the same) sees. The variables can also be set directly:

    vau_motion_m: 0.0            VAU_MOTION_M           slope parameter m (default 0, or the saved one)
    vau_motion_n: 0.0            VAU_MOTION_N           shift parameter n (default 0, or the saved one)
    vau_motion_fill: mean        VAU_MOTION_FILL        "mean" or "black"
    vau_motion_weights: DIR      VAU_MOTION_WEIGHTS     a motion_prompt.json (or a checkpoint folder with one)
    vau_motion_learnable: true   VAU_MOTION_LEARNABLE   train (m, n) with the model (in-model variant)
    vau_motion_reg_weight: 1.0   VAU_MOTION_REG_WEIGHT  weight of the temporal-variation regulariser

They are read only where motion prompts are on: the learnable variant reads them when VAU_MOTION_LEARNABLE is true
(`learnable_settings`), the fixed one in the `qwen2_vl_motion` template's mm_plugin. Any other run ignores them, so
a stale variable in the environment changes nothing. A bad recipe value fails at once, naming the recipe key
(`vau_motion_m='abc': expected a number`); a bad variable fails where it is read, naming the variable.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vau_plugin._env import parse_flag, parse_number
from vau_plugin.motion import FILLS, QWEN_VL_MEAN, QWEN_VL_STD, FrameMotionPrompt

logger = logging.getLogger(__name__)

# setting name -> environment variable; the YAML key is "vau_" + the setting name
ENV_VARS: dict[str, str] = {
    "motion_m": "VAU_MOTION_M",
    "motion_n": "VAU_MOTION_N",
    "motion_fill": "VAU_MOTION_FILL",
    "motion_weights": "VAU_MOTION_WEIGHTS",
    "motion_learnable": "VAU_MOTION_LEARNABLE",
    "motion_reg_weight": "VAU_MOTION_REG_WEIGHT",
}
YAML_KEYS: dict[str, str] = {f"vau_{name}": env for name, env in ENV_VARS.items()}


def _learnable(name: str, text: str) -> bool:
    return bool(text.strip()) and parse_flag(name, text)


@dataclass(frozen=True)
class MotionSettings:
    """Motion prompt settings of one run (None: the saved value from `weights`, else the default).

    Read them only where motion prompts are on (`learnable_settings()`, or the `qwen2_vl_motion` template's
    mm_plugin): a stale VAU_MOTION_* variable must not touch any other run."""

    m: float | None = None
    n: float | None = None
    fill: str | None = None
    weights: str | None = None
    learnable: bool = False
    reg_weight: float = 1.0

    @classmethod
    def parse(cls, raw: Mapping[str, str], names: Mapping[str, str]) -> MotionSettings:
        """parse({setting: text}, {setting: name shown in errors}) -> MotionSettings; a missing or empty text is
        the default. A bad value raises ValueError naming `names[setting]` (a variable or a recipe key)."""
        raw = {name: str(raw.get(name, "")).strip() for name in ENV_VARS}
        fill = raw["motion_fill"] or None
        if fill is not None and fill not in FILLS:
            raise ValueError(f"{names['motion_fill']}={fill!r}: expected one of {FILLS}")
        learnable = _learnable(names["motion_learnable"], raw["motion_learnable"])
        reg_weight = parse_number(names["motion_reg_weight"], raw["motion_reg_weight"], minimum=0) if raw["motion_reg_weight"] else 1.0
        return cls(
            m=parse_number(names["motion_m"], raw["motion_m"]) if raw["motion_m"] else None,
            n=parse_number(names["motion_n"], raw["motion_n"]) if raw["motion_n"] else None,
            fill=fill,
            weights=raw["motion_weights"] or None,
            learnable=learnable,
            reg_weight=reg_weight,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MotionSettings:
        """from_env(environ=os.environ) -> MotionSettings; a bad value raises ValueError naming the variable."""
        env = os.environ if environ is None else environ
        return cls.parse({name: env.get(var, "") for name, var in ENV_VARS.items()}, ENV_VARS)

    def hook(self) -> FrameMotionPrompt:
        """hook() -> the fixed-(m, n) FrameMotionPrompt these settings describe."""
        return FrameMotionPrompt.from_settings(m=self.m, n=self.n, fill=self.fill, weights=self.weights)


def consume_motion_args(args: Any) -> Any:
    """consume_motion_args(raw train args) -> the same args without the `vau_motion_*` keys.

    `args` is what LLaMA-Factory's `read_args` returns: a dict (YAML/JSON plus key=value overrides) or an
    argv list (`--vau_motion_m 0.5` / `--vau_motion_m=0.5`). The values go to the VAU_MOTION_* environment
    variables (checked at once, so a typo fails before any model loads). Anything else is returned as is.
    """
    found: dict[str, str] = {}
    if isinstance(args, dict):
        rest = dict(args)
        for key, env in YAML_KEYS.items():
            if key in rest:
                value = rest.pop(key)
                found[env] = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    elif isinstance(args, (list, tuple)):
        rest, items, i = [], list(args), 0
        while i < len(items):
            item = items[i]
            key, sep, inline = item[2:].partition("=") if isinstance(item, str) and item.startswith("--") else ("", "", "")
            if key in YAML_KEYS:
                if sep:
                    found[YAML_KEYS[key]] = inline
                    i += 1
                elif i + 1 < len(items):
                    found[YAML_KEYS[key]] = str(items[i + 1])
                    i += 2
                else:
                    raise ValueError(f"--{key} needs a value")
                continue
            rest.append(item)
            i += 1
        rest = type(args)(rest) if isinstance(args, tuple) else rest
    else:
        return args
    if found:
        # validate before exporting, naming the recipe key; only the keys given (the environment's own values
        # are read, and checked, where motion prompts are on)
        names = {name: f"{'' if isinstance(args, dict) else '--'}vau_{name}" for name in ENV_VARS}
        MotionSettings.parse({name: found[env] for name, env in ENV_VARS.items() if env in found}, names)
        os.environ.update(found)
    return rest


def learnable_settings(environ: Mapping[str, str] | None = None) -> MotionSettings | None:
    """learnable_settings(environ=os.environ) -> the run's MotionSettings when the learnable motion prompt is
    switched on (VAU_MOTION_LEARNABLE true), else None without reading any other VAU_MOTION_* variable (so a
    stale `VAU_MOTION_M=abc` cannot break a run that does not use motion prompts)."""
    env = os.environ if environ is None else environ
    if not _learnable(ENV_VARS["motion_learnable"], env.get(ENV_VARS["motion_learnable"], "")):
        return None
    return MotionSettings.from_env(env)


# ------------------------------------------------------------------ the fixed hook, for the mm_plugin
@functools.lru_cache(maxsize=8)
def hook_for(settings: MotionSettings) -> FrameMotionPrompt:
    """hook_for(settings) -> the fixed-(m, n) hook of these settings (one per distinct setting)."""
    return settings.hook()


def frames_to_tensor(frames: list) -> Any:
    """PIL frames -> uint8 tensor (T, 3, H, W)."""
    import numpy as np
    import torch

    return torch.from_numpy(np.stack([np.asarray(frame.convert("RGB")) for frame in frames])).permute(0, 3, 1, 2)


def tensor_to_frames(frames: Any) -> list:
    """uint8 tensor (T, 3, H, W) -> PIL frames."""
    from PIL import Image

    return [Image.fromarray(frame.permute(1, 2, 0).contiguous().numpy()) for frame in frames]


# ------------------------------------------------------------------ the learnable in-model variant
def enable_learnable_motion(
    model: Any,
    settings: MotionSettings | None = None,
    *,
    processor: Any = None,
    resume_from: str | None = None,
) -> Any:
    """enable_learnable_motion(model, settings=None, *, processor=None, resume_from=None) -> InModelMotionPrompt.

    Call right after LLaMA-Factory's `load_model` (after LoRA is applied, so m and n stay trainable).
    `settings` default: `MotionSettings.from_env()`. `processor`: the run's processor (its video mean/std;
    Qwen's CLIP values otherwise). `resume_from`: a checkpoint folder; its `motion_prompt.json` (written by
    every save) restores (m, n), which a LoRA checkpoint does not hold.
    """
    from vau_plugin.motion import WEIGHTS_FILE, read_settings
    from vau_plugin.motion_model import attach_motion_prompt

    settings = settings or MotionSettings.from_env()
    source = getattr(processor, "video_processor", None) or getattr(processor, "image_processor", None) or processor
    mean = tuple(getattr(source, "image_mean", None) or QWEN_VL_MEAN)
    std = tuple(getattr(source, "image_std", None) or QWEN_VL_STD)
    saved = read_settings(settings.weights) if settings.weights else {}
    m = settings.m if settings.m is not None else saved.get("m", 0.0)
    n = settings.n if settings.n is not None else saved.get("n", 0.0)
    fill = settings.fill or saved.get("fill", "mean")
    if resume_from and os.path.isfile(os.path.join(resume_from, WEIGHTS_FILE)):
        resumed = read_settings(resume_from)  # the trained values win over the starting ones
        m, n, fill = resumed["m"], resumed["n"], resumed.get("fill", fill)
    if m == 0:
        logger.warning(
            "vau-plugin: motion prompt m = 0 is a stationary point (d|tanh m|/dm = 0 there), so m will not train; "
            "set vau_motion_m to a non-zero start (e.g. 0.5) to learn the slope too"
        )
    motion = attach_motion_prompt(model, m=m, n=n, fill=fill, reg_weight=settings.reg_weight, mean=mean, std=std)
    logger.info("vau-plugin: learnable motion prompt attached (%s)", motion.layer.extra_repr())
    return motion


def attach_learnable_motion(model: Any, processor: Any = None, resume_from: str | None = None) -> bool:
    """attach_learnable_motion(model, processor=None, resume_from=None) -> bool: attach the motion-prompt layer
    (`enable_learnable_motion`) when the recipe switched it on (vau_motion_learnable); True when attached. Called
    after LLaMA-Factory's `load_model` by the SFT stage (`patch.patch_sft_workflow`) and by `stage: grpo`."""
    settings = learnable_settings()  # None, reading no other VAU_MOTION_* variable, unless switched on
    if settings is None:
        return False
    enable_learnable_motion(model, settings, processor=processor, resume_from=resume_from)
    return True

"""Video motion prompts (VMPs; Chen, Wang, Koniusz, Gedeon, ACML 2024) for video MLLMs.

A learnable frame-differencing attention layer. For RGB frames x_0..x_T:
    g_t = luma(x_t) in [0, 1],  D_t = g_{t+1} - g_t  (signed),
    A_t = sigmoid(a * (D_t - b)),  a = 5 / (0.45 |tanh m| + 0.1),  b = 0.6 tanh n,
    prompt_t = fill + A_t * (x_{t+1} - fill),
    reg = lambda * mean((A_{t+1} - A_t)^2).
T+1 frames in, T out. `fill` is what zero attention shows: the mean colour (what the published layer gives on
normalised frames, where the mean maps to zero) or black.

Three ways in, one layer:
- `MotionPrompt`, the layer (T+1 -> T), learnable (m, n);
- `FrameMotionPrompt`, the preprocessing hook with fixed (m, n) shared by the lmms-eval wrapper and
  LLaMA-Factory's `qwen2_vl_motion` template;
- `VideoPatchMotionPrompt`, the in-model variant that works on a Qwen2/2.5-VL processor's
  `pixel_values_videos` (un-patchify by `video_grid_thw`, prompt, re-patchify); `vau_plugin.motion_model`
  puts it in front of a model's vision encoder.

Frame count. Processors pair frames into temporal patches, so a clip of T frames must stay T frames.
`prompt_same_count` (T in, T out) puts prompt_t (the motion from frame t to t+1, shown on frame t+1) in
slot t+1 and re-uses the first prompt in slot 0: slot j always shows frame j's content, so timestamps
and `second_per_grid_ts` keep their meaning. Where an extra frame can be decoded (LLaMA-Factory's
plugin samples T+1 frames), `FrameMotionPrompt.prompt` gives T true prompts instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

# ITU-R BT.601 luma weights, in RGB order.
LUMA_RGB = (0.299, 0.587, 0.114)
# The published layer's one mean for all channels: the fill colour when no mean is given.
VMP_MEAN = (0.45, 0.45, 0.45)
# What Qwen2/2.5-VL processors normalise with (transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD).
QWEN_VL_MEAN = (0.48145466, 0.4578275, 0.40821073)
QWEN_VL_STD = (0.26862954, 0.26130258, 0.27577711)
WEIGHTS_FILE = "motion_prompt.json"
SCALAR_SHAPE = (1,)  # m and n: one learnable scalar each, stored with one dimension (see `scalar_parameter_data`)
FILLS = ("mean", "black")
Fill = Literal["mean", "black"]


def slope(m: torch.Tensor) -> torch.Tensor:
    """slope(m) -> a = 5 / (0.45 |tanh m| + 0.1): between ~9.1 and 50."""
    return 5.0 / (0.45 * torch.tanh(m).abs() + 0.1)


def shift(n: torch.Tensor) -> torch.Tensor:
    """shift(n) -> b = 0.6 tanh n: between -0.6 and 0.6 (in luma units, frames in [0, 1])."""
    return 0.6 * torch.tanh(n)


def finite_number(name: str, value: object) -> float:
    """finite_number(name, value) -> float(value); ValueError naming `name` for NaN, inf, bools and non-numbers."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a finite number, got {value!r}")  # noqa: TRY004 (one error type for bad settings)
    try:
        number = float(value)  # numbers, numeric strings ("0.5" from model_args), 0-dim tensors
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def scalar_parameter_data(value: float) -> torch.Tensor:
    """scalar_parameter_data(value) -> float32 tensor of shape [1] holding `value`: how m and n are stored.

    One learnable scalar each, but not 0-dim: DeepSpeed >= 0.17 broadcasts parameters as bytes
    (`p.data.view(torch.uint8)`), which torch refuses for 0-dim tensors, so a 0-dim m / n broke every ZeRO stage."""
    return torch.full(SCALAR_SHAPE, value, dtype=torch.float32)


def scalar_value(name: str, tensor: torch.Tensor) -> float:
    """scalar_value(name, tensor) -> float of a one-element tensor (m or n: shape [1], or 0-dim from an old
    checkpoint). A tensor with no element on this process (a parameter that DeepSpeed ZeRO-3 partitioned) raises
    ValueError naming `name`: read it from a consolidated state dict instead."""
    if tensor.numel() != 1:
        raise ValueError(
            f"motion prompt {name}: expected one value, got a tensor of shape {tuple(tensor.shape)}"
            + (" (a parameter partitioned by DeepSpeed ZeRO-3 holds no data outside a gather: read it from the "
               "consolidated state dict being saved)" if tensor.numel() == 0 else "")
        )
    return float(tensor.detach().float().reshape(()))


def _check_colour(name: str, values: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(v) for v in values)
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be 3 finite numbers (R, G, B), got {values}")
    return values


class MotionPrompt(nn.Module):
    """Motion prompt layer on frames shaped (..., T+1, 3, H, W), RGB.

    Input scale: RGB in [0, 255] (uint8 or float) by default; frames normalised as (x/255 - mean) / std when
    `mean` and `std` (per channel, in [0, 1] units) are given. The output has the input's scale and dtype
    (float32 for integer input). `fill_colour` (in [0, 1] units) is what zero attention shows when
    fill == "mean": the normalisation mean for normalised input, the published layer's 0.45 grey otherwise.
    `m` and `n` are learnable scalars, stored as shape-[1] float32 parameters (DeepSpeed cannot broadcast 0-dim
    ones; a state dict holding them 0-dim still loads); `float(layer.m)` reads one.
    Calling it returns `(prompted, reg)`: T prompted frames and the temporal-variation regulariser (a 0-dim
    float32 tensor while grad is enabled, else None; 0 for a single attention map).
    Luma and attention are computed in float32 whatever the frame dtype (bf16 frames keep the motion
    resolution); the frame-sized multiply runs in the frames' dtype.
    Bad input raises ValueError naming what was given and what is expected: non-finite m / n (at construction),
    frames of another dtype (uint16, int, bool), NaN / inf pixels, and float frames whose range shows another
    scale ([0, 1] or normalised frames given to a [0, 255] layer, and the reverse); see `_check_values`.
    """

    def __init__(
        self,
        m: float = 0.0,
        n: float = 0.0,
        *,
        fill: Fill = "mean",
        reg_weight: float = 1.0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        fill_colour: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std (normalised input) or neither ([0, 255] input)")
        if std is not None and any(float(s) <= 0 for s in std):
            raise ValueError(f"std must be positive, got {tuple(std)}")
        if finite_number("reg_weight", reg_weight) < 0:
            raise ValueError(f"reg_weight must be a finite number >= 0, got {reg_weight!r}")
        # NaN m or n would make every attention map NaN (black or grey frames, silently): refused here
        self.m = nn.Parameter(scalar_parameter_data(finite_number("motion prompt m", m)))
        self.n = nn.Parameter(scalar_parameter_data(finite_number("motion prompt n", n)))
        self.fill = fill
        self.reg_weight = float(reg_weight)
        self.mean = _check_colour("mean", mean) if mean is not None else None
        self.std = _check_colour("std", std) if std is not None else None
        default_colour = self.mean if self.mean is not None else VMP_MEAN
        self.fill_colour = _check_colour("fill_colour", fill_colour if fill_colour is not None else default_colour)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # checkpoints written before m and n became shape [1] hold them 0-dim: still loadable
        for name in ("m", "n"):
            value = state_dict.get(prefix + name)
            if isinstance(value, torch.Tensor) and value.dim() == 0:
                state_dict[prefix + name] = value.reshape(SCALAR_SHAPE)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        scale = f"normalised mean={self.mean} std={self.std}" if self.mean is not None else "[0, 255]"
        return f"fill={self.fill}, fill_colour={self.fill_colour}, reg_weight={self.reg_weight}, input={scale}"

    def _luma_weights(self) -> tuple[float, float, float]:
        """k_c with luma (in [0, 1] units) = sum_c k_c x_c + const; the constant cancels in differences."""
        if self.mean is None:
            return tuple(w / 255.0 for w in LUMA_RGB)
        return tuple(w * s for w, s in zip(LUMA_RGB, self.std))

    def _fill_value(self, frames: torch.Tensor) -> torch.Tensor:
        """The colour of zero attention, in the input's own scale, shaped (3, 1, 1)."""
        unit = torch.tensor(self.fill_colour if self.fill == "mean" else (0.0, 0.0, 0.0), dtype=torch.float64)
        if self.mean is None:
            value = unit * 255.0
        else:
            value = (unit - torch.tensor(self.mean, dtype=torch.float64)) / torch.tensor(self.std, dtype=torch.float64)
        return value.to(dtype=frames.dtype, device=frames.device).view(3, 1, 1)

    def attention(self, frames: torch.Tensor) -> torch.Tensor:
        """attention(frames (..., T+1, 3, H, W)) -> A, float32 (..., T, 1, H, W).

        Checks the frames first (`check_frames`; for float frames also their values, see `_check_values`)."""
        self._check_input(frames)
        return self._attention(frames, check_values=frames.is_floating_point())

    def _check_input(self, frames: torch.Tensor) -> None:
        check_frames(frames)
        if self.mean is not None and not frames.is_floating_point():
            raise ValueError(
                f"this layer was built for normalised frames (mean={self.mean}, std={self.std}), which are float; "
                f"got {frames.dtype} frames (for uint8 frames in [0, 255] build it without mean/std)"
            )

    def _attention(self, frames: torch.Tensor, *, check_values: bool) -> torch.Tensor:
        k = self._luma_weights()
        # one fresh float32 map, accumulated in place: no frame-sized temporaries (they cost page faults on CPU)
        luma = frames[..., 0:1, :, :].float() * k[0]
        luma.add_(frames[..., 1:2, :, :], alpha=k[1])
        luma.add_(frames[..., 2:3, :, :], alpha=k[2])
        if check_values:  # uint8 frames are finite and in range by their type: no pass over them
            self._check_values(luma, frames)
        diff = luma[..., 1:, :, :, :] - luma[..., :-1, :, :, :]
        a = slope(self.m).float()
        b = shift(self.n).float()
        return torch.sigmoid(a * (diff - b))

    def _check_values(self, luma: torch.Tensor, frames: torch.Tensor) -> None:
        """Refuse float frames that would give garbage, from one min/max pass over the luma map (a third of the
        frames' size; a NaN or inf in any channel reaches the luma: its weights are all positive):

        - NaN or inf anywhere (a single NaN pixel would spread to its neighbours in the processor's resize);
        - [0, 255] layer: brightness within 3/255 of zero everywhere but not all zero (frames in [0, 1], or
          normalised frames without mean/std, which would come out flat grey), or above 2 * 255 (16-bit values);
        - normalised layer: brightness, de-normalised, far outside [0, 1] (frames in [0, 255] given to it).
        """
        lo, hi = torch.stack(torch.aminmax(luma.detach())).tolist()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(
                f"frames {tuple(frames.shape)} ({frames.dtype}) contain NaN or infinite values; motion prompts need "
                "finite pixel values"
            )
        offset = 0.0 if self.mean is None else sum(w * m for w, m in zip(LUMA_RGB, self.mean))
        lo, hi = lo + offset, hi + offset  # brightness in [0, 1] units for frames in the expected range
        if self.mean is None:
            if -3 / 255 <= lo and hi <= 3 / 255 and (lo, hi) != (0.0, 0.0):
                raise ValueError(
                    f"float frames valued in [{_min_max(frames)}] look scaled to [0, 1] (or normalised); this layer "
                    "expects RGB in [0, 255] (uint8 or float): multiply frames in [0, 1] by 255, or build the layer "
                    "with mean=/std= for normalised frames"
                )
            if hi > 2.0:
                raise ValueError(
                    f"float frames valued in [{_min_max(frames)}] exceed [0, 255] (16-bit values?); this layer "
                    "expects RGB in [0, 255]: scale them to 8 bits first (e.g. frames / 257)"
                )
        elif hi > 2.0 or lo < -1.0:
            raise ValueError(
                f"frames valued in [{_min_max(frames)}] do not look normalised with mean={self.mean}, std={self.std} "
                "(brightness far outside [0, 1] after de-normalising); for frames in [0, 255] build the layer "
                "without mean/std"
            )

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._check_input(frames)
        was_float = frames.is_floating_point()
        if not was_float:
            frames = frames.float()
        attn = self._attention(frames, check_values=was_float)
        following = frames[..., 1:, :, :, :]
        weight = attn.to(frames.dtype)
        if self.fill == "mean" and self.mean is not None and self.fill_colour == self.mean:
            prompted = weight * following  # the published layer: the mean is 0 on normalised frames
        else:
            prompted = torch.lerp(self._fill_value(frames), following, weight)
        return prompted, self._regulariser(attn)

    def _regulariser(self, attn: torch.Tensor) -> torch.Tensor | None:
        if not torch.is_grad_enabled():
            return None
        if attn.shape[-4] < 2:  # one attention map: nothing varies over time (and no mean over nothing)
            return (attn.sum() * 0.0) * self.reg_weight
        return self.reg_weight * (attn[..., 1:, :, :, :] - attn[..., :-1, :, :, :]).pow(2).mean()

    # ------------------------------------------------------------ (m, n) saved with a checkpoint
    def settings(self, *, m: float | None = None, n: float | None = None) -> dict:
        """settings(*, m=None, n=None) -> {"m", "n", "fill", "reg_weight", "fill_colour"}: what `save` writes; `m` /
        `n` given: those values (from a consolidated state dict) instead of the parameters'."""
        return {
            "m": scalar_value("m", self.m) if m is None else float(m),
            "n": scalar_value("n", self.n) if n is None else float(n),
            "fill": self.fill,
            "reg_weight": self.reg_weight,
            "fill_colour": list(self.fill_colour),
        }

    def save(self, directory: str | Path, *, m: float | None = None, n: float | None = None) -> Path:
        """save(directory, *, m=None, n=None) -> path of the `motion_prompt.json` written there (folder created if
        missing); `m` / `n` as in `settings`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / WEIGHTS_FILE
        path.write_text(json.dumps(self.settings(m=m, n=n), indent=2) + "\n", encoding="utf-8")
        return path


def _min_max(frames: torch.Tensor) -> str:
    """'min, max' of a tensor, for error messages (an extra pass, on the error path only)."""
    lo, hi = torch.aminmax(frames.detach().float())
    return f"{lo.item():.4g}, {hi.item():.4g}"


def check_frames(frames: torch.Tensor) -> None:
    """Raise ValueError unless `frames` is a uint8 or float tensor shaped (..., T, 3, H, W) with T >= 2.

    Other dtypes are refused rather than guessed at: uint16 / int frames would be clamped as if 0-255."""
    if not isinstance(frames, torch.Tensor):
        raise TypeError(f"frames must be a torch.Tensor shaped (..., T, 3, H, W), got {type(frames).__name__}")
    if frames.dtype != torch.uint8 and not frames.is_floating_point():
        hint = " (16-bit video: convert with (frames / 257).round().to(torch.uint8))" if frames.dtype in (
            torch.uint16, torch.int32, torch.int64) else ""
        raise ValueError(
            f"frames of dtype {frames.dtype} are not supported: expected uint8, or float valued in [0, 255] "
            f"(normalised float frames with the layer's mean/std){hint}"
        )
    if frames.dim() < 4 or frames.shape[-3] != 3:
        raise ValueError(f"expected RGB frames shaped (..., T, 3, H, W), got {tuple(frames.shape)}")
    if frames.shape[-4] < 2:
        raise ValueError(
            f"motion prompts need at least 2 frames (T+1 in, T out), got {frames.shape[-4]} "
            f"in a clip shaped {tuple(frames.shape)}"
        )


def prompt_same_count(layer: MotionPrompt, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """prompt_same_count(layer, frames (..., T, 3, H, W)) -> (T prompted frames, reg).

    Slot j >= 1 holds prompt_{j-1} (the motion into frame j, shown on frame j); slot 0 repeats prompt_0.
    The regulariser covers the T-1 distinct attention maps only.
    """
    prompted, reg = layer(frames)
    return torch.cat([prompted[..., :1, :, :, :], prompted], dim=-4), reg


def read_settings(path: str | Path) -> dict:
    """read_settings(path) -> dict with finite "m", "n" (and "fill" in FILLS when present), from
    `motion_prompt.json` or the folder holding it (a checkpoint)."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"motion prompt weights not found: {path}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with 'm' and 'n', got {type(data).__name__}")  # noqa: TRY004 (bad file content, not a bad argument)
    for key in ("m", "n"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{path}: field {key!r} must be a finite number, got {value!r}")
    if "fill" in data and data["fill"] not in FILLS:
        raise ValueError(f"{path}: field 'fill' must be one of {FILLS}, got {data['fill']!r}")
    if "fill_colour" in data:
        try:
            _check_colour("fill_colour", data["fill_colour"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: field 'fill_colour': {error}") from None
    return data


@dataclass
class FrameMotionPrompt:
    """The preprocessing hook with fixed (m, n), on RGB frames in [0, 255] (uint8 or float).

    `hook(frames (T, 3, H, W)) -> (T, 3, H, W)`: same count (see `prompt_same_count`), same dtype (uint8
    rounded), so it drops in before a processor (the lmms-eval wrapper). `hook.prompt(frames)` maps T+1
    frames to T (LLaMA-Factory's `qwen2_vl_motion` plugin, which decodes one extra frame).
    """

    layer: MotionPrompt

    @classmethod
    def from_settings(
        cls,
        *,
        m: float | None = None,
        n: float | None = None,
        fill: Fill | None = "mean",
        weights: str | Path | None = None,
    ) -> FrameMotionPrompt:
        """Build the hook. Explicit m / n win over a saved `motion_prompt.json` (`weights`, file or
        checkpoint folder), which wins over 0. `fill`: None or "mean" take the saved fill when `weights`
        is given (so a default "mean" never overrides a trained "black"); "black" always wins. The saved
        `fill_colour` (the mean colour the layer was trained with) is re-used."""
        saved = read_settings(weights) if weights else {}
        if fill is not None and fill not in FILLS:
            raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
        chosen_fill = saved.get("fill", "mean") if fill in (None, "mean") else fill
        layer = MotionPrompt(  # m, n: finite numbers (numeric strings accepted), checked by the layer
            m=m if m is not None else saved.get("m", 0.0),
            n=n if n is not None else saved.get("n", 0.0),
            fill=chosen_fill,
            fill_colour=saved.get("fill_colour"),
        )
        layer.requires_grad_(False)
        return cls(layer)

    def describe(self) -> str:
        """describe() -> 'm=…, n=…, fill=…' for logs."""
        s = self.layer.settings()
        return f"m={s['m']:.4g}, n={s['n']:.4g}, fill={s['fill']}"

    def _finish(self, prompted: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if like.is_floating_point():
            return prompted.to(like.dtype)
        return prompted.round_().clamp_(0, 255).to(like.dtype)

    def prompt(self, frames: torch.Tensor) -> torch.Tensor:
        """prompt(frames (..., T+1, 3, H, W)) -> (..., T, 3, H, W), in the input's dtype."""
        with torch.no_grad():
            prompted, _ = self.layer(frames)
        return self._finish(prompted, frames)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """hook(frames (..., T, 3, H, W)) -> (..., T, 3, H, W), in the input's dtype (T >= 2)."""
        with torch.no_grad():
            prompted, _ = prompt_same_count(self.layer, frames)
        return self._finish(prompted, frames)


# ------------------------------------------------------------------ Qwen2-VL patch layout
@dataclass(frozen=True)
class PatchGeometry:
    """How a Qwen2/2.5-VL processor cuts frames into rows of `pixel_values_videos`.

    A row is one (temporal_patch x patch x patch) cube with channels outermost: C * tp * p * p values.
    Rows run over (grid_t, grid_h / merge, grid_w / merge, merge, merge), so the merge x merge patches
    that become one token are adjacent.
    """

    patch_size: int = 14
    temporal_patch_size: int = 2
    merge_size: int = 2
    channels: int = 3

    @property
    def row_size(self) -> int:
        return self.channels * self.temporal_patch_size * self.patch_size * self.patch_size

    @classmethod
    def from_vision_config(cls, config) -> PatchGeometry:
        """from_vision_config(config.vision_config of a Qwen2/2.5-VL model) -> PatchGeometry."""
        return cls(
            patch_size=int(config.patch_size),
            temporal_patch_size=int(config.temporal_patch_size),
            merge_size=int(config.spatial_merge_size),
            channels=int(getattr(config, "in_channels", getattr(config, "in_chans", 3))),
        )


def _grid_sizes(video_grid_thw: torch.Tensor) -> list[tuple[int, int, int]]:
    grid = torch.as_tensor(video_grid_thw)
    if grid.dim() != 2 or grid.shape[-1] != 3:
        raise ValueError(f"video_grid_thw must be shaped (videos, 3), got {tuple(grid.shape)}")
    return [tuple(int(v) for v in row) for row in grid.tolist()]


def unpatchify_video(rows: torch.Tensor, grid_thw: tuple[int, int, int], geometry: PatchGeometry) -> torch.Tensor:
    """unpatchify_video(rows (t*h*w, C*tp*p*p), (t, h, w), geometry) -> frames (t*tp, C, h*p, w*p).

    Exact inverse of the processor's reshape/permute (a view and a permute, no arithmetic).
    """
    t, h, w = grid_thw
    g = geometry
    if h % g.merge_size or w % g.merge_size:
        raise ValueError(f"grid (t={t}, h={h}, w={w}) is not divisible by merge size {g.merge_size}")
    if rows.shape != (t * h * w, g.row_size):
        raise ValueError(f"expected {t * h * w} rows of {g.row_size} values for grid {grid_thw}, got {tuple(rows.shape)}")
    m, p, tp = g.merge_size, g.patch_size, g.temporal_patch_size
    cubes = rows.reshape(t, h // m, w // m, m, m, g.channels, tp, p, p)
    # (t, h/m, w/m, mh, mw, C, tp, ph, pw) -> (t, tp, C, h/m, mh, ph, w/m, mw, pw)
    frames = cubes.permute(0, 6, 5, 1, 3, 7, 2, 4, 8)
    return frames.reshape(t * tp, g.channels, h * p, w * p)


def patchify_video(frames: torch.Tensor, geometry: PatchGeometry) -> torch.Tensor:
    """patchify_video(frames (T, C, H, W), geometry) -> rows (t*h*w, C*tp*p*p), the processor's layout.

    T must be a multiple of the temporal patch size, H and W of patch * merge.
    """
    g = geometry
    m, p, tp = g.merge_size, g.patch_size, g.temporal_patch_size
    frame_count, channels, height, width = frames.shape
    if frame_count % tp or height % (p * m) or width % (p * m) or channels != g.channels:
        raise ValueError(
            f"frames {tuple(frames.shape)} do not tile into {tp}x{p}x{p} patches merged {m}x{m} with {g.channels} channels"
        )
    t, h, w = frame_count // tp, height // p, width // p
    cubes = frames.reshape(t, tp, channels, h // m, m, p, w // m, m, p)
    # (t, tp, C, h/m, mh, ph, w/m, mw, pw) -> (t, h/m, w/m, mh, mw, C, tp, ph, pw)
    return cubes.permute(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(t * h * w, g.row_size)


def unpatchify_videos(
    pixel_values_videos: torch.Tensor, video_grid_thw: torch.Tensor, geometry: PatchGeometry
) -> list[torch.Tensor]:
    """unpatchify_videos(pixel_values_videos, video_grid_thw, geometry) -> one (T, C, H, W) tensor per video."""
    sizes = _grid_sizes(video_grid_thw)
    counts = [t * h * w for t, h, w in sizes]
    if sum(counts) != pixel_values_videos.shape[0]:
        raise ValueError(
            f"video_grid_thw {sizes} covers {sum(counts)} rows but pixel_values_videos has "
            f"{pixel_values_videos.shape[0]}"
        )
    chunks = torch.split(pixel_values_videos, counts, dim=0)
    return [unpatchify_video(rows, grid, geometry) for rows, grid in zip(chunks, sizes)]


def patchify_videos(videos: Sequence[torch.Tensor], geometry: PatchGeometry) -> torch.Tensor:
    """patchify_videos([(T, C, H, W), ...], geometry) -> pixel_values_videos rows, videos concatenated."""
    return torch.cat([patchify_video(frames, geometry) for frames in videos], dim=0)


class VideoPatchMotionPrompt(nn.Module):
    """The learnable in-model variant: motion prompts on a processor's `pixel_values_videos`.

    `forward(pixel_values_videos, video_grid_thw) -> (pixel_values_videos', reg)`: each video is
    un-patchified into its T = grid_t * temporal_patch frames, prompted with `prompt_same_count` (T in,
    T out, so grid_t and the token count do not change) and re-patchified. `reg` averages the videos'
    regularisers (None under no_grad). Frames are normalised with the processor's mean/std, so the layer
    is built with them (`mean`, `std`; Qwen's CLIP values by default). `enabled = False` returns the input
    tensor itself.
    """

    def __init__(
        self,
        geometry: PatchGeometry = PatchGeometry(),
        *,
        m: float = 0.0,
        n: float = 0.0,
        fill: Fill = "mean",
        reg_weight: float = 1.0,
        mean: Sequence[float] = QWEN_VL_MEAN,
        std: Sequence[float] = QWEN_VL_STD,
    ) -> None:
        super().__init__()
        self.geometry = geometry
        self.layer = MotionPrompt(m, n, fill=fill, reg_weight=reg_weight, mean=mean, std=std)
        self.enabled = True

    def extra_repr(self) -> str:
        return f"enabled={self.enabled}, geometry={self.geometry}"

    def forward(
        self, pixel_values_videos: torch.Tensor, video_grid_thw: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not self.enabled:
            return pixel_values_videos, None
        prompted, regs = [], []
        for frames in unpatchify_videos(pixel_values_videos, video_grid_thw, self.geometry):
            out, reg = prompt_same_count(self.layer, frames)
            prompted.append(out.to(pixel_values_videos.dtype))
            if reg is not None:
                regs.append(reg)
        rows = patchify_videos(prompted, self.geometry)
        reg = torch.stack(regs).mean() if regs else None
        return rows, reg

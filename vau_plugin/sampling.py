"""Which frames of a video to sample and at what size, in the Qwen2.5-VL / qwen-vl-utils convention: maths on what a
probe says of a file (`VideoInfo`) and a budget (`vau_plugin.budget.SamplingConfig`). Nothing here opens a file:
`vau_plugin.video` probes and decodes, and token counting or validation plan without decoding.

The maths follows ``qwen_vl_utils.vision_process`` (0.0.14) so that frames fed to a Qwen2.5-VL model here match what
``process_vision_info`` would give for the same file:

- frame count (``smart_nframes``): ``duration * fps`` clamped to ``[min_frames, max_frames]`` and to
  the video's frame count, then floored to an even number (``frame_factor`` = temporal patch 2);
- frame indices: ``linspace(0, frame_count - 1, n)`` rounded (torch float32, as upstream: `sample_indices` imports
  torch when it is called, so importing this module costs no torch);
- frame size (``smart_resize``): multiples of ``image_factor`` (28 = patch 14 x merge 2) keeping the
  aspect ratio, within ``min_pixels`` and a per-frame cap derived from ``total_pixels / n``.

`plan_sample` is the one place where a video meets a budget; a budget that no frame size fits raises
:class:`VideoBudgetError`, one of the :class:`VideoError` of a single video (the decoder adds
`vau_plugin.video.VideoDecodeError`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vau_plugin.budget import FRAME_FACTOR, IMAGE_FACTOR, MAX_RATIO, VIDEO_MAX_TOKENS, VIDEO_MIN_PIXELS, SamplingConfig


class VideoError(RuntimeError):
    """Base class for the errors of one video (:class:`VideoBudgetError` here, `vau_plugin.video.VideoDecodeError`
    where it is decoded), each naming the file."""


class VideoBudgetError(VideoError):
    """A video that can be read but whose frames cannot be sampled within a budget: an aspect ratio above
    ``MAX_RATIO`` (the most the Qwen vision processors accept), or a side that shrinks below one visual token under
    the pixel cap. The message names the file, its frame size and the budget."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself: ``frame_count`` frames at ``fps`` (average),
    ``duration`` seconds, frames of ``width`` x ``height`` pixels as displayed: upright, the stored frames turned
    ``rotation`` degrees clockwise as its metadata asks (a phone's portrait clip: landscape frames, 90 degrees).

    ``frame_times``: the presentation time of every frame in display order, in seconds from the first
    frame (from the packets' PTS), or None when the container stores no usable timestamps (then frame
    ``i`` is taken to show at ``i / fps``).
    """

    path: Path
    frame_count: int
    fps: float
    duration: float
    width: int
    height: int
    frame_times: tuple[float, ...] | None = field(default=None, repr=False, compare=False)
    rotation: int = 0

    @property
    def variable_rate(self) -> bool:
        """True when the frames are not evenly spaced in time (a burst, dropped frames, a slowed part):
        then sampling by frame number would not sample evenly in time, and index / fps is not a frame's time."""
        return _is_variable_rate(self.frame_times)

    @property
    def span(self) -> float:
        """Seconds the frames cover: from the first frame to the end of the last one (frame_count / fps for
        a constant rate)."""
        times = self.frame_times
        if not self.variable_rate or times is None:
            return self.frame_count / self.fps
        return times[-1] - times[0] + float(np.median(np.diff(times)))


def round_by_factor(number: float, factor: int) -> int:
    """The multiple of ``factor`` closest to ``number``."""
    return round(number / factor) * factor


def ceil_by_factor(number: float, factor: int) -> int:
    """The smallest multiple of ``factor`` that is >= ``number``."""
    return math.ceil(number / factor) * factor


def floor_by_factor(number: float, factor: int) -> int:
    """The largest multiple of ``factor`` that is <= ``number``."""
    return math.floor(number / factor) * factor


def smart_nframes(frame_count: int, video_fps: float, config: SamplingConfig) -> int:
    """Number of frames to sample from a video of ``frame_count`` frames at ``video_fps``.

    Same rule as ``qwen_vl_utils.smart_nframes`` in fps mode, except that a one-frame video
    gives ``frame_factor`` (its frame is repeated, as upstream does for image lists) instead
    of an error.

    Raises:
        ValueError: ``frame_count`` < 1 or ``video_fps`` <= 0.
    """
    if frame_count < 1:
        raise ValueError(
            f"a video needs at least one frame, got frame_count={frame_count}"
        )
    if not video_fps > 0:
        raise ValueError(f"video fps must be > 0, got {video_fps}")
    factor = config.frame_factor
    min_frames = ceil_by_factor(config.min_frames, factor)
    max_frames = floor_by_factor(min(config.max_frames, frame_count), factor)
    wanted = frame_count / video_fps * config.fps
    nframes = floor_by_factor(
        min(max(wanted, min_frames), max_frames, frame_count), factor
    )
    return max(nframes, factor)


def _is_variable_rate(times: Sequence[float] | None) -> bool:
    """Whether frame times are unevenly spaced: some gap differs from the median gap by more than half of it
    (timestamp rounding, e.g. 33/34 ms at 29.97 fps in a millisecond time base, stays well inside)."""
    if times is None or len(times) < 3:
        return False
    gaps = np.diff(np.asarray(times, dtype=np.float64))
    typical = float(np.median(gaps))
    return typical <= 0 or bool(np.max(np.abs(gaps - typical)) > 0.5 * typical)


def sample_indices(
    info: VideoInfo, config: SamplingConfig
) -> tuple[list[int], list[float]]:
    """Source frame indices to sample and their presentation times in seconds.

    Constant frame rate: ``linspace(0, frame_count - 1, n)`` rounded, computed in torch float32 exactly as
    qwen-vl-utils does, with ``n = smart_nframes(...)``. Variable frame rate (``info.variable_rate``): n
    follows the seconds the video covers, and each sample is the frame shown closest to n evenly spaced
    times from the first frame to the last, so the samples are evenly spaced in time, not in frame
    numbers. With ``config.extra_frames`` = k the same span is sampled at n + k evenly spaced points (a
    motion prompt turns T + 1 frames into T). The indices are sorted.
    """
    import torch

    times = info.frame_times
    if times is not None and len(times) != info.frame_count:
        times = None  # timestamps that do not describe every frame cannot place them
    if times is None or not _is_variable_rate(times):
        points = smart_nframes(info.frame_count, info.fps, config) + config.extra_frames
        indices = torch.linspace(0, info.frame_count - 1, points).round().long().tolist()
        if times is None:
            return indices, [index / info.fps for index in indices]
        return indices, [times[index] for index in indices]
    points = smart_nframes(info.frame_count, info.frame_count / info.span, config) + config.extra_frames
    grid = np.asarray(times, dtype=np.float64)
    targets = np.linspace(grid[0], grid[-1], points)
    after = np.clip(np.searchsorted(grid, targets), 1, len(grid) - 1)
    nearer_before = (targets - grid[after - 1]) <= (grid[after] - targets)
    indices = np.where(nearer_before, after - 1, after).tolist()
    return indices, [times[index] for index in indices]


def sampled_rate(info: VideoInfo, count: int) -> float:
    """Frames per second of ``count`` frames spread evenly over the video: count / (seconds covered), which is
    count / frame_count * fps for a constant frame rate (qwen-vl-utils' formula)."""
    if info.frame_times is not None and len(info.frame_times) == info.frame_count and info.variable_rate:
        return count / info.span
    return count / info.frame_count * info.fps


def smart_resize(
    height: int,
    width: int,
    factor: int = IMAGE_FACTOR,
    min_pixels: int = VIDEO_MIN_PIXELS,
    max_pixels: int = VIDEO_MAX_TOKENS * IMAGE_FACTOR**2,
) -> tuple[int, int]:
    """(height, width) rounded to multiples of ``factor`` with the aspect ratio kept and the
    pixel count within [min_pixels, max_pixels] (``qwen_vl_utils.smart_resize``).

    Raises:
        ValueError: non-positive size, aspect ratio above 200, or max_pixels < min_pixels.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    if max_pixels < min_pixels:
        raise ValueError(
            f"max_pixels ({max_pixels}) must be >= min_pixels ({min_pixels})"
        )
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(
            f"aspect ratio must be at most {MAX_RATIO}, got {height}x{width}"
        )
    h_bar = max(factor, round_by_factor(height, factor))
    w_bar = max(factor, round_by_factor(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = floor_by_factor(height / beta, factor)
        w_bar = floor_by_factor(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = ceil_by_factor(height * beta, factor)
        w_bar = ceil_by_factor(width * beta, factor)
    return h_bar, w_bar


def frame_max_pixels(nframes: int, config: SamplingConfig) -> int:
    """Upper bound on pixels per frame when ``nframes`` frames share ``config.total_pixels``
    (``fetch_video``'s max_pixels rule: never below 1.05 x min_pixels)."""
    hard_cap = VIDEO_MAX_TOKENS * config.image_factor**2
    budget = max(
        min(hard_cap, config.total_pixels / nframes * config.frame_factor),
        int(config.min_pixels * 1.05),
    )
    if config.max_pixels is not None:
        budget = min(config.max_pixels, budget)
    return int(budget)


def target_size(
    info: VideoInfo, nframes: int, config: SamplingConfig
) -> tuple[int, int]:
    """(height, width) that ``nframes`` frames of this video are resized to: qwen-vl-utils' size, then the
    processor's own resize of that size when ``config`` names the processor's pixel range.

    Raises:
        VideoBudgetError: no size fits: an aspect ratio above ``MAX_RATIO`` (before or after rounding to multiples
            of ``image_factor``; the Qwen processors refuse those), or a side that the pixel cap shrinks to 0 px.
    """
    ranges = [("", config.min_pixels, frame_max_pixels(nframes, config))]
    if config.processor_min_pixels is not None:
        ranges.append((" (the processor's range)", config.processor_min_pixels, config.processor_max_pixels))
    height, width = info.height, info.width
    for label, low, high in ranges:
        budget = (
            f"{nframes} frames of {low:,} to {high:,} px{label}, sides in multiples of {config.image_factor} px, "
            f"aspect ratio at most {MAX_RATIO}"
        )
        if max(height, width) / min(height, width) > MAX_RATIO:
            raise _unfit(info, budget, f"its aspect ratio{_resized(info, height, width)} is {_ratio(height, width)}")
        resized = smart_resize(height, width, config.image_factor, low, high)
        if min(resized) < config.image_factor:  # qwen-vl-utils floors a side to a multiple of the factor, 0 included
            side = min(height, width)
            raise _unfit(info, budget, f"its {side}-px side shrinks to {min(resized)} px ({resized[1]}x{resized[0]} px)")
        height, width = resized
    if max(height, width) / min(height, width) > MAX_RATIO:  # the Qwen processor would refuse these frames
        raise _unfit(info, budget, f"its aspect ratio{_resized(info, height, width)} is {_ratio(height, width)}")
    return height, width


def _ratio(height: int, width: int) -> str:
    return f"{max(height, width) / min(height, width):.0f}"


def _resized(info: VideoInfo, height: int, width: int) -> str:
    return "" if (height, width) == (info.height, info.width) else f" once resized to {width}x{height}"


def _unfit(info: VideoInfo, budget: str, why: str) -> VideoBudgetError:
    return VideoBudgetError(
        f"{info.path}: its {info.width}x{info.height} frames (width x height) cannot be sampled within the budget "
        f"({budget}): {why}"
    )


@dataclass(frozen=True)
class SamplePlan:
    """What `load_video` will decode, known from the probe alone: the frames the model sees (``frames``,
    before any ``extra_frames``), their size (height, width) and their rate. ``grid_t`` x (height / patch) x
    (width / patch) is the video's patch grid in Qwen2-VL / Qwen2.5-VL."""

    info: VideoInfo
    indices: list[int]
    timestamps: list[float]
    frames: int
    size: tuple[int, int]
    sample_fps: float

    @property
    def grid_t(self) -> int:
        return frames_to_grid_t(self.frames)

    @property
    def model_timestamps(self) -> list[float]:
        """Times (s) of the frames the model sees (see `model_frame_times`)."""
        return model_frame_times(self.timestamps, self.frames)


def model_frame_times(timestamps: Sequence[float], frames: int) -> list[float]:
    """model_frame_times(timestamps of the sampled frames, T frames the model sees) -> the last T timestamps.

    With motion prompts, T + 1 frames are sampled and prompted into T, frame j showing the motion into sampled frame
    j + 1, so frame j is at the time of sampled frame j + 1; without, the two lists are the same."""
    if not 0 < frames <= len(timestamps):
        raise ValueError(f"{frames} model frames from {len(timestamps)} sampled timestamps")
    return [float(t) for t in timestamps[len(timestamps) - frames :]]


def timestamp_metadata(timestamps: Sequence[float]) -> dict:
    """timestamp_metadata(times in s of the frames the model sees) -> Qwen3-VL's `video_metadata` for them.

    Qwen3-VL writes each frame's time into the prompt ("<1.3 seconds>"): transformers' Qwen3VLProcessor and
    LLaMA-Factory's Qwen3VLPlugin compute it as `frames_indices / fps`, averaged over each temporal patch. The real
    times as `frames_indices` with `fps` 1.0 give the real times, variable frame rates and motion prompts included
    (the processors' own indices / nominal fps would not)."""
    times = [float(t) for t in timestamps]
    return {"frames_indices": times, "fps": 1.0, "total_num_frames": len(times), "duration": times[-1] if times else 0.0}


def plan_sample(info: VideoInfo, config: SamplingConfig) -> SamplePlan:
    """plan_sample(probed video, config) -> SamplePlan: which frames to decode and their size, the one place where a
    video meets a budget (`vau_plugin.video.sample_plan` counts tokens with it, `vau_plugin.video.load_video` decodes it).

    Raises:
        VideoBudgetError: the frames cannot be sized within the budget (see `target_size`).
    """
    indices, timestamps = sample_indices(info, config)
    frames = len(indices) - config.extra_frames
    return SamplePlan(info, indices, timestamps, frames, target_size(info, frames, config), sampled_rate(info, frames))


def frames_to_grid_t(num_frames: int, temporal_patch_size: int = FRAME_FACTOR) -> int:
    """Temporal grid size of ``num_frames`` frames in Qwen2-VL / Qwen2.5-VL: the processor pads
    the frames to a multiple of ``temporal_patch_size`` (repeating the last), hence the ceiling."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return math.ceil(num_frames / temporal_patch_size)

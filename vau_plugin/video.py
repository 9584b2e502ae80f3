"""Video frame sampling in the Qwen2.5-VL / qwen-vl-utils convention, and a small mp4 writer.

The sampling maths follows ``qwen_vl_utils.vision_process`` (0.0.14) so that frames fed to a
Qwen2.5-VL model here match what ``process_vision_info`` would give for the same file:

- frame count (``smart_nframes``): ``duration * fps`` clamped to ``[min_frames, max_frames]`` and to
  the video's frame count, then floored to an even number (``frame_factor`` = temporal patch 2);
- frame indices: ``linspace(0, frame_count - 1, n)`` rounded (torch float32, as upstream);
- frame size (``smart_resize``): multiples of ``image_factor`` (28 = patch 14 x merge 2) keeping the
  aspect ratio, within ``min_pixels`` and a per-frame cap derived from ``total_pixels / n``;
- resizing: torchvision bicubic with antialias on the uint8 frames.

Decoding uses decord when it is installed and falls back to PyAV. Every file is first probed with
PyAV (which raises clean errors on garbage input) so that decord never sees a file FFmpeg cannot
parse. Every failure of one video is a :class:`VideoError` naming the file: :class:`VideoDecodeError` (cannot be
read or decoded) or :class:`VideoBudgetError` (decodes, but no frame size of the budget fits it); a ``ValueError``
means a bad :class:`SamplingConfig`, the caller's mistake, not the video's.

Decoded frames can be kept in an on-disk :class:`vau_plugin.cache.FrameCache` (``load_video(..., cache=...)``
or ``VAU_FRAME_CACHE=<folder>``); a hit skips probing and decoding and returns the same frames.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vau_plugin.cache import ENV_DIR, ENV_MAX_BYTES, CachedFrames, FrameCache, cache_key, file_identity

if TYPE_CHECKING:  # torch is imported where frames are made, so the CLI and the CSV checks start without it
    import torch

logger = logging.getLogger(__name__)

# Upstream constants (qwen_vl_utils.vision_process); pixel limits are token counts x image_factor^2.
IMAGE_FACTOR = 28
FRAME_FACTOR = 2
FPS = 2.0
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768
VIDEO_MIN_TOKENS = 128
VIDEO_MAX_TOKENS = 768
MODEL_SEQ_LEN = 128000
MAX_RATIO = 200
VIDEO_MIN_PIXELS = VIDEO_MIN_TOKENS * IMAGE_FACTOR * IMAGE_FACTOR
VIDEO_TOTAL_PIXELS = int(MODEL_SEQ_LEN * IMAGE_FACTOR * IMAGE_FACTOR * 0.9)
# VAU-R1 training/evaluation budget (2 fps, 3584 visual tokens for the whole clip).
VAU_R1_TOTAL_PIXELS = 3584 * IMAGE_FACTOR * IMAGE_FACTOR

BACKENDS = ("auto", "decord", "pyav")
# Frames decoded per chunk (decord's get_batch): at most _DECODE_CHUNK frames and _DECODE_CHUNK_BYTES of full-size
# RGB (one frame at least); each frame is then resized on its own (the resize works in float, 4 bytes a value).
# Memory is the output plus one chunk of decoded frames, whatever the number of sampled frames (an 8K frame is 100 MB).
_DECODE_CHUNK = 32
_DECODE_CHUNK_BYTES = 64 << 20
# A stream may end (or break) this many frames short of the header's count (edit lists, off-by-one
# muxers, a damaged last packet) before PyAV decoding calls it truncated; the missing tail frames
# repeat the last decoded one.
_FRAME_COUNT_TOLERANCE = 8


class VideoError(RuntimeError):
    """Base class for errors raised by :mod:`vau_plugin.video`."""


class VideoDecodeError(VideoError):
    """A video file is missing, empty, truncated, corrupt or has no decodable video stream."""


class VideoBudgetError(VideoError):
    """A video that can be read but whose frames cannot be sampled within a budget: an aspect ratio above
    ``MAX_RATIO`` (the most the Qwen vision processors accept), or a side that shrinks below one visual token under
    the pixel cap. The message names the file, its frame size and the budget."""


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample and resize frames; defaults are qwen-vl-utils' video defaults.

    Attributes:
        fps: frames per second to sample.
        min_frames, max_frames: bounds on the number of sampled frames (before the even rounding).
        min_pixels: lower bound on pixels per resized frame.
        max_pixels: optional upper bound on pixels per resized frame; the effective bound is never
            above ``VIDEO_MAX_TOKENS * image_factor**2`` nor ``total_pixels / n * frame_factor``.
        total_pixels: pixel budget for the whole clip (all sampled frames together).
        image_factor: resized height and width are multiples of this (patch size x spatial merge).
        frame_factor: the frame count is a multiple of this (the temporal patch size).
        backend: "auto" (decord, then PyAV), "decord" or "pyav".
        processor_min_pixels, processor_max_pixels: the pixel range of the HF processor the frames go to,
            when known. The Qwen processor resizes a frame outside its range once more (VAU-R1's QA
            inference samples at >= 128*28*28 px a frame and its processor then enlarges anything below
            256*28*28); with the range given, frames are resized once, straight to the size the
            processor would end with, so the processor has nothing left to resize.
    """

    fps: float = FPS
    max_frames: int = FPS_MAX_FRAMES
    min_frames: int = FPS_MIN_FRAMES
    min_pixels: int = VIDEO_MIN_PIXELS
    max_pixels: int | None = None
    total_pixels: int = VIDEO_TOTAL_PIXELS
    image_factor: int = IMAGE_FACTOR
    frame_factor: int = FRAME_FACTOR
    backend: str = "auto"
    processor_min_pixels: int | None = None
    processor_max_pixels: int | None = None
    extra_frames: int = 0

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"SamplingConfig.fps must be > 0, got {self.fps}")
        if self.backend not in BACKENDS:
            raise ValueError(
                f"SamplingConfig.backend must be one of {BACKENDS}, got {self.backend!r}"
            )
        for name in (
            "max_frames",
            "min_frames",
            "min_pixels",
            "total_pixels",
            "image_factor",
            "frame_factor",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"SamplingConfig.{name} must be > 0, got {getattr(self, name)}"
                )
        if self.max_frames < self.frame_factor:
            raise ValueError(
                f"SamplingConfig.max_frames ({self.max_frames}) must be >= frame_factor ({self.frame_factor})"
            )
        if self.max_pixels is not None and self.max_pixels < self.min_pixels:
            raise ValueError(
                f"SamplingConfig.max_pixels ({self.max_pixels}) < min_pixels ({self.min_pixels})"
            )
        if self.extra_frames not in (0, 1):
            raise ValueError(f"SamplingConfig.extra_frames must be 0 or 1, got {self.extra_frames}")
        if (self.processor_min_pixels is None) != (self.processor_max_pixels is None):
            raise ValueError("SamplingConfig.processor_min_pixels and processor_max_pixels go together")
        if self.processor_min_pixels is not None and not 0 < self.processor_min_pixels <= self.processor_max_pixels:
            raise ValueError(
                f"SamplingConfig processor pixel range must satisfy 0 < min <= max, got "
                f"{self.processor_min_pixels}..{self.processor_max_pixels}"
            )

    @classmethod
    def vau_r1(cls, **overrides) -> SamplingConfig:
        """The VAU-R1 setting: 2 fps within a total budget of 3584 * 28 * 28 pixels."""
        return cls(**{"fps": 2.0, "total_pixels": VAU_R1_TOTAL_PIXELS, **overrides})


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


@dataclass
class SampledVideo:
    """Frames sampled from one video.

    Attributes:
        frames: uint8 tensor (T, 3, H, W), RGB, resized to the smart_resize size.
        indices: the source frame index of each sampled frame.
        timestamps: presentation time of each sampled frame, in seconds from the first frame (its PTS;
            index / fps when the file stores no timestamps).
        sample_fps: effective sampling rate, T / (seconds the video covers): T / frame_count * fps for a
            constant frame rate, as qwen-vl-utils computes it (what the Qwen processor receives as ``fps``,
            the time step of the temporal position ids).
        info: the source video's frame count, fps, duration and size.
        backend: "decord" or "pyav", whichever decoded the frames.
        extra_frames: frames sampled beyond the T the model sees (``SamplingConfig.extra_frames``).
    """

    frames: torch.Tensor
    indices: list[int]
    timestamps: list[float]
    sample_fps: float
    info: VideoInfo
    backend: str
    extra_frames: int = 0

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the resized frames."""
        return int(self.frames.shape[-2]), int(self.frames.shape[-1])

    @property
    def grid_t(self) -> int:
        """Number of temporal patches the Qwen2-VL / Qwen2.5-VL vision tower makes of these frames."""
        return frames_to_grid_t(len(self.indices) - self.extra_frames)

    @property
    def model_timestamps(self) -> list[float]:
        """Times (s) of the T frames the model sees (see `model_frame_times`)."""
        return model_frame_times(self.timestamps, len(self.indices) - self.extra_frames)


# --- pure sampling maths -------------------------------------------------------------------------


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
    video meets a budget (`sample_plan` counts tokens with it, `load_video` decodes it).

    Raises:
        VideoBudgetError: the frames cannot be sized within the budget (see `target_size`).
    """
    indices, timestamps = sample_indices(info, config)
    frames = len(indices) - config.extra_frames
    return SamplePlan(info, indices, timestamps, frames, target_size(info, frames, config), sampled_rate(info, frames))


def sample_plan(path: str | Path, config: SamplingConfig | None = None) -> SamplePlan:
    """sample_plan(path, config) -> SamplePlan, by probing only (no decoding): the frame count, size and rate
    `load_video(path, config)` gives, for counting video tokens before decoding. Raises VideoDecodeError as
    `probe` does, VideoBudgetError as `plan_sample` does."""
    return plan_sample(probe(path), config or SamplingConfig())


def frames_to_grid_t(num_frames: int, temporal_patch_size: int = FRAME_FACTOR) -> int:
    """Temporal grid size of ``num_frames`` frames in Qwen2-VL / Qwen2.5-VL: the processor pads
    the frames to a multiple of ``temporal_patch_size`` (repeating the last), hence the ceiling."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return math.ceil(num_frames / temporal_patch_size)


def resize_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize uint8 (T, 3, H, W) frames to ``size`` = (height, width): bicubic with antialias as
    qwen-vl-utils does; returns uint8."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    return TF.resize(
        frames, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True
    )


# --- probing and decoding ------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoDecodeError(f"{path}: video file not found")
    if not path.is_file():
        raise VideoDecodeError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: video file is empty (0 bytes)")


@dataclass(frozen=True)
class _Packets:
    """What demuxing the video stream tells: ``count`` packets; ``times``, their presentation times in display
    order in seconds from the first (None when a packet has no PTS, two share one, or the stream has no time base);
    ``covered``, seconds from the first packet's PTS to the end of the last one's display time (None unless every
    packet states its duration)."""

    count: int
    times: tuple[float, ...] | None
    covered: float | None


def _packet_times(container, stream) -> _Packets:
    """Demux the video stream (packets are read, not decoded) and read their times (see `_Packets`)."""
    count = 0
    stamps: list[int] = []
    ends: list[int] = []
    for packet in container.demux(stream):
        if packet.size <= 0:
            continue
        count += 1
        if packet.pts is not None:
            stamps.append(packet.pts)
            if packet.duration:
                ends.append(packet.pts + packet.duration)
    if stream.time_base is None or not stamps or len(stamps) != count:
        return _Packets(count, None, None)
    stamps.sort()
    base = float(stream.time_base)
    covered = (max(ends) - stamps[0]) * base if len(ends) == count else None
    if len(set(stamps)) != count:  # repeated PTS (a broken muxer) cannot tell the frames' times apart
        return _Packets(count, None, covered)
    return _Packets(count, tuple((pts - stamps[0]) * base for pts in stamps), covered)


def probe(path: str | Path) -> VideoInfo:
    """Read frame count, fps, duration, size and every frame's presentation time of the first video stream
    with PyAV: the headers, then the packets (demuxed, not decoded: the file is read once, no frame is
    decoded). A file probed before and unchanged since (same real path, size, mtime, inode) is not read
    again in this process.

    Raises:
        VideoDecodeError: the file is missing, empty, not a video FFmpeg can parse, or its video
            stream has no frames, no size or no frame rate.
    """
    path = Path(path)
    _check_file(path)
    # Memoised: sampling plans (token counting), evaluation and training probe the same files again and again.
    key = tuple(sorted(file_identity(path).items()))
    info = _PROBED.get(key)
    if info is None:
        info = _probe_uncached(path)
        if len(_PROBED) >= _PROBED_MAX:
            _PROBED.pop(next(iter(_PROBED)), None)
        _PROBED[key] = info
    return info if info.path == path else replace(info, path=path)


_PROBED: dict[tuple, VideoInfo] = {}
_PROBED_MAX = 4096


def _probe_uncached(path: Path) -> VideoInfo:
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream in the file")
            stream = container.streams.video[0]
            average_rate = stream.average_rate
            guessed_rate = stream.guessed_rate or stream.base_rate
            width, height = stream.codec_context.width, stream.codec_context.height
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / av.time_base
            else:
                duration = 0.0
            packets = _packet_times(container, stream)
            frame_count = stream.frames or packets.count
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as error:
        raise VideoDecodeError(f"{path}: cannot read as a video ({error})") from error
    if frame_count <= 0:
        raise VideoDecodeError(f"{path}: video stream has no frames")
    if width <= 0 or height <= 0:
        raise VideoDecodeError(f"{path}: video stream has no frame size")
    if not duration and packets.covered:
        duration = packets.covered
    if average_rate:
        fps = float(average_rate)
    elif packets.covered:
        # No average rate (a one-frame GIF): the frames' own display times; FFmpeg's guess would be the time
        # base's rate (100 for a GIF), no rate of the video.
        fps = frame_count / packets.covered
    elif guessed_rate:
        fps = float(guessed_rate)
    elif duration > 0:
        fps = frame_count / duration
    else:
        raise VideoDecodeError(f"{path}: cannot determine the frame rate")
    frame_times = packets.times
    if frame_times is not None and len(frame_times) != frame_count:
        frame_times = None  # the header and the packets disagree: fall back to index / fps
    try:
        rotation = display_rotation(path)
    except VideoDecodeError:
        rotation = 0  # a first frame that does not decode fails the decoding itself, which says why
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        path,
        int(frame_count),
        fps,
        duration or frame_count / fps,
        int(width),
        int(height),
        frame_times,
        rotation,
    )


def display_rotation(path: str | Path) -> int:
    """display_rotation(path) -> 0, 90, 180 or 270: how many degrees clockwise a player turns the video to show it
    (the display matrix of its metadata; phones store portrait clips as landscape frames turned 90 degrees).

    Read from the first decoded frame: FFmpeg attaches the stream's display matrix to each frame, and PyAV gives no
    other access to it. `probe` keeps it as `VideoInfo.rotation`, and both decoders turn the frames upright by it.

    Raises:
        VideoDecodeError: the file is missing or empty, has no video stream, or its first frame cannot be decoded.
    """
    import av

    path = Path(path)
    _check_file(path)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream in the file")
            frame = next(container.decode(container.streams.video[0]), None)
    except VideoDecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as error:
        raise VideoDecodeError(f"{path}: cannot decode its first frame ({error})") from error
    if frame is None:
        raise VideoDecodeError(f"{path}: no frame could be decoded")
    return round(-frame.rotation) % 360  # FFmpeg (and PyAV) give the angle counter-clockwise


def decord_available() -> bool:
    """Whether the decord package can be imported."""
    return importlib.util.find_spec("decord") is not None


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _to_tensor(frames_thwc: np.ndarray) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.ascontiguousarray(frames_thwc)).permute(0, 3, 1, 2)


def _decord_message(error: Exception) -> str:
    # decord prefixes each line with "[hh:mm:ss] /build/path/file.cc:123: "; keep the last reason.
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return re.sub(r"^(\[[0-9:]+\] \S+:\d+: )+", "", lines[-1] if lines else repr(error))


def _sample_decord(plan: SamplePlan) -> torch.Tensor:
    import decord
    import torch

    info = plan.info
    reader = decord.VideoReader(str(info.path), ctx=decord.cpu(0))
    try:
        if len(reader) != info.frame_count:
            # The plan (`sample_plan`, which also counts video tokens without decoding) is made from the probe;
            # a decoder that sees other frames would not decode it. PyAV decodes the plan (auto falls back).
            raise RuntimeError(f"decord indexes {len(reader)} frames, the container {info.frame_count}")
        frame_bytes = max(info.width * info.height * 3, 1)
        per_chunk = max(1, min(_DECODE_CHUNK, _DECODE_CHUNK_BYTES // frame_bytes))
        frames = torch.empty((len(plan.indices), 3, *plan.size), dtype=torch.uint8)
        done = 0
        for chunk in _chunks(plan.indices, per_chunk):
            decoded = _to_tensor(reader.get_batch(list(chunk)).asnumpy())
            if tuple(decoded.shape[-2:]) != (info.height, info.width):
                # decord 0.6 turns frames by the display rotation as PyAV does here; one that does not must not have
                # its sideways frames squeezed into the upright size: PyAV decodes them (auto falls back)
                raise RuntimeError(
                    f"decord gives {decoded.shape[-1]}x{decoded.shape[-2]} frames, upright they are {info.width}x{info.height}"
                )
            for frame in decoded:  # one full-size frame at a time through the (float) resize
                frames[done] = resize_frames(frame[None], plan.size)[0]
                done += 1
            del decoded
    finally:
        del reader
    return frames


def _upright(frames: torch.Tensor, rotation: int) -> torch.Tensor:
    """(..., H, W) frames turned ``rotation`` degrees clockwise (exact: a permutation of the pixels)."""
    import torch

    return torch.rot90(frames, -(rotation // 90), dims=(-2, -1)) if rotation else frames


def _decode_pyav(
    path: Path, indices: list[int], size: tuple[int, int], frame_count: int, rotation: int = 0
) -> torch.Tensor:
    """Decode sequentially (seeking to sampled frames is no faster than decoding the GOPs between
    them at typical sampling rates) and convert only the wanted frames, each resized as soon as it is
    decoded (memory: the output plus one full-size frame)."""
    import av
    import torch

    wanted = sorted(set(indices))
    last_wanted = wanted[-1]
    kept: dict[int, torch.Tensor] = {}

    wanted_set = set(wanted)
    decoded = 0
    last_frame = None
    stop_reason = ""
    with av.open(str(path), metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                index, decoded, last_frame = decoded, decoded + 1, frame
                if index in wanted_set:
                    kept[index] = resize_frames(_upright(_to_tensor(frame.to_ndarray(format="rgb24")[None]), rotation), size)[0]
                if index >= last_wanted:
                    break
        except av.FFmpegError as error:
            stop_reason = f" ({error})"
    # The last sampled index is always the last frame, so an early stop always leaves some missing.
    missing = [index for index in wanted if index not in kept]
    if missing:
        if last_frame is None or frame_count - decoded > _FRAME_COUNT_TOLERANCE:
            raise VideoDecodeError(
                f"{path}: only {decoded} of {frame_count} frames could be decoded, file truncated or corrupt{stop_reason}"
            )
        logger.warning(
            "%s: decoding stopped %d frames before the end%s",
            path,
            frame_count - decoded,
            stop_reason,
        )
        tail = resize_frames(_upright(_to_tensor(last_frame.to_ndarray(format="rgb24")[None]), rotation), size)[0]
        kept.update({index: tail for index in missing})
    return torch.stack([kept[index] for index in indices])


def _sample_with(backend: str, plan: SamplePlan) -> SampledVideo:
    info = plan.info
    if backend == "decord":
        try:
            frames = _sample_decord(plan)
        except Exception as error:  # decord raises RuntimeError, DECORDError(Exception), IndexError...
            raise VideoDecodeError(
                f"{info.path}: decord could not decode the video ({_decord_message(error)})"
            ) from error
    else:
        import av

        try:
            frames = _decode_pyav(info.path, plan.indices, plan.size, info.frame_count, info.rotation)
        except (av.FFmpegError, OSError) as error:  # e.g. the file changed since probing
            raise VideoDecodeError(f"{info.path}: PyAV could not decode the video ({error})") from error
    extra_frames = len(plan.indices) - plan.frames
    return SampledVideo(frames, plan.indices, plan.timestamps, plan.sample_fps, info, backend, extra_frames)


def _backend_order(backend: str) -> list[str]:
    if backend == "pyav":
        return ["pyav"]
    if backend == "decord":
        if not decord_available():
            raise VideoError(
                "video backend 'decord' was requested but decord is not installed (pip install decord)"
            )
        return ["decord"]
    return ["decord", "pyav"] if decord_available() else ["pyav"]


def load_video(
    path: str | Path,
    config: SamplingConfig | None = None,
    *,
    cache: FrameCache | bool | None = None,
) -> SampledVideo:
    """Sample frames from a video file following ``config`` (default :class:`SamplingConfig`).

    With backend "auto", decord decodes and PyAV takes over when decord is missing or fails.

    Args:
        cache: a :class:`vau_plugin.cache.FrameCache` to read decoded frames from and store them in;
            None (default) uses the cache named by the ``VAU_FRAME_CACHE`` environment variable, if any;
            False never caches.

    Raises:
        VideoDecodeError: the file is missing, empty, truncated, corrupt or has no video stream
            (the message names the file and what went wrong).
        VideoBudgetError: no frame size of the budget fits the video (see `target_size`).
        VideoError: the requested backend is not installed.
        ValueError: ``VAU_FRAME_CACHE_MAX_BYTES`` is set but is not a size (an error of the settings, not of the
            video; so is a ValueError from an invalid ``config``).
    """
    config = config or SamplingConfig()
    if cache is None:
        cache = _env_cache(os.environ.get(ENV_DIR, ""), os.environ.get(ENV_MAX_BYTES, ""))
    if not cache:
        return _load_uncached(path, config)
    try:
        key = cache_key(file_identity(path), config)
    except OSError:  # missing or unreadable: the uncached path names the problem
        return _load_uncached(path, config)
    entry = cache.get(key)
    if entry is not None:
        return _from_cache_entry(Path(path), entry)
    sampled = _load_uncached(path, config)
    cache.put(key, sampled.frames.numpy(), _cache_meta(sampled))
    return sampled


@lru_cache(maxsize=4)
def _env_cache(directory: str, max_bytes: str) -> FrameCache | None:
    """The cache the environment names; one instance per setting, so hit counters accumulate."""
    return FrameCache.from_env({ENV_DIR: directory, ENV_MAX_BYTES: max_bytes})


def _cache_meta(sampled: SampledVideo) -> dict:
    info = sampled.info
    return {
        "indices": list(sampled.indices),
        "timestamps": list(sampled.timestamps),
        "sample_fps": sampled.sample_fps,
        "backend": sampled.backend,
        "extra_frames": sampled.extra_frames,
        "info": {
            "frame_count": info.frame_count,
            "fps": info.fps,
            "duration": info.duration,
            "width": info.width,
            "height": info.height,
            "rotation": info.rotation,
        },
    }


def _from_cache_entry(path: Path, entry: CachedFrames) -> SampledVideo:
    import torch

    meta = entry.meta
    info = VideoInfo(path, **meta["info"])
    return SampledVideo(
        torch.from_numpy(entry.frames),
        [int(i) for i in meta["indices"]],
        [float(t) for t in meta["timestamps"]],
        float(meta["sample_fps"]),
        info,
        str(meta["backend"]),
        int(meta.get("extra_frames", 0)),
    )


def _load_uncached(path: str | Path, config: SamplingConfig) -> SampledVideo:
    info = probe(path)
    backends = _backend_order(config.backend)
    plan = plan_sample(info, config)  # a budget no size fits is no decoding problem: no backend is tried
    failures = []
    for backend in backends:
        try:
            return _sample_with(backend, plan)
        except VideoDecodeError as error:
            failures.append(error)
            if backend != backends[-1]:
                logger.warning("%s; trying the next backend", error)
    if len(failures) == 1:
        raise failures[0]
    raise VideoDecodeError(
        f"{info.path}: no backend could decode the video: "
        + "; ".join(map(str, failures))
    )


# --- writing -------------------------------------------------------------------------------------
def _frames_iter(frames: np.ndarray | Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4:
            raise ValueError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
        return iter(frames)
    return iter(frames)


def write_mp4(
    path: str | Path,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    *,
    codec: str = "libx264",
    crf: int = 18,
    faststart: bool = False,
    timestamps: Sequence[float] | None = None,
) -> Path:
    """Encode RGB frames to an mp4 file (yuv420p) with PyAV and return its path.

    Args:
        path: output file; parent folders are created.
        frames: uint8 array (T, H, W, 3) in RGB, or an iterable of uint8 (H, W, 3) arrays.
            H and W must be even (yuv420p subsamples chroma by 2).
        fps: frame rate; non-integer rates such as 29.97 are kept as an exact fraction.
        codec: encoder name known to FFmpeg (libx264 by default).
        crf: x264 constant rate factor (0 = lossless, 18 = visually lossless); ignored by
            encoders without that option.
        faststart: put the index (moov atom) at the front of the file, as web videos do.
        timestamps: presentation time in seconds of each frame (increasing), for a variable-frame-rate
            file; ``fps`` is then only the nominal rate. Default: frame i at i / fps.

    Raises:
        ValueError: no frames, a frame of the wrong shape/dtype, odd H or W, or fps <= 0.
    """
    import av

    path = Path(path)
    if not fps > 0:
        raise ValueError(f"write_mp4({path}): fps must be > 0, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    time_base = Fraction(1, 90000) if timestamps is not None else 1 / rate
    if timestamps is not None and any(b <= a for a, b in zip(timestamps, timestamps[1:])):
        raise ValueError(f"write_mp4({path}): timestamps must increase")
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if faststart else {}
    n_written = 0
    shape = None
    with av.open(str(path), mode="w", options=options) as container:
        stream = None
        for frame in _frames_iter(frames):
            frame = np.asarray(frame)
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(
                    f"write_mp4({path}): frame {n_written} must be uint8 (H, W, 3) RGB, "
                    f"got dtype {frame.dtype} shape {frame.shape}"
                )
            if stream is None:
                height, width = frame.shape[:2]
                if height % 2 or width % 2:
                    raise ValueError(
                        f"write_mp4({path}): yuv420p needs even height and width, got {height}x{width} "
                        "(crop or pad the frames to even sizes)"
                    )
                shape = frame.shape
                stream = container.add_stream(codec, rate=rate)
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuv420p"
                if timestamps is not None:
                    stream.codec_context.time_base = time_base
                if codec in ("libx264", "libx265"):
                    stream.options = {"crf": str(crf)}
            elif frame.shape != shape:
                raise ValueError(
                    f"write_mp4({path}): frame {n_written} has shape {frame.shape}, expected {shape}"
                )
            video_frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame), format="rgb24"
            )
            if timestamps is not None:
                if n_written >= len(timestamps):
                    raise ValueError(f"write_mp4({path}): more frames than timestamps ({len(timestamps)})")
                video_frame.pts = round(timestamps[n_written] / time_base)
            else:
                video_frame.pts = n_written
            video_frame.time_base = time_base
            for packet in stream.encode(video_frame):
                container.mux(packet)
            n_written += 1
        if stream is None:
            raise ValueError(f"write_mp4({path}): no frames to write")
        if timestamps is not None and n_written != len(timestamps):
            raise ValueError(f"write_mp4({path}): {n_written} frames but {len(timestamps)} timestamps")
        for packet in stream.encode():
            container.mux(packet)
    return path

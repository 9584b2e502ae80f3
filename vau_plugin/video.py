"""Probing and decoding video files into the frames a model sees: `load_video(path, config)` samples by the plan of
`vau_plugin.sampling` (qwen-vl-utils' frame count, indices and size for a `vau_plugin.budget.SamplingConfig`), decodes
those frames and resizes them as qwen-vl-utils does (torchvision bicubic with antialias on the uint8 frames).

Decoding uses decord when it is installed and falls back to PyAV. Every file is first probed with
PyAV (which raises clean errors on garbage input) so that decord never sees a file FFmpeg cannot
parse. Every failure of one video is a :class:`VideoError` naming the file: :class:`VideoDecodeError` (cannot be
read or decoded) or `vau_plugin.sampling.VideoBudgetError` (decodes, but no frame size of the budget fits it); a
``ValueError`` means a bad :class:`SamplingConfig`, the caller's mistake, not the video's.

Decoded frames can be kept in an on-disk :class:`vau_plugin.cache.FrameCache` (``load_video(..., cache=...)``
or ``VAU_FRAME_CACHE=<folder>``); a hit skips probing and decoding and returns the same frames.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

# load_video takes a SamplingConfig, probe gives a VideoInfo and every failure of a video is a VideoError, so the three
# stay importable from here as well (the README's `from vau_plugin.video import load_video, SamplingConfig`).
from vau_plugin.budget import SamplingConfig
from vau_plugin.cache import ENV_DIR, ENV_MAX_BYTES, CachedFrames, FrameCache, cache_key, file_identity
from vau_plugin.sampling import SamplePlan, VideoError, VideoInfo, frames_to_grid_t, model_frame_times, plan_sample

if TYPE_CHECKING:  # torch is imported where frames are made, so the CLI and the CSV checks start without it
    import torch

logger = logging.getLogger(__name__)

# Frames decoded per chunk (decord's get_batch): at most _DECODE_CHUNK frames and _DECODE_CHUNK_BYTES of full-size
# RGB (one frame at least); each frame is then resized on its own (the resize works in float, 4 bytes a value).
# Memory is the output plus one chunk of decoded frames, whatever the number of sampled frames (an 8K frame is 100 MB).
_DECODE_CHUNK = 32
_DECODE_CHUNK_BYTES = 64 << 20
# A stream may end (or break) this many frames short of the header's count (edit lists, off-by-one
# muxers, a damaged last packet) before PyAV decoding calls it truncated; the missing tail frames
# repeat the last decoded one.
_FRAME_COUNT_TOLERANCE = 8


class VideoDecodeError(VideoError):
    """A video file is missing, empty, truncated, corrupt or has no decodable video stream."""


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


def sample_plan(path: str | Path, config: SamplingConfig | None = None) -> SamplePlan:
    """sample_plan(path, config) -> SamplePlan, by probing only (no decoding): the frame count, size and rate
    `load_video(path, config)` gives, for counting video tokens before decoding. Raises VideoDecodeError as
    `probe` does, VideoBudgetError as `vau_plugin.sampling.plan_sample` does."""
    return plan_sample(probe(path), config or SamplingConfig())


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
        vau_plugin.sampling.VideoBudgetError: no frame size of the budget fits the video (see `target_size` there).
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

"""Frame sampling on real video files written with PyAV, checked against qwen-vl-utils."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _odd_videos import noise_clip, one_frame_gif, rotated_clip, same_pts_clip
from vau_plugin import video
from vau_plugin.benches.writer import write_mp4
from vau_plugin.budget import SamplingConfig, budget_for
from vau_plugin.sampling import VideoError, frame_max_pixels, frames_to_grid_t, sample_indices, smart_nframes, smart_resize
from vau_plugin.video import VideoDecodeError, load_video, probe

SQUARE = 16  # side of the moving square, pixels
BACKENDS = ["decord", "pyav"]


@dataclass(frozen=True)
class Clip:
    path: Path
    frames: int
    fps: float
    height: int
    width: int

    def square_x(self, index: int) -> int:
        """Left edge of the square in frame ``index``: it crosses the frame at constant speed."""
        return round(index * (self.width - SQUARE) / max(self.frames - 1, 1))


def moving_square(frames: int, height: int, width: int) -> np.ndarray:
    """(T, H, W, 3) uint8: dark blue background, a yellow square moving left to right."""
    clip = np.zeros((frames, height, width, 3), np.uint8)
    clip[..., 2] = 40
    top = (height - SQUARE) // 2
    for t in range(frames):
        x = round(t * (width - SQUARE) / max(frames - 1, 1))
        clip[t, top : top + SQUARE, x : x + SQUARE] = (255, 220, 0)
    return clip


# (fps, frame count): short, odd-length, non-integer rate, one second exactly, long, one frame.
RATE_CASES = {
    "10fps_7f": (10.0, 7),
    "25fps_50f": (25.0, 50),
    "24fps_97f": (24.0, 97),
    "10fps_3f": (10.0, 3),
    "30fps_301f": (30.0, 301),
    "29.97fps_45f": (30000 / 1001, 45),
}
# Frame counts worked out by hand from the rule: floor_even(min(max(T / fps * 2, 4), floor_even(T), T)).
EXPECTED_NFRAMES = {
    "10fps_7f": 4,
    "25fps_50f": 4,
    "24fps_97f": 8,
    "10fps_3f": 2,
    "30fps_301f": 20,
    "29.97fps_45f": 4,
}


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> dict[str, Clip]:
    root = tmp_path_factory.mktemp("videos")
    made = {}
    for name, (fps, frames) in RATE_CASES.items():
        made[name] = Clip(
            write_mp4(root / f"{name}.mp4", moving_square(frames, 48, 64), fps),
            frames,
            fps,
            48,
            64,
        )
    made["square"] = Clip(
        write_mp4(root / "square.mp4", moving_square(60, 120, 160), 20),
        60,
        20,
        120,
        160,
    )
    made["square_faststart"] = Clip(
        write_mp4(
            root / "square_fs.mp4", moving_square(60, 120, 160), 20, faststart=True
        ),
        60,
        20,
        120,
        160,
    )
    made["one_frame"] = Clip(
        write_mp4(root / "one.mp4", moving_square(1, 48, 64), 10), 1, 10, 48, 64
    )
    made["mkv"] = Clip(
        write_mp4(root / "square.mkv", moving_square(30, 48, 64), 15), 30, 15, 48, 64
    )
    return made


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, clips) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad_videos")
    whole = clips["square"].path.read_bytes()
    whole_faststart = clips["square_faststart"].path.read_bytes()
    files = {
        "corrupt": root / "corrupt.mp4",
        "truncated": root / "truncated.mp4",
        "truncated_faststart": root / "truncated_faststart.mp4",
        "empty": root / "empty.mp4",
        "missing": root / "missing.mp4",
        "directory": root / "folder.mp4",
    }
    files["corrupt"].write_bytes(
        np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    )
    files["truncated"].write_bytes(whole[: len(whole) // 2])
    files["truncated_faststart"].write_bytes(
        whole_faststart[: len(whole_faststart) // 2]
    )
    files["empty"].write_bytes(b"")
    files["directory"].mkdir()
    return files


def qwen_vision():
    return pytest.importorskip("qwen_vl_utils.vision_process")


def qwen_ele(clip: Clip, config: SamplingConfig) -> dict:
    ele = {
        "video": str(clip.path),
        "fps": config.fps,
        "min_frames": config.min_frames,
        "max_frames": config.max_frames,
        "min_pixels": config.min_pixels,
        "total_pixels": config.total_pixels,
    }
    if config.max_pixels is not None:
        ele["max_pixels"] = config.max_pixels
    return ele


# --- writer --------------------------------------------------------------------------------------


def test_write_mp4_round_trip(tmp_path):
    frames = moving_square(12, 48, 64)
    path = write_mp4(tmp_path / "sub" / "clip.mp4", (frame for frame in frames), 12.5)
    info = probe(path)
    assert (info.frame_count, info.fps, info.height, info.width) == (12, 12.5, 48, 64)
    assert info.duration == pytest.approx(12 / 12.5)
    decoded = load_video(
        path,
        SamplingConfig(
            backend="pyav", fps=12.5, min_pixels=1, max_pixels=64 * 64, image_factor=2
        ),
    )
    assert decoded.size == (48, 64)
    error = (
        (decoded.frames.permute(0, 2, 3, 1).int() - torch.from_numpy(frames).int())
        .abs()
        .float()
        .mean()
    )
    assert error < 3


@pytest.mark.parametrize(
    "frames, match",
    [
        (np.zeros((3, 47, 64, 3), np.uint8), "even height and width"),
        (np.zeros((3, 48, 64, 3), np.float32), "uint8"),
        (np.zeros((0, 48, 64, 3), np.uint8), "no frames"),
        (
            [np.zeros((48, 64, 3), np.uint8), np.zeros((48, 32, 3), np.uint8)],
            "expected",
        ),
    ],
)
def test_write_mp4_rejects_bad_frames(tmp_path, frames, match):
    with pytest.raises(ValueError, match=match):
        write_mp4(tmp_path / "bad.mp4", frames, 10)


# --- frame counts, indices and timestamps --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RATE_CASES))
def test_frame_count_and_indices_follow_qwen_rule(clips, name):
    clip = clips[name]
    config = SamplingConfig()
    sampled = load_video(clip.path, config)
    count = len(sampled.indices)
    assert count % 2 == 0
    assert count == EXPECTED_NFRAMES[name]
    assert sampled.frames.shape[0] == count
    vision = qwen_vision()
    expected = vision.smart_nframes(
        {
            "fps": config.fps,
            "min_frames": config.min_frames,
            "max_frames": config.max_frames,
        },
        clip.frames,
        clip.fps,
    )
    assert count == expected
    assert (
        sampled.indices
        == torch.linspace(0, clip.frames - 1, expected).round().long().tolist()
    )
    assert sampled.indices[0] == 0 and sampled.indices[-1] == clip.frames - 1
    assert sampled.indices == sorted(sampled.indices)


@pytest.mark.parametrize("name", sorted(RATE_CASES))
def test_timestamps_and_sample_fps(clips, name):
    clip = clips[name]
    sampled = load_video(clip.path)
    assert sampled.timestamps == pytest.approx(
        [index / clip.fps for index in sampled.indices]
    )
    assert all(0 <= t < sampled.info.duration for t in sampled.timestamps)
    assert sampled.sample_fps == pytest.approx(
        len(sampled.indices) / clip.frames * clip.fps
    )
    assert (sampled.info.frame_count, sampled.info.height, sampled.info.width) == (
        clip.frames,
        48,
        64,
    )
    assert sampled.info.fps == pytest.approx(clip.fps, rel=1e-3)
    assert sampled.info.duration == pytest.approx(clip.frames / clip.fps, rel=1e-2)


def test_max_frames_caps_long_video(clips):
    sampled = load_video(clips["30fps_301f"].path, SamplingConfig(max_frames=9))
    assert sampled.indices == [0, 43, 86, 129, 171, 214, 257, 300]


def test_one_frame_video_repeats_its_frame(clips):
    sampled = load_video(clips["one_frame"].path)
    assert sampled.indices == [0, 0]
    assert torch.equal(sampled.frames[0], sampled.frames[1])


def test_mkv_without_stored_frame_count_is_counted(clips):
    clip = clips["mkv"]
    info = probe(clip.path)
    assert (info.frame_count, info.fps, info.duration) == (30, 15.0, 2.0)
    assert load_video(clip.path).indices == [0, 10, 19, 29]


def test_grid_t():
    assert [frames_to_grid_t(n) for n in (1, 2, 4, 5, 20)] == [1, 1, 2, 3, 10]
    with pytest.raises(ValueError):
        frames_to_grid_t(0)


@settings(max_examples=300, deadline=None)
@given(
    frame_count=st.integers(2, 20_000),
    video_fps=st.floats(1.0, 120.0),
    fps=st.floats(0.1, 8.0),
    min_frames=st.integers(1, 32),
    max_frames=st.integers(2, 1000),
)
def test_smart_nframes_matches_qwen(
    frame_count, video_fps, fps, min_frames, max_frames
):
    vision = qwen_vision()
    config = SamplingConfig(fps=fps, min_frames=min_frames, max_frames=max_frames)
    ele = {"fps": fps, "min_frames": min_frames, "max_frames": max_frames}
    assert smart_nframes(frame_count, video_fps, config) == vision.smart_nframes(
        ele, frame_count, video_fps
    )


@settings(max_examples=300, deadline=None)
@given(
    height=st.integers(10, 4000),
    width=st.integers(10, 4000),
    min_tokens=st.integers(4, 256),
    extra_tokens=st.integers(0, 16384),
)
def test_smart_resize_matches_qwen(height, width, min_tokens, extra_tokens):
    vision = qwen_vision()
    min_pixels, max_pixels = min_tokens * 28 * 28, (min_tokens + extra_tokens) * 28 * 28
    try:
        theirs = vision.smart_resize(height, width, 28, min_pixels, max_pixels)
    except ValueError:  # aspect ratio above 200
        with pytest.raises(ValueError, match="aspect ratio"):
            smart_resize(height, width, 28, min_pixels, max_pixels)
        return
    ours = smart_resize(height, width, 28, min_pixels, max_pixels)
    assert ours == theirs
    assert ours[0] % 28 == 0 and ours[1] % 28 == 0


# --- resizing ------------------------------------------------------------------------------------

CONFIGS = {
    "default": SamplingConfig(),
    "vau_r1": SamplingConfig.vau_r1(),
    "tight_budget": SamplingConfig(min_pixels=4 * 28 * 28, total_pixels=40 * 28 * 28),
    "max_pixels": SamplingConfig(min_pixels=4 * 28 * 28, max_pixels=12 * 28 * 28),
    # total_pixels / n is below min_pixels, so the per-frame cap is the 1.05 * min_pixels floor.
    "budget_floor": SamplingConfig(min_pixels=16 * 28 * 28, total_pixels=8 * 28 * 28),
}


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("clip_name", ["square", "30fps_301f"])
def test_resized_size_is_within_bounds_and_matches_qwen(clips, config_name, clip_name):
    config, clip = CONFIGS[config_name], clips[clip_name]
    sampled = load_video(clip.path, config)
    height, width = sampled.size
    assert height % 28 == 0 and width % 28 == 0
    if config_name == "budget_floor":
        # With the cap this close to min_pixels, smart_resize's rounding (floor when shrinking, ceil
        # when enlarging) can leave either bound; only the cap itself and qwen's result are checked.
        assert frame_max_pixels(len(sampled.indices), config) == int(
            16 * 28 * 28 * 1.05
        )
    else:
        assert (
            config.min_pixels
            <= height * width
            <= frame_max_pixels(len(sampled.indices), config)
        )
    if config.max_pixels is not None:
        assert height * width <= config.max_pixels
    assert width / height == pytest.approx(clip.width / clip.height, rel=0.25)
    assert sampled.frames.dtype == torch.uint8 and sampled.frames.shape[1] == 3

    vision = qwen_vision()
    (theirs, metadata), their_fps = vision.fetch_video(
        qwen_ele(clip, config), return_video_sample_fps=True, return_video_metadata=True
    )
    assert tuple(theirs.shape) == tuple(sampled.frames.shape)
    assert list(metadata["frames_indices"]) == sampled.indices
    assert their_fps == pytest.approx(sampled.sample_fps)


def test_frames_equal_qwen_fetch_video(clips):
    """Same pixels as qwen-vl-utils (which reads with decord here) for the same file and settings."""
    vision = qwen_vision()
    clip, config = clips["square"], SamplingConfig.vau_r1(backend="decord")
    ours = load_video(clip.path, config)
    theirs = vision.fetch_video(qwen_ele(clip, config))
    assert torch.equal(ours.frames.float(), theirs)


# --- decoded content -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_follow_the_moving_square(clips, backend):
    clip = clips["square"]
    sampled = load_video(clip.path, SamplingConfig(backend=backend))
    assert sampled.backend == backend
    height, width = sampled.size
    centroids = []
    for frame, index in zip(sampled.frames, sampled.indices):
        red, blue = frame[0].float(), frame[2].float()
        rows, cols = torch.nonzero((red > 128) & (blue < 128), as_tuple=True)
        assert len(cols) > 0, f"no square found in frame {index}"
        centroid_x = (cols.float().mean().item() + 0.5) / width
        centroid_y = (rows.float().mean().item() + 0.5) / height
        expected_x = (clip.square_x(index) + SQUARE / 2) / clip.width
        assert centroid_x == pytest.approx(expected_x, abs=0.02)
        assert centroid_y == pytest.approx(0.5, abs=0.03)
        centroids.append(centroid_x)
    assert centroids == sorted(centroids) and centroids[-1] - centroids[0] > 0.8


def test_backends_agree(clips):
    for name in ("square", "24fps_97f"):
        by_decord = load_video(clips[name].path, SamplingConfig(backend="decord"))
        by_pyav = load_video(clips[name].path, SamplingConfig(backend="pyav"))
        assert by_decord.indices == by_pyav.indices
        assert by_decord.timestamps == by_pyav.timestamps
        assert by_decord.frames.shape == by_pyav.frames.shape
        difference = (by_decord.frames.int() - by_pyav.frames.int()).abs()
        assert difference.float().mean() < 0.5 and difference.max() <= 16


def test_falls_back_to_pyav_when_decord_fails(clips, monkeypatch):
    reference = load_video(clips["square"].path, SamplingConfig(backend="pyav"))

    def broken_decord(plan):
        raise RuntimeError("simulated decord failure")

    monkeypatch.setattr(video, "_sample_decord", broken_decord)
    sampled = load_video(clips["square"].path)
    assert sampled.backend == "pyav"
    assert torch.equal(sampled.frames, reference.frames)
    with pytest.raises(VideoDecodeError, match="simulated decord failure"):
        load_video(clips["square"].path, SamplingConfig(backend="decord"))


def test_without_decord(clips, monkeypatch):
    monkeypatch.setattr(video, "decord_available", lambda: False)
    assert load_video(clips["square"].path).backend == "pyav"
    with pytest.raises(VideoError, match="decord is not installed"):
        load_video(clips["square"].path, SamplingConfig(backend="decord"))


def test_damaged_last_packet_is_tolerated(clips, tmp_path):
    clip = clips["square_faststart"]
    damaged = tmp_path / "damaged_tail.mp4"
    damaged.write_bytes(clip.path.read_bytes()[:-10])
    clean = load_video(clip.path)
    sampled = load_video(damaged)
    assert sampled.indices == clean.indices
    assert torch.equal(sampled.frames[:-1], clean.frames[:-1])


# --- bad files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["auto", *BACKENDS])
@pytest.mark.parametrize(
    "kind",
    ["corrupt", "truncated", "truncated_faststart", "empty", "missing", "directory"],
)
def test_bad_file_raises_decode_error_naming_it(bad_files, kind, backend):
    path = bad_files[kind]
    with pytest.raises(VideoDecodeError) as caught:
        load_video(path, SamplingConfig(backend=backend))
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, RuntimeError)


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("corrupt", "cannot read"),
        ("truncated", "cannot read"),
        ("empty", "empty"),
        ("missing", "not found"),
        ("directory", "not a regular file"),
    ],
)
def test_probe_explains_bad_file(bad_files, kind, reason):
    with pytest.raises(VideoDecodeError, match=reason) as caught:
        probe(bad_files[kind])
    assert str(bad_files[kind]) in str(caught.value)


def test_truncated_stream_reports_decoded_count(bad_files):
    with pytest.raises(VideoDecodeError, match=r"of 60 frames") as caught:
        load_video(bad_files["truncated_faststart"], SamplingConfig(backend="pyav"))
    assert "truncated" in str(caught.value) and "Invalid data" in str(caught.value)


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"backend": "opencv"}, "backend"),
        ({"fps": 0}, "fps"),
        ({"max_frames": 1}, "max_frames"),
        ({"min_pixels": 10, "max_pixels": 5}, "max_pixels"),
    ],
)
def test_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SamplingConfig(**kwargs)


def test_sample_indices_is_pure(clips):
    info = probe(clips["24fps_97f"].path)
    indices, timestamps = sample_indices(info, SamplingConfig())
    assert (indices, timestamps) == sample_indices(info, SamplingConfig())
    assert len(indices) == 8 and math.isclose(timestamps[-1], 96 / 24)


# --- variable frame rate: sample by the frames' real timestamps (PTS) ---------------------------------
# A burst of 30 frames in the first 0.58 s (50 fps), then one frame a second up to 10 s: 40 frames whose
# average rate (4 fps) says nothing about when each one is shown.
VFR_TIMES = [i * 0.02 for i in range(30)] + [float(s) for s in range(1, 11)]


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory) -> Path:
    """Written with PyAV directly (not write_mp4), frame i at VFR_TIMES[i]; its red level tells its time."""
    from fractions import Fraction

    import av

    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=50)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for t in VFR_TIMES:
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, :, 0] = min(255, round(t * 25))
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = round(t * 1000), Fraction(1, 1000)
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode())
    return path


def test_write_mp4_writes_the_given_timestamps(tmp_path):
    frames = np.zeros((len(VFR_TIMES), 48, 64, 3), np.uint8)
    path = write_mp4(tmp_path / "vfr.mp4", frames, 50.0, timestamps=VFR_TIMES)
    assert probe(path).frame_times == pytest.approx(VFR_TIMES, abs=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_variable_frame_rate_is_sampled_evenly_in_time(vfr_clip, backend):
    if backend == "decord" and not video.decord_available():
        pytest.skip("decord not installed")
    sampled = load_video(vfr_clip, SamplingConfig(fps=1.6, max_frames=16, backend=backend), cache=False)
    # 10.02 s at 1.6 fps: 16 frames, evenly spread over the ten seconds (index spacing put 9 of 12 in 0.6 s)
    assert sum(t < 0.6 for t in sampled.timestamps) == 2  # 0.0 and 0.58 (nearest to 0.67)
    assert len(sampled.indices) == 16
    assert sampled.info.variable_rate and sampled.info.frame_times == pytest.approx(VFR_TIMES, abs=1e-3)
    targets = np.linspace(0.0, 10.0, 16)
    assert max(abs(t - target) for t, target in zip(sampled.timestamps, targets)) <= 0.34  # nearest frame, 1 s apart
    # the times reported are the times of the frames returned
    assert sampled.timestamps == pytest.approx([VFR_TIMES[i] for i in sampled.indices], abs=1e-3)
    red = sampled.frames[:, 0].float().mean(dim=(1, 2))
    assert red.tolist() == pytest.approx([min(255, t * 25) for t in sampled.timestamps], abs=3)
    assert sampled.sample_fps == pytest.approx(16 / 10.02, rel=1e-3)


def test_constant_frame_rate_times_are_the_pts(clips):
    clip = clips["29.97fps_45f"]
    info = probe(clip.path)
    assert not info.variable_rate
    assert info.frame_times == pytest.approx([i / clip.fps for i in range(clip.frames)], abs=1e-3)


def test_write_mp4_checks_timestamps(tmp_path):
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="increase"):
        write_mp4(tmp_path / "a.mp4", frames, 10.0, timestamps=[0.0, 0.2, 0.1])
    with pytest.raises(ValueError, match="timestamps"):
        write_mp4(tmp_path / "b.mp4", frames, 10.0, timestamps=[0.0, 0.1])


# --- memory: full-size frames are resized one at a time ------------------------------------------


@pytest.fixture(scope="module")
def large_frame_clips(tmp_path_factory) -> dict[int, Path]:
    """Clips of 16 and 32 frames of 480x640 (large next to the output below), 8 fps."""
    root = tmp_path_factory.mktemp("large_frames")
    return {n: write_mp4(root / f"large_{n}.mp4", moving_square(n, 480, 640), 8.0) for n in (16, 32)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoding_memory_is_bounded_by_the_output_not_the_input(large_frame_clips, monkeypatch, backend):
    """An 8K clip with 32 sampled frames once needed ~20 GB: chunks of 32 full-size frames were resized together
    (in float). The largest full-size array the decoder builds (decoded chunk, resize input) must stay within one
    frame or the chunk budget, whatever the number of sampled frames; the pixels must not change."""
    frame_bytes = 480 * 640 * 3
    config = SamplingConfig(fps=8.0, backend=backend, min_pixels=28 * 28, max_pixels=56 * 84)
    expected = {n: load_video(path, config).frames for n, path in large_frame_clips.items()}

    largest = {"resize": 0, "tensor": 0}
    real_resize, real_to_tensor = video.resize_frames, video._to_tensor

    def resize_frames(frames, size):
        largest["resize"] = max(largest["resize"], frames.numel() * frames.element_size())
        return real_resize(frames, size)

    def to_tensor(frames_thwc):
        largest["tensor"] = max(largest["tensor"], frames_thwc.nbytes)
        return real_to_tensor(frames_thwc)

    monkeypatch.setattr(video, "resize_frames", resize_frames)
    monkeypatch.setattr(video, "_to_tensor", to_tensor)
    monkeypatch.setattr(video, "_DECODE_CHUNK_BYTES", 2 * frame_bytes, raising=False)  # a small chunk
    out_bytes = 0
    for n, path in large_frame_clips.items():
        sampled = load_video(path, config)
        assert len(sampled.indices) == n and sampled.frames.nbytes < n * frame_bytes / 20  # a small output
        assert torch.equal(sampled.frames, expected[n])  # same pixels in small chunks as in large ones
        out_bytes = max(out_bytes, sampled.frames.nbytes)
    assert largest["resize"] == frame_bytes, largest  # the resize (float inside) sees one full-size frame at a time
    assert largest["tensor"] <= 2 * frame_bytes, largest  # decoded full-size frames: within the chunk budget
    assert largest["resize"] + largest["tensor"] < 3 * frame_bytes + out_bytes  # independent of the 16 or 32 frames


def test_probe_reads_a_file_once_until_it_changes(tmp_path, monkeypatch):
    frames = np.zeros((4, 16, 16, 3), np.uint8)
    path = write_mp4(tmp_path / "a.mp4", frames, 4.0)
    calls = []
    real = video._probe_uncached
    monkeypatch.setattr(video, "_probe_uncached", lambda p: calls.append(p) or real(p))
    assert probe(path).frame_count == probe(str(path)).frame_count == 4
    assert len(calls) == 1
    write_mp4(path, np.zeros((6, 16, 16, 3), np.uint8), 4.0)  # rewritten: size and mtime change
    assert probe(path).frame_count == 6 and len(calls) == 2


def test_model_frame_times_are_the_times_of_the_frames_the_model_sees(tmp_path):
    """With motion prompts T + 1 frames are sampled and the model sees T, frame j showing the motion into sampled frame
    j + 1: its time is that of frame j + 1 (the plan, probed only, and the decoded video agree)."""
    from vau_plugin.benches.writer import write_mp4
    from vau_plugin.budget import SamplingConfig
    from vau_plugin.sampling import model_frame_times, timestamp_metadata
    from vau_plugin.video import load_video, sample_plan

    path = tmp_path / "clip.mp4"
    write_mp4(path, np.zeros((20, 32, 32, 3), dtype=np.uint8), fps=4)
    plain = load_video(path, SamplingConfig(fps=2.0, min_pixels=28 * 28))
    motion = load_video(path, SamplingConfig(fps=2.0, min_pixels=28 * 28, extra_frames=1))
    assert plain.model_timestamps == plain.timestamps
    assert len(motion.timestamps) == len(plain.timestamps) + 1
    assert motion.model_timestamps == motion.timestamps[1:]
    assert sample_plan(path, SamplingConfig(fps=2.0, min_pixels=28 * 28, extra_frames=1)).model_timestamps == motion.model_timestamps
    assert timestamp_metadata([0.5, 1.0])["frames_indices"] == [0.5, 1.0] and timestamp_metadata([0.5])["fps"] == 1.0
    with pytest.raises(ValueError, match="3 model frames from 2"):
        model_frame_times([0.0, 0.5], 3)


# --- odd videos: every per-video failure is a VideoError naming the file ------------------------------------

SMALL_PIXELS = dict(min_pixels=3136, max_pixels=12544, processor_min_pixels=3136, processor_max_pixels=12544)
# (height, width, budget, overrides, what the message says is wrong)
UNFIT = {
    # 7680x40 rounds to 7672x28: an aspect ratio of 274, above the 200 the Qwen processors accept
    "7680x40_qa": (40, 7680, "qa", {}, "aspect ratio"),
    "40x7680_qa": (7680, 40, "qa", {}, "aspect ratio"),
    # capped at 12544 px, the 64-px side of 3840x64 shrinks to 14.5 px, floored to 0 (multiples of 28)
    "3840x64_small": (64, 3840, "qa", SMALL_PIXELS, "0 px"),
    # the training budget (no processor range) once planned a 0 x 4088 frame and crashed in the resize
    "7680x40_train": (40, 7680, "train", {}, "0 px"),
}


@pytest.mark.parametrize("case", sorted(UNFIT))
@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_that_no_budget_size_fits_are_a_video_error_naming_file_size_and_budget(tmp_path, case, backend):
    from vau_plugin.sampling import VideoBudgetError
    from vau_plugin.video import sample_plan

    height, width, task, overrides, why = UNFIT[case]
    path = noise_clip(tmp_path / f"{case}.mp4", height, width)
    config = budget_for(task).with_overrides(**overrides).sampling(backend)
    for attempt in (lambda: sample_plan(path, config), lambda: load_video(path, config, cache=False)):
        with pytest.raises(VideoBudgetError) as raised:
            attempt()
        message = str(raised.value)
        assert isinstance(raised.value, VideoError)
        assert str(path) in message and f"{width}x{height}" in message and why in message, message
        assert f"multiples of {config.image_factor} px" in message, message
        assert "decord could not decode" not in message  # a budget problem is no decoding problem


def test_timestamps_that_do_not_tell_frames_apart_fall_back_to_the_frame_rate(tmp_path):
    """All packets at PTS 0 once made the clip "variable rate" covering 0 s: a ZeroDivisionError in the plan."""
    from vau_plugin.video import sample_plan

    path = same_pts_clip(tmp_path / "same_pts.mkv", frames=6)
    info = probe(path)
    assert info.frame_times is None and not info.variable_rate
    assert sample_plan(path, SamplingConfig()).indices == [0, 2, 3, 5]  # linspace(0, 5, 4) by frame number
    for backend in BACKENDS:
        assert len(load_video(path, SamplingConfig(backend=backend), cache=False).indices) == 4


def test_a_one_frame_gif_reports_the_rate_of_its_frame_not_its_time_base(tmp_path):
    """A GIF frame with no delay is shown 0.1 s (FFmpeg's default delay, written in its packet); the file has no
    average rate, and the time base's 100 once made the rate 100 fps and the sample rate 200."""
    from vau_plugin.video import sample_plan

    path = one_frame_gif(tmp_path / "one.gif")
    info = probe(path)
    assert (info.frame_count, info.fps, info.duration) == (1, pytest.approx(10.0), pytest.approx(0.1))
    plan = sample_plan(path, SamplingConfig())
    assert plan.frames == 2 and plan.sample_fps == pytest.approx(20.0)  # its frame twice, over its 0.1 s
    assert load_video(path, SamplingConfig(backend="pyav"), cache=False).sample_fps == pytest.approx(20.0)


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_display_rotation_is_read_from_the_metadata(tmp_path, degrees):
    from vau_plugin.video import display_rotation

    assert display_rotation(rotated_clip(tmp_path / f"r{degrees}.mp4", degrees)) == degrees


# Where the red top-left quadrant of the stored frame is shown, (rows, columns) of the upright frame, by rotation.
RED_QUADRANT = {0: ("top", "left"), 90: ("top", "right"), 180: ("bottom", "right"), 270: ("bottom", "left")}


@pytest.mark.parametrize("degrees", sorted(RED_QUADRANT))
def test_rotated_videos_are_turned_upright_alike_by_both_decoders(tmp_path, degrees):
    """A phone clip (landscape frames, metadata: turn 90 degrees) reached the model sideways through PyAV, and turned
    but squeezed into the stored landscape size through decord: both now give the upright frames a player shows."""
    path = rotated_clip(tmp_path / f"r{degrees}.mp4", degrees, height=32, width=64)
    info = probe(path)
    assert (info.rotation, info.width, info.height) == (degrees, *((32, 64) if degrees in (90, 270) else (64, 32)))
    config = SamplingConfig(min_pixels=28 * 28, max_pixels=64 * 64)
    decoded = {backend: load_video(path, replace(config, backend=backend), cache=False) for backend in BACKENDS}
    for backend, sampled in decoded.items():
        assert sampled.backend == backend  # decord decoded it, no fallback
        frame = sampled.frames[0].int()
        height, width = frame.shape[-2:]
        assert (height > width) == (degrees in (90, 270)), (backend, frame.shape)
        red = (frame[0] > 128) & (frame[1] < 100)
        rows, cols = torch.nonzero(red, as_tuple=True)
        where = ("top" if rows.max() < height / 2 else "bottom" if rows.min() >= height / 2 else "both",
                 "left" if cols.max() < width / 2 else "right" if cols.min() >= width / 2 else "both")  # fmt: skip
        assert where == RED_QUADRANT[degrees], (backend, where)
    difference = (decoded["decord"].frames.int() - decoded["pyav"].frames.int()).abs()
    assert difference.float().mean() < 0.5 and difference.max() <= 16

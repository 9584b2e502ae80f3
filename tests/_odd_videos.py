"""Real video files that decode but are odd: extreme aspect ratios, one-pixel and one-frame clips, timestamps that
do not tell frames apart, a one-frame GIF, phone-style rotation metadata. Shared by the tests of the decoder, the
lmms-eval wrapper, `validate --videos` and the CLI runs."""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from pathlib import Path

import numpy as np

from vau_plugin.benches.writer import write_mp4


def noise_clip(path: Path, height: int, width: int, frames: int = 4, fps: float = 2.0) -> Path:
    """An mp4 of `frames` random frames of `width` x `height` px (even sizes: yuv420p)."""
    rng = np.random.default_rng(0)
    return write_mp4(path, rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8), fps)


def one_pixel_clip(path: Path, frames: int = 3) -> Path:
    """An mp4 of 1 x 1 px frames (yuv444p: yuv420p needs even sizes)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=2)
        stream.width = stream.height = 1
        stream.pix_fmt = "yuv444p"
        for index in range(frames):
            pixel = np.full((1, 1, 3), 80 * index, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixel, format="rgb24")))
        container.mux(stream.encode())
    return path


def same_pts_clip(path: Path, frames: int = 6) -> Path:
    """A Matroska file whose packets all carry PTS 0 (a broken muxer): the timestamps cannot place the frames."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        packets = []
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 10)
            packets += stream.encode(frame)
        packets += stream.encode()
        for packet in packets:
            packet.pts = packet.dts = 0
            container.mux(packet)
    return path


def one_frame_gif(path: Path) -> Path:
    """A one-frame GIF as Pillow writes it without a duration: no frame rate in the file, the frame's display time
    (FFmpeg's default GIF delay, 0.1 s) only in its packet."""
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 30, 30)).save(path, save_all=True)
    return path


def set_display_rotation(path: Path, degrees: int) -> Path:
    """Write an mp4's track matrix (tkhd) as a phone does for a clip to be shown turned `degrees` clockwise: what
    FFmpeg reports as the stream's display rotation (PyAV's `frame.rotation` = -degrees)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0, f"{path}: no tkhd box"
    version = data[at + 4]
    # tkhd: type, version+flags, creation/modification times, track id, reserved, duration (64-bit fields in
    # version 1), reserved(8), layer, alternate group, volume, reserved(2) = 8 bytes, then the 3x3 matrix.
    matrix_at = at + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    turn = math.radians(degrees)
    cos, sin = round(math.cos(turn)), round(math.sin(turn))
    matrix = (cos << 16, sin << 16, 0, -sin << 16, cos << 16, 0, 0, 0, 1 << 30)  # 16.16 fixed point, w 2.30
    data[matrix_at : matrix_at + 36] = struct.pack(">9i", *matrix)
    path.write_bytes(bytes(data))
    return path


def rotated_clip(path: Path, degrees: int, height: int = 32, width: int = 64) -> Path:
    """A `width` x `height` mp4 whose metadata asks players to turn it `degrees` clockwise; its top-left quadrant is
    red (lossless), so the orientation of decoded frames can be read off."""
    frame = np.zeros((height, width, 3), np.uint8)
    frame[: height // 2, : width // 2] = (255, 0, 0)
    write_mp4(path, np.stack([frame] * 4), 2, crf=0)
    return set_display_rotation(path, degrees)

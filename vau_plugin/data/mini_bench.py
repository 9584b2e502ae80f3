"""The mini bench: a small, deterministic, synthetic surveillance-style benchmark in the VAU-Bench CSV schema.

Every clip is a fixed-camera view (a street or a warehouse) drawn with numpy: a static textured background,
people as small upright boxes with a head, cars as wide boxes, mild per-frame sensor noise. Anomalous clips
hold one real visual event in a known frame range (an object falling off a ledge, two cars colliding, a
person falling, a bag snatch and run, a fight, a fire); normal clips hold only regular walking and traffic.
The annotated span is derived from the same simulation that draws the event, so it marks exactly the frames
where the event's motion happens: the start is the last still frame before it, the end the frame where it
has settled (for a fire, which keeps burning, the last frame of the clip).

Layout written by `make_mini_bench(out)`::

    out/videos/mini_<split>_<nnnn>.mp4   H.264 clips (written by vau_plugin.video.write_mp4)
    out/train.csv, out/test.csv          VAU-Bench columns (vau_plugin.data.schema.COLUMNS)
    out/manifest.json                    per clip: name, split, kind, class, span, seeds, content hashes
    out/README.md                        what this is and how it was generated

Determinism: the same seed and parameters give byte-identical CSVs, README and raw frames (the manifest's
`frames_sha256` hashes the rendered uint8 frames, before encoding). The mp4 bytes are recorded too
(`file_sha256`). They are identical for the default width, 128 px. For widths that are not a multiple of
128 px (8 macroblocks), libx264 (core 165, default settings, as `vau_plugin.video.write_mp4` uses it) gives
different bytes and even slightly different decoded frames from run to run: its macroblock-tree lookahead
reads memory it never initialised. Turning mbtree off (x264 option `mbtree=0`) makes every size
deterministic but about doubles the file size. That is why the default size is 128x96 rather than 112x84.

Event kinds live in `EVENT_KINDS` (one small render function each, driven by a `numpy.random.Generator`),
so a larger benchmark can reuse them with other sizes, durations and mixes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from vau_plugin.data.schema import CLASSES, COLUMNS, LETTERS, NORMAL_CLASS

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1
# libx264's output is byte-stable run to run only for widths that are a multiple of this (see module doc).
STABLE_WIDTH_MULTIPLE = 128
SPLITS: tuple[str, ...] = ("train", "test")
NORMAL_KIND = "normal"
# Share of normal clips in each split (the rest cycles through the anomalous kinds).
NORMAL_SHARE = 1 / 3
VIDEO_DIR = "videos"

# Named colours, so that the texts can say which person or car is meant.
CLOTHES: dict[str, tuple[int, int, int]] = {
    "red": (190, 40, 40),
    "blue": (40, 70, 190),
    "green": (40, 150, 60),
    "yellow": (225, 205, 40),
    "white": (235, 235, 235),
    "black": (25, 25, 25),
    "purple": (125, 50, 155),
    "orange": (235, 120, 30),
}
CAR_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 30),
    "blue": (30, 60, 200),
    "white": (240, 240, 240),
    "yellow": (235, 200, 30),
    "silver": (185, 185, 195),
    "green": (30, 140, 70),
}
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red flower pot": (170, 60, 30),
    "blue crate": (40, 80, 200),
    "white vase": (240, 240, 230),
    "yellow paint can": (240, 210, 30),
}
SKIN = (225, 180, 140)
# Walking speed of pedestrians, in frame widths per second (the same in normal and anomalous clips).
WALK_SPEED = (0.035, 0.07)
BAG = (120, 40, 20)


# --------------------------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class ClipSpec:
    """Size and timing shared by every clip of a bench: `width`×`height` pixels (even), `fps`, `seconds`."""

    width: int = 128
    height: int = 96
    fps: float = 10.0
    seconds: float = 6.0

    @property
    def n_frames(self) -> int:
        return int(round(self.fps * self.seconds))

    @property
    def duration(self) -> float:
        """Clip length in seconds as encoded (`n_frames / fps`)."""
        return self.n_frames / self.fps

    def px(self, fraction_of_height: float) -> float:
        """A length given as a fraction of the frame height, in pixels (keeps shapes size-independent)."""
        return fraction_of_height * self.height

    def speed(self, widths_per_second: float) -> float:
        """A speed given in frame widths per second, in pixels per frame."""
        return widths_per_second * self.width / self.fps

    def frames(self, seconds: float) -> int:
        """A duration in seconds, in whole frames (at least 1)."""
        return max(1, int(round(seconds * self.fps)))

    def seconds_at(self, frame: int) -> float:
        """The time of `frame` in seconds, one decimal as in the annotations."""
        return round(frame / self.fps, 1)

    def validate(self) -> None:
        """Raise ValueError with the offending field when the spec cannot make a usable clip."""
        if self.width % 2 or self.height % 2 or self.width < 48 or self.height < 36:
            raise ValueError(f"mini bench: width/height must be even and at least 48x36, got {self.width}x{self.height}")
        if not (4 <= self.fps <= 60):
            raise ValueError(f"mini bench: fps must be in [4, 60], got {self.fps}")
        if self.seconds < 4:
            raise ValueError(f"mini bench: seconds must be at least 4 (events need room), got {self.seconds}")


@dataclass(frozen=True)
class Scene:
    """A static background and where things may happen in it (pixel rows/columns)."""

    name: str
    background: np.ndarray  # (H, W, 3) uint8
    walk_rows: tuple[int, int]  # feet rows of pedestrians, inclusive range
    lanes: tuple[int, ...]  # centre rows of car lanes; empty where there is no road
    ledge: tuple[int, int, int]  # (x0, x1, top row) of a ledge an object can rest on
    ledge_sides: tuple[int, ...]  # ends of the ledge an object may fall from: -1 left, +1 right
    drop_row: int  # bottom row where a falling object lands
    fire_base: tuple[int, int]  # (x, row) where a fire starts
    ground: str  # what people walk on, for the texts
    setting: str  # noun phrase for the Description
    location: str  # text for the Reasoning's Location section
    ledge_name: str
    fire_place: str


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int], amount: int = 10) -> np.ndarray:
    return np.clip(np.asarray(colour) + rng.integers(-amount, amount + 1, size=3), 0, 255).astype(np.uint8)


def _fill(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour) -> None:
    """Paint the axis-aligned box [x0, x1) × [y0, y1) (rounded, clipped to the image)."""
    h, w = img.shape[:2]
    c0, r0 = max(0, int(round(x0))), max(0, int(round(y0)))
    c1, r1 = min(w, int(round(x1))), min(h, int(round(y1)))
    if c1 > c0 and r1 > r0:
        img[r0:r1, c0:c1] = colour


def _street(spec: ClipSpec, rng: np.random.Generator) -> Scene:
    """A building front with windows and a balcony ledge, a sidewalk with a bench and a bin, a two-lane road."""
    w, h = spec.width, spec.height
    img = np.empty((h, w, 3), np.uint8)
    wall_bottom, curb = int(0.42 * h), int(0.70 * h)
    img[:wall_bottom] = _jitter(rng, (150, 110, 90))
    win_w, win_h = max(3, w // 10), max(3, h // 9)
    for col in range(int(0.06 * w), w - win_w, int(0.22 * w)):
        _fill(img, col, 0.2 * h, col + win_w, 0.2 * h + win_h, (60, 70, 90))
    img[wall_bottom:curb] = _jitter(rng, (155, 155, 150), 6)
    img[wall_bottom:curb, :: max(6, w // 8)] -= 12  # paving joints
    img[curb : curb + 2] = (190, 190, 190)
    img[curb + 2 :] = _jitter(rng, (70, 70, 75), 5)
    divider = (curb + 2 + h) // 2
    for col in range(0, w, max(8, w // 7)):
        _fill(img, col, divider, col + max(3, w // 16), divider + 1, (220, 220, 200))
    ledge_len = int(0.26 * w)
    ledge_x0 = int(rng.integers(int(0.08 * w), w - ledge_len - int(0.08 * w)))
    ledge_top = int(0.15 * h)
    _fill(img, ledge_x0, ledge_top, ledge_x0 + ledge_len, ledge_top + 2, (205, 205, 200))
    bin_x = int(rng.integers(int(0.1 * w), int(0.85 * w)))
    bin_w, bin_h = max(3, w // 18), max(4, h // 10)
    bin_bottom = wall_bottom + max(3, h // 14)
    _fill(img, bin_x, bin_bottom - bin_h, bin_x + bin_w, bin_bottom, (40, 90, 50))
    bench_x = int(rng.integers(0, int(0.8 * w)))
    _fill(img, bench_x, wall_bottom + 1, bench_x + w // 7, wall_bottom + 3, (110, 80, 50))
    lamp_x = int(rng.integers(int(0.05 * w), int(0.95 * w)))
    _fill(img, lamp_x, 0.05 * h, lamp_x + 1, curb, (50, 50, 55))
    lanes = (int(curb + 2 + 0.28 * (h - curb - 2)), int(curb + 2 + 0.76 * (h - curb - 2)))
    return Scene(
        name="street",
        background=img,
        walk_rows=(int(0.56 * h), int(0.68 * h)),
        lanes=lanes,
        ledge=(ledge_x0, ledge_x0 + ledge_len, ledge_top),
        ledge_sides=(-1, 1),
        drop_row=bin_bottom,
        fire_base=(bin_x + bin_w // 2, bin_bottom),
        ground="the sidewalk",
        setting="a city street with a building front, a sidewalk and a two-lane road",
        location="Outdoor, a city sidewalk and road in front of a building, seen by a fixed street camera",
        ledge_name="balcony ledge",
        fire_place="the rubbish bin on the sidewalk",
    )


def _warehouse(spec: ClipSpec, rng: np.random.Generator) -> Scene:
    """A wall with a shelf rack holding boxes, a tiled floor with a pallet."""
    w, h = spec.width, spec.height
    img = np.empty((h, w, 3), np.uint8)
    wall_bottom = int(0.45 * h)
    img[:wall_bottom] = _jitter(rng, (185, 175, 150))
    img[wall_bottom:] = _jitter(rng, (120, 115, 105), 6)
    tile = max(6, w // 9)
    img[wall_bottom:, ::tile] -= 10
    img[wall_bottom::tile] -= 10
    rack_x0 = int(rng.integers(int(0.05 * w), int(0.45 * w)))
    rack_x1 = rack_x0 + int(0.45 * w)
    shelves = (int(0.15 * h), int(0.32 * h))
    for post in (rack_x0, rack_x1):
        _fill(img, post, shelves[0] - 2, post + 2, wall_bottom, (60, 70, 100))
    for row in shelves:
        _fill(img, rack_x0, row, rack_x1 + 2, row + 2, (190, 110, 40))
    box = max(4, h // 12)
    for row in shelves:  # static boxes on the shelves, on the half away from the ledge end
        for col in range(rack_x0 + 3, rack_x0 + (rack_x1 - rack_x0) // 2, box + 2):
            _fill(img, col, row - box, col + box, row, (170, 130, 80))
    pallet_x = int(rng.integers(int(0.1 * w), int(0.8 * w)))
    pallet_row = int(0.55 * h)
    _fill(img, pallet_x, pallet_row - 2, pallet_x + w // 8, pallet_row, (150, 120, 80))
    ledge_x0 = rack_x0 + (rack_x1 - rack_x0) // 2 + 2
    return Scene(
        name="warehouse",
        background=img,
        walk_rows=(int(0.64 * h), int(0.92 * h)),
        lanes=(),
        ledge=(ledge_x0, rack_x1 + 2, shelves[0]),
        ledge_sides=(1,),  # the other end is inside the rack
        drop_row=int(0.52 * h),
        fire_base=(pallet_x + w // 16, pallet_row),
        ground="the warehouse floor",
        setting="a warehouse with a shelf rack against the wall and a tiled floor",
        location="Indoor, a warehouse floor in front of a shelf rack, seen by a fixed ceiling camera",
        ledge_name="top shelf",
        fire_place="the wooden pallet on the floor",
    )


SCENES: dict[str, Callable[[ClipSpec, np.random.Generator], Scene]] = {"street": _street, "warehouse": _warehouse}


# --------------------------------------------------------------------------------------------- drawing


def _person_size(spec: ClipSpec) -> tuple[float, float]:
    height = max(8.0, spec.px(0.21))
    return max(3.0, round(height * 0.32)), height


def _draw_person(
    img: np.ndarray,
    x: float,
    feet: float,
    colour,
    size: tuple[float, float],
    angle: float = 0.0,
    fall_dir: int = 1,
) -> None:
    """A person as an upright box with a head, feet centred at (x, feet); `angle` (radians, 0 upright,
    pi/2 lying) tips the body over its feet towards `fall_dir` (+1 right, -1 left)."""
    bw, bh = size
    axis = np.array([fall_dir * math.sin(angle), -math.cos(angle)])  # feet -> head
    across = np.array([-axis[1], axis[0]])
    centre = np.array([x, feet]) + axis * (bh / 2) + np.array([0.0, -(bw / 2) * math.sin(angle)])
    reach = bh / 2 + bw / 2 + 1
    hgt, wid = img.shape[:2]
    c0, c1 = max(0, int(centre[0] - reach)), min(wid, int(centre[0] + reach) + 1)
    r0, r1 = max(0, int(centre[1] - reach)), min(hgt, int(centre[1] + reach) + 1)
    if c1 <= c0 or r1 <= r0:
        return
    rows, cols = np.mgrid[r0:r1, c0:c1]
    dx, dy = cols + 0.5 - centre[0], rows + 0.5 - centre[1]
    along = dx * axis[0] + dy * axis[1]
    side = dx * across[0] + dy * across[1]
    inside = (along >= -bh / 2) & (along < bh / 2) & (side >= -bw / 2) & (side < bw / 2)
    head = inside & (along >= bh / 2 - max(2.0, bh * 0.22))
    window = img[r0:r1, c0:c1]
    window[inside] = colour
    window[head] = SKIN


def _car_size(spec: ClipSpec) -> tuple[float, float]:
    return max(10.0, round(spec.width * 0.17)), max(5.0, round(spec.px(0.095)))


def _draw_car(img: np.ndarray, x: float, lane_row: float, colour, size: tuple[float, float], facing: int) -> None:
    """A car seen from the side: body, cabin with a window, two wheels; `x` is its left edge."""
    cw, ch = size
    top, bottom = lane_row - ch / 2, lane_row + ch / 2
    _fill(img, x, top + ch * 0.4, x + cw, bottom - 1, colour)
    cab0 = x + cw * (0.3 if facing > 0 else 0.15)
    _fill(img, cab0, top, cab0 + cw * 0.55, top + ch * 0.45, colour)
    _fill(img, cab0 + 1, top + 1, cab0 + cw * 0.55 - 1, top + ch * 0.4, (70, 90, 110))
    for wheel in (x + cw * 0.15, x + cw * 0.7):
        _fill(img, wheel, bottom - 2, wheel + max(2, cw * 0.15), bottom, (15, 15, 15))


def _draw_flash(img: np.ndarray, x: float, y: float, radius: float, strength: float) -> None:
    """Blend a bright yellow-white disc (an impact flash) into the image."""
    hgt, wid = img.shape[:2]
    rows, cols = np.ogrid[:hgt, :wid]
    weight = np.clip(1 - np.hypot(cols + 0.5 - x, rows + 0.5 - y) / radius, 0, 1)[..., None] * strength
    img[:] = (img * (1 - weight) + np.array([255, 250, 200]) * weight).astype(np.uint8)


def _draw_flames(img: np.ndarray, x: float, base: float, radius: float, rng: np.random.Generator) -> None:
    """A flickering flame: per column a random height, yellow at the base, orange, red at the tips, and
    an orange glow around it whose strength flickers too."""
    hgt, wid = img.shape[:2]
    glow_r = radius * 2.5
    rows, cols = np.ogrid[:hgt, :wid]
    glow = np.clip(1 - np.hypot(cols + 0.5 - x, rows + 0.5 - (base - radius)) / glow_r, 0, 1)
    glow = (glow * rng.uniform(0.25, 0.45))[..., None]
    img[:] = (img * (1 - glow) + np.array([255, 140, 40]) * glow).astype(np.uint8)
    c0, c1 = max(0, int(x - radius)), min(wid, int(x + radius) + 1)
    r0, r1 = max(0, int(base - 2.4 * radius)), min(hgt, int(base))
    if c1 <= c0 or r1 <= r0:
        return
    rr, cc = np.mgrid[r0:r1, c0:c1]
    dx = (cc + 0.5 - x) / radius
    col_height = 2.2 * radius * (1 - dx[0] ** 2) * rng.uniform(0.55, 1.0, size=c1 - c0)
    rise = base - (rr + 0.5)
    inside = (np.abs(dx) < 1) & (rise < col_height[None, :]) & (rise >= 0)
    level = rise / np.maximum(col_height[None, :], 1e-6)
    palette = np.array([[255, 225, 90], [245, 135, 30], [205, 40, 20]], dtype=np.int16)
    colour = palette[np.digitize(level, (0.35, 0.7))] + rng.integers(-20, 21, size=level.shape + (1,))
    window = img[r0:r1, c0:c1]
    window[inside] = np.clip(colour[inside], 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------- clip context


@dataclass
class Walker:
    """A pedestrian walking at constant speed: x(t) = x0 + v·t (pixels), feet on row `feet`."""

    colour_name: str
    x0: float
    v: float
    feet: float

    def x(self, t: int) -> float:
        return self.x0 + self.v * t


@dataclass
class Clip:
    """A clip being drawn: its spec, scene, frames (T, H, W, 3) uint8, RNG, the people's colours left and the
    pedestrians that only walk past (described together in the Description)."""

    spec: ClipSpec
    scene: Scene
    frames: np.ndarray
    rng: np.random.Generator
    free_colours: list[str]
    walkers: list[Walker] = field(default_factory=list)

    def take_colour(self) -> str:
        """A clothing colour no other person in this clip wears."""
        return self.free_colours.pop()

    def direction_word(self, sign: float) -> str:
        return "from left to right" if sign > 0 else "from right to left"

    def t(self, frame: int) -> str:
        """`frame` as a time for the texts, e.g. '2.3 s'."""
        return f"{self.spec.seconds_at(frame):.1f} s"


@dataclass(frozen=True)
class Event:
    """What an event render function drew, and what the annotation says about it.

    `span_frames` is (last still frame before the event, frame where it has settled); None for a normal clip.
    `evidence` holds (title, text) pairs for the Reasoning's Key Evidence section."""

    kind: str
    anomaly_class: str
    span_frames: Optional[tuple[int, int]]
    key_object: str
    narrative: str
    evidence: tuple[tuple[str, str], ...]
    explanation: str
    cause: str
    effect: str


def _choose_start(clip: Clip, kind: str, duration: int) -> int:
    """A start frame leaving at least ~15% of the clip still before the event and a few frames after it."""
    total = clip.spec.n_frames
    lead = max(3, int(round(0.15 * total)))
    tail = max(2, clip.spec.frames(0.3))
    latest = total - 1 - duration - tail
    if latest < lead:
        raise ValueError(
            f"mini bench: clip of {total} frames is too short for event '{kind}' ({duration} frames plus margins); "
            f"use more seconds or fps"
        )
    return int(clip.rng.integers(lead, latest + 1))


def _walker(clip: Clip, speed_range: tuple[float, float] = WALK_SPEED) -> Walker:
    """A pedestrian whose whole walk stays inside the frame when the frame is wide enough."""
    spec, rng = clip.spec, clip.rng
    v = spec.speed(rng.uniform(*speed_range)) * rng.choice((-1, 1))
    travel = abs(v) * (spec.n_frames - 1)
    margin = _person_size(spec)[0]
    lo, hi = margin, spec.width - margin - travel
    start = rng.uniform(lo, hi) if hi > lo else rng.uniform(0, spec.width)
    x0 = start if v > 0 else spec.width - start
    feet = rng.integers(clip.scene.walk_rows[0], clip.scene.walk_rows[1] + 1)
    return Walker(clip.take_colour(), float(x0), float(v), float(feet))


def _add_walkers(clip: Clip, walkers: list[Walker]) -> None:
    """Draw pedestrians who walk past at constant speed and record them for the Description."""
    size = _person_size(clip.spec)
    for w in sorted(walkers, key=lambda w: w.feet):
        for t in range(clip.spec.n_frames):
            _draw_person(clip.frames[t], w.x(t), w.feet, CLOTHES[w.colour_name], size)
    clip.walkers.extend(walkers)


def _walker_phrase(clip: Clip, w: Walker) -> str:
    return f"a person in a {w.colour_name} shirt walks {clip.direction_word(w.v)} along {clip.scene.ground}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


_COUNT_WORDS = ("No", "One", "Two", "Three", "Four")


def _background_sentence(clip: Clip) -> str:
    walkers = clip.walkers
    people = f"{_COUNT_WORDS[len(walkers)]} pedestrian{'s' if len(walkers) != 1 else ''} walk{'s' if len(walkers) == 1 else ''} at a steady pace"
    return f"{people}: {_join([_walker_phrase(clip, w) for w in walkers])}." if walkers else f"{people}."


# --------------------------------------------------------------------------------------------- events


def _normal(clip: Clip) -> Event:
    """Regular motion only: one more pedestrian and, on a street, usually a car driving past."""
    rng, spec = clip.rng, clip.spec
    _add_walkers(clip, [_walker(clip)])
    key = "pedestrians walking at a steady pace"
    narrative = ""
    if clip.scene.lanes and rng.random() < 0.7:
        name = str(rng.choice(sorted(CAR_COLOURS)))
        facing = int(rng.choice((-1, 1)))
        size = _car_size(spec)
        v = spec.speed(rng.uniform(0.15, 0.3)) * facing
        lane = clip.scene.lanes[0 if facing > 0 else 1]
        x0 = rng.uniform(-size[0], spec.width * 0.6) if facing > 0 else rng.uniform(spec.width * 0.4, spec.width)
        for t in range(spec.n_frames):
            _draw_car(clip.frames[t], x0 + v * t, lane, CAR_COLOURS[name], size, facing)
        narrative = f"A {name} car drives along the road {clip.direction_word(facing)} at a normal speed."
        key = "pedestrians and a passing car"
    return Event(
        kind=NORMAL_KIND,
        anomaly_class=NORMAL_CLASS,
        span_frames=None,
        key_object=key,
        narrative=narrative,
        evidence=(
            ("Regular Movement", "All people walk at a steady pace in a straight line; vehicles keep to their lane."),
            ("No Incident", "Nothing falls, nobody falls or runs, there is no collision, no fight and no fire."),
        ),
        explanation=(
            "Every moving object keeps a constant speed and direction for the whole video, which is the ordinary "
            f"flow of {clip.scene.ground}; the background stays unchanged."
        ),
        cause="People and vehicles go about their usual business.",
        effect="The scene stays calm and unchanged; no one is harmed and nothing is damaged.",
    )


def _object_falling(clip: Clip) -> Event:
    """An object resting at the end of a ledge slides off, falls with gravity and breaks on the ground, its
    pieces scattering sideways until they stop."""
    spec, rng, scene = clip.spec, clip.rng, clip.scene
    name = str(rng.choice(sorted(OBJECT_COLOURS)))
    size = max(4.0, round(spec.px(0.12)))
    x0, x1, top = scene.ledge
    side = int(rng.choice(scene.ledge_sides))
    gravity = spec.px(2.4) / spec.fps**2  # px / frame²
    slide = spec.speed(0.08) * side
    # Simulate first (a list of pieces per frame), then choose when it starts so that it fits the clip.
    edge = x1 if side > 0 else x0
    x, y, vy = edge - size / 2 - side * 1.5, float(top), 0.0
    rest = [(x, y, size)]
    track: list[list[tuple[float, float, float]]] = []
    while y < scene.drop_row:
        if side * (x + size / 2 - edge) < 0:  # still on the ledge: slide towards its end
            x += slide
        else:
            x += slide * 0.5
            vy += gravity
            y = min(float(scene.drop_row), y + vy)
        track.append([(x, y, size)])
    landed = len(track)
    piece = size / 2
    spread = spec.speed(rng.uniform(0.12, 0.2))
    offsets = [0.0] * 4
    pushes = (-1.5, -0.5, 0.5, 1.5)
    for k in range(1, 40):
        step = [spread * p * 0.6**k for p in pushes]
        if max(abs(v) for v in step) < 0.8:  # sub-pixel creep is invisible
            break
        offsets = [o + v for o, v in zip(offsets, step, strict=True)]
        track.append([(x + size / 4 + o - piece / 2, y, piece) for o in offsets])
    start = _choose_start(clip, "object_falling", len(track))
    for t in range(spec.n_frames):
        k = t - start - 1
        for px_, py_, s_ in rest if k < 0 else track[min(k, len(track) - 1)]:
            _fill(clip.frames[t], px_, py_ - s_, px_ + s_, py_, OBJECT_COLOURS[name])
    end = start + len(track)
    land = start + landed
    return Event(
        kind="object_falling",
        anomaly_class="Object_falling",
        span_frames=(start, end),
        key_object=f"{name} on the {scene.ledge_name}",
        narrative=(
            f"A {name} rests at the edge of the {scene.ledge_name}. At {clip.t(start)} it slides over the edge "
            f"and falls straight down, hits the ground at {clip.t(land)} and breaks apart; the pieces scatter and "
            f"come to rest by {clip.t(end)}."
        ),
        evidence=(
            ("Falling Object", f"The {name} leaves the {scene.ledge_name} and drops to the ground with increasing speed."),
            ("Impact", f"It hits the ground at {clip.t(land)} and breaks into pieces that slide apart."),
            ("Timing", f"The fall lasts from {clip.t(start)} to {clip.t(end)}."),
        ),
        explanation=(
            f"Objects on a {scene.ledge_name} are expected to stay in place. Here the {name} slides over the edge and "
            "falls freely; an object dropping from height is a hazard to anyone walking below."
        ),
        cause=f"The {name} was placed too close to the edge of the {scene.ledge_name} and slid off.",
        effect=f"It falls onto {scene.ground} and shatters, leaving debris that could injure a passer-by.",
    )


def _car_crash(clip: Clip) -> Event:
    """Two cars enter the same lane from opposite sides, drive head-on, collide (flash), recoil and stop."""
    spec, rng, scene = clip.spec, clip.rng, clip.scene
    size = _car_size(spec)
    names = [str(n) for n in rng.choice(sorted(CAR_COLOURS), size=2, replace=False)]
    lane = scene.lanes[int(rng.integers(len(scene.lanes)))]
    va, vb = spec.speed(rng.uniform(0.3, 0.45)), spec.speed(rng.uniform(0.3, 0.45))
    xa, xb = [va - size[0]], [spec.width - vb]  # already nosing into view on the first frame
    while xa[-1] + size[0] < xb[-1]:
        xa.append(xa[-1] + va)
        xb.append(xb[-1] - vb)
    overlap = (xa[-1] + size[0] - xb[-1]) / 2
    xa[-1], xb[-1] = xa[-1] - overlap + 1, xb[-1] + overlap - 1  # crumpled into each other by 2 px
    recoil = max(1.0, spec.px(0.03))
    xa += [xa[-1] - recoil * 0.6, xa[-1] - recoil]
    xb += [xb[-1] + recoil * 0.6, xb[-1] + recoil]
    impact_k = len(xa) - 3
    flash_len = max(2, spec.frames(0.3))
    duration = max(len(xa), impact_k + flash_len + 1)
    start = _choose_start(clip, "car_crash", duration)
    contact_x = (xa[impact_k] + size[0] + xb[impact_k]) / 2
    for t in range(start + 1, spec.n_frames):
        k = min(t - start - 1, len(xa) - 1)
        _draw_car(clip.frames[t], xa[k], lane, CAR_COLOURS[names[0]], size, +1)
        _draw_car(clip.frames[t], xb[k], lane, CAR_COLOURS[names[1]], size, -1)
        since = t - start - 1 - impact_k
        if 0 <= since < flash_len:
            _draw_flash(clip.frames[t], contact_x, lane, spec.px(0.25), 0.9 * (1 - since / flash_len))
    end = start + duration
    impact = start + 1 + impact_k
    return Event(
        kind="car_crash",
        anomaly_class="Traffic_accident",
        span_frames=(start, end),
        key_object=f"{names[0]} car and {names[1]} car",
        narrative=(
            f"At {clip.t(start)} a {names[0]} car enters from the left and a {names[1]} car from the right in the same "
            f"lane, driving fast towards each other. They collide head-on at {clip.t(impact)} with a bright flash, "
            f"bounce back slightly and come to a stop by {clip.t(end)}, blocking the lane."
        ),
        evidence=(
            ("Head-on Approach", f"The {names[0]} car and the {names[1]} car drive in the same lane in opposite directions."),
            ("Collision", f"The cars meet at {clip.t(impact)}; a flash and crumpled fronts mark the impact."),
            ("Aftermath", "Both cars stop where they collided and do not move again."),
        ),
        explanation=(
            "Cars in opposite directions are expected to keep to separate lanes. These two share one lane at speed, "
            "so they cannot avoid each other and crash, which is a traffic accident."
        ),
        cause="One of the cars drives in the wrong lane at high speed.",
        effect="The head-on collision damages both cars, endangers the drivers and blocks the road.",
    )


def _person_falling(clip: Clip) -> Event:
    """A walking person stops and topples over their feet in the walking direction, then lies still."""
    spec, rng = clip.spec, clip.rng
    fall = max(3, spec.frames(0.4))
    start = _choose_start(clip, "person_falling", fall)
    person = _walker(clip)
    direction = 1 if person.v > 0 else -1
    # Place the fall inside the middle of the frame, walking before it at the same speed.
    stop_x = rng.uniform(0.3, 0.7) * spec.width
    person = Walker(person.colour_name, stop_x - person.v * start, person.v, person.feet)
    size = _person_size(spec)
    for t in range(spec.n_frames):
        k = t - start
        angle = 0.0 if k <= 0 else (math.pi / 2) * min(1.0, (k / fall) ** 2)
        _draw_person(clip.frames[t], person.x(min(t, start)), person.feet, CLOTHES[person.colour_name], size, angle, direction)
    end = start + fall
    return Event(
        kind="person_falling",
        anomaly_class="People_falling",
        span_frames=(start, end),
        key_object=f"person in a {person.colour_name} shirt",
        narrative=(
            f"A person in a {person.colour_name} shirt walks {clip.direction_word(direction)} along {clip.scene.ground}. "
            f"At {clip.t(start)} the person suddenly stops, topples forward and by {clip.t(end)} lies flat on the "
            "ground, where they stay without moving."
        ),
        evidence=(
            ("Sudden Fall", f"The person in the {person.colour_name} shirt tips over from upright to horizontal in less than half a second."),
            ("No Recovery", "After the fall the person lies on the ground and does not get up."),
        ),
        explanation=(
            "A walking person is expected to stay upright. Here the body turns from vertical to horizontal in a "
            "fraction of a second and then stays motionless, which is a person falling, possibly injured."
        ),
        cause="The person trips or loses balance while walking.",
        effect="The person lies on the ground and may be hurt and need help.",
    )


def _snatch_run(clip: Clip) -> Event:
    """A person walking behind another suddenly sprints, grabs their bag and runs out of the frame."""
    spec, rng = clip.spec, clip.rng
    size = _person_size(spec)
    direction = int(rng.choice((-1, 1)))
    walk = spec.speed(rng.uniform(*WALK_SPEED))
    run = spec.speed(rng.uniform(0.35, 0.5))
    gap = rng.uniform(0.18, 0.28) * spec.width
    feet = float(rng.integers(clip.scene.walk_rows[0], clip.scene.walk_rows[1] + 1))
    victim_at_start = spec.width / 2 - direction * rng.uniform(0.05, 0.15) * spec.width
    # Relative positions from the sprint on (k frames after the start).
    robber_k, victim_k = [victim_at_start - direction * gap], [victim_at_start]
    grab_k = None
    while -size[0] < robber_k[-1] < spec.width + size[0]:  # until the runner is out of view
        robber_k.append(robber_k[-1] + direction * run)
        victim_k.append(victim_k[-1] + (direction * walk if grab_k is None else 0.0))
        if grab_k is None and direction * (robber_k[-1] - victim_k[-1]) >= -size[0]:
            grab_k = len(robber_k) - 1
    if grab_k is None:
        raise ValueError("mini bench: snatch_run geometry failed (runner never reached the victim)")
    start = _choose_start(clip, "snatch_run", len(robber_k) - 1)
    victim_colour, robber_colour = clip.take_colour(), clip.take_colour()
    bag = max(2.0, spec.px(0.04))
    for t in range(spec.n_frames):
        k = t - start
        if k <= 0:
            rx, vx = robber_k[0] + direction * walk * k, victim_k[0] + direction * walk * k
        else:
            kk = min(k, len(robber_k) - 1)
            rx, vx = robber_k[kk], victim_k[kk]
        holder = vx if k < grab_k else rx
        _draw_person(clip.frames[t], vx, feet, CLOTHES[victim_colour], size)
        _draw_person(clip.frames[t], rx, feet, CLOTHES[robber_colour], size)
        bag_x = holder + direction * (size[0] / 2 + 0.5)
        _fill(clip.frames[t], bag_x - bag / 2, feet - size[1] * 0.55, bag_x + bag / 2, feet - size[1] * 0.55 + bag, BAG)
    end = start + len(robber_k) - 1
    grab = start + grab_k
    return Event(
        kind="snatch_run",
        anomaly_class="Robbery",
        span_frames=(start, end),
        key_object=f"person in a {robber_colour} shirt and the bag of the person in a {victim_colour} shirt",
        narrative=(
            f"A person in a {victim_colour} shirt carrying a brown bag walks {clip.direction_word(direction)} along "
            f"{clip.scene.ground}, followed by a person in a {robber_colour} shirt. At {clip.t(start)} the person in "
            f"the {robber_colour} shirt suddenly sprints forward, grabs the bag at {clip.t(grab)} and runs out of view "
            f"by {clip.t(end)}; the person in the {victim_colour} shirt stops."
        ),
        evidence=(
            ("Sudden Sprint", f"The person in the {robber_colour} shirt accelerates from walking to running speed."),
            ("Bag Taken", f"At {clip.t(grab)} the brown bag moves from the person in the {victim_colour} shirt to the runner."),
            ("Escape", "The runner leaves the scene at high speed while the victim stops."),
        ),
        explanation=(
            "Pedestrians normally keep a steady walking pace. A person who suddenly runs up to another, takes their "
            "bag and flees is committing a snatch theft by force, a robbery."
        ),
        cause=f"The person in the {robber_colour} shirt intends to steal the bag.",
        effect=f"The person in the {victim_colour} shirt loses the bag and the thief escapes.",
    )


def _fight(clip: Clip) -> Event:
    """One person walks up to another; they scuffle (rapid jerky moves, swinging arms), then stand apart."""
    spec, rng = clip.spec, clip.rng
    size = _person_size(spec)
    scuffle = spec.frames(rng.uniform(1.5, 2.2))
    start = _choose_start(clip, "fight", scuffle + 1)
    feet = float(rng.integers(clip.scene.walk_rows[0], clip.scene.walk_rows[1] + 1))
    centre = rng.uniform(0.3, 0.7) * spec.width
    side = int(rng.choice((-1, 1)))
    a_x = centre - side * size[0] * 0.8
    b_stop = centre + side * size[0] * 0.8
    walk = spec.speed(rng.uniform(*WALK_SPEED))
    colours = (clip.take_colour(), clip.take_colour())
    shake = max(2.0, spec.px(0.035))
    jolts = rng.uniform(-1, 1, size=(scuffle, 2, 2)) * [shake, shake * 0.5]
    jolts[np.abs(jolts[..., 0]) < 1.0, 0] = shake  # every frame visibly moves
    for t in range(spec.n_frames):
        k = t - start
        if k <= 0:  # B walks towards A, arriving at the start
            pos = [(a_x, feet), (b_stop + side * walk * (-k), feet)]
        elif k <= scuffle:
            j = jolts[k - 1]
            pos = [(a_x + j[0, 0], feet + j[0, 1]), (b_stop + j[1, 0], feet + j[1, 1])]
        else:
            pos = [(a_x - side * shake, feet), (b_stop + side * shake, feet)]
        for (x, y), name in zip(pos, colours, strict=True):
            _draw_person(clip.frames[t], x, y, CLOTHES[name], size)
        if 0 < k <= scuffle:  # a swinging arm from alternating fighters
            who = k % 2
            x, y = pos[who]
            towards = side if who == 0 else -side
            reach = size[0] * (1.2 + 0.8 * (k % 3 == 0))
            arm_y = y - size[1] * (0.7 if k % 3 else 0.5)
            x0, x1 = sorted((x, x + towards * reach))
            _fill(clip.frames[t], x0, arm_y, x1, arm_y + max(1, size[1] * 0.1), SKIN)
    end = start + scuffle + 1
    return Event(
        kind="fight",
        anomaly_class="Fighting",
        span_frames=(start, end),
        key_object=f"person in a {colours[0]} shirt and person in a {colours[1]} shirt",
        narrative=(
            f"A person in a {colours[1]} shirt walks up to a person in a {colours[0]} shirt who is standing on "
            f"{clip.scene.ground}. At {clip.t(start)} the two start fighting, jerking back and forth and swinging "
            f"their arms at each other, until they separate and stand apart at {clip.t(end)}."
        ),
        evidence=(
            ("Physical Altercation", "The two people move abruptly against each other and swing their arms."),
            ("Duration", f"The scuffle lasts from {clip.t(start)} to {clip.t(end)}."),
            ("Separation", "Afterwards the two stand apart facing each other."),
        ),
        explanation=(
            "People who meet normally stand or walk calmly. Rapid, jerky movements of two people in contact with "
            "swinging arms are the signs of a physical fight."
        ),
        cause="A confrontation between the two people escalates.",
        effect="The two exchange blows and may be injured before they separate.",
    )


def _fire(clip: Clip) -> Event:
    """A fire starts at a fixed spot, grows over a few seconds and keeps burning to the end of the clip."""
    spec = clip.spec
    grow = spec.frames(2.0)
    start = _choose_start(clip, "fire", grow)
    x, base = clip.scene.fire_base
    full = max(3.0, spec.px(0.16))
    for t in range(start + 1, spec.n_frames):
        radius = max(1.5, full * min(1.0, (t - start) / grow))
        _draw_flames(clip.frames[t], x, base, radius, clip.rng)
    end = spec.n_frames - 1
    place = clip.scene.fire_place
    return Event(
        kind="fire",
        anomaly_class="Fire",
        span_frames=(start, end),
        key_object=f"flames at {place}",
        narrative=(
            f"At {clip.t(start)} flames appear at {place}. The fire grows quickly over the next "
            f"{grow / spec.fps:.1f} seconds, flickering orange and red with a glow around it, and is still burning "
            f"at the end of the video ({clip.t(end)})."
        ),
        evidence=(
            ("Flames", f"Flickering yellow, orange and red shapes rise from {place}."),
            ("Growth", f"The burning area grows from {clip.t(start)} on and lights up its surroundings."),
        ),
        explanation=(
            f"Nothing in the scene should burn. Flames that appear at {place} and keep growing are an uncontrolled "
            "fire that can spread and harm people nearby."
        ),
        cause=f"Something at {place} catches fire.",
        effect="The fire grows, produces heat and light and endangers the surroundings.",
    )


@dataclass(frozen=True)
class EventKind:
    """One kind of clip: its VAU-Bench class, the answer phrase used as a QA option, the scenes it fits and
    the function that draws it into a `Clip` and describes it."""

    anomaly_class: str
    option: str
    scenes: tuple[str, ...]
    render: Callable[[Clip], Event]


EVENT_KINDS: dict[str, EventKind] = {
    NORMAL_KIND: EventKind(NORMAL_CLASS, "People walk through the scene at a steady pace with no sign of anomaly", ("street", "warehouse"), _normal),
    "object_falling": EventKind("Object_falling", "An object falls from a ledge and hits the ground", ("street", "warehouse"), _object_falling),
    "car_crash": EventKind("Traffic_accident", "Two cars drive towards each other and collide", ("street",), _car_crash),
    "person_falling": EventKind("People_falling", "A walking person suddenly falls to the ground", ("street", "warehouse"), _person_falling),
    "snatch_run": EventKind("Robbery", "A person snatches another person's bag and runs away", ("street", "warehouse"), _snatch_run),
    "fight": EventKind("Fighting", "Two people get into a physical fight", ("street", "warehouse"), _fight),
    "fire": EventKind("Fire", "A fire breaks out and grows", ("street", "warehouse"), _fire),
}
assert all(k.anomaly_class in CLASSES for k in EVENT_KINDS.values())

QUESTIONS: tuple[str, ...] = (
    "What is the primary anomaly observed in the video?",
    "What best describes the event in the video?",
    "Which event takes place in this surveillance video?",
    "What is the primary evidence of an anomaly in the video?",
)


# --------------------------------------------------------------------------------------------- one clip


@dataclass(frozen=True)
class RenderedClip:
    """A rendered clip: frames (T, H, W, 3) uint8, its scene and the event drawn into it."""

    frames: np.ndarray
    scene: Scene
    event: Event
    background: str  # the sentence about the regular motion, for the Description


def render_clip(kind: str, clip_seed: int, spec: ClipSpec = ClipSpec()) -> RenderedClip:
    """Draw one clip of `kind` (a key of EVENT_KINDS). Everything random comes from `clip_seed`, so the same
    (kind, clip_seed, spec) always gives the same frames."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"mini bench: unknown event kind {kind!r}; expected one of {sorted(EVENT_KINDS)}")
    spec.validate()
    rng = np.random.default_rng(clip_seed)
    kind_info = EVENT_KINDS[kind]
    scene = SCENES[str(rng.choice(kind_info.scenes))](spec, rng)
    colours = sorted(CLOTHES)
    rng.shuffle(colours)
    frames = np.repeat(scene.background[None], spec.n_frames, axis=0)
    clip = Clip(spec, scene, frames, rng, colours)
    _add_walkers(clip, [_walker(clip) for _ in range(int(rng.integers(1, 3)))])
    event = kind_info.render(clip)
    noise = rng.integers(-2, 3, size=frames.shape[:3] + (1,), dtype=np.int16)  # mild sensor noise (luma)
    frames = np.clip(frames.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return RenderedClip(frames, scene, event, _background_sentence(clip))


def _article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def annotation_row(name: str, rendered: RenderedClip, spec: ClipSpec, correct: str, rng: np.random.Generator) -> dict[str, str]:
    """The VAU-Bench CSV row of a rendered clip; `correct` is the letter the right option goes to."""
    event = rendered.event
    kind_info = EVENT_KINDS[event.kind]
    others = [k.option for n, k in EVENT_KINDS.items() if n != event.kind]
    distractors = [others[i] for i in rng.permutation(len(others))[:3]]
    slot = LETTERS.index(correct)
    options = distractors[:slot] + [kind_info.option] + distractors[slot:]
    scene = rendered.scene
    description = " ".join(
        part for part in (f"The video shows a fixed surveillance camera view of {scene.setting}.", rendered.background, event.narrative) if part
    )
    evidence = " ".join(f"- **{title}**: {text}" for title, text in event.evidence)
    if event.span_frames is None:
        description += " Nothing unusual happens: nobody falls or runs, nothing is damaged and there is no fire or collision. The scene remains normal throughout the video."
        conclusion = "Normal  The video depicts a normal scene with only regular movement and no signs of an anomaly."
        start = end = "0.0"
    else:
        s, e = (spec.seconds_at(f) for f in event.span_frames)
        start, end = f"{s:.1f}", f"{e:.1f}"
        conclusion = (
            f"The video depicts {_article(event.anomaly_class)} {event.anomaly_class.replace('_', ' ').lower()} event "
            f"between {start} s and {end} s. Therefore, the specific anomaly type is \"{event.anomaly_class}\"."
        )
    reasoning = (
        f"### Specific Anomaly Type: {event.anomaly_class}  ### Location: {scene.location}  ### Key Evidence: {evidence}  "
        f"### Detailed Explanation: {event.explanation}  ### Cause and Effect: - **Cause**: {event.cause} "
        f"- **Effect**: {event.effect}  ### Conclusion: {conclusion}"
    )
    values = [
        name,
        str(rng.choice(QUESTIONS)),
        *options,
        correct,
        event.key_object,
        description,
        reasoning,
        event.anomaly_class,
        start,
        end,
    ]
    return dict(zip(COLUMNS, values, strict=True))


# --------------------------------------------------------------------------------------------- the bench


@dataclass(frozen=True)
class MiniBenchSummary:
    """What `make_mini_bench` wrote: paths, per-split counts and the generation parameters."""

    root: Path
    videos_dir: Path
    train_csv: Path
    test_csv: Path
    manifest: Path
    readme: Path
    seed: int
    spec: ClipSpec
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> clips

    @property
    def n_train(self) -> int:
        return sum(self.class_counts.get("train", {}).values())

    @property
    def n_test(self) -> int:
        return sum(self.class_counts.get("test", {}).values())

    def describe(self) -> str:
        """A short human-readable report for the CLI."""
        lines = [
            (
                f"mini bench written to {self.root} (seed {self.seed}, {self.spec.width}x{self.spec.height}, "
                f"{self.spec.fps:g} fps, {self.spec.duration:g} s per clip)"
            ),
            f"  videos:   {self.videos_dir} ({self.n_train + self.n_test} mp4)",
        ]
        for split, path in (("train", self.train_csv), ("test", self.test_csv)):
            counts = ", ".join(f"{c} {n}" for c, n in sorted(self.class_counts.get(split, {}).items()))
            lines.append(f"  {split + ':':9} {path} ({sum(self.class_counts.get(split, {}).values())} rows: {counts})")
        lines.append(f"  manifest: {self.manifest}")
        return "\n".join(lines)


def split_kinds(n: int, split_index: int, rng: np.random.Generator) -> list[str]:
    """The kinds of the `n` clips of one split: about a third normal, the rest cycling through the anomalous
    kinds (each split starts the cycle elsewhere so both cover all kinds), in a shuffled order."""
    anomalous = [k for k in EVENT_KINDS if k != NORMAL_KIND]
    n_normal = int(round(n * NORMAL_SHARE))
    offset = split_index * (len(anomalous) // 2)
    kinds = [NORMAL_KIND] * n_normal + [anomalous[(offset + i) % len(anomalous)] for i in range(n - n_normal)]
    return [kinds[i] for i in rng.permutation(n)]


def balanced_letters(n: int, rng: np.random.Generator) -> list[str]:
    """Correct-option letters for `n` questions: each letter equally often (±1), in a shuffled order."""
    letters = [LETTERS[i % len(LETTERS)] for i in range(n)]
    return [letters[i] for i in rng.permutation(n)]


def clip_seed(seed: int, split_index: int, index: int) -> int:
    """The 64-bit seed of one clip, derived from the bench seed so that clips are independent."""
    state = np.random.SeedSequence([seed, split_index, index]).generate_state(2, np.uint32)
    return int(state[0]) | (int(state[1]) << 32)


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of `data` (the manifests' content hashes)."""
    return hashlib.sha256(data).hexdigest()


def clip_hashes(frames: np.ndarray, mp4: Path) -> dict[str, str]:
    """The manifest's content hashes of one clip: its rendered frames (before encoding) and its mp4 file."""
    return {
        "frames_sha256": sha256_hex(np.ascontiguousarray(frames).tobytes()),
        "file_sha256": sha256_hex(Path(mp4).read_bytes()),
    }


def write_manifest(
    path: Path, *, generator: str, version: int, seed: int, spec: ClipSpec, files: list[Path], clips: list[dict], **extra
) -> None:
    """Write a bench's manifest.json: generator, seed, clip spec, hashes of `files`, the clips, and `extra` keys."""
    document = {
        "generator": generator,
        "version": version,
        "seed": seed,
        "spec": {"width": spec.width, "height": spec.height, "fps": spec.fps, "seconds": spec.seconds, "n_frames": spec.n_frames},
        "files": {p.name: sha256_hex(p.read_bytes()) for p in files},
        "clips": clips,
        **extra,
    }
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def write_bench_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """Write rows in the VAU-Bench schema: UTF-8, LF line ends, header COLUMNS."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _readme_text(seed: int, spec: ClipSpec, counts: dict[str, dict[str, int]]) -> str:
    table = "\n".join(
        f"| {split} | {sum(c.values())} | " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) + " |"
        for split, c in counts.items()
    )
    kinds = "\n".join(f"- `{name}` → `{k.anomaly_class}`: {k.option.lower()}" for name, k in EVENT_KINDS.items())
    return f"""# VAU-Bench mini bench (synthetic)

A small synthetic surveillance-style benchmark in the exact VAU-Bench CSV schema, generated by
`vau-plugin make-mini-bench` (vau_plugin.data.mini_bench, generator version {GENERATOR_VERSION}).
It is for smoke tests and demos of the pipeline, not for measuring model quality.

- seed: {seed}
- clips: {spec.width}x{spec.height} px, {spec.fps:g} fps, {spec.n_frames} frames ({spec.duration:g} s), H.264 in `videos/`
- annotations: `train.csv`, `test.csv` (columns as in VAU-Bench); times in seconds, one decimal
- `manifest.json`: per clip the event kind, class, span (seconds and frames), its seed and content hashes

| split | clips | classes |
|---|---|---|
{table}

Clip kinds:
{kinds}

Anomaly spans run from the last still frame before the event to the frame where it has settled (a fire
keeps burning to the end of the clip). Normal clips have times 0.0/0.0 as in the real benchmark.

Determinism: the same seed and parameters give byte-identical CSVs and identical rendered frames
(`frames_sha256` in the manifest hashes them before encoding). `file_sha256` hashes each mp4 as written;
with libx264 the files are byte-identical only when the width is a multiple of {STABLE_WIDTH_MULTIPLE} px, as
the default is.
"""


def check_output_dir(out: Union[str, Path], overwrite: bool = False) -> Path:
    """`check_output_dir(out, overwrite=False) -> Path`: `out`, checked to be a folder a generator may write into.

    A missing or empty folder is fine. A folder that holds anything raises FileExistsError naming a few of its
    entries, unless `overwrite` (`--force` on the command line); a file raises NotADirectoryError. Nothing
    is written here: call it before any slow work, so a refusal costs nothing.
    """
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a directory; expected an output directory")
    if out.is_dir() and not overwrite:
        with os.scandir(out) as scan:
            names = sorted(entry.name for _, entry in zip(range(1000), scan, strict=False))
        if names:
            more = len(names) - 3
            shown = ", ".join(names[:3]) + (f" and {more}{'+' if len(names) == 1000 else ''} more" if more > 0 else "")
            raise FileExistsError(
                f"{out} is not empty (it holds {shown}); refusing to overwrite it: pass --force "
                "(overwrite=True from Python) to write into it anyway, or choose an empty or new folder"
            )
    return out


def make_mini_bench(
    out: Union[str, Path],
    seed: int = 0,
    n_train: int = 16,
    n_test: int = 12,
    *,
    width: int = 128,
    height: int = 96,
    fps: float = 10.0,
    seconds: float = 6.0,
    overwrite: bool = False,
) -> MiniBenchSummary:
    """Write the mini bench into `out` (created if needed).

    `n_train` / `n_test` clips per split, each `width`×`height` (even), `fps`, `seconds` long. Returns a
    MiniBenchSummary; the same arguments always write the same annotations and frames. A folder `out` that
    already holds files raises FileExistsError unless `overwrite` (then files of the same names are replaced
    and other files are left alone)."""
    from vau_plugin.video import write_mp4

    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ValueError(f"mini bench: need a non-negative number of clips per split and at least one in all, got train={n_train} test={n_test}")
    spec = ClipSpec(width, height, float(fps), float(seconds))
    spec.validate()
    if width % STABLE_WIDTH_MULTIPLE:
        logger.warning(
            "mini bench: width %d is not a multiple of %d; the CSVs and raw frames are deterministic but libx264 "
            "may encode the mp4 files (and so the decoded frames) slightly differently on each run",
            width,
            STABLE_WIDTH_MULTIPLE,
        )
    root = check_output_dir(out, overwrite)
    videos = root / VIDEO_DIR
    videos.mkdir(parents=True, exist_ok=True)
    manifest_clips: list[dict] = []
    csv_paths: dict[str, Path] = {}
    counts: dict[str, dict[str, int]] = {}
    for split_index, (split, n) in enumerate(zip(SPLITS, (n_train, n_test), strict=True)):
        split_rng = np.random.default_rng([seed, split_index, 1 << 20])
        kinds = split_kinds(n, split_index, split_rng)
        letters = balanced_letters(n, split_rng)
        rows = []
        counts[split] = {}
        for index, (kind, letter) in enumerate(zip(kinds, letters, strict=True)):
            name = f"mini_{split}_{index:04d}.mp4"
            cseed = clip_seed(seed, split_index, index)
            rendered = render_clip(kind, cseed, spec)
            path = write_mp4(videos / name, rendered.frames, spec.fps)
            row = annotation_row(name, rendered, spec, letter, np.random.default_rng([cseed, 1]))
            rows.append(row)
            event = rendered.event
            counts[split][event.anomaly_class] = counts[split].get(event.anomaly_class, 0) + 1
            manifest_clips.append(
                {
                    "name": name,
                    "split": split,
                    "kind": kind,
                    "scene": rendered.scene.name,
                    "anomaly_class": event.anomaly_class,
                    "span": None if event.span_frames is None else [float(row["Start Time"]), float(row["End Time"])],
                    "span_frames": None if event.span_frames is None else list(event.span_frames),
                    "correct_option": letter,
                    "seed": seed,
                    "clip_seed": cseed,
                    **clip_hashes(rendered.frames, path),
                }
            )
        csv_paths[split] = root / f"{split}.csv"
        write_bench_csv(csv_paths[split], rows)
    readme = root / "README.md"
    readme.write_text(_readme_text(seed, spec, counts), encoding="utf-8")
    manifest = root / "manifest.json"
    write_manifest(
        manifest,
        generator="vau_plugin.data.mini_bench",
        version=GENERATOR_VERSION,
        seed=seed,
        spec=spec,
        files=[csv_paths["train"], csv_paths["test"], readme],
        clips=manifest_clips,
    )
    return MiniBenchSummary(
        root=root,
        videos_dir=videos,
        train_csv=csv_paths["train"],
        test_csv=csv_paths["test"],
        manifest=manifest,
        readme=readme,
        seed=seed,
        spec=spec,
        class_counts=counts,
    )


# The mini bench shipped in the wheel (`make_mini_bench` with the defaults, seed 0); tests check it matches.
BUNDLED_DIR = Path(__file__).resolve().parent / "mini"


def bundled_mini_bench() -> Path:
    """The folder of the shipped mini bench (videos/, train.csv, test.csv, manifest.json)."""
    if not (BUNDLED_DIR / "test.csv").is_file():
        raise FileNotFoundError(
            f"the bundled mini bench is missing at {BUNDLED_DIR}; reinstall vau-plugin or run "
            f"`vau-plugin make-mini-bench DIR`"
        )
    return BUNDLED_DIR

"""Scenes and raster drawing of the mini and motion benches: fixed-camera backgrounds, people, cars, flashes, flames.

`ClipSpec` holds the size and timing every clip of a bench shares; lengths and speeds are given as fractions of
the frame so that shapes keep their proportions at any size. `SCENES` maps a scene name to the function that
draws its static background (from a `numpy.random.Generator`) and says where things may happen in it. The
draw functions paint into one uint8 frame (H, W, 3) in place, clipped to the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

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
BAG = (120, 40, 20)


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


def fill(img: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour) -> None:
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
        fill(img, col, 0.2 * h, col + win_w, 0.2 * h + win_h, (60, 70, 90))
    img[wall_bottom:curb] = _jitter(rng, (155, 155, 150), 6)
    img[wall_bottom:curb, :: max(6, w // 8)] -= 12  # paving joints
    img[curb : curb + 2] = (190, 190, 190)
    img[curb + 2 :] = _jitter(rng, (70, 70, 75), 5)
    divider = (curb + 2 + h) // 2
    for col in range(0, w, max(8, w // 7)):
        fill(img, col, divider, col + max(3, w // 16), divider + 1, (220, 220, 200))
    ledge_len = int(0.26 * w)
    ledge_x0 = int(rng.integers(int(0.08 * w), w - ledge_len - int(0.08 * w)))
    ledge_top = int(0.15 * h)
    fill(img, ledge_x0, ledge_top, ledge_x0 + ledge_len, ledge_top + 2, (205, 205, 200))
    bin_x = int(rng.integers(int(0.1 * w), int(0.85 * w)))
    bin_w, bin_h = max(3, w // 18), max(4, h // 10)
    bin_bottom = wall_bottom + max(3, h // 14)
    fill(img, bin_x, bin_bottom - bin_h, bin_x + bin_w, bin_bottom, (40, 90, 50))
    bench_x = int(rng.integers(0, int(0.8 * w)))
    fill(img, bench_x, wall_bottom + 1, bench_x + w // 7, wall_bottom + 3, (110, 80, 50))
    lamp_x = int(rng.integers(int(0.05 * w), int(0.95 * w)))
    fill(img, lamp_x, 0.05 * h, lamp_x + 1, curb, (50, 50, 55))
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
        fill(img, post, shelves[0] - 2, post + 2, wall_bottom, (60, 70, 100))
    for row in shelves:
        fill(img, rack_x0, row, rack_x1 + 2, row + 2, (190, 110, 40))
    box = max(4, h // 12)
    for row in shelves:  # static boxes on the shelves, on the half away from the ledge end
        for col in range(rack_x0 + 3, rack_x0 + (rack_x1 - rack_x0) // 2, box + 2):
            fill(img, col, row - box, col + box, row, (170, 130, 80))
    pallet_x = int(rng.integers(int(0.1 * w), int(0.8 * w)))
    pallet_row = int(0.55 * h)
    fill(img, pallet_x, pallet_row - 2, pallet_x + w // 8, pallet_row, (150, 120, 80))
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


def person_size(spec: ClipSpec) -> tuple[float, float]:
    """person_size(spec) -> (width, height) in pixels of a standing person."""
    height = max(8.0, spec.px(0.21))
    return max(3.0, round(height * 0.32)), height


def draw_person(
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


def car_size(spec: ClipSpec) -> tuple[float, float]:
    """car_size(spec) -> (length, height) in pixels of a car seen from the side."""
    return max(10.0, round(spec.width * 0.17)), max(5.0, round(spec.px(0.095)))


def draw_car(img: np.ndarray, x: float, lane_row: float, colour, size: tuple[float, float], facing: int) -> None:
    """A car seen from the side: body, cabin with a window, two wheels; `x` is its left edge."""
    cw, ch = size
    top, bottom = lane_row - ch / 2, lane_row + ch / 2
    fill(img, x, top + ch * 0.4, x + cw, bottom - 1, colour)
    cab0 = x + cw * (0.3 if facing > 0 else 0.15)
    fill(img, cab0, top, cab0 + cw * 0.55, top + ch * 0.45, colour)
    fill(img, cab0 + 1, top + 1, cab0 + cw * 0.55 - 1, top + ch * 0.4, (70, 90, 110))
    for wheel in (x + cw * 0.15, x + cw * 0.7):
        fill(img, wheel, bottom - 2, wheel + max(2, cw * 0.15), bottom, (15, 15, 15))


def draw_flash(img: np.ndarray, x: float, y: float, radius: float, strength: float) -> None:
    """Blend a bright yellow-white disc (an impact flash) into the image."""
    hgt, wid = img.shape[:2]
    rows, cols = np.ogrid[:hgt, :wid]
    weight = np.clip(1 - np.hypot(cols + 0.5 - x, rows + 0.5 - y) / radius, 0, 1)[..., None] * strength
    img[:] = (img * (1 - weight) + np.array([255, 250, 200]) * weight).astype(np.uint8)


def draw_flames(img: np.ndarray, x: float, base: float, radius: float, rng: np.random.Generator) -> None:
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

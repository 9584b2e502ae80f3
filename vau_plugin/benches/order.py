"""The order bench: a synthetic VAU-Bench-schema bench whose answers need the order of the frames.

Every clip is a dark grey frame (value 40, fresh Gaussian noise of std 8 in every frame) with one bright square
(value 230) in it, and asks one of three questions, each equally often in every split:

- direction, "Which way does the square move?" (Left / Right / Up / Down): the square moves at constant speed
  along a straight path of 40 % of the frame width or more, from the first frame to the last. The path's
  midpoint is drawn from the same positions for every direction (given the clip seed, all four directions share
  it), so any one frame's position says nothing about the answer, and an unordered set of frames tells at most
  the axis (horizontal or vertical), not the sign: that needs the order.
- moves, "Does the square move?" (answer A "It moves" or B "It stays still"): a moving square as above, or a still
  one placed where a moving square would be at a random frame, so one frame cannot tell the two apart; telling
  them apart takes comparing frames.
- start, "When does the square start moving?": four 1-s start windows (`text.start_windows`), the start
  drawn uniformly over the frame times inside the window; still before, after it moving at constant speed over
  the same path length to the last frame. One frame shows where the square is, not when it left.

Held-out path offsets (`n_heldout`, split "heldout"): in train, val and test both coordinates of the path's
midpoint come from the same central band (the positions from which a path of `path_length` fits either way). In
the held-out split the coordinate across the motion comes from the positions outside that band (the square runs
along a line nearer an edge, or sits there when still), which no clip of the other splits uses: the same
questions and answers on a factor never seen in training (`heldout_offsets`).

Why a square of at least one video token: the tiny Qwen2.5-VL sees frames of at most ~112x112 px, where one
merged video token covers 28x28 px and two consecutive frames. The motion bench's objects were ~2 px wide at that
resolution, which no model could read. Tier "large" draws a 28-px square (one token), tier "small" a 14-px one.

Annotations: clips where the square moves get the class "Object_falling", the one non-Normal VAU-Bench class for
a moving object (the bench does not claim anything falls; it needs some anomaly class so the TAG task has a span),
with the span from the motion's start (the last still frame) to the last frame; still clips are "Normal" with
0.0/0.0, as the mini bench's normal rows. The Reasoning column is one short sentence with the event and its times,
the SFT `<think>` text (`vau_plugin.llamafactory.prepare`).

Layout written by `make_order_bench(out)`::

    out/videos/order_<split>_<nnnn>.mp4   16 frames at 2 fps, 112x112 px by default (H.264)
    out/train.csv, out/val.csv, out/test.csv
                                          VAU-Bench columns; val is for hyper-parameter sweeps, test is held out
                                          (lmms-eval: VAU_BENCH_ROOT=out VAU_BENCH_SPLITS=test)
    out/heldout.csv                       only with n_heldout > 0: clips on held-out path offsets
    out/manifest.json                     per clip: question type, answer, direction, start, square side, seeds,
                                          hashes of the raw frames and the mp4
    out/README.md                         what this is and how it was generated

Determinism: the question types go round-robin, the answers per type come from a generator seeded by (seed,
split) and each clip is rendered by `render_order_clip` from its own seed (`writer.clip_seed`). The same
arguments give byte-identical CSVs and README, identical raw frames and identical mp4 bytes (and so manifest):
at these widths (not multiples of 128 px) `vau_plugin.benches.writer` turns off libx264's macroblock tree, which
otherwise encoded about half the clips differently each time (until 2026-12-06).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vau_plugin.benches.scene import ClipSpec
from vau_plugin.benches.text import start_windows, window_option
from vau_plugin.benches.writer import BenchClip, BenchSummary, bench_row, clip_seed, shuffled_cycle, write_bench
from vau_plugin.data.schema import LETTERS, NORMAL_CLASS, OPTION_COLUMNS

# The generator's name in manifests and READMEs: the module that wrote version 1, kept so that output stays
# byte-identical.
GENERATOR = "vau_plugin.data.order_bench"
GENERATOR_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "val", "test")
HELDOUT_SPLIT = "heldout"  # written only when n_heldout > 0, after the others (their clips do not change)
LMMS_SPLIT = "test"
TIERS: dict[str, int] = {"large": 28, "small": 14}  # square side in px: one merged video token, a quarter of one
TOKEN_PX = 28
BACKGROUND = 40.0
SQUARE = 230.0
NOISE_STD = 8.0
PATH_SHARE = 0.4  # the shortest path, as a share of the frame width
MOVING_CLASS = "Object_falling"
KEY_OBJECT = "a white square"

DIRECTION, MOVES, START = "direction", "moves", "start"
QUESTION_TYPES: tuple[str, ...] = (DIRECTION, MOVES, START)
QUESTIONS: dict[str, str] = {
    DIRECTION: "Which way does the square move?",
    MOVES: "Does the square move?",
    START: "When does the square start moving?",
}
DIRECTIONS: tuple[str, ...] = ("Left", "Right", "Up", "Down")
MOVES_OPTIONS: tuple[str, ...] = ("It moves", "It stays still", "It disappears", "It changes colour")
# direction -> (axis of the position (x, y) it changes, sign); y grows downwards as in the image.
_STEPS: dict[str, tuple[int, int]] = {"Left": (0, -1), "Right": (0, 1), "Up": (1, -1), "Down": (1, 1)}
_PHRASES: dict[str, str] = {"Left": "to the left", "Right": "to the right", "Up": "up", "Down": "down"}


@dataclass(frozen=True)
class OrderClip:
    """One rendered clip: frames uint8 [T, size, size, 3]; positions int [T, 2], the square's top-left (x, y)
    per frame; direction None when still; start_frame the last still frame (0 when it moves from the first
    frame), None when still; side the square's side in px."""

    frames: np.ndarray
    positions: np.ndarray
    direction: str | None
    start_frame: int | None
    side: int


def _spec(size: int, fps: float, seconds: float) -> ClipSpec:
    return ClipSpec(size, size, float(fps), float(seconds))


def check_settings(tier: str, size: int, fps: float, seconds: float) -> ClipSpec:
    """check_settings(tier, size, fps, seconds) -> ClipSpec, or ValueError naming the argument and what was expected."""
    if tier not in TIERS:
        raise ValueError(f"order bench: tier must be one of {', '.join(TIERS)}, got {tier!r}")
    if not isinstance(size, int) or size < 2 * TOKEN_PX or size % TOKEN_PX:
        raise ValueError(f"order bench: size must be a multiple of {TOKEN_PX} px (a merged video token) and at least {2 * TOKEN_PX}, got {size}")
    if not fps > 0 or not seconds > 0:
        raise ValueError(f"order bench: fps and seconds must be positive, got fps={fps} seconds={seconds}")
    spec = _spec(size, fps, seconds)
    # text.start_windows: four windows between 1 s and 3 s before the end, each needs 2 frames or more.
    if (spec.seconds - 4.0) / 4 * spec.fps < 2:
        raise ValueError(f"order bench: seconds must be at least {4 + 8 / spec.fps:g} at {spec.fps:g} fps (start windows of 2 frames or more), got {seconds}")
    return spec


def path_length(size: int) -> int:
    """path_length(size) -> px a moving square travels: the smallest even number >= PATH_SHARE of the width
    (even, so that the path's midpoint is a whole pixel)."""
    return 2 * int(np.ceil(PATH_SHARE * size / 2))


def options(question_type: str, spec: ClipSpec) -> tuple[str, ...]:
    """options(question_type, spec) -> the four option texts, in letter order."""
    if question_type == DIRECTION:
        return DIRECTIONS
    if question_type == MOVES:
        return MOVES_OPTIONS
    if question_type == START:
        return tuple(window_option(w) for w in start_windows(spec))
    raise ValueError(f"order bench: question type must be one of {', '.join(QUESTION_TYPES)}, got {question_type!r}")


def answer_letters(question_type: str) -> tuple[str, ...]:
    """The letters that occur as answers: A/B for "moves" (moves / stays still), all four otherwise."""
    return LETTERS[:2] if question_type == MOVES else LETTERS


def midpoint_band(size: int, side: int) -> tuple[int, int]:
    """midpoint_band(size, side) -> [lo, hi] (inclusive): the positions of the path's midpoint, on either
    coordinate, in train, val and test: those from which `path_length(size)` px fit both ways inside the frame."""
    length = path_length(size)
    return length // 2, size - side - length // 2


def heldout_offsets(size: int, side: int) -> np.ndarray:
    """heldout_offsets(size, side) -> the positions across the motion used only by the held-out split: every
    top-left coordinate that keeps the square inside the frame and lies outside `midpoint_band`. Never empty for
    the sizes `check_settings` admits: the band leaves path_length(size) // 2 >= 1 positions on either side."""
    lo, hi = midpoint_band(size, side)
    return np.array([x for x in range(size - side + 1) if not lo <= x <= hi])


def _path(rng: np.random.Generator, direction: str, n_frames: int, start_frame: int, size: int, side: int,
          heldout: bool = False) -> np.ndarray:  # fmt: skip
    """Positions [T, 2] of a square still up to `start_frame`, then moving `path_length(size)` px in `direction`
    at constant speed to the last frame. The midpoint is drawn before, and independently of, the direction;
    `heldout` then redraws its coordinate across the motion from `heldout_offsets`."""
    length = path_length(size)
    middle = rng.integers(*midpoint_band(size, side), size=2, endpoint=True)
    axis, sign = _STEPS[direction]
    if heldout:
        middle[1 - axis] = rng.choice(heldout_offsets(size, side))
    travelled = np.zeros(n_frames)
    travelled[start_frame:] = np.linspace(0.0, length, n_frames - start_frame)
    positions = np.repeat(middle[None, :], n_frames, axis=0)
    positions[:, axis] += sign * (np.rint(travelled).astype(int) - length // 2)
    return positions


def render_order_clip(question_type: str, letter: str, seed: int, *, tier: str = "large", size: int = 112,
                      fps: float = 2.0, seconds: float = 8.0, heldout: bool = False) -> OrderClip:  # fmt: skip
    """render_order_clip(question_type, letter, seed, *, tier="large", size=112, fps=2.0, seconds=8.0,
    heldout=False) -> OrderClip.

    The clip whose answer to `question_type` is `letter`, all its randomness from `seed` (a pure function);
    `heldout` puts its path on a held-out offset (module doc)."""
    spec = check_settings(tier, size, fps, seconds)
    if letter not in answer_letters(question_type):
        raise ValueError(f"order bench: a {question_type!r} answer must be one of {', '.join(answer_letters(question_type))}, got {letter!r}")
    side, n_frames = TIERS[tier], spec.n_frames
    rng = np.random.default_rng(seed)
    direction = DIRECTIONS[LETTERS.index(letter)] if question_type == DIRECTION else str(rng.choice(DIRECTIONS))
    start_frame: int | None = 0
    if question_type == START:
        lo, hi = start_windows(spec)[LETTERS.index(letter)]
        start_frame = int(rng.choice([f for f in range(n_frames) if lo <= f / spec.fps < hi]))
    positions = _path(rng, direction, n_frames, start_frame, size, side, heldout)
    if question_type == MOVES and letter == "B":
        # Where a moving square would be at a random frame: one frame cannot tell still from moving.
        positions = np.repeat(positions[rng.integers(n_frames)][None, :], n_frames, axis=0)
        direction, start_frame = None, None
    canvas = np.full((n_frames, size, size, 3), BACKGROUND, dtype=np.float32)
    for frame, (x, y) in zip(canvas, positions):
        frame[y : y + side, x : x + side] = SQUARE
    canvas += NOISE_STD * rng.standard_normal(canvas.shape, dtype=np.float32)
    frames = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return OrderClip(frames, positions, direction, start_frame, side)


def annotation_row(name: str, question_type: str, letter: str, clip: OrderClip, spec: ClipSpec) -> dict[str, str]:
    """annotation_row(name, question_type, letter, clip, spec) -> the VAU-Bench CSV row of one clip."""
    end = spec.seconds_at(spec.n_frames - 1)
    if clip.direction is None:
        reasoning, description = "The square stays still.", "A white square stays in one place on a dark background."
        anomaly_class, span = NORMAL_CLASS, (0.0, 0.0)
    else:
        start, where = spec.seconds_at(clip.start_frame), _PHRASES[clip.direction]
        if question_type == START:
            reasoning = f"The square starts moving at {start:.1f} s and moves {where} until {end:.1f} s."
            description = f"A white square on a dark background stays still, then moves {where}."
        else:
            reasoning = f"The square moves {where} from {start:.1f} s to {end:.1f} s."
            description = f"A white square on a dark background moves {where}."
        anomaly_class, span = MOVING_CLASS, (start, end)
    return bench_row({
        "Video Name": name, "Question": QUESTIONS[question_type],
        **dict(zip(OPTION_COLUMNS, options(question_type, spec))),
        "Correct Option": letter, "Key Object": KEY_OBJECT, "Description": description, "Reasoning": reasoning,
        "Anomaly Class": anomaly_class, "Start Time": f"{span[0]:.1f}", "End Time": f"{span[1]:.1f}",
    })  # fmt: skip


def _readme_text(seed: int, tier: str, spec: ClipSpec, counts: dict[str, dict[str, int]]) -> str:
    heldout = ""
    if HELDOUT_SPLIT in counts:
        lo, hi = midpoint_band(spec.width, TIERS[tier])
        heldout = (f"\n`{HELDOUT_SPLIT}.csv` asks the same questions of clips whose path runs off the band every other split "
                   f"uses: across the motion the square's top-left is outside {lo}-{hi} px, a factor never seen in "
                   f"training (`VAU_BENCH_SPLITS={HELDOUT_SPLIT}`).")
    table = "\n".join(f"| {split} | " + " | ".join(str(c[t]) for t in QUESTION_TYPES) + " |" for split, c in counts.items())
    questions = "\n".join(
        f"- {t}: \"{QUESTIONS[t]}\" " + "; ".join(f"{letter}. {text}" for letter, text in zip(LETTERS, options(t, spec)))
        for t in QUESTION_TYPES
    )
    return f"""# Order bench (synthetic, not VAU-Bench)

Generated by `vau-plugin make-order-bench` (`{GENERATOR}`, generator version {GENERATOR_VERSION}),
seed {seed}, tier {tier}. Each clip: {spec.width}x{spec.height} px, {spec.n_frames} frames at {spec.fps:g} fps
(H.264 in `videos/`), a dark grey background (value {BACKGROUND:g}, fresh noise of std {NOISE_STD:g} per frame) and
one bright square of {TIERS[tier]} px that moves in a straight line, stays still, or stays still and then moves.
The answers need the order of the frames; see the module doc for why.

Questions (answers balanced per type; "moves" only A or B):
{questions}

Moving clips are "{MOVING_CLASS}" with the motion span (start, last frame), still clips "{NORMAL_CLASS}" 0.0/0.0.
`val.csv` is for hyper-parameter sweeps; `test.csv` is held out
(lmms-eval: `VAU_BENCH_ROOT=<this folder> VAU_BENCH_SPLITS={LMMS_SPLIT} VAU_BENCH_VIDEO_ROOT=<this folder>/videos`).{heldout}
`manifest.json` records each clip's question type, answer, direction, start, seed and hashes.

| split | {' | '.join(QUESTION_TYPES)} |
|---|---|---|---|
{table}
"""


def make_order_bench(out: str | Path, *, tier: str = "large", n_train: int = 300, n_val: int = 100, n_test: int = 200,
                     n_heldout: int = 0, seed: int = 0, size: int = 112, fps: float = 2.0, seconds: float = 8.0,
                     overwrite: bool = False) -> BenchSummary:  # fmt: skip
    """make_order_bench(out, *, tier="large", n_train=300, n_val=100, n_test=200, n_heldout=0, seed=0, size=112,
    fps=2.0, seconds=8.0, overwrite=False) -> BenchSummary.

    Writes the layout of the module doc (the held-out split only when n_heldout > 0; the other splits are the same
    either way). In each split the question types go round-robin (direction, moves,
    start, ...) and within each type the answer letters are balanced in a seeded order. Refuses a folder that
    holds files unless `overwrite`; ValueError names a bad argument. Summary counts: split -> question type -> clips."""
    spec = check_settings(tier, size, fps, seconds)
    sizes = dict(zip((*SPLITS, HELDOUT_SPLIT), (n_train, n_val, n_test, n_heldout), strict=True))
    for split, n in sizes.items():
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"order bench: n_{split} must be a non-negative integer, got {n!r}")
    if sum(sizes.values()) == 0:
        raise ValueError("order bench: n_train, n_val, n_test and n_heldout are all 0; need at least one clip")
    if not n_heldout:
        del sizes[HELDOUT_SPLIT]
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"order bench: seed must be a non-negative integer, got {seed!r}")

    def plan(split_index: int, split: str, names: list[str]) -> Iterator[BenchClip]:
        rng = np.random.default_rng([seed, split_index, 13 << 20])  # a salt apart from the other benches'
        types = [QUESTION_TYPES[i % len(QUESTION_TYPES)] for i in range(len(names))]
        letters = {t: iter(shuffled_cycle(answer_letters(t), types.count(t), rng)) for t in QUESTION_TYPES}
        heldout = split == HELDOUT_SPLIT
        for index, (name, question_type) in enumerate(zip(names, types, strict=True)):
            letter = next(letters[question_type])
            cseed = clip_seed(seed, split_index + 32, index)
            clip = render_order_clip(question_type, letter, cseed, tier=tier, size=size, fps=fps, seconds=seconds, heldout=heldout)
            entry = {
                "question_type": question_type, "correct_option": letter,
                "answer": options(question_type, spec)[LETTERS.index(letter)], "direction": clip.direction,
                "start_s": None if clip.start_frame is None else spec.seconds_at(clip.start_frame),
                "start_frame": clip.start_frame, "square_side": clip.side, "seed": seed, "clip_seed": cseed,
                **({"heldout_offset": True} if heldout else {}),
            }  # fmt: skip
            yield BenchClip(clip.frames, annotation_row(name, question_type, letter, clip, spec), entry, counts=(question_type,))

    return write_bench(
        out, title="order bench", prefix="order", sizes=sizes, plan=plan, spec=spec, seed=seed,
        readme=lambda counts: _readme_text(seed, tier, spec, counts),
        settings=(f"tier {tier}: {TIERS[tier]}-px square, {spec.width}x{spec.height} px, {spec.n_frames} frames "
                  f"at {spec.fps:g} fps"),
        manifest={
            "generator": GENERATOR, "version": GENERATOR_VERSION, "tier": tier, "square_side": TIERS[tier],
            "path_px": path_length(size),
            "questions": {t: {"question": QUESTIONS[t], "options": list(options(t, spec))} for t in QUESTION_TYPES},
        },
        count_keys=QUESTION_TYPES, lmms_split=LMMS_SPLIT, overwrite=overwrite,
    )  # fmt: skip

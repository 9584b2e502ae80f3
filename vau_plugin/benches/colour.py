"""The colour bench: the smallest VAU-Bench-schema bench whose answer a model can only get from the video.

Every clip is two frames filled with one colour (red or blue, plus pixel noise) and asks the same question,
"What colour fills the video?", options Red / Blue / Green / Yellow, answer A (red) or B (blue), balanced. The
question text never changes, so a model that answers above chance must read the frames. It exists to check that
training (the plugin's GRPO stage) and evaluation really use the video (`vau_plugin.learning`): a random-label
copy of the train split (`control/train.csv`, same clips, letters drawn independently of the colour) is the
control whose held-out accuracy has to stay at chance.

Layout written by `make_colour_bench(out)`::

    out/videos/colour_<split>_<nnnn>.mp4   2 frames at 2 fps, 112x112 px by default (H.264)
    out/train.csv, out/test.csv            VAU-Bench columns; lmms-eval reads test with VAU_BENCH_SPLITS=test
    out/control/train.csv                  the train clips with answers unrelated to the video
    out/README.md                          what this is and how it was generated

The same arguments write the same annotations and frames (the noise comes from `seed`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vau_plugin.benches.scene import ClipSpec
from vau_plugin.benches.writer import VIDEO_DIR, BenchClip, bench_row, write_bench, write_bench_csv
from vau_plugin.data.schema import NORMAL_CLASS, OPTION_COLUMNS

QUESTION = "What colour fills the video?"
OPTIONS: tuple[str, str, str, str] = ("Red", "Blue", "Green", "Yellow")
# Answer letter -> the RGB the clip is filled with. Only A and B occur: chance is 50 %.
COLOURS: dict[str, tuple[int, int, int]] = {"A": (200, 40, 40), "B": (40, 40, 200)}
# The SFT target's reasoning: the same for every clip, so SFT on it teaches the format and nothing else.
REASONING = "I look at the colour."
FPS = 2.0
N_FRAMES = 2  # one temporal patch pair of Qwen2.5-VL: the smallest video it takes
NOISE_STD = 20.0
CONTROL_DIR = "control"
SPLITS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class ColourBench:
    """root: the bench folder; train / test / control: its CSV files; videos: the clip folder."""

    root: Path

    @property
    def videos(self) -> Path:
        return self.root / VIDEO_DIR

    @property
    def train(self) -> Path:
        return self.root / "train.csv"

    @property
    def test(self) -> Path:
        return self.root / "test.csv"

    @property
    def control(self) -> Path:
        return self.root / CONTROL_DIR / "train.csv"


def _row(name: str, letter: str) -> dict[str, str]:
    return bench_row({
        "Video Name": name, "Question": QUESTION, **dict(zip(OPTION_COLUMNS, OPTIONS)),
        "Correct Option": letter, "Key Object": "the colour of the frame", "Description": "A frame filled with one colour.",
        "Reasoning": REASONING, "Anomaly Class": NORMAL_CLASS, "Start Time": "0.0", "End Time": "0.0",
    })  # fmt: skip


def _control_rows(rows: list[dict[str, str]], rng: np.random.Generator) -> list[dict[str, str]]:
    """The rows with letters unrelated to the colour: within each colour, half A and half B in a seeded order.
    (A plain shuffle of all letters leaves a chance correlation of ~1/sqrt(n) with the colour, which SFT on
    them learns: the held-out accuracy after SFT was then 0 %, not 50 %.)"""
    letters: dict[int, str] = {}
    for colour in COLOURS:
        indices = [i for i, row in enumerate(rows) if row["Correct Option"] == colour]
        for i, letter in zip(indices, rng.permutation(["A", "B"] * (len(indices) // 2) + ["A"] * (len(indices) % 2))):
            letters[i] = str(letter)
    return [dict(row, **{"Correct Option": letters[i]}) for i, row in enumerate(rows)]


def make_colour_bench(out: str | Path, *, n_train: int = 64, n_test: int = 40, size: int = 112, seed: int = 0,
                      overwrite: bool = False) -> ColourBench:  # fmt: skip
    """make_colour_bench(out, *, n_train=64, n_test=40, size=112, seed=0, overwrite=False) -> ColourBench.

    Writes the layout of the module doc. Colours alternate (A, B, A, ...) in each split; the control letters are,
    within each colour, as many A as B in a seeded order (`_control_rows`). `size` is the frame side in pixels (112:
    4x4 merged video tokens; 56, the tiny model's minimum, gives 2x2, which GRPO learnt from too slowly). Refuses a folder that holds files unless `overwrite`."""
    if n_train < 2 or n_test < 2:
        raise ValueError(f"colour bench: need at least 2 clips per split, got train={n_train} test={n_test}")
    if size < 28 or size % 28:
        raise ValueError(f"colour bench: size must be a multiple of 28 px (a merged video token), got {size}")
    bench = ColourBench(Path(out).expanduser())
    rng = np.random.default_rng(seed)  # one generator for both splits: train noise, control letters, test noise

    def plan(split_index: int, split: str, names: list[str]) -> Iterator[BenchClip]:
        rows = []
        for index, name in enumerate(names):
            letter = "AB"[index % 2]
            noise = rng.normal(0.0, NOISE_STD, size=(N_FRAMES, size, size, 3))
            frames = np.clip(np.asarray(COLOURS[letter], dtype=np.float64) + noise, 0, 255).astype(np.uint8)
            rows.append(_row(name, letter))
            yield BenchClip(frames, rows[-1])
        if split == "train":
            bench.control.parent.mkdir(exist_ok=True)
            write_bench_csv(bench.control, _control_rows(rows, rng))

    readme = (
        f"# Colour bench (vau-plugin make-colour-bench, seed {seed})\n\n"
        f"{n_train} train / {n_test} test clips of {N_FRAMES} frames at {FPS:g} fps, {size}x{size} px, filled with red"
        f" (answer A) or blue (answer B) plus Gaussian noise (std {NOISE_STD:g}). Question: \"{QUESTION}\".\n"
        f"control/train.csv: the train clips with answers drawn independently of the colour.\n"
        "A synthetic check that training and evaluation use the video; not VAU-Bench.\n"
    )
    write_bench(
        out, title="colour bench", prefix="colour", sizes=dict(zip(SPLITS, (n_train, n_test), strict=True)), plan=plan,
        spec=ClipSpec(size, size, FPS, N_FRAMES / FPS), seed=seed, readme=lambda counts: readme,
        settings=f"{size}x{size} px, {N_FRAMES} frames at {FPS:g} fps", overwrite=overwrite,
    )  # fmt: skip
    return bench

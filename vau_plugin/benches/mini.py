"""The mini bench: a small, deterministic, synthetic surveillance-style benchmark in the VAU-Bench CSV schema.

Every clip is a fixed-camera view (a street or a warehouse, `vau_plugin.benches.scene`) with one or two people
walking past; anomalous clips hold one real visual event in a known frame range (an object falling off a ledge,
two cars colliding, a person falling, a bag snatch and run, a fight, a fire: `vau_plugin.benches.events`), normal
clips only regular walking and traffic. About a third of each split is normal, the rest cycles through the
anomalous kinds. Each row is a full VAU-Bench annotation: a question with four event options, a Description, and
a Reasoning with the sections of VAU-R1's (type, location, key evidence, explanation, cause and effect,
conclusion), written from what the simulation drew; the span marks exactly the frames of the event's motion.

`make_mini_bench(out)` writes the layout of `vau_plugin.benches.writer` (`mini_<split>_<nnnn>.mp4`, train.csv,
test.csv, manifest.json with per clip the kind, class, span in seconds and frames, seeds and content hashes,
README.md). The same seed and parameters give byte-identical CSVs, README and manifest and identical raw frames;
the mp4 bytes are identical for the default width, 128 px (see the writer's module doc on libx264), which is why
the default size is 128x96 rather than 112x84. The bench shipped in the wheel is `make_mini_bench` with the
defaults (`bundled_mini_bench()`, from `vau_plugin.data.bundled`, which knows where it lives).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Union

import numpy as np

from vau_plugin.benches.events import EVENT_KINDS, NORMAL_KIND, RenderedClip, render_clip
from vau_plugin.benches.scene import ClipSpec
from vau_plugin.benches.text import article
from vau_plugin.benches.writer import (
    STABLE_WIDTH_MULTIPLE,
    BenchClip,
    BenchSummary,
    clip_seed,
    shuffled_cycle,
    warn_unstable_width,
    write_bench,
)

# Re-exported (the redundant alias says so): the tests and the tools import the shipped bench from here.
from vau_plugin.data.bundled import bundled_mini_bench as bundled_mini_bench
from vau_plugin.data.schema import COLUMNS, LETTERS

# The generator's name in manifests and READMEs: the module that wrote version 1, kept so that output stays
# byte-identical (the bundled bench records it).
GENERATOR = "vau_plugin.data.mini_bench"
GENERATOR_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "test")
# Share of normal clips in each split (the rest cycles through the anomalous kinds).
NORMAL_SHARE = 1 / 3

QUESTIONS: tuple[str, ...] = (
    "What is the primary anomaly observed in the video?",
    "What best describes the event in the video?",
    "Which event takes place in this surveillance video?",
    "What is the primary evidence of an anomaly in the video?",
)


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
            f"The video depicts {article(event.anomaly_class)} {event.anomaly_class.replace('_', ' ').lower()} event "
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


def split_kinds(n: int, split_index: int, rng: np.random.Generator) -> list[str]:
    """The kinds of the `n` clips of one split: about a third normal, the rest cycling through the anomalous
    kinds (each split starts the cycle elsewhere so both cover all kinds), in a shuffled order."""
    anomalous = [k for k in EVENT_KINDS if k != NORMAL_KIND]
    n_normal = int(round(n * NORMAL_SHARE))
    offset = split_index * (len(anomalous) // 2)
    kinds = [NORMAL_KIND] * n_normal + [anomalous[(offset + i) % len(anomalous)] for i in range(n - n_normal)]
    return [kinds[i] for i in rng.permutation(n)]


def _readme_text(seed: int, spec: ClipSpec, counts: dict[str, dict[str, int]]) -> str:
    table = "\n".join(
        f"| {split} | {sum(c.values())} | " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())) + " |"
        for split, c in counts.items()
    )
    kinds = "\n".join(f"- `{name}` → `{k.anomaly_class}`: {k.option.lower()}" for name, k in EVENT_KINDS.items())
    return f"""# VAU-Bench mini bench (synthetic)

A small synthetic surveillance-style benchmark in the exact VAU-Bench CSV schema, generated by
`vau-plugin make-mini-bench` ({GENERATOR}, generator version {GENERATOR_VERSION}).
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
(`frames_sha256` in the manifest hashes them before encoding). `file_sha256` hashes each mp4 as written; the
files repeat byte for byte too (at widths that are not a multiple of {STABLE_WIDTH_MULTIPLE} px the writer turns
off libx264's macroblock tree, which is not deterministic there).
"""


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
) -> BenchSummary:
    """Write the mini bench into `out` (created if needed).

    `n_train` / `n_test` clips per split, each `width`×`height` (even), `fps`, `seconds` long. Returns a
    BenchSummary (counts: split -> class -> clips); the same arguments always write the same annotations and
    frames. A folder `out` that already holds files raises FileExistsError unless `overwrite` (then files of the
    same names are replaced and other files are left alone)."""
    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ValueError(f"mini bench: need a non-negative number of clips per split and at least one in all, got train={n_train} test={n_test}")
    spec = ClipSpec(width, height, float(fps), float(seconds))
    spec.validate()
    warn_unstable_width("mini bench", width)

    def plan(split_index: int, split: str, names: list[str]) -> Iterator[BenchClip]:
        split_rng = np.random.default_rng([seed, split_index, 1 << 20])
        kinds = split_kinds(len(names), split_index, split_rng)
        letters = shuffled_cycle(LETTERS, len(names), split_rng)
        for index, (name, kind, letter) in enumerate(zip(names, kinds, letters, strict=True)):
            cseed = clip_seed(seed, split_index, index)
            rendered = render_clip(kind, cseed, spec)
            row = annotation_row(name, rendered, spec, letter, np.random.default_rng([cseed, 1]))
            event = rendered.event
            entry = {
                "kind": kind,
                "scene": rendered.scene.name,
                "anomaly_class": event.anomaly_class,
                "span": None if event.span_frames is None else [float(row["Start Time"]), float(row["End Time"])],
                "span_frames": None if event.span_frames is None else list(event.span_frames),
                "correct_option": letter,
                "seed": seed,
                "clip_seed": cseed,
            }
            yield BenchClip(rendered.frames, row, entry, counts=(event.anomaly_class,))

    return write_bench(
        out,
        title="mini bench",
        prefix="mini",
        sizes=dict(zip(SPLITS, (n_train, n_test), strict=True)),
        plan=plan,
        spec=spec,
        seed=seed,
        readme=lambda counts: _readme_text(seed, spec, counts),
        settings=f"{spec.width}x{spec.height}, {spec.fps:g} fps, {spec.duration:g} s per clip",
        manifest={"generator": GENERATOR, "version": GENERATOR_VERSION},
        overwrite=overwrite,
    )

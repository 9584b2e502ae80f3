"""The motion bench: a synthetic VAU-Bench-schema benchmark whose answers depend on motion (issue 7).

It reuses the mini bench's scenes and event renderers (`vau_plugin.benches.events.render_clip`), but every
clip holds exactly one event of a small set of kinds (by default an object falling, a car crash, a person
falling, a bag snatch and run) and asks one of two multiple-choice questions:

- timing, "When does the anomalous event start?": the options are four consecutive start windows, in time
  order (A earliest). The event's start is drawn so that each window is the answer equally often. Before the
  start every clip is still, after it it has settled, so one frame tells at most whether the event has begun by
  that frame's time; the window needs the order of the frames.
- kind, "Which event happens in the video?": the options are the event kinds, always in the same order. A single
  frame can give part of this away (two cars in one lane, a person lying down); the timing questions cannot be
  answered that way. The manifest records each clip's question type, so results can be split by it.

Options are in a fixed order per question type (as time windows naturally are) so that a small model trained
from scratch only has to map video to letter, not to read and match option texts. Every clip is anomalous and
has an annotated span (last still frame before the event, frame where it has settled), so the TAG task scores
all of them. The Reasoning column is one short sentence with the event and its times, so that SFT on it (see
`vau_plugin.llamafactory.prepare`) teaches a short `<think>` before the answer.

Layout written by `make_motion_bench(out)`::

    out/videos/motion_<split>_<nnnn>.mp4   H.264 clips (vau_plugin.benches.writer.write_mp4)
    out/train.csv, out/test.csv            VAU-Bench columns (vau_plugin.data.schema.COLUMNS)
    out/manifest.json                      per clip: name, split, kind, question type, span, seeds, hashes
    out/README.md                          what this is and how it was generated

Determinism: clip seeds derive from the bench seed (`writer.clip_seed`); the start window of each clip is
reached by drawing attempt seeds in a fixed order until the renderer's start falls in it. The same arguments
give byte-identical CSVs, README, manifest and raw frames, and byte-identical mp4 files at the default width
(128 px; see `vau_plugin.benches.writer` on libx264).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from vau_plugin.benches.events import EVENT_KINDS, NORMAL_KIND, RenderedClip, render_clip
from vau_plugin.benches.scene import ClipSpec
from vau_plugin.benches.text import start_windows, window_option
from vau_plugin.benches.writer import (
    BenchClip,
    BenchSummary,
    clip_seed,
    shuffled_cycle,
    warn_unstable_width,
    write_bench,
)
from vau_plugin.data.schema import COLUMNS, LETTERS

# The generator's name in manifests and READMEs: the module that wrote version 1, kept so that output stays
# byte-identical.
GENERATOR = "vau_plugin.data.motion_bench"
GENERATOR_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "test")
# lmms-eval reads the held-out split through the all-source tasks: VAU_BENCH_ROOT=out VAU_BENCH_SPLITS=test.
LMMS_SPLIT = "test"
# "fall / collide / fall / run": four kinds, one per option letter of the kind question.
DEFAULT_KINDS: tuple[str, ...] = ("object_falling", "car_crash", "person_falling", "snatch_run")
TIMING = "timing"
KIND = "kind"
QUESTION_TYPES: tuple[str, ...] = (TIMING, KIND)
TIMING_QUESTION = "When does the anomalous event start?"
KIND_QUESTION = "Which event happens in the video?"
# Attempts per clip to land the event's start in the wanted window (each window is hit with p ≈ 1/4 per try).
MAX_ATTEMPTS = 200


@dataclass(frozen=True)
class MotionQuestion:
    """One question type's text and option texts, in letter order."""

    kind: str  # TIMING or KIND
    question: str
    options: tuple[str, ...]


def questions(spec: ClipSpec, kinds: Sequence[str]) -> dict[str, MotionQuestion]:
    """questions(spec, kinds) -> {TIMING: ..., KIND: ...}: the two question types with their fixed options."""
    return {
        TIMING: MotionQuestion(TIMING, TIMING_QUESTION, tuple(window_option(w) for w in start_windows(spec))),
        KIND: MotionQuestion(KIND, KIND_QUESTION, tuple(EVENT_KINDS[k].option for k in kinds)),
    }


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """check_kinds(kinds) -> tuple: four distinct anomalous kinds of EVENT_KINDS, else ValueError."""
    kinds = tuple(kinds)
    anomalous = sorted(k for k in EVENT_KINDS if k != NORMAL_KIND)
    unknown = [k for k in kinds if k not in anomalous]
    if unknown or len(set(kinds)) != len(LETTERS) or len(kinds) != len(LETTERS):
        raise ValueError(f"motion bench: kinds must be {len(LETTERS)} distinct values of {anomalous}, got {list(kinds)}")
    return kinds


def event_start_seconds(rendered: RenderedClip, spec: ClipSpec) -> float:
    """The annotated start (s) of a rendered clip's event (its last still frame)."""
    if rendered.event.span_frames is None:
        raise ValueError(f"motion bench: a {rendered.event.kind} clip has no event span")
    return spec.seconds_at(rendered.event.span_frames[0])


def render_in_window(kind: str, base_seed: int, window: tuple[float, float], spec: ClipSpec) -> tuple[RenderedClip, int]:
    """render_in_window(kind, base_seed, window, spec) -> (clip, its seed): the first of a fixed sequence of
    seeds derived from `base_seed` whose event starts in [lo, hi) seconds. ValueError after MAX_ATTEMPTS."""
    for attempt in range(MAX_ATTEMPTS):
        seed = base_seed if attempt == 0 else int(np.random.SeedSequence([base_seed, attempt]).generate_state(1, np.uint64)[0])
        rendered = render_clip(kind, seed, spec)
        if window[0] <= event_start_seconds(rendered, spec) < window[1]:
            return rendered, seed
    raise ValueError(
        f"motion bench: no '{kind}' event starting in [{window[0]:g}, {window[1]:g}) s after {MAX_ATTEMPTS} tries "
        f"({spec.seconds:g} s clips); use longer clips or other kinds"
    )


def annotation_row(name: str, rendered: RenderedClip, spec: ClipSpec, question: MotionQuestion, correct: str) -> dict[str, str]:
    """annotation_row(name, rendered, spec, question, correct) -> the VAU-Bench CSV row of one motion clip."""
    event = rendered.event
    start, end = (spec.seconds_at(f) for f in event.span_frames)
    what = EVENT_KINDS[event.kind].option
    values = [
        name,
        question.question,
        *question.options,
        correct,
        event.key_object,
        " ".join(part for part in (rendered.background, event.narrative) if part),
        f"{what} from {start:.1f} s to {end:.1f} s.",
        event.anomaly_class,
        f"{start:.1f}",
        f"{end:.1f}",
    ]
    return dict(zip(COLUMNS, values, strict=True))


def _readme_text(seed: int, spec: ClipSpec, kinds: tuple[str, ...], counts: dict[str, dict[str, int]]) -> str:
    qs = questions(spec, kinds)
    table = "\n".join(
        f"| {split} | {sum(v for k, v in c.items() if k.startswith('question:'))} | "
        + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        + " |"
        for split, c in counts.items()
    )
    options = "\n".join(
        f"- {q.kind}: \"{q.question}\" " + "; ".join(f"{letter}. {text}" for letter, text in zip(LETTERS, q.options))
        for q in qs.values()
    )
    return f"""# Motion bench (synthetic, answers depend on motion)

Generated by `{GENERATOR}.make_motion_bench` (generator version {GENERATOR_VERSION}), from the
mini bench's scenes and event renderers. For the motion-prompt / GRPO experiment (experiments/motion_vau).

- seed: {seed}
- clips: {spec.width}x{spec.height} px, {spec.fps:g} fps, {spec.n_frames} frames ({spec.duration:g} s), H.264 in `videos/`
- every clip holds one anomalous event of: {', '.join(kinds)}; spans run from the last still frame to the
  frame where the event has settled
- lmms-eval: `VAU_BENCH_ROOT=<this folder> VAU_BENCH_SPLITS={LMMS_SPLIT} VAU_BENCH_VIDEO_ROOT=<this folder>/videos`
  with the `vau_bench_qa` / `vau_bench_tag` tasks (or their `_think` variants)

Questions (options in this fixed order; answers balanced over the letters):
{options}

| split | clips | counts |
|---|---|---|
{table}
"""


def make_motion_bench(
    out: Union[str, Path],
    seed: int = 0,
    n_train: int = 400,
    n_test: int = 200,
    *,
    width: int = 128,
    height: int = 96,
    fps: float = 5.0,
    seconds: float = 8.0,
    kinds: Sequence[str] = DEFAULT_KINDS,
    timing_share: float = 0.5,
    overwrite: bool = False,
) -> BenchSummary:
    """make_motion_bench(out, seed=0, n_train=400, n_test=200, *, width=128, height=96, fps=5, seconds=8,
    kinds=DEFAULT_KINDS, timing_share=0.5, overwrite=False) -> BenchSummary.

    Writes the layout of the module doc into `out` (created if needed). `timing_share` of each split's clips get
    the timing question, the rest the kind question; kinds, start windows and answer letters are balanced
    within each split. The same arguments always write the same annotations and frames. Refuses a folder that
    holds files unless `overwrite`; summary counts are split -> "kind:<k>" / "question:<t>" -> clips."""
    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ValueError(f"motion bench: need non-negative clip counts and at least one clip, got train={n_train} test={n_test}")
    if not 0.0 <= timing_share <= 1.0:
        raise ValueError(f"motion bench: timing_share must be in [0, 1], got {timing_share}")
    kinds = check_kinds(kinds)
    spec = ClipSpec(width, height, float(fps), float(seconds))
    spec.validate()
    windows = start_windows(spec)
    qs = questions(spec, kinds)
    warn_unstable_width("motion bench", width)

    def plan(split_index: int, split: str, names: list[str]) -> Iterator[BenchClip]:
        n = len(names)
        # A salt apart from the mini bench's, so the same seed does not give the mini bench's clips.
        rng = np.random.default_rng([seed, split_index, 7 << 20])
        n_timing = round(n * timing_share)
        question_types = [TIMING] * n_timing + [KIND] * (n - n_timing)
        question_types = [question_types[i] for i in rng.permutation(n)]
        clip_kinds = shuffled_cycle(kinds, n, rng)
        window_letters = shuffled_cycle(LETTERS, n, rng)
        for index, name in enumerate(names):
            kind, qtype, window_letter = clip_kinds[index], question_types[index], window_letters[index]
            window = windows[LETTERS.index(window_letter)]
            rendered, cseed = render_in_window(kind, clip_seed(seed, split_index + 16, index), window, spec)
            correct = window_letter if qtype == TIMING else LETTERS[kinds.index(kind)]
            row = annotation_row(name, rendered, spec, qs[qtype], correct)
            entry = {
                "kind": kind,
                "anomaly_class": rendered.event.anomaly_class,
                "question_type": qtype,
                "correct_option": correct,
                "start_window": list(window),
                "span": [float(row["Start Time"]), float(row["End Time"])],
                "span_frames": list(rendered.event.span_frames),
                "scene": rendered.scene.name,
                "clip_seed": cseed,
            }
            yield BenchClip(rendered.frames, row, entry, counts=(f"kind:{kind}", f"question:{qtype}"))

    return write_bench(
        out,
        title="motion bench",
        prefix="motion",
        sizes=dict(zip(SPLITS, (n_train, n_test), strict=True)),
        plan=plan,
        spec=spec,
        seed=seed,
        readme=lambda counts: _readme_text(seed, spec, kinds, counts),
        settings=f"{spec.width}x{spec.height}, {spec.fps:g} fps, {spec.duration:g} s per clip, kinds {', '.join(kinds)}",
        manifest={
            "generator": GENERATOR,
            "version": GENERATOR_VERSION,
            "kinds": list(kinds),
            "timing_share": timing_share,
            "start_windows": [list(w) for w in windows],
            "questions": {q.kind: {"question": q.question, "options": list(q.options)} for q in qs.values()},
        },
        lmms_split=LMMS_SPLIT,
        overwrite=overwrite,
    )

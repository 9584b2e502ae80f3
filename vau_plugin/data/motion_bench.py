"""The motion bench: a synthetic VAU-Bench-schema benchmark whose answers depend on motion (issue 7).

It reuses the mini bench's scenes and event renderers (`vau_plugin.data.mini_bench.render_clip`), but every
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
`vau_plugin.data.prepare`) teaches a short `<think>` before the answer.

Layout written by `make_motion_bench(out)`::

    out/videos/motion_<split>_<nnnn>.mp4   H.264 clips (vau_plugin.video.write_mp4)
    out/train.csv, out/test.csv            VAU-Bench columns (vau_plugin.data.schema.COLUMNS)
    out/manifest.json                      per clip: name, split, kind, question type, span, seeds, hashes
    out/README.md                          what this is and how it was generated

Determinism: clip seeds derive from the bench seed (`mini_bench.clip_seed`); the start window of each clip is
reached by drawing attempt seeds in a fixed order until the renderer's start falls in it. The same arguments
give byte-identical CSVs, README, manifest and raw frames, and byte-identical mp4 files at the default width
(128 px; see the mini bench module doc on libx264).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vau_plugin.data.mini_bench import (
    EVENT_KINDS,
    NORMAL_KIND,
    STABLE_WIDTH_MULTIPLE,
    ClipSpec,
    RenderedClip,
    balanced_letters,
    clip_hashes,
    clip_seed,
    render_clip,
    write_bench_csv,
    write_manifest,
)
from vau_plugin.data.schema import COLUMNS, LETTERS

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "test")
VIDEO_DIR = "videos"
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
# Where the windows start (s) and the seconds left after them: the renderers keep ~15% of the clip still
# before an event and need ~2.6 s for the longest default event plus a tail.
WINDOW_LEAD_S = 1.0
WINDOW_TAIL_S = 3.0


@dataclass(frozen=True)
class MotionQuestion:
    """One question type's text and option texts, in letter order."""

    kind: str  # TIMING or KIND
    question: str
    options: tuple[str, ...]


def start_windows(spec: ClipSpec) -> list[tuple[float, float]]:
    """start_windows(spec) -> four [lo, hi) windows in seconds, in time order, for the timing question.

    They split [WINDOW_LEAD_S, seconds - WINDOW_TAIL_S) evenly; ValueError when a window would be shorter than
    two frames (the clip is too short or the frame rate too low)."""
    width = (spec.seconds - WINDOW_LEAD_S - WINDOW_TAIL_S) / len(LETTERS)
    if width * spec.fps < 2:
        raise ValueError(
            f"motion bench: {spec.seconds:g} s at {spec.fps:g} fps leaves start windows of {width:.2f} s; "
            f"need at least 2 frames each (use seconds >= {WINDOW_LEAD_S + WINDOW_TAIL_S + 8 / spec.fps:g})"
        )
    return [(round(WINDOW_LEAD_S + i * width, 3), round(WINDOW_LEAD_S + (i + 1) * width, 3)) for i in range(len(LETTERS))]


def window_option(window: tuple[float, float]) -> str:
    """window_option((lo, hi)) -> the option text of one start window."""
    return f"It starts between {window[0]:.1f} s and {window[1]:.1f} s"


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


def shuffled_cycle(values: Sequence[str], n: int, rng: np.random.Generator) -> list[str]:
    """`n` values cycling through `values` (each equally often, ±1), in a shuffled order."""
    cycle = [values[i % len(values)] for i in range(n)]
    return [cycle[i] for i in rng.permutation(n)]


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


@dataclass(frozen=True)
class MotionBenchSummary:
    """What `make_motion_bench` wrote: paths, counts per split and question type, the generation parameters."""

    root: Path
    videos_dir: Path
    train_csv: Path
    test_csv: Path
    manifest: Path
    readme: Path
    seed: int
    spec: ClipSpec
    kinds: tuple[str, ...]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> "kind:<k>" / "question:<t>" -> clips

    def n(self, split: str) -> int:
        """Clips in one split."""
        return sum(v for k, v in self.counts.get(split, {}).items() if k.startswith("question:"))

    def describe(self) -> str:
        """A short human-readable report for the CLI."""
        lines = [
            (f"motion bench written to {self.root} (seed {self.seed}, {self.spec.width}x{self.spec.height}, "
            f"{self.spec.fps:g} fps, {self.spec.duration:g} s per clip, kinds {', '.join(self.kinds)})"),
            f"  videos:   {self.videos_dir} ({self.n('train') + self.n('test')} mp4)",
        ]
        for split, path in (("train", self.train_csv), ("test", self.test_csv)):
            detail = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.get(split, {}).items()))
            lines.append(f"  {split + ':':9} {path} ({self.n(split)} rows: {detail})")
        lines.append(
            f"  lmms-eval: VAU_BENCH_ROOT={self.root} VAU_BENCH_SPLITS={LMMS_SPLIT} VAU_BENCH_VIDEO_ROOT={self.videos_dir} "
            "--tasks vau_bench_qa,vau_bench_tag"
        )
        return "\n".join(lines)


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

Generated by `vau_plugin.data.motion_bench.make_motion_bench` (generator version {GENERATOR_VERSION}), from the
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
    out: str | Path,
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
) -> MotionBenchSummary:
    """make_motion_bench(out, seed=0, n_train=400, n_test=200, *, width=128, height=96, fps=5, seconds=8,
    kinds=DEFAULT_KINDS, timing_share=0.5) -> MotionBenchSummary.

    Writes the layout of the module doc into `out` (created if needed). `timing_share` of each split's clips get
    the timing question, the rest the kind question; kinds, start windows and answer letters are balanced
    within each split. The same arguments always write the same annotations and frames."""
    from vau_plugin.video import write_mp4

    if n_train < 0 or n_test < 0 or n_train + n_test == 0:
        raise ValueError(f"motion bench: need non-negative clip counts and at least one clip, got train={n_train} test={n_test}")
    if not 0.0 <= timing_share <= 1.0:
        raise ValueError(f"motion bench: timing_share must be in [0, 1], got {timing_share}")
    kinds = check_kinds(kinds)
    spec = ClipSpec(width, height, float(fps), float(seconds))
    spec.validate()
    windows = start_windows(spec)
    qs = questions(spec, kinds)
    if width % STABLE_WIDTH_MULTIPLE:
        logger.warning("motion bench: width %d is not a multiple of %d; mp4 bytes may differ between runs", width, STABLE_WIDTH_MULTIPLE)
    root = Path(out)
    videos = root / VIDEO_DIR
    videos.mkdir(parents=True, exist_ok=True)
    clips: list[dict] = []
    csv_paths: dict[str, Path] = {}
    counts: dict[str, dict[str, int]] = {}
    for split_index, (split, n) in enumerate(zip(SPLITS, (n_train, n_test), strict=True)):
        # A salt apart from the mini bench's, so the same seed does not give the mini bench's clips.
        rng = np.random.default_rng([seed, split_index, 7 << 20])
        n_timing = round(n * timing_share)
        question_types = [QUESTION_TYPES[0]] * n_timing + [QUESTION_TYPES[1]] * (n - n_timing)
        question_types = [question_types[i] for i in rng.permutation(n)]
        clip_kinds = shuffled_cycle(kinds, n, rng)
        window_letters = balanced_letters(n, rng)
        rows, counts[split] = [], {}
        for index in range(n):
            kind, qtype, window_letter = clip_kinds[index], question_types[index], window_letters[index]
            window = windows[LETTERS.index(window_letter)]
            name = f"motion_{split}_{index:04d}.mp4"
            rendered, cseed = render_in_window(kind, clip_seed(seed, split_index + 16, index), window, spec)
            correct = window_letter if qtype == TIMING else LETTERS[kinds.index(kind)]
            row = annotation_row(name, rendered, spec, qs[qtype], correct)
            rows.append(row)
            path = write_mp4(videos / name, rendered.frames, spec.fps)
            for key in (f"kind:{kind}", f"question:{qtype}"):
                counts[split][key] = counts[split].get(key, 0) + 1
            clips.append(
                {
                    "name": name,
                    "split": split,
                    "kind": kind,
                    "anomaly_class": rendered.event.anomaly_class,
                    "question_type": qtype,
                    "correct_option": correct,
                    "start_window": list(window),
                    "span": [float(row["Start Time"]), float(row["End Time"])],
                    "span_frames": list(rendered.event.span_frames),
                    "scene": rendered.scene.name,
                    "clip_seed": cseed,
                    **clip_hashes(rendered.frames, path),
                }
            )
        csv_paths[split] = root / f"{split}.csv"
        write_bench_csv(csv_paths[split], rows)
    readme = root / "README.md"
    readme.write_text(_readme_text(seed, spec, kinds, counts), encoding="utf-8")
    manifest = root / "manifest.json"
    write_manifest(
        manifest,
        generator="vau_plugin.data.motion_bench",
        version=GENERATOR_VERSION,
        seed=seed,
        spec=spec,
        files=[csv_paths["train"], csv_paths["test"], readme],
        clips=clips,
        kinds=list(kinds),
        timing_share=timing_share,
        start_windows=[list(w) for w in windows],
        questions={q.kind: {"question": q.question, "options": list(q.options)} for q in qs.values()},
    )
    return MotionBenchSummary(
        root=root,
        videos_dir=videos,
        train_csv=csv_paths["train"],
        test_csv=csv_paths["test"],
        manifest=manifest,
        readme=readme,
        seed=seed,
        spec=spec,
        kinds=kinds,
        counts=counts,
    )

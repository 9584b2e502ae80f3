"""The synthetic mini bench: balanced classes and answers, VAU-Bench-style texts, real mp4 clips whose annotated
spans hold the motion of the event, and the bundled copy. What every bench promises (layout, header, determinism,
the command) is in test_bench_contract."""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from vau_plugin.benches.events import EVENT_KINDS, NORMAL_KIND, render_clip
from vau_plugin.benches.mini import make_mini_bench
from vau_plugin.benches.scene import ClipSpec
from vau_plugin.data.bundled import MINI_BENCH_DIR
from vau_plugin.data.schema import CLASSES, LETTERS, NORMAL_CLASS, OPTION_COLUMNS

N_TRAIN, N_TEST = 16, 12
SPEC = ClipSpec()  # the defaults make_mini_bench uses
REASONING_SECTIONS = (
    "### Specific Anomaly Type:",
    "### Location:",
    "### Key Evidence:",
    "### Detailed Explanation:",
    "### Cause and Effect:",
    "### Conclusion:",
)
# A pixel counts as changed between two frames when a channel moves by more than this (noise is ±2).
CHANGE_THRESHOLD = 25


@pytest.fixture(scope="session")
def bench(tmp_path_factory):
    return make_mini_bench(tmp_path_factory.mktemp("mini") / "bench", seed=0, n_train=N_TRAIN, n_test=N_TEST)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def all_rows(summary) -> list[tuple[str, dict[str, str]]]:
    return [("train", r) for r in read_rows(summary.train_csv)] + [("test", r) for r in read_rows(summary.test_csv)]


def manifest_clips(summary) -> dict[str, dict]:
    return {clip["name"]: clip for clip in json.loads(summary.manifest.read_text(encoding="utf-8"))["clips"]}


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def motion_profile(frames: np.ndarray) -> np.ndarray:
    """Per consecutive frame pair (t, t+1): the share of pixels that changed clearly."""
    diff = np.abs(frames[1:].astype(np.int16) - frames[:-1].astype(np.int16)).max(axis=-1)
    return (diff > CHANGE_THRESHOLD).mean(axis=(1, 2))


def test_readme_and_description(bench):
    readme = bench.readme.read_text(encoding="utf-8")
    assert "seed: 0" in readme and "mini bench" in readme
    assert str(bench.train_csv) in bench.describe() and "Normal" in bench.describe()


def test_classes_and_balance(bench):
    clips = manifest_clips(bench)
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        rows = [r for s, r in all_rows(bench) if s == split]
        classes = Counter(r["Anomaly Class"] for r in rows)
        assert set(classes) <= set(CLASSES)
        assert classes[NORMAL_CLASS] == round(n / 3)
        assert len(classes) >= 5  # the anomalous kinds are spread, not one class
        for row in rows:
            kind = clips[row["Video Name"]]["kind"]
            assert row["Anomaly Class"] == EVENT_KINDS[kind].anomaly_class == clips[row["Video Name"]]["anomaly_class"]
    train_classes = {r["Anomaly Class"] for s, r in all_rows(bench) if s == "train"}
    assert train_classes == {k.anomaly_class for k in EVENT_KINDS.values()}


def test_questions_have_four_options_and_varied_correct_letters(bench):
    clips = manifest_clips(bench)
    for split in ("train", "test"):
        rows = [r for s, r in all_rows(bench) if s == split]
        letters = Counter(r["Correct Option"] for r in rows)
        assert set(letters) <= set(LETTERS)
        assert len(letters) == 4, letters
        assert max(letters.values()) <= math.ceil(len(rows) / 4)  # always-A cannot win
        for row in rows:
            options = [row[c] for c in OPTION_COLUMNS]
            assert all(options) and len(set(options)) == 4
            kind = clips[row["Video Name"]]["kind"]
            assert options[LETTERS.index(row["Correct Option"])] == EVENT_KINDS[kind].option
            assert row["Correct Option"] == clips[row["Video Name"]]["correct_option"]
            assert row["Question"].endswith("?")


def test_text_fields_follow_the_vau_bench_style(bench):
    for _, row in all_rows(bench):
        assert row["Key Object"] and row["Description"].count(". ") >= 2
        reasoning = row["Reasoning"]
        positions = [reasoning.find(section) for section in REASONING_SECTIONS]
        assert all(p >= 0 for p in positions) and positions == sorted(positions), reasoning
        assert reasoning.startswith(f"### Specific Anomaly Type: {row['Anomaly Class']} ")
        assert "\n" not in reasoning  # single-line cells, as in the published CSVs
        if row["Anomaly Class"] != NORMAL_CLASS:
            # the description names the annotated times
            assert f"{row['Start Time']} s" in row["Description"] and f"{row['End Time']} s" in row["Description"]


def test_spans(bench):
    clips = manifest_clips(bench)
    for _, row in all_rows(bench):
        assert re.fullmatch(r"\d+\.\d", row["Start Time"]) and re.fullmatch(r"\d+\.\d", row["End Time"])
        start, end = float(row["Start Time"]), float(row["End Time"])
        clip = clips[row["Video Name"]]
        if row["Anomaly Class"] == NORMAL_CLASS:
            assert (start, end) == (0.0, 0.0) and clip["span"] is None
        else:
            assert 0.0 <= start < end <= SPEC.duration
            assert clip["span"] == [start, end]
            first, last = clip["span_frames"]
            assert (round(first / SPEC.fps, 1), round(last / SPEC.fps, 1)) == (start, end)


def test_videos_decode_with_the_annotated_size_and_length(bench):
    for path in sorted(bench.videos_dir.glob("*.mp4")):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert float(stream.average_rate) == pytest.approx(SPEC.fps)
            frames = [f for f in container.decode(video=0)]
        assert len(frames) == SPEC.n_frames == round(SPEC.fps * SPEC.seconds)
        assert (frames[0].width, frames[0].height) == (SPEC.width, SPEC.height)


def test_the_event_is_in_the_annotated_span(bench):
    """For every anomalous clip, the decoded video moves clearly more inside the span than outside it, and its
    single strongest change lies inside the span; a span placed anywhere else fails both."""
    checked = 0
    for name, clip in manifest_clips(bench).items():
        if clip["span"] is None:
            continue
        profile = motion_profile(decode(bench.videos_dir / name))
        first = round(clip["span"][0] * SPEC.fps)
        last = round(clip["span"][1] * SPEC.fps)
        inside = np.zeros(len(profile), dtype=bool)
        inside[first:last] = True  # pairs (t, t+1) with both frames in [first, last]
        assert inside.any() and (~inside).sum() >= 5, name
        ratio = profile[inside].mean() / max(profile[~inside].mean(), 1e-6)
        assert ratio > 1.5, f"{name} ({clip['kind']}): motion inside/outside the span is only {ratio:.2f}"
        assert first <= int(np.argmax(profile)) < last, f"{name} ({clip['kind']}): strongest motion outside the span"
        checked += 1
    assert checked == N_TRAIN + N_TEST - round(N_TRAIN / 3) - round(N_TEST / 3)


def test_normal_clips_move_but_hold_no_event(bench):
    """Normal clips have regular motion (people walking) but no burst like an event's."""
    for name, clip in manifest_clips(bench).items():
        if clip["span"] is not None:
            continue
        profile = motion_profile(decode(bench.videos_dir / name))
        assert profile.mean() > 0.001, f"{name}: nothing moves"
        assert profile.max() < 0.03, f"{name}: a burst of motion ({profile.max():.3f}) in a normal clip"


def test_the_bundled_bench_is_byte_for_byte_what_make_mini_bench_writes(bench):
    """The wheel's mini bench is `make_mini_bench` with the defaults (seed 0, 16 / 12 clips, 128x96 px, where the
    mp4 bytes are stable too), so a change to the scenes, events, texts or writer that alters any output fails here."""
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}

    shipped, written = files(MINI_BENCH_DIR), files(bench.root)
    assert sorted(shipped) == sorted(written)
    assert [name for name in shipped if shipped[name] != written[name]] == []


def test_the_reader_loads_the_bench_without_complaint(bench):
    from vau_plugin.data.sources import read_source

    results = {r.split: r for r in read_source(bench.root)}
    assert set(results) == {"train", "test"}
    clips = manifest_clips(bench)
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        result = results[split]
        assert result.errors == [] and result.warnings == []
        assert result.rows == len(result.records) == n
        for record in result.records:
            clip = clips[record.video]
            assert record.usable_qa and record.usable_cls and record.usable_reason
            assert record.answer == clip["correct_option"] and record.anomaly_class == clip["anomaly_class"]
            assert record.usable_tag == (clip["span"] is not None)
            if clip["span"] is not None:
                assert list(record.span) == clip["span"]


def test_render_clip_is_a_pure_function_of_kind_seed_and_spec():
    spec = ClipSpec(width=64, height=48, fps=8, seconds=4)
    a, b = render_clip("fight", 123, spec), render_clip("fight", 123, spec)
    assert a.frames.shape == (spec.n_frames, 48, 64, 3) and a.frames.dtype == np.uint8
    assert np.array_equal(a.frames, b.frames) and a.event == b.event
    assert not np.array_equal(a.frames, render_clip("fight", 124, spec).frames)
    assert render_clip(NORMAL_KIND, 5, spec).event.span_frames is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"width": 113}, "even"),
        ({"height": 20}, "at least"),
        ({"seconds": 2}, "seconds"),
        ({"n_train": 0, "n_test": 0}, "at least one"),
        ({"n_train": -1}, "non-negative"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_mini_bench(tmp_path / "bad", **kwargs)
    with pytest.raises(ValueError, match="unknown event kind"):
        render_clip("meteor_strike", 0)

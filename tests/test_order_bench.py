"""The order bench: still or moving squares, balanced answers, frames that hold the answer only in their order, a
pure renderer, `prepare`'s targets, and the command's tiers. What every bench promises (layout, header, determinism,
the held-out split's QA, the output folder) is in test_bench_contract."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vau_plugin.benches.order import (
    DIRECTIONS,
    MOVING_CLASS,
    QUESTION_TYPES,
    QUESTIONS,
    SPLITS,
    answer_letters,
    heldout_offsets,
    make_order_bench,
    midpoint_band,
    path_length,
    render_order_clip,
)
from vau_plugin.benches.writer import sha256_hex
from vau_plugin.cli import main
from vau_plugin.data.schema import LETTERS, NORMAL_CLASS
from vau_plugin.data.sources import load_records

COUNTS = {"train": 12, "val": 3, "test": 6}  # 12 train clips: 4 per question type, each answer once or twice
SETTINGS = {"size": 56, "seed": 3}


def make(out: Path, **extra):
    return make_order_bench(out, n_train=COUNTS["train"], n_val=COUNTS["val"], n_test=COUNTS["test"], **SETTINGS, **extra)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return make(tmp_path_factory.mktemp("order") / "bench")


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def clips(bench) -> list[dict]:
    return json.loads(bench.manifest.read_text(encoding="utf-8"))["clips"]


def centroids(frames: np.ndarray) -> np.ndarray:
    """[T, 2] (x, y) centre of the bright pixels of each frame (background 40, square 230, noise std 8)."""
    bright = frames.mean(axis=-1) > 135
    ys, xs = np.indices(bright.shape[1:])
    return np.array([(xs[b].mean(), ys[b].mean()) for b in bright])


def test_rows_are_still_or_moving_squares_and_every_row_serves_qa(bench):
    assert "not VAU-Bench" in bench.readme.read_text(encoding="utf-8")
    for split in SPLITS:
        rows = read_rows(bench.csvs[split])
        records = load_records(bench.csvs[split], split=split)
        assert len(records) == COUNTS[split] and all(r.usable_qa for r in records)
        for row, record in zip(rows, records):
            assert row["Video Name"] == f"order_{split}_{record.row - 1:04d}.mp4"
            if row["Reasoning"] == "The square stays still.":
                assert (row["Anomaly Class"], row["Start Time"], row["End Time"]) == (NORMAL_CLASS, "0.0", "0.0")
                assert record.span is None
            else:
                assert row["Anomaly Class"] == MOVING_CLASS and record.usable_tag
                assert record.span[1] == 7.5 and 0.0 <= record.span[0] < 7.5  # 16 frames at 2 fps: last at 7.5 s


def test_question_types_round_robin_and_answers_balanced(bench):
    for split in SPLITS:
        rows = read_rows(bench.csvs[split])
        assert [r["Question"] for r in rows] == [QUESTIONS[QUESTION_TYPES[i % 3]] for i in range(len(rows))]
        for question_type in QUESTION_TYPES:
            letters = Counter(r["Correct Option"] for r in rows if r["Question"] == QUESTIONS[question_type])
            assert set(letters) <= set(answer_letters(question_type))
            assert max(letters.values()) - min(letters.get(x, 0) for x in answer_letters(question_type)) <= 1
    train = Counter(r["Correct Option"] for r in read_rows(bench.train_csv) if r["Question"] == QUESTIONS["moves"])
    assert train == {"A": 2, "B": 2}
    assert bench.counts["train"] == {"direction": 4, "moves": 4, "start": 4}


def test_manifest_seeds_reproduce_the_frames_and_the_frames_hold_the_answer(bench):
    by_name = {r["Video Name"]: r for s in SPLITS for r in read_rows(bench.csvs[s])}
    for clip in clips(bench):
        row = by_name[clip["name"]]
        rendered = render_order_clip(clip["question_type"], clip["correct_option"], clip["clip_seed"], size=56)
        assert sha256_hex(rendered.frames.tobytes()) == clip["frames_sha256"]
        centre = centroids(rendered.frames)
        np.testing.assert_allclose(centre, rendered.positions + (rendered.side - 1) / 2, atol=0.05)
        if clip["direction"] is None:
            assert np.ptp(centre, axis=0).max() < 0.05  # still: one position in every frame
            continue
        start = clip["start_frame"]
        assert float(row["Start Time"]) == start / 2.0 == clip["start_s"]
        axis, sign = {"Left": (0, -1), "Right": (0, 1), "Up": (1, -1), "Down": (1, 1)}[clip["direction"]]
        assert np.ptp(centre[:, 1 - axis]) < 0.05
        assert np.ptp(centre[: start + 1, axis]) < 0.05  # still up to the start
        assert (sign * np.diff(centre[start:, axis]) > 0.5).all()  # then one way in every frame
        assert sign * (centre[-1, axis] - centre[0, axis]) >= 0.4 * 56
        if clip["question_type"] == "direction":
            assert start == 0 and clip["direction"] == DIRECTIONS[LETTERS.index(clip["correct_option"])]
        if clip["question_type"] == "start":
            lo, hi = [float(t) for t in row[f"Option {LETTERS.index(clip['correct_option']) + 1}"].split() if t[0].isdigit()]
            assert lo <= start / 2.0 < hi


def test_the_mp4_holds_the_rendered_motion(bench):
    import av

    clip = next(c for c in clips(bench) if c["question_type"] == "direction")
    with av.open(str(bench.videos_dir / clip["name"])) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    rendered = render_order_clip("direction", clip["correct_option"], clip["clip_seed"], size=56)
    assert decoded.shape == rendered.frames.shape
    assert np.abs(centroids(decoded) - centroids(rendered.frames)).max() < 1.0


@pytest.mark.parametrize("tier", ["small", "large"])
def test_the_path_midpoint_does_not_depend_on_the_direction(tier):
    # Given the seed, all four directions share the midpoint, so one frame's position (or the unordered set of
    # positions along the axis) carries no sign. And over many seeds the mean midpoint sits at the centre.
    midpoints = {d: [] for d in DIRECTIONS}
    for seed in range(50):
        for letter, direction in zip(LETTERS, DIRECTIONS):
            clip = render_order_clip("direction", letter, seed, tier=tier, size=56)
            midpoints[direction].append(centroids(clip.frames).mean(axis=0))
    for direction in DIRECTIONS:
        assert np.abs(np.array(midpoints[direction]) - np.array(midpoints["Left"])).max() <= 0.5
        assert np.abs(np.mean(midpoints[direction], axis=0) - (56 - 1) / 2).max() < 3.0
    assert path_length(56) >= 0.4 * 56 and path_length(112) >= 0.4 * 112


def test_still_clips_sit_where_moving_ones_pass():
    # A still square is placed like a moving one at a random frame: the spread of single-frame positions is alike.
    still = [render_order_clip("moves", "B", s, tier="small", size=56).positions[0] for s in range(200)]
    moving = [render_order_clip("moves", "A", s, tier="small", size=56).positions[s % 16] for s in range(200)]
    assert np.abs(np.mean(still, axis=0) - np.mean(moving, axis=0)).max() < 3.0
    assert np.abs(np.std(still, axis=0) - np.std(moving, axis=0)).max() < 3.0


def test_rendering_is_a_pure_function_of_its_arguments():
    other = render_order_clip("start", "C", 1, size=56).frames
    assert np.array_equal(other, render_order_clip("start", "C", 1, size=56).frames)


def test_bad_arguments_are_refused_with_the_argument_named(tmp_path):
    for kwargs, named in (({"tier": "huge"}, "tier"), ({"size": 100}, "size"), ({"n_val": -1}, "n_val"),
                          ({"seconds": 5.0}, "seconds"), ({"seed": -2}, "seed")):  # fmt: skip
        with pytest.raises(ValueError, match=named):
            make_order_bench(tmp_path / "bad", **{"n_train": 1, "n_val": 0, "n_test": 0, **kwargs})
    with pytest.raises(ValueError, match="answer"):
        render_order_clip("moves", "C", 0)
    assert not (tmp_path / "bad").exists()


def test_prepare_reads_the_train_split_into_short_sft_targets(bench, tmp_path):
    from vau_plugin.llamafactory.prepare import prepare_dataset

    summary = prepare_dataset(bench.root, bench.videos_dir, tmp_path / "lf", tasks=("qa",), split="train")
    assert summary.rows["vau_r1_sft_qa"] == COUNTS["train"]
    target = json.loads((tmp_path / "lf" / "sft_qa.json").read_text(encoding="utf-8"))[0]["messages"][1]["content"]
    assert target.startswith("<think>The square moves") and len(target) < 120


def test_the_heldout_split_puts_every_path_on_an_offset_no_other_split_uses(bench, tmp_path):
    held = make(tmp_path / "held", n_heldout=6)
    for split in SPLITS:  # the other splits are the same bytes with or without the held-out split
        assert held.csvs[split].read_bytes() == bench.csvs[split].read_bytes()
    assert held.counts["heldout"] == {"direction": 2, "moves": 2, "start": 2}
    assert "heldout" not in bench.csvs and not (bench.root / "heldout.csv").exists()
    assert "never seen in training" in held.readme.read_text(encoding="utf-8")
    lo, hi = midpoint_band(56, 28)
    rows = {r["Video Name"]: r for r in read_rows(held.csvs["heldout"])}
    assert len(rows) == 6 and all(load_records(held.csvs["heldout"], split="heldout")[i].usable_qa for i in range(6))
    seen_across, held_across = set(), set()
    for clip in clips(held):
        heldout = clip["split"] == "heldout"
        assert clip.get("heldout_offset", False) is heldout
        rendered = render_order_clip(clip["question_type"], clip["correct_option"], clip["clip_seed"], size=56, heldout=heldout)
        assert sha256_hex(rendered.frames.tobytes()) == clip["frames_sha256"]
        position = rendered.positions[0]
        if clip["direction"] is None:  # still: where a moving square would be, so one coordinate is off the band
            assert not heldout or any(not lo <= x <= hi for x in position)
            continue
        axis = {"Left": 0, "Right": 0, "Up": 1, "Down": 1}[clip["direction"]]
        across = int(position[1 - axis])
        (held_across if heldout else seen_across).add(across)
        assert (across in heldout_offsets(56, 28)) is heldout
    assert held_across and seen_across and not held_across & seen_across
    # Over many seeds the held-out offsets cover both sides of the band, and the question still has its answer.
    offsets = {int(render_order_clip("direction", "A", s, size=56, heldout=True).positions[0][1]) for s in range(60)}
    assert min(offsets) < lo and max(offsets) > hi and offsets <= set(heldout_offsets(56, 28).tolist())


def test_the_heldout_split_needs_room_outside_the_band(tmp_path):
    assert len(heldout_offsets(56, 28)) == 24 and len(heldout_offsets(112, 14)) > 0
    with pytest.raises(ValueError, match="n_heldout"):
        make_order_bench(tmp_path / "bad", n_train=1, n_val=0, n_test=0, n_heldout=-1)
    assert not (tmp_path / "bad").exists()
    assert main(["make-order-bench", str(tmp_path / "cli"), "--train", "0", "--val", "0", "--test", "0", "--heldout", "3"]) == 0
    assert len(read_rows(tmp_path / "cli" / "heldout.csv")) == 3


def test_cli_refuses_a_bad_tier_and_writes_the_small_one(tmp_path, capsys):
    assert main(["make-order-bench", str(tmp_path / "new"), "--tier", "huge", "--train", "1", "--test", "0"]) == 1
    err = capsys.readouterr().err
    assert "make-order-bench" in err and "tier" in err and "'huge'" in err
    assert main(["make-order-bench", str(tmp_path / "ok"), "--tier", "small", "--train", "3", "--val", "0", "--test", "3"]) == 0
    out = capsys.readouterr().out
    assert "VAU_BENCH_SPLITS=test" in out and "14-px square" in out
    assert len(read_rows(tmp_path / "ok" / "val.csv")) == 0 and len(read_rows(tmp_path / "ok" / "test.csv")) == 3

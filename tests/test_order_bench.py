"""The order bench: VAU-Bench schema, balanced answers, frames that hold the answer only in their order, determinism,
and the command line."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vau_plugin.benches.order import (
    DIRECTIONS,
    LMMS_SPLIT,
    MOVING_CLASS,
    QUESTION_TYPES,
    QUESTIONS,
    SPLITS,
    answer_letters,
    make_order_bench,
    path_length,
    render_order_clip,
)
from vau_plugin.benches.writer import sha256_hex
from vau_plugin.cli import main
from vau_plugin.data.reader import load_records
from vau_plugin.data.schema import COLUMNS, LETTERS, NORMAL_CLASS
from vau_plugin.data.validate import validate_path
from vau_plugin.video_checks import check_videos

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


def test_layout_schema_and_every_row_usable(bench):
    for name in ("train.csv", "val.csv", "test.csv", "manifest.json", "README.md"):
        assert (bench.root / name).is_file(), name
    assert "not VAU-Bench" in bench.readme.read_text(encoding="utf-8")
    for split in SPLITS:
        rows = read_rows(bench.csvs[split])
        assert list(rows[0]) == list(COLUMNS)
        records = load_records(bench.csvs[split], split=split)
        assert len(records) == COUNTS[split] and all(r.usable_qa for r in records)
        report = validate_path(bench.csvs[split], video_root=bench.videos_dir, check_videos=check_videos)
        assert report["errors"] == [] and report["warnings"] == [] and report["videos"]["found"] == COUNTS[split]
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


def test_same_arguments_give_identical_csvs_manifest_and_frames(bench, tmp_path):
    again = make(tmp_path / "again")
    for name in ("train.csv", "val.csv", "test.csv", "README.md"):
        assert (bench.root / name).read_bytes() == (again.root / name).read_bytes(), name
    drop_mp4 = [{k: v for k, v in c.items() if k != "file_sha256"} for c in clips(bench)]
    assert drop_mp4 == [{k: v for k, v in c.items() if k != "file_sha256"} for c in clips(again)]
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


def test_lmms_tasks_and_prepare_read_the_bench(bench, monkeypatch, tmp_path):
    from vau_plugin.llamafactory.prepare import prepare_dataset
    from vau_plugin.lmms.docs import bench_environment, load_task_docs

    for name, value in bench_environment(bench.root, bench.videos_dir, LMMS_SPLIT).items():
        monkeypatch.setenv(name, value)
    test_rows = {r["Video Name"]: r for r in read_rows(bench.test_csv)}
    qa = load_task_docs("qa", "all")
    assert {d["video"]: d["answer"] for d in qa} == {n: r["Correct Option"] for n, r in test_rows.items()}
    summary = prepare_dataset(bench.root, bench.videos_dir, tmp_path / "lf", tasks=("qa",), split="train")
    assert summary.rows["vau_r1_sft_qa"] == COUNTS["train"]
    target = json.loads((tmp_path / "lf" / "sft_qa.json").read_text(encoding="utf-8"))[0]["messages"][1]["content"]
    assert target.startswith("<think>The square moves") and len(target) < 120


def test_cli_refuses_a_full_folder_and_a_bad_tier(tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine", encoding="utf-8")
    assert main(["make-order-bench", str(full), "--train", "1", "--val", "0", "--test", "0"]) == 1
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in full.iterdir()] == ["keep.txt"] and (full / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert main(["make-order-bench", str(tmp_path / "new"), "--tier", "huge", "--train", "1", "--test", "0"]) == 1
    err = capsys.readouterr().err
    assert "make-order-bench" in err and "tier" in err and "'huge'" in err
    assert main(["make-order-bench", str(tmp_path / "ok"), "--tier", "small", "--train", "3", "--val", "0", "--test", "3"]) == 0
    out = capsys.readouterr().out
    assert "VAU_BENCH_SPLITS=test" in out and "14-px square" in out
    assert len(read_rows(tmp_path / "ok" / "val.csv")) == 0 and len(read_rows(tmp_path / "ok" / "test.csv")) == 3

"""The motion bench (issue 7): every row serves every task, balanced answers that follow from the event's timing and
kind, the event spans read by the lmms-eval TAG task, short SFT targets from `prepare`. What every bench promises
(layout, header, determinism, the held-out split's QA, the command) is in test_bench_contract."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vau_plugin.benches.events import EVENT_KINDS, render_clip
from vau_plugin.benches.motion import (
    DEFAULT_KINDS,
    KIND_QUESTION,
    LMMS_SPLIT,
    TIMING_QUESTION,
    check_kinds,
    make_motion_bench,
)
from vau_plugin.benches.scene import ClipSpec
from vau_plugin.benches.text import start_windows
from vau_plugin.data.schema import LETTERS, OPTION_COLUMNS
from vau_plugin.data.validate import validate_path
from vau_plugin.video_checks import check_videos

N = 8  # per split: two clips of each kind, four of each question type, two of each letter


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return make_motion_bench(tmp_path_factory.mktemp("motion") / "bench", seed=3, n_train=N, n_test=N)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def manifest(summary) -> dict:
    return json.loads(summary.manifest.read_text(encoding="utf-8"))


def test_every_row_serves_every_task(bench):
    for split_csv in (bench.train_csv, bench.test_csv):
        assert validate_path(split_csv, video_root=bench.videos_dir, check_videos=check_videos)["usable"] == {"qa": N, "tag": N, "cls": N, "reason": N}


def test_kinds_question_types_and_letters_are_balanced_per_split(bench):
    clips = manifest(bench)["clips"]
    for split in ("train", "test"):
        chosen = [c for c in clips if c["split"] == split]
        assert Counter(c["kind"] for c in chosen) == {k: N // 4 for k in DEFAULT_KINDS}
        assert Counter(c["question_type"] for c in chosen) == {"timing": N // 2, "kind": N // 2}
        windows = Counter(tuple(c["start_window"]) for c in chosen)
        assert sorted(windows.values()) == [N // 4] * 4


def test_answers_follow_from_the_event_start_and_kind(bench):
    windows = start_windows(bench.spec)
    by_name = {c["name"]: c for c in manifest(bench)["clips"]}
    for row in read_rows(bench.train_csv) + read_rows(bench.test_csv):
        clip = by_name[row["Video Name"]]
        start, end = float(row["Start Time"]), float(row["End Time"])
        assert 0 <= start < end <= bench.spec.duration
        options = [row[c] for c in OPTION_COLUMNS]
        letter = row["Correct Option"]
        if row["Question"] == TIMING_QUESTION:
            lo, hi = windows[LETTERS.index(letter)]
            assert lo <= start < hi, row["Video Name"]
            assert options[LETTERS.index(letter)].endswith(f"between {lo:.1f} s and {hi:.1f} s")
        else:
            assert row["Question"] == KIND_QUESTION
            assert options == [EVENT_KINDS[k].option for k in DEFAULT_KINDS]  # fixed order
            assert options[LETTERS.index(letter)] == EVENT_KINDS[clip["kind"]].option
        assert row["Anomaly Class"] == EVENT_KINDS[clip["kind"]].anomaly_class
        assert row["Reasoning"] == f"{EVENT_KINDS[clip['kind']].option} from {start:.1f} s to {end:.1f} s."


def test_manifest_seed_reproduces_the_frames_and_the_span_holds_the_motion(bench):
    spec = bench.spec
    clip = manifest(bench)["clips"][0]
    rendered = render_clip(clip["kind"], clip["clip_seed"], spec)
    assert __import__("hashlib").sha256(np.ascontiguousarray(rendered.frames).tobytes()).hexdigest() == clip["frames_sha256"]
    first, last = clip["span_frames"]
    # The event changes the picture inside its span far more than sensor noise (±2) does.
    frames = rendered.frames.astype(np.int16)
    inside = np.abs(np.diff(frames[first : last + 1], axis=0)).max()
    assert inside > 25


def test_the_lmms_tag_task_reads_every_event_span_of_the_held_out_split(bench, monkeypatch):
    from vau_plugin.lmms.docs import bench_environment, load_task_docs

    for name, value in bench_environment(bench.root, bench.videos_dir, LMMS_SPLIT).items():
        monkeypatch.setenv(name, value)
    test_rows = {r["Video Name"]: r for r in read_rows(bench.test_csv)}
    tag = load_task_docs("tag", "all")
    assert {d["video"]: d["span"] for d in tag} == {n: [float(r["Start Time"]), float(r["End Time"])] for n, r in test_rows.items()}
    assert all(Path(d["video_path"]).is_file() for d in tag)


def test_prepare_makes_short_sft_targets_from_the_train_split(bench, tmp_path):
    from vau_plugin.llamafactory.prepare import prepare_dataset

    summary = prepare_dataset(bench.root, bench.videos_dir, tmp_path / "lf", tasks=("qa", "tag"), split="train")
    assert summary.rows["vau_r1_sft_mixed"] == 2 * N and summary.rows["vau_r1_mixed"] == 2 * N
    rows = json.loads((tmp_path / "lf" / "sft_tag.json").read_text(encoding="utf-8"))
    target = rows[0]["messages"][1]["content"]
    assert target.startswith("<think>") and "<glue>[" in target and len(target) < 200


def test_bad_settings_are_refused_with_the_field_named(tmp_path):
    with pytest.raises(ValueError, match="kinds"):
        check_kinds(["object_falling", "object_falling", "car_crash", "fire"])
    with pytest.raises(ValueError, match="kinds"):
        check_kinds(["normal", "car_crash", "fire", "fight"])
    with pytest.raises(ValueError, match="start windows"):
        start_windows(ClipSpec(128, 96, 5.0, 5.0))
    with pytest.raises(ValueError, match="timing_share"):
        make_motion_bench(tmp_path / "x", n_train=1, n_test=1, timing_share=1.5)

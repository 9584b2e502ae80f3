"""`vau-plugin validate` run as a real subprocess on the real CSVs and on broken ones."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _csv_rows import write_csv
from _odd_videos import noise_clip, rotated_clip, same_pts_clip
from vau_plugin.data.schema import COLUMNS, TASKS

REAL_ROWS = {"val": 734, "test_msad": 240, "test_ucf_crime": 290, "test_ecva": 438}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real 2-frame mp4 written with PyAV, copied under the names a test needs."""
    import av
    import numpy as np

    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=2)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for value in (0, 255):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), value, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def validate(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vau_plugin.cli", "validate", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def validate_json(*args: str) -> dict:
    done = validate(*args, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # exactly one JSON object: json.loads rejects trailing output
    assert isinstance(report, dict)
    return report


def assert_fails_cleanly(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode != 0
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr


# ------------------------------------------------------------------------------------------- real files


@pytest.mark.parametrize("split", sorted(REAL_ROWS))
def test_real_file_json(shared_vau_bench, split):
    from vau_plugin.data import read_csv

    report = validate_json(shared_vau_bench / f"{split}.csv")
    assert report["rows"] == REAL_ROWS[split]
    records = read_csv(shared_vau_bench / f"{split}.csv").records
    assert report["usable"] == {task: sum(r.usable(task) for r in records) for task in TASKS}
    assert all(isinstance(report["usable"][t], int) for t in ("qa", "tag", "cls", "reason"))
    assert report["errors"] == []
    assert isinstance(report["warnings"], list)


def test_real_msad_counts(shared_vau_bench):
    report = validate_json(shared_vau_bench / "test_msad.csv")
    assert report["usable"] == {"qa": 240, "tag": 120, "cls": 240, "reason": 240}
    assert report["sources"] == {"msad": 240}


# UCF-Crime test: 12 of its 39 rows without class, question or description still carry a valid span;
# a missing class is "not Normal", so they serve TAG (DESIGN.md; issue 11): 112 + 12 = 124.
@pytest.mark.parametrize(
    "split, usable",
    [
        ("val", {"qa": 734, "tag": 339, "cls": 734, "reason": 734}),
        ("test_msad", {"qa": 240, "tag": 120, "cls": 240, "reason": 240}),
        ("test_ucf_crime", {"qa": 251, "tag": 124, "cls": 251, "reason": 251}),
        ("test_ecva", {"qa": 438, "tag": 400, "cls": 438, "reason": 438}),
    ],
)
def test_real_usable_counts(shared_vau_bench, split, usable):
    assert validate_json(shared_vau_bench / f"{split}.csv")["usable"] == usable


def test_missing_class_with_a_span_counts_for_tag(tmp_path):
    path = write_csv(
        tmp_path / "test_msad.csv",
        [{"Anomaly Class": "-1"}, {"Anomaly Class": ""}, {"Anomaly Class": "-1", "Start Time": "-1", "End Time": "-1"}],
    )
    report = validate_json(path)
    assert report["errors"] == [] and report["warnings"] == []
    assert report["usable"] == {"qa": 3, "tag": 2, "cls": 0, "reason": 3}


def test_real_directory_json(shared_vau_bench):
    report = validate_json(shared_vau_bench)
    assert report["rows"] == sum(REAL_ROWS.values())
    assert {f["split"]: f["rows"] for f in report["files"]} == REAL_ROWS
    assert report["usable"] == {task: sum(f["usable"][task] for f in report["files"]) for task in TASKS}
    ucf = next(f for f in report["files"] if f["split"] == "test_ucf_crime")
    assert ucf["usable"]["qa"] == 290 - 39
    assert all(w.split(":")[0].split(" row ")[0].endswith(".csv") for w in report["warnings"])  # each names its file


def test_human_report(shared_vau_bench):
    done = validate(shared_vau_bench / "test_msad.csv")
    assert done.returncode == 0, done.stderr
    assert "240 rows" in done.stdout and "qa 240, tag 120, cls 240, reason 240" in done.stdout
    assert "errors: 0" in done.stdout


def test_console_script(shared_vau_bench):
    script = Path(sys.executable).with_name("vau-plugin")
    assert script.is_file(), "the package must be installed (pip install -e .) for its console script"
    done = subprocess.run(
        [str(script), "validate", str(shared_vau_bench / "val.csv"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["rows"] == 734


def test_videos_option(shared_vau_bench, tmp_path, clip):
    with open(shared_vau_bench / "test_msad.csv", newline="", encoding="utf-8") as handle:
        names = [row["Video Name"].strip() for row in csv.DictReader(handle)][:3]
    for name in names:
        (tmp_path / "MSAD").mkdir(exist_ok=True)
        shutil.copyfile(clip, tmp_path / "MSAD" / name)
    report = validate_json(shared_vau_bench / "test_msad.csv", "--videos", tmp_path)
    assert report["videos"]["found"] == 3 and report["videos"]["missing"] == 237
    assert report["videos"]["missing_examples"][0] not in names
    done = validate(shared_vau_bench / "test_msad.csv", "--videos", tmp_path)
    assert "videos: 3 of 240 found, 237 missing" in done.stdout


def test_videos_present_but_undecodable_are_reported_apart_from_missing(shared_vau_bench, tmp_path, clip):
    with open(shared_vau_bench / "test_msad.csv", newline="", encoding="utf-8") as handle:
        names = [row["Video Name"].strip() for row in csv.DictReader(handle)][:4]
    shutil.copyfile(clip, tmp_path / names[0])
    (tmp_path / names[1]).write_bytes(b"")  # empty
    (tmp_path / names[2]).write_bytes(b"not a video at all " * 100)  # garbage
    (tmp_path / names[3]).write_bytes(clip.read_bytes()[:200])  # cut off in its header
    report = validate_json(shared_vau_bench / "test_msad.csv", "--videos", tmp_path)
    videos = report["videos"]
    assert (videos["found"], videos["missing"], videos["undecodable"]) == (4, 236, 3)
    assert videos["undecodable_examples"] == names[1:]
    assert sum("present but cannot be decoded" in e for e in report["errors"]) == 3
    assert any(names[1] in e and "empty" in e for e in report["errors"])
    done = validate(shared_vau_bench / "test_msad.csv", "--videos", tmp_path)
    assert "3 of the 4 found cannot be decoded" in done.stdout


def test_videos_no_evaluation_budget_can_sample_are_errors_naming_file_budget_and_why(tmp_path, clip):
    """A 7680x40 clip opens, but every evaluation budget rounds it to 7672x28 (aspect ratio 274 > 200): evaluation
    would fail on it, so validate must not pass it. A clip whose timestamps are all 0 samples by frame number."""
    path = write_csv(tmp_path / "test.csv", [{}, {}, {}, {}])
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copyfile(clip, videos / "msad_Video_0.mp4")
    wide = noise_clip(videos / "msad_Video_1.mp4", 40, 7680)
    tall = noise_clip(videos / "msad_Video_2.mp4", 7680, 40)
    same_pts_clip(videos / "msad_Video_3.mp4")
    report = validate_json(path, "--videos", videos)
    assert (report["videos"]["found"], report["videos"]["undecodable"]) == (4, 2)
    assert report["videos"]["undecodable_examples"] == ["msad_Video_1.mp4", "msad_Video_2.mp4"]
    sampled = [e for e in report["errors"] if "cannot be sampled" in e]
    assert len(sampled) == 2 and len(report["errors"]) == 2, report["errors"]
    for error, file, size in zip(sampled, (wide, tall), ("7680x40", "40x7680")):
        assert str(file) in error and size in error, error
        # at 32 px, TAG and CLS (at least 256 tokens a frame) enlarge it to 7104x64: an aspect ratio of 111, accepted
        budgets = "budget qa at 28 px a token (Qwen2-VL / Qwen2.5-VL) (nor for tag, cls, reason at 28 px and qa, reason at 32 px)"
        assert budgets in error, error
        assert "aspect ratio once resized to" in error and "is 274" in error, error
    done = validate(path, "--videos", videos)
    assert "2 of the 4 found cannot be decoded or sampled by evaluation" in done.stdout


def test_a_span_past_the_end_of_its_video_is_a_warning_naming_row_span_and_duration(tmp_path, clip):
    """The clip lasts 1 s: an end within SPAN_TOLERANCE_S of it passes, an absurd one is named."""
    rows = [
        {"Start Time": "0.2", "End Time": "1.4"},
        {"Start Time": "1.5", "End Time": "9"},
        {"Start Time": "0", "End Time": "1e12"},
        {"Anomaly Class": "Normal", "Start Time": "-1", "End Time": "-1"},
    ]
    path = write_csv(tmp_path / "test.csv", rows)
    videos = tmp_path / "videos"
    videos.mkdir()
    for index in range(len(rows)):
        shutil.copyfile(clip, videos / f"msad_Video_{index}.mp4")
    report = validate_json(path, "--videos", videos)
    past = [w for w in report["warnings"] if "ends after the end of video" in w]
    assert [w.split(":")[0] for w in past] == ["test.csv row 2", "test.csv row 3"], past
    assert "span [1.5, 9] s" in past[0] and "'msad_Video_1.mp4' (1.00 s long" in past[0], past[0]
    assert "span [0, 1e+12] s" in past[1] and str(videos / "msad_Video_2.mp4") in past[1], past[1]


def test_a_rotated_video_is_a_warning_naming_file_and_angle(tmp_path, clip):
    path = write_csv(tmp_path / "test.csv", [{}, {}, {}])
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copyfile(clip, videos / "msad_Video_0.mp4")
    rotated_clip(videos / "msad_Video_1.mp4", 90)
    rotated_clip(videos / "msad_Video_2.mp4", 180)
    report = validate_json(path, "--videos", videos)
    turned = [w for w in report["warnings"] if "for display" in w]
    assert len(turned) == 2, report["warnings"]
    assert "msad_Video_1.mp4" in turned[0] and "turns it 90 degrees clockwise" in turned[0]
    assert "msad_Video_2.mp4" in turned[1] and "turns it 180 degrees clockwise" in turned[1]
    assert report["errors"] == []


def test_missing_video_root_fails_cleanly(shared_vau_bench, tmp_path):
    assert_fails_cleanly(
        validate(shared_vau_bench / "test_msad.csv", "--videos", tmp_path / "nowhere", "--json"), "video root"
    )


# ------------------------------------------------------------------------------------------- unreadable input


def test_missing_file(tmp_path):
    assert_fails_cleanly(validate(tmp_path / "nope.csv", "--json"), "nope.csv", "no such file")


def test_binary_garbage(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(os.urandom(2048) + b"\x00")
    assert_fails_cleanly(validate(path, "--json"), "garbage.csv", "not a CSV")


def test_not_a_csv(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello world\nthis is not a table\n")
    assert_fails_cleanly(validate(path), "notes.txt", "not a VAU-Bench annotation CSV")


def test_missing_columns(tmp_path):
    path = write_csv(tmp_path / "val.csv", [{}], header=[c for c in COLUMNS if c != "Anomaly Class"])
    assert_fails_cleanly(validate(path, "--json"), "val.csv", "missing required column(s) 'Anomaly Class'")


def test_empty_file(tmp_path):
    path = tmp_path / "val.csv"
    path.write_bytes(b"")
    assert_fails_cleanly(validate(path, "--json"), "empty file")


def test_offline_hub_id(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "vau_plugin.cli", "validate", "vau-plugin-tests/no-such-dataset", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert_fails_cleanly(done, "unreachable", "local directory")


# ------------------------------------------------------------------------------------------- row-level problems


def test_row_problems_are_reported_and_exit_zero(tmp_path):
    path = write_csv(
        tmp_path / "test_msad.csv",
        [
            {},
            {"Start Time": "abc"},
            {"Start Time": "9", "End Time": "3"},
            {"Start Time": "-5"},
            {"End Time": "nan"},
            {"Anomaly Class": "Alien_invasion"},
            {"Video Name": "msad_Video_0.mp4"},
            {"Video Name": "../../etc/passwd"},
            {"Correct Option": "D. A fire starts"},
            {"Anomaly Class": "Normal", "Start Time": "0.0", "End Time": "0.0"},
        ],
    )
    report = validate_json(path)
    assert report["rows"] == 10
    errors = report["errors"]
    expected_errors = [
        "test_msad.csv row 2 field 'Start Time': expected a number of seconds, got 'abc'",
        "test_msad.csv row 3 field 'Start Time': start 9.0 is after end 3.0",
        "test_msad.csv row 4 field 'Start Time': negative time '-5'",
        "test_msad.csv row 5 field 'End Time': expected a finite number of seconds, got 'nan'",
        "test_msad.csv row 6 field 'Anomaly Class': unknown class 'Alien_invasion'",
        "test_msad.csv row 8 field 'Video Name': '../../etc/passwd'",
    ]
    assert len(errors) == len(expected_errors), errors
    for message, prefix in zip(errors, expected_errors, strict=True):
        assert message.startswith(prefix), (message, prefix)
    assert any(w.startswith("test_msad.csv row 7 field 'Video Name'") and "row 1" in w for w in report["warnings"])
    # 9 records (row 8 rejected): qa all 9; tag: rows 1, 6, 7, 9; cls: all but 6; reason all 9.
    assert report["usable"] == {"qa": 9, "tag": 4, "cls": 8, "reason": 9}


def test_crlf_quoted_newlines_and_latin1(tmp_path):
    crlf = write_csv(
        tmp_path / "crlf.csv",
        [{"Description": "first line\r\nsecond, line"}, {"Reasoning": "### A\n### B"}],
        lineterminator="\r\n",
    )
    report = validate_json(crlf)
    assert report["rows"] == 2 and report["errors"] == [] and report["warnings"] == []
    assert report["usable"] == {"qa": 2, "tag": 2, "cls": 2, "reason": 2}

    latin = write_csv(tmp_path / "latin.csv", [{"Description": "déjà vu"}], encoding="latin-1")
    report = validate_json(latin)
    assert report["rows"] == 1 and report["usable"]["reason"] == 1
    assert len(report["warnings"]) == 1 and report["warnings"][0].startswith("latin.csv row 1 field 'Description'")


def test_directory_of_bad_and_good_files(tmp_path):
    write_csv(tmp_path / "val.csv", [{}, {}])
    write_csv(tmp_path / "test_msad.csv", [{"Video Name": "msad_Video_0.mp4"}])  # same video as val.csv row 1
    report = validate_json(tmp_path)
    assert report["rows"] == 3
    assert [f["file"] for f in report["files"]] == ["test_msad.csv", "val.csv"]
    assert any("also appears in" in w for w in report["warnings"])


def test_directory_with_an_unreadable_file_reports_it_and_counts_the_others(tmp_path):
    # Exit 0 when at least one file of the folder can be read; each unreadable one is an error naming it.
    write_csv(tmp_path / "val.csv", [{}])
    write_csv(tmp_path / "broken.csv", [{}], header=COLUMNS[:5])
    report = validate_json(tmp_path)
    assert report["rows"] == 1 and report["usable"]["qa"] == 1
    assert [e for e in report["errors"] if e.startswith("broken.csv: cannot be read")], report["errors"]
    assert "missing required column(s)" in report["errors"][0]


def test_directory_with_no_readable_file_fails(tmp_path):
    write_csv(tmp_path / "broken.csv", [{}], header=COLUMNS[:5])
    assert_fails_cleanly(validate(tmp_path, "--json"), "broken.csv", "missing required column(s)")


def test_videos_option_with_escaping_names(tmp_path, clip):
    path = write_csv(tmp_path / "val.csv", [{"Video Name": "msad_ok.mp4"}, {"Video Name": "../outside.mp4"}])
    videos = tmp_path / "videos"
    (videos / "msad").mkdir(parents=True)
    shutil.copyfile(clip, videos / "msad" / "ok.mp4")
    shutil.copyfile(clip, tmp_path / "outside.mp4")  # exists, but outside the video root
    report = validate_json(path, "--videos", videos)
    assert report["videos"]["found"] == 1 and report["videos"]["missing"] == 0
    assert len(report["errors"]) == 1
    assert report["errors"][0].startswith("val.csv row 2 field 'Video Name': '../outside.mp4' climbs out")


def test_hub_id_served_from_the_local_hub_cache_when_offline(tmp_path):
    # The layout huggingface_hub keeps for a downloaded dataset: refs/main names the snapshot folder.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "cache" / "datasets--vau-plugin-tests--cached-bench"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit / "annotations"
    snapshot.mkdir(parents=True)
    write_csv(snapshot / "test_msad.csv", [{}, {"Anomaly Class": "Normal", "Start Time": "0.0", "End Time": "0.0"}])
    done = subprocess.run(
        [sys.executable, "-m", "vau_plugin.cli", "validate", "vau-plugin-tests/cached-bench", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "cache")},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rows"] == 2 and report["files"][0]["split"] == "test_msad"
    assert report["usable"] == {"qa": 2, "tag": 1, "cls": 2, "reason": 2}

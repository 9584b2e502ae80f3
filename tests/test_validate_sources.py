"""`vau-plugin validate` on the edges a real VAU-Bench run hits (issue 24): rows of one source inside another's file,
videos of another source or data set standing in for missing ones, names that match two files, rows of one video
that disagree, rows with no data, absurd times. Run as a real subprocess on the real CSVs and on edited copies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from _csv_rows import write_csv


def _clip(path: Path, value: int) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=2)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        for shade in (value, 255 - value):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), shade, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path]:
    """Two real 2-frame mp4 files with different pixels: two different videos."""
    folder = tmp_path_factory.mktemp("clips")
    return _clip(folder / "one.mp4", 0), _clip(folder / "two.mp4", 90)


def place(clip: Path, root: Path, *relative: str) -> None:
    for rel in relative:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, root / rel)


def validate(*args) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "vau_plugin.cli", "validate", *map(str, args), "--json"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "VAU_PROGRESS_S": "off"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def validate_text(*args) -> str:
    done = subprocess.run([sys.executable, "-m", "vau_plugin.cli", "validate", *map(str, args)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _row_of(path: Path, video: str) -> str:
    return next(line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith(video + ","))


def test_ucf_and_ecva_rows_inside_test_msad_are_errors_not_msad(tmp_path, shared_vau_bench):
    """Before: 242 rows all counted as MSAD, no word. After: each pasted row is an error naming its source."""
    text = (shared_vau_bench / "test_msad.csv").read_text(encoding="utf-8").rstrip("\n") + "\n"
    ucf_row = _row_of(shared_vau_bench / "test_ucf_crime.csv", "Abuse028_x264.mp4")
    ecva_row = _row_of(shared_vau_bench / "test_ecva.csv", "14.mp4")
    joined = tmp_path / "test_msad.csv"
    joined.write_text(text + ucf_row + "\n" + ecva_row + "\n", encoding="utf-8")
    report = validate(joined)
    assert report["rows"] == 242
    assert report["sources"] == {"msad": 240, "unknown": 2}
    conflicts = [e for e in report["errors"] if "belongs to" in e]
    assert len(conflicts) == 2
    assert conflicts[0].startswith("test_msad.csv row 241 field 'Video Name': video 'Abuse028_x264.mp4' belongs to UCF-Crime")
    assert conflicts[1].startswith("test_msad.csv row 242 field 'Video Name': video '14.mp4' belongs to ECVA")
    # the published files have none
    for split in ("test_msad", "test_ucf_crime", "test_ecva", "val"):
        assert not [e for e in validate(shared_vau_bench / f"{split}.csv")["errors"] if "belongs to" in e], split


def test_missing_video_is_not_found_in_another_data_sets_folder(tmp_path, clips, shared_vau_bench):
    """Before: "1 of 1 found" with xd_violence/14.mp4 standing in for ecva/14.mp4. After: missing, with a hint."""
    csv_file = tmp_path / "test_ecva.csv"
    text = (shared_vau_bench / "test_ecva.csv").read_text(encoding="utf-8")
    header, rows = text.split("\n", 1)[0], [_row_of(shared_vau_bench / "test_ecva.csv", name) for name in ("14.mp4", "24.mp4")]
    csv_file.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    videos = tmp_path / "V"
    place(clips[0], videos, "ecva/24.mp4")
    place(clips[1], videos, "xd_violence/14.mp4")
    report = validate(csv_file, "--videos", videos)
    assert (report["videos"]["found"], report["videos"]["missing"]) == (1, 1)
    assert report["videos"]["missing_examples"] == ["14.mp4"]
    assert report["videos"]["elsewhere"] == {"14.mp4": [str(videos / "xd_violence" / "14.mp4")]}
    assert "not taken because it is outside the row's source folder" in report["videos"]["summary"]
    anywhere = validate(csv_file, "--videos", videos, "--video-search", "anywhere")
    assert (anywhere["videos"]["found"], anywhere["videos"]["missing"]) == (2, 0)
    assert any("taking " + str(videos / "xd_violence" / "14.mp4") in w for w in anywhere["warnings"])


def test_same_name_in_msad_and_ucf_without_a_known_source_is_an_error(tmp_path, clips):
    """Before: msad/ won silently. After: an error naming both files; the video is neither found nor missing."""
    csv_file = write_csv(tmp_path / "test.csv", [{"Video Name": "Assault_2.mp4"}])
    place(clips[0], tmp_path / "V", "msad/Assault_2.mp4")
    place(clips[1], tmp_path / "V", "ucf/Assault_2.mp4")
    report = validate(csv_file, "--videos", tmp_path / "V")
    assert (report["videos"]["found"], report["videos"]["missing"], report["videos"]["ambiguous"]) == (0, 0, 1)
    (error,) = [e for e in report["errors"] if "different files" in e]
    assert str(tmp_path / "V" / "msad" / "Assault_2.mp4") in error and str(tmp_path / "V" / "ucf" / "Assault_2.mp4") in error


def test_rows_of_one_video_that_disagree_say_what_differs(tmp_path):
    """Before: "duplicates row 1" only. After: an error naming the columns and values that differ."""
    rows = [
        {"Video Name": "a.mp4"},
        {"Video Name": "a.mp4", "Correct Option": "B", "Start Time": "2.0"},
        {"Video Name": "a.mp4"},
    ]
    report = validate(write_csv(tmp_path / "dup.csv", rows))
    assert report["errors"] == [
        "dup.csv row 2 field 'Video Name': 'a.mp4' duplicates row 1 with different values: Correct Option 'B' vs 'A'; "
        "Start Time/End Time (2.0, 4.0) vs (1.5, 4.0)"
    ]
    assert "dup.csv row 3 field 'Video Name': 'a.mp4' duplicates row 1 (same values)" in report["warnings"]


def test_rows_without_any_data_are_one_line(tmp_path, shared_vau_bench):
    """Before: not mentioned. After: one warning with their count and rows (27 of test_ucf_crime.csv's 290 rows serve
    no task; 12 more have only a span, which TAG uses)."""
    report = validate(shared_vau_bench / "test_ucf_crime.csv")
    (line,) = [w for w in report["warnings"] if "carry no data" in w]
    assert line.startswith("test_ucf_crime.csv: 27 row(s) carry no data any task can use")
    assert "rows 81, 93, 95, 96, 105," in line
    assert "carry no data" in validate_text(shared_vau_bench / "test_ucf_crime.csv")
    assert not [w for w in validate(shared_vau_bench / "test_msad.csv")["warnings"] if "carry no data" in w]


@pytest.mark.parametrize("end", ["1e12", "1e308", "90000"])
def test_times_past_24_hours_are_warned(tmp_path, end):
    report = validate(write_csv(tmp_path / "t.csv", [{"End Time": end}, {}]))
    (warning,) = [w for w in report["warnings"] if "24 h" in w]
    assert warning.startswith("t.csv row 1 field 'End Time': span 1.5-") and "milliseconds or frames" in warning

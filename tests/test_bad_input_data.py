"""Issue 12: bad input gets a clear error and loses nothing.

Output folders that already hold files are refused without --force; `validate` reports every file of a
folder; a repeated header row and an over-long cell are named; a typo'd folder is no hub id; the search for
videos by file name stays inside the video root and within bounds; long steps report progress on stderr.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from _csv_rows import GOOD_ROW, write_csv
from vau_plugin.data.reader import AnnotationError, read_csv
from vau_plugin.data.schema import COLUMNS
from vau_plugin.data.sources import is_hub_id, read_source

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "vau_plugin.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------- 1. output folders kept
# (the bench commands' folders: test_bench_contract)


def test_make_tiny_model_refuses_a_folder_that_holds_a_checkpoint(tmp_path, capsys, monkeypatch):
    from vau_plugin import tiny_model
    from vau_plugin.cli import main
    from vau_plugin.tiny_model import make_tiny_model

    def not_before_the_check(*args, **kwargs):
        raise AssertionError("the model was being built before the folder was checked")

    monkeypatch.setattr(tiny_model, "build_tokenizer", not_before_the_check)  # the first step of a build

    out = tmp_path / "my_checkpoint"
    out.mkdir()
    (out / "config.json").write_text('{"model_type": "mine"}')
    (out / "model.safetensors").write_bytes(b"my trained weights")
    before = snapshot(out)

    assert main(["make-tiny-model", str(out)]) != 0  # refused before the model is built (no timing: CI is slow)
    err = capsys.readouterr().err
    assert "make-tiny-model" in err and "--force" in err and "config.json" in err, err
    assert snapshot(out) == before
    with pytest.raises(FileExistsError, match="overwrite=True"):
        make_tiny_model(out)
    assert snapshot(out) == before


# ------------------------------------------------------------------------------- 2. validate every file


def test_validate_reports_every_file_of_a_folder(tmp_path):
    write_csv(tmp_path / "val.csv", [{}, {"Start Time": "abc"}])
    write_csv(tmp_path / "test_msad.csv", [{"Anomaly Class": "Alien"}, {}, {}])
    write_csv(tmp_path / "broken.csv", [{}], header=COLUMNS[:5])
    (tmp_path / "garbage.csv").write_bytes(os.urandom(2048) + b"\x00")

    done = run_cli("validate", tmp_path, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # The two readable files are counted ...
    assert report["rows"] == 5 and report["records"] == 5
    files = {f["file"]: f for f in report["files"]}
    assert sorted(files) == ["broken.csv", "garbage.csv", "test_msad.csv", "val.csv"]
    assert files["val.csv"]["rows"] == 2 and files["test_msad.csv"]["rows"] == 3
    assert files["val.csv"]["unreadable"] is None
    # ... the two unreadable ones are errors naming the file and why ...
    assert "missing required column(s)" in files["broken.csv"]["unreadable"]
    assert "not a CSV" in files["garbage.csv"]["unreadable"]
    assert files["broken.csv"]["rows"] == 0 and files["broken.csv"]["errors"] == 1
    errors = report["errors"]
    assert any(e.startswith("broken.csv: cannot be read") and "missing required column(s)" in e for e in errors)
    assert any(e.startswith("garbage.csv: cannot be read") for e in errors)
    # ... and the other files' row errors are all there.
    assert any(e.startswith("val.csv row 2 field 'Start Time'") for e in errors)
    assert any(e.startswith("test_msad.csv row 1 field 'Anomaly Class'") for e in errors)

    human = run_cli("validate", tmp_path)
    assert human.returncode == 0, human.stderr
    assert "2 of 4 file(s) cannot be read" in human.stdout
    assert "broken.csv: cannot be read" in human.stdout and "val.csv (split val): 2 rows" in human.stdout


def test_validate_fails_with_one_message_when_no_file_can_be_read(tmp_path):
    write_csv(tmp_path / "broken.csv", [{}], header=COLUMNS[:5])
    (tmp_path / "empty.csv").write_bytes(b"")
    done = run_cli("validate", tmp_path, "--json")
    assert done.returncode != 0 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "none of the 2" in done.stderr and "broken.csv" in done.stderr and "empty.csv" in done.stderr


# ------------------------------------------------------------------------------- 3. header row, long cells


def test_a_repeated_header_row_is_an_error_not_a_record(tmp_path):
    first = write_csv(tmp_path / "a.csv", [{}, {}])
    # The second file has a BOM and another column order: its rows are read in its own order.
    order = list(reversed(COLUMNS))
    second = write_csv(tmp_path / "b.csv", [{"Video Name": "msad_second.mp4"}], header=order, encoding="utf-8-sig")
    joined = tmp_path / "test_msad.csv"
    joined.write_bytes(first.read_bytes() + second.read_bytes())

    result = read_csv(joined)
    assert result.rows == 4
    assert [r.video for r in result.records] == ["msad_Video_0.mp4", "msad_Video_1.mp4", "msad_second.mp4"]
    assert all(r.video != "Video Name" for r in result.records)
    assert result.records[2].span == (1.5, 4.0) and result.records[2].answer == "A"
    assert len(result.errors) == 1, result.errors
    assert result.errors[0].startswith("test_msad.csv row 3: repeats the header row")
    assert "skipped" in result.errors[0] and "column order" in result.errors[0]


def test_a_long_reasoning_cell_is_read(tmp_path):
    long_text = "### Key Evidence: " + "the man runs, " * 15000  # ~210,000 characters, over csv's default limit
    path = write_csv(tmp_path / "val.csv", [{}, {"Reasoning": long_text}, {}])
    limit = csv.field_size_limit()
    result = read_csv(path)
    assert result.errors == [] and len(result.records) == 3
    assert result.records[1].reasoning == long_text.strip() and result.records[1].usable("reason")
    assert csv.field_size_limit() == limit  # the process-wide setting is left as it was


def test_a_cell_over_the_limit_names_row_field_and_limit(tmp_path):
    from vau_plugin.data.reader import FIELD_SIZE_LIMIT

    path = write_csv(tmp_path / "val.csv", [{}, {"Reasoning": "x" * (FIELD_SIZE_LIMIT + 10)}, {}])
    with pytest.raises(AnnotationError) as info:
        read_csv(path)
    message = str(info.value)
    assert "row 2" in message and "'Reasoning'" in message and f"{FIELD_SIZE_LIMIT:,}" in message, message


def test_an_unclosed_quote_names_its_row_and_field(tmp_path):
    from vau_plugin.data.reader import FIELD_SIZE_LIMIT

    path = write_csv(tmp_path / "val.csv", [{}, {}])
    good = ",".join(GOOD_ROW[c] for c in COLUMNS)
    broken = good.replace("Two men on a street", '"Two men on a street', 1)  # Description opens a quote
    filler = "\n".join(good.replace("msad_Assault_1", f"v{i}") for i in range(FIELD_SIZE_LIMIT // len(good) + 50))
    path.write_text(path.read_text() + broken + "\n" + filler + "\n")
    with pytest.raises(AnnotationError) as info:
        read_csv(path)
    message = str(info.value)
    assert "row 3" in message and "'Description'" in message and "unclosed quote" in message, message


# ------------------------------------------------------------------------------- 4. typo'd folder, hub ids


def test_a_typod_folder_is_no_hub_id(tmp_path, monkeypatch):
    from vau_plugin.data import sources

    (tmp_path / "csv" / "mixed_dir").mkdir(parents=True)
    write_csv(tmp_path / "csv" / "mixed_dir" / "val.csv", [{}])
    monkeypatch.chdir(tmp_path)

    def no_network(repo_id):
        raise AssertionError(f"went to the hub for {repo_id!r}")

    monkeypatch.setattr(sources, "download_hub_dataset", no_network)
    assert not is_hub_id("csv/mixed_dirr")
    with pytest.raises(AnnotationError) as info:
        read_source("csv/mixed_dirr")
    message = str(info.value)
    assert "no such folder" in message and "csv/mixed_dir" in message and "did you mean" in message, message
    # Other spellings that only a path has.
    for text in ("./data/val", "data/val/", "owner/val.tsv", "data/test/val", "~/data"):
        assert not is_hub_id(text), text
    # The hub forms still work.
    assert is_hub_id("7xiang/VAU-Bench")
    assert is_hub_id("hf://datasets/csv/mixed_dirr")

    done = run_cli("validate", "csv/mixed_dirr", "--json", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert done.returncode != 0 and done.stdout == ""
    assert "no such folder" in done.stderr and "unreachable" not in done.stderr, done.stderr


# ------------------------------------------------------------------------------- 5. bounded video search


def _clip_bytes() -> bytes:
    return b"not decoded here"


def test_video_search_does_not_follow_a_link_to_the_filesystem_root(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    (root / "everything").symlink_to("/")
    (root / "ucf").symlink_to("/")  # a per-source folder is searched when linked in, but never when it is /
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "vau_probe_outside.mp4").write_bytes(_clip_bytes())
    script = textwrap.dedent(
        f"""
        from vau_plugin.data.videos import resolve_videos
        resolution = resolve_videos(["vau_probe_outside.mp4"], {str(root)!r})
        print(resolution.missing)
        print(resolution.describe())
        """
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - started < 20
    assert done.stdout.splitlines()[0] == "['vau_probe_outside.mp4']"
    assert "outside the video root" in done.stdout and "everything" in done.stdout, done.stdout


def test_video_search_keeps_inside_links_and_file_links_and_skips_outside_folders(tmp_path):
    from vau_plugin.data.videos import resolve_videos

    root = tmp_path / "videos"
    (root / "real" / "Abuse").mkdir(parents=True)
    (root / "real" / "Abuse" / "inside.mp4").write_bytes(_clip_bytes())
    (root / "z_alias").symlink_to(root / "real")  # a folder link that stays inside: followed, no duplicate
    outside = tmp_path / "elsewhere"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "behind_link.mp4").write_bytes(_clip_bytes())
    (outside / "linked_file.mp4").write_bytes(_clip_bytes())
    (root / "more").symlink_to(outside)  # a folder link that leads out: not searched
    (root / "real" / "Abuse" / "by_link.mp4").symlink_to(outside / "linked_file.mp4")  # a file link: fine

    # A per-source folder linked in from a separate download (the documented layout) is searched, class
    # folders and all.
    ucf_download = tmp_path / "UCF-Crime"
    (ucf_download / "Anomaly-Videos" / "Abuse").mkdir(parents=True)
    (ucf_download / "Anomaly-Videos" / "Abuse" / "Abuse028_x264.mp4").write_bytes(_clip_bytes())
    (root / "ucf").symlink_to(ucf_download)

    names = ["inside.mp4", "by_link.mp4", "behind_link.mp4", "Abuse028_x264.mp4"]
    # Searched anywhere below the root (by default only the source folders are searched in depth):
    resolution = resolve_videos(names, root, search="anywhere")
    assert resolution.found == {
        "inside.mp4": root / "real" / "Abuse" / "inside.mp4",
        "by_link.mp4": root / "real" / "Abuse" / "by_link.mp4",
        "Abuse028_x264.mp4": root / "ucf" / "Anomaly-Videos" / "Abuse" / "Abuse028_x264.mp4",
    }
    assert resolution.missing == ["behind_link.mp4"]
    assert resolution.errors == []  # the inside link is no second copy
    assert [w.split(":")[0] for w in resolution.warnings] == ["inside.mp4", "by_link.mp4"]  # taken outside ucf/
    assert len(resolution.search_notes) == 1 and "outside the video root" in resolution.search_notes[0]
    assert str(root / "more") in resolution.describe()
    # By default the files outside the source folders are named, not taken; the linked-in ucf/ is searched.
    default = resolve_videos(names, root)
    assert default.found == {"Abuse028_x264.mp4": root / "ucf" / "Anomaly-Videos" / "Abuse" / "Abuse028_x264.mp4"}
    assert set(default.elsewhere) == {"inside.mp4", "by_link.mp4"}


def test_video_search_bounds_are_reported(tmp_path, monkeypatch):
    from vau_plugin.data import videos

    root = tmp_path / "videos"
    deep = root / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "deep.mp4").write_bytes(_clip_bytes())
    for i in range(30):
        (root / f"z{i:02d}.txt").write_text("x")

    monkeypatch.setattr(videos, "MAX_SEARCH_DEPTH", 2, raising=False)
    resolution = videos.resolve_videos(["deep.mp4"], root)
    assert resolution.missing == ["deep.mp4"]
    assert any("deeper than 2" in note for note in resolution.search_notes), resolution.search_notes
    assert "deeper than 2" in resolution.describe()

    monkeypatch.setattr(videos, "MAX_SEARCH_DEPTH", 100, raising=False)
    monkeypatch.setattr(videos, "MAX_SEARCH_ENTRIES", 10, raising=False)
    resolution = videos.resolve_videos(["deep.mp4"], root)
    assert resolution.missing == ["deep.mp4"]
    assert any("stopped after 10 entries" in note for note in resolution.search_notes), resolution.search_notes


def test_validate_videos_lists_the_search_notes(tmp_path):
    path = write_csv(tmp_path / "val.csv", [{"Video Name": "msad_gone.mp4"}])
    root = tmp_path / "videos"
    root.mkdir()
    (root / "out").symlink_to(tmp_path)
    done = run_cli("validate", path, "--videos", root, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert any("outside the video root" in w for w in report["warnings"]), report["warnings"]
    assert "outside the video root" in report["videos"]["summary"]


# ------------------------------------------------------------------------------- 6. progress on stderr


def test_progress_is_rate_limited_and_goes_to_stderr(capsys):
    from vau_plugin.progress import Progress

    quiet = Progress("reading x.csv", every_s=3600)
    for i in range(1000):
        quiet.update(f"{i} rows")
    quiet.done("1000 rows")
    assert capsys.readouterr() == ("", "")

    chatty = Progress("reading x.csv", every_s=0)
    chatty.update("5 rows")
    chatty.done("10 rows")
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[0].startswith("[vau-plugin] reading x.csv: 5 rows")
    assert "10 rows" in err.splitlines()[-1]


def test_progress_heartbeat_reports_a_silent_step(capsys):
    from vau_plugin.progress import Progress

    progress = Progress("making", every_s=0.05)
    with progress.ticking():
        progress.step("building the model")
        time.sleep(0.4)
    err = capsys.readouterr().err
    assert "[vau-plugin] making: building the model" in err


def test_validate_prints_progress_on_stderr_and_one_json_object_on_stdout(tmp_path):
    path = write_csv(tmp_path / "val.csv", [{} for _ in range(5000)])
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    done = run_cli("validate", path, "--videos", root, "--json", env={"VAU_PROGRESS_S": "0"})
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # exactly one JSON object
    assert report["rows"] == 5000
    assert "[vau-plugin] reading val.csv" in done.stderr and "rows" in done.stderr, done.stderr
    assert "[vau-plugin] searching for videos" in done.stderr, done.stderr

    quiet = run_cli("validate", path, "--json")  # fast, so nothing on stderr by default
    assert quiet.returncode == 0 and quiet.stderr == ""

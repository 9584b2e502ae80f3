"""Finding each record's video under a video root: layouts, the prefix mismatch, and names that try to escape."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from vau_plugin.data import VAURecord, read_csv, resolve_videos
from vau_plugin.data.videos import name_candidates, unsafe_video_name


def _write_clip(path: Path, shades: list[int]) -> Path:
    """A real H.264 mp4 written with PyAV: one flat 32x32 frame per shade, at 4 fps."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for shade in shades:
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), shade, dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real 4-frame mp4; tests copy it under the names they need."""
    return _write_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", [0, 60, 120, 180])


@pytest.fixture(scope="module")
def other_clip(tmp_path_factory) -> Path:
    """Another real mp4, with other pixels than `clip`: a different video of the same name."""
    return _write_clip(tmp_path_factory.mktemp("other") / "other.mp4", [250, 190, 130, 70])


def place(clip: Path, root: Path, *relative: str) -> list[Path]:
    """Copy the clip to each relative path under root."""
    paths = []
    for rel in relative:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, target)
        paths.append(target)
    return paths


def rec(video: str, source: str | None = None, split: str = "test", row: int = 1) -> VAURecord:
    return VAURecord(video=video, source=source, split=split, file=f"{split}.csv", row=row)


def test_clip_fixture_is_a_real_video(clip):
    with av.open(str(clip)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4


def test_flat_root(clip, tmp_path):
    place(clip, tmp_path, "Assault_2.mp4", "Abuse028_x264.mp4")
    resolution = resolve_videos(
        [rec("Assault_2.mp4", "msad"), rec("Abuse028_x264.mp4", "ucf"), rec("14.mp4", "ecva")], tmp_path
    )
    assert resolution.found == {
        "Assault_2.mp4": tmp_path / "Assault_2.mp4",
        "Abuse028_x264.mp4": tmp_path / "Abuse028_x264.mp4",
    }
    assert resolution.missing == ["14.mp4"]
    assert resolution.errors == []


def test_source_folders_and_prefix_mismatch(clip, tmp_path):
    # Original file names in per-source folders (with aliases), as users download them.
    place(clip, tmp_path, "msad/Assault_1.mp4", "UCF_Crime/Abuse016_x264.mp4", "ECVA/17.mp4", "msad/msad_Fire_3.mp4")
    records = [
        rec("msad_Assault_1.mp4", "msad", "val"),  # prefixed val name, unprefixed file
        rec("ucf_Abuse016_x264.mp4", "ucf", "val"),
        rec("ecva_17.mp4", None, "val"),  # source taken from the prefix
        rec("Fire_3.mp4", "msad", "test_msad"),  # unprefixed test name, prefixed file
        rec("Fire_4.mp4", "msad", "test_msad"),
    ]
    resolution = resolve_videos(records, tmp_path)
    assert resolution.found == {
        "msad_Assault_1.mp4": tmp_path / "msad" / "Assault_1.mp4",
        "ucf_Abuse016_x264.mp4": tmp_path / "UCF_Crime" / "Abuse016_x264.mp4",
        "ecva_17.mp4": tmp_path / "ECVA" / "17.mp4",
        "Fire_3.mp4": tmp_path / "msad" / "msad_Fire_3.mp4",
    }
    assert resolution.missing == ["Fire_4.mp4"]


def test_name_as_written_wins(clip, tmp_path):
    place(clip, tmp_path, "msad_Assault_1.mp4", "msad/Assault_1.mp4")
    assert resolve_videos([rec("msad_Assault_1.mp4", "msad")], tmp_path).found["msad_Assault_1.mp4"] == (
        tmp_path / "msad_Assault_1.mp4"
    )


def test_nested_class_folders_found_by_file_name(clip, tmp_path):
    place(
        clip,
        tmp_path,
        "ucf_crime/Abuse/Abuse028_x264.mp4",
        "ucf_crime/Testing_Normal_Videos_Anomaly/Normal_Videos_100_x264.mp4",
    )
    resolution = resolve_videos([rec("Abuse028_x264.mp4", "ucf"), rec("ucf_Normal_Videos_100_x264.mp4", "ucf")], tmp_path)
    assert resolution.found["Abuse028_x264.mp4"] == tmp_path / "ucf_crime" / "Abuse" / "Abuse028_x264.mp4"
    assert resolution.found["ucf_Normal_Videos_100_x264.mp4"].name == "Normal_Videos_100_x264.mp4"
    assert resolution.errors == resolution.warnings == []


def test_another_data_sets_clip_never_stands_in_for_a_missing_one(clip, other_clip, tmp_path):
    # ECVA's names are numbers: ecva/ lacks 14.mp4, an unrelated data set's 14.mp4 sits beside it.
    place(clip, tmp_path, "ecva/24.mp4")
    place(other_clip, tmp_path, "xd_violence/14.mp4")
    records = [rec("14.mp4", "ecva", "test_ecva", row=1), rec("24.mp4", "ecva", "test_ecva", row=2)]
    resolution = resolve_videos(records, tmp_path)
    assert resolution.found == {"24.mp4": tmp_path / "ecva" / "24.mp4"}
    assert resolution.missing == ["14.mp4"]
    assert resolution.elsewhere == {"14.mp4": [tmp_path / "xd_violence" / "14.mp4"]}
    text = resolution.describe()
    assert "1 of 2 found, 1 missing" in text
    assert f"14.mp4 -> {tmp_path / 'xd_violence' / '14.mp4'}" in text and "--video-search anywhere" in text
    # Asked for, the file is taken, and the choice is a warning naming it.
    anywhere = resolve_videos(records, tmp_path, search="anywhere")
    assert anywhere.found["14.mp4"] == tmp_path / "xd_violence" / "14.mp4" and anywhere.missing == []
    assert len(anywhere.warnings) == 1
    assert anywhere.warnings[0].startswith("test_ecva.csv row 1: '14.mp4'") and "xd_violence" in anywhere.warnings[0]


def test_a_row_of_one_source_is_not_given_another_sources_file(clip, tmp_path):
    place(clip, tmp_path, "msad/Abuse028_x264.mp4", "ucf/Abuse030_x264.mp4")
    resolution = resolve_videos([rec("Abuse028_x264.mp4", "ucf"), rec("Abuse030_x264.mp4", "ucf")], tmp_path)
    assert resolution.missing == ["Abuse028_x264.mp4"]
    assert resolution.elsewhere == {"Abuse028_x264.mp4": [tmp_path / "msad" / "Abuse028_x264.mp4"]}
    # the flat root still serves every source, beside the source folders
    place(clip, tmp_path, "Abuse028_x264.mp4")
    assert resolve_videos([rec("Abuse028_x264.mp4", "ucf")], tmp_path).found == {
        "Abuse028_x264.mp4": tmp_path / "Abuse028_x264.mp4"
    }


def test_same_name_in_two_source_folders_without_a_known_source_is_an_error(clip, other_clip, tmp_path):
    place(clip, tmp_path, "msad/clash.mp4")
    place(other_clip, tmp_path, "ucf/clash.mp4")
    resolution = resolve_videos([rec("clash.mp4", None, "test", row=4)], tmp_path)
    assert resolution.found == {} and resolution.missing == [] and list(resolution.ambiguous) == ["clash.mp4"]
    (error,) = resolution.errors
    assert error.startswith("test.csv row 4: 'clash.mp4' matches 2 different files")
    assert str(tmp_path / "msad" / "clash.mp4") in error and str(tmp_path / "ucf" / "clash.mp4") in error
    # the same clash in two plain folders, searched by file name when asked to
    place(clip, tmp_path, "a/dup.mp4")
    place(other_clip, tmp_path, "b/dup.mp4")
    anywhere = resolve_videos([rec("dup.mp4")], tmp_path, search="anywhere")
    assert anywhere.found == {} and "matches 2 different files" in anywhere.errors[0]
    # and within one source folder's sub-folders
    place(clip, tmp_path, "ucf/Abuse/Abuse001_x264.mp4")
    place(other_clip, tmp_path, "ucf/Test/Abuse001_x264.mp4")
    assert "matches 2 different files" in resolve_videos([rec("Abuse001_x264.mp4", "ucf")], tmp_path).errors[0]


def test_copies_of_one_file_are_not_a_clash(clip, tmp_path):
    place(clip, tmp_path, "msad/same.mp4", "ucf/same.mp4", "a/copy.mp4", "b/copy.mp4")
    (tmp_path / "link.mp4").symlink_to(tmp_path / "msad" / "same.mp4")
    assert resolve_videos([rec("same.mp4")], tmp_path).found == {"same.mp4": tmp_path / "msad" / "same.mp4"}
    assert resolve_videos([rec("link.mp4")], tmp_path).found == {"link.mp4": tmp_path / "link.mp4"}
    anywhere = resolve_videos([rec("copy.mp4")], tmp_path, search="anywhere")
    assert anywhere.found == {"copy.mp4": tmp_path / "a" / "copy.mp4"} and anywhere.errors == []


def test_one_name_for_videos_of_two_sources_is_an_error(clip, tmp_path):
    place(clip, tmp_path, "msad/7.mp4", "ecva/7.mp4")
    records = [rec("7.mp4", "ecva", "test_ecva", row=3), rec("7.mp4", "msad", "mine", row=9)]
    resolution = resolve_videos(records, tmp_path)
    assert resolution.found == {} and list(resolution.ambiguous) == ["7.mp4"]
    assert "test_ecva.csv row 3 (ecva)" in resolution.errors[0] and "mine.csv row 9 (msad)" in resolution.errors[0]


def test_unknown_search_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown video search 'everywhere'; expected one of source, anywhere"):
        resolve_videos([rec("a.mp4")], tmp_path, search="everywhere")


def test_relative_subpath_inside_root_is_allowed(clip, tmp_path):
    place(clip, tmp_path, "clips/x.mp4")
    assert resolve_videos([rec("clips/x.mp4")], tmp_path).found == {"clips/x.mp4": tmp_path / "clips" / "x.mp4"}


@pytest.mark.parametrize(
    "name",
    [
        "../secret.mp4",
        "../../secret.mp4",
        "sub/../../secret.mp4",
        "..\\secret.mp4",
        "/secret.mp4",
        "\\secret.mp4",
        "C:secret.mp4",
        "a\x00.mp4",
    ],
)
def test_names_escaping_the_root_are_rejected_not_opened(clip, tmp_path, name):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    place(clip, tmp_path, "secret.mp4")  # a real file just outside the root
    resolution = resolve_videos([rec(name, "msad", row=7)], root)
    assert resolution.found == {} and resolution.missing == []
    assert len(resolution.errors) == 1
    assert resolution.errors[0].startswith("test.csv row 7 field 'Video Name': ")
    assert "rejected" in resolution.describe()


def test_unsafe_video_name_rules():
    for ok in ["a.mp4", "msad_Assault_1.mp4", "clips/a.mp4", "a..b.mp4", "..mp4"]:
        assert unsafe_video_name(ok) is None, ok
    for bad in ["", " ", "..", "../a.mp4", "/a.mp4", "C:\\a.mp4", "x/../../a.mp4", "a\nb.mp4"]:
        assert unsafe_video_name(bad), bad


def test_name_candidates():
    assert name_candidates("msad_Assault_1.mp4", "msad") == ["msad_Assault_1.mp4", "Assault_1.mp4"]
    assert name_candidates("Assault_1.mp4", "msad") == ["Assault_1.mp4", "msad_Assault_1.mp4"]
    assert name_candidates("14.mp4", None) == ["14.mp4"]


def test_real_records_partly_present(clip, tmp_path, shared_vau_bench):
    records = read_csv(shared_vau_bench / "test_msad.csv").records
    present = [r.video for r in records[:10]]
    place(clip, tmp_path, *(f"MSAD/{name}" for name in present))
    resolution = resolve_videos(records, tmp_path)
    assert sorted(resolution.found) == sorted(present)
    assert len(resolution.missing) == len(records) - 10
    text = resolution.describe()
    assert f"10 of {len(records)} found, {len(records) - 10} missing" in text
    assert str(tmp_path) in text and resolution.missing[0] in text and "more" in text


def test_val_prefixed_names_against_original_layout(clip, tmp_path, shared_vau_bench):
    records = read_csv(shared_vau_bench / "val.csv").records
    originals = {"msad": "MSAD", "ucf": "ucf_crime", "ecva": "ecva"}
    sample = {}
    for record in records:
        sample.setdefault(record.source, record)
    for source, record in sample.items():
        place(clip, tmp_path, f"{originals[source]}/{record.video.split('_', 1)[1]}")
    resolution = resolve_videos(sample.values(), tmp_path)
    assert set(resolution.found) == {r.video for r in sample.values()} and len(sample) == 3


def test_root_must_be_a_directory(tmp_path):
    with pytest.raises(NotADirectoryError, match="video root"):
        resolve_videos([rec("a.mp4")], tmp_path / "absent")

"""The VAU-Bench reader on the real published CSVs and on hand-made broken ones."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _csv_rows import GOOD_ROW
from _csv_rows import write_csv as write_rows
from vau_plugin.data import AnnotationError, load_records, read_csv
from vau_plugin.data.reader import parse_seconds, resolve_correct_option
from vau_plugin.data.schema import CLASSES, COLUMNS, LETTERS, OPTION_COLUMNS, TASKS
from vau_plugin.data.sources import is_hub_id, read_source

REAL_ROWS = {"val": 734, "test_msad": 240, "test_ucf_crime": 290, "test_ecva": 438}


# ------------------------------------------------------------------------------------------- helpers


def _cell_missing(value: str) -> bool:
    return value.strip() in ("", "-1", "-1.0")


def _letter_of(correct: str, options: list[str]) -> str | None:
    """Independent reading of `Correct Option`: a bare letter, or "X. option text" whose text is option X."""
    correct = correct.strip()
    if correct in LETTERS:
        return correct
    if len(correct) > 2 and correct[0] in LETTERS and correct[1] == ".":
        letter = correct[0]
        return letter if correct[2:].strip() == options[LETTERS.index(letter)].strip() else None
    return None


def expected_usable(path: Path) -> dict[str, int]:
    """Usable rows per task computed straight from csv.DictReader, following DESIGN.md's definitions."""
    counts = dict.fromkeys(TASKS, 0)
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            options = [row[c] for c in OPTION_COLUMNS]
            if (
                not _cell_missing(row["Question"])
                and not any(_cell_missing(o) for o in options)
                and _letter_of(row["Correct Option"], options)
            ):
                counts["qa"] += 1
            cls = row["Anomaly Class"].strip()
            if cls in CLASSES:
                counts["cls"] += 1
            if cls != "Normal":  # a missing class (-1) is "not Normal": DESIGN.md
                start, end = row["Start Time"].strip(), row["End Time"].strip()
                if not _cell_missing(start) and not _cell_missing(end) and 0 <= float(start) < float(end):
                    counts["tag"] += 1
            if not _cell_missing(row["Description"]) and not _cell_missing(row["Reasoning"]):
                counts["reason"] += 1
    return counts


def write_csv(path: Path, rows: list[dict], **kwargs) -> Path:
    """A VAU-Bench CSV of GOOD_ROW variants, with CRLF line ends unless told otherwise."""
    return write_rows(path, rows, **{"lineterminator": "\r\n", **kwargs})


def only_record(result):
    assert len(result.records) == 1, result.errors
    return result.records[0]


# ------------------------------------------------------------------------------------------- real files


@pytest.mark.parametrize("split, rows", sorted(REAL_ROWS.items()))
def test_real_files_row_counts_and_usable_counts(shared_vau_bench, split, rows):
    path = shared_vau_bench / f"{split}.csv"
    result = read_csv(path)
    assert result.rows == rows
    assert len(result.records) == rows
    assert result.errors == []
    assert {r.split for r in result.records} == {split}
    usable = {task: sum(r.usable(task) for r in result.records) for task in TASKS}
    assert usable == expected_usable(path)


def test_real_files_read_fast(shared_vau_bench):
    started = time.perf_counter()
    read_csv(shared_vau_bench / "val.csv")
    assert time.perf_counter() - started < 1.0


def test_msad_option_text_answers_resolve_to_their_letters(shared_vau_bench):
    path = shared_vau_bench / "test_msad.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        raw = {
            i: row for i, row in enumerate(csv.DictReader(handle), start=1) if len(row["Correct Option"].strip()) > 1
        }
    assert len(raw) == 8
    records = {r.row: r for r in read_csv(path).records}
    for number, row in raw.items():
        letter = row["Correct Option"].strip()[0]
        record = records[number]
        assert record.answer == letter, (number, row["Correct Option"])
        assert row["Correct Option"].strip()[3:] == record.options[LETTERS.index(letter)]
        assert record.usable_qa
    assert records[37].video == "Object_falling_7.mp4" and records[37].answer == "D"


def test_msad_normal_rows_have_no_span_and_anomalies_do(shared_vau_bench):
    records = read_csv(shared_vau_bench / "test_msad.csv").records
    normal = [r for r in records if r.is_normal]
    assert len(normal) == 120
    assert all(r.span is None and not r.usable_tag for r in normal)
    assert all(r.span is not None and 0 <= r.span[0] < r.span[1] for r in records if not r.is_normal)
    assert {r.source for r in records} == {"msad"}


def test_ucf_all_missing_rows_serve_only_tag_when_they_have_a_span(shared_vau_bench):
    path = shared_vau_bench / "test_ucf_crime.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        blank = {
            i: row
            for i, row in enumerate(csv.DictReader(handle), start=1)
            if all(_cell_missing(row[c]) for c in COLUMNS if c not in ("Video Name", "Start Time", "End Time"))
        }
    assert len(blank) == 39
    records = {r.row: r for r in read_csv(path).records}
    with_span = 0
    for number, row in blank.items():
        record = records[number]
        assert not any(record.usable(task) for task in ("qa", "cls", "reason")), record
        assert record.raw_class is None and record.question is None and record.answer is None
        # Class -1 is "not Normal": a valid span still serves TAG (DESIGN.md; issue 11).
        start, end = row["Start Time"].strip(), row["End Time"].strip()
        has_span = not _cell_missing(start) and not _cell_missing(end) and 0 <= float(start) < float(end)
        assert record.usable_tag == has_span
        assert record.span == ((float(start), float(end)) if has_span else None)
        with_span += has_span
    assert with_span == 12
    assert sum(r.usable_tag for r in records.values()) == 124
    assert {r.source for r in records.values()} == {"ucf"}
    assert records[1].video.endswith("_x264.mp4")


def test_val_anomalous_ucf_rows_have_no_span(shared_vau_bench):
    records = read_csv(shared_vau_bench / "val.csv").records
    ucf_anomalous = [r for r in records if r.source == "ucf" and not r.is_normal]
    assert len(ucf_anomalous) == 152
    assert all(r.span is None and not r.usable_tag for r in ucf_anomalous)
    assert all(r.usable_cls and r.usable_qa for r in ucf_anomalous)
    by_prefix = {r.video.split("_", 1)[0]: r.source for r in records}
    assert by_prefix == {"msad": "msad", "ucf": "ucf", "ecva": "ecva"}


def test_ecva_normal_rows_with_times_are_reported(shared_vau_bench):
    result = read_csv(shared_vau_bench / "test_ecva.csv")
    assert result.errors == []
    assert len(result.warnings) == 2
    assert all(w.startswith("test_ecva.csv row ") and "Normal" in w for w in result.warnings)
    assert {r.source for r in result.records} == {"ecva"}


def test_directory_and_split_selection(shared_vau_bench):
    records = load_records(shared_vau_bench)
    assert len(records) == sum(REAL_ROWS.values())
    assert {r.split for r in records} == set(REAL_ROWS)
    msad = load_records(shared_vau_bench, split="test_msad")
    assert len(msad) == 240
    with pytest.raises(AnnotationError, match="no split 'train'.*test_msad"):
        load_records(shared_vau_bench, split="train")


# ------------------------------------------------------------------------------------------- field rules


def test_good_row_reads_every_field(tmp_path):
    record = only_record(read_csv(write_csv(tmp_path / "val.csv", [{}])))
    assert record.video == "msad_Video_0.mp4" and record.source == "msad" and record.split == "val"
    assert record.options == tuple(GOOD_ROW[c] for c in OPTION_COLUMNS)
    assert record.answer == "A" and record.anomaly_class == "Assault" and record.span == (1.5, 4.0)
    assert record.file == "val.csv" and record.row == 1
    assert all(record.usable(task) for task in TASKS)


@pytest.mark.parametrize(
    "start, end, problem_field, expected",
    [
        ("abc", "4", "Start Time", "expected a number of seconds, got 'abc'"),
        ("1", "nan", "End Time", "expected a finite number of seconds, got 'nan'"),
        ("inf", "4", "Start Time", "expected a finite number of seconds, got 'inf'"),
        ("-2", "4", "Start Time", "negative time '-2'"),
        ("5", "4", "Start Time", "start 5.0 is after end 4.0"),
    ],
)
def test_bad_times_are_errors_naming_file_row_and_field(tmp_path, start, end, problem_field, expected):
    result = read_csv(write_csv(tmp_path / "test_msad.csv", [{}, {"Start Time": start, "End Time": end}]))
    assert len(result.errors) == 1
    assert result.errors[0].startswith(f"test_msad.csv row 2 field '{problem_field}': ")
    assert expected in result.errors[0]
    bad = result.records[1]
    assert bad.span is None and not bad.usable_tag
    assert bad.usable_qa and bad.usable_cls  # one bad field spoils only its own task


@pytest.mark.parametrize("marker", ["-1", "-1.0", "", "  "])
def test_missing_markers_affect_only_their_field(tmp_path, marker):
    result = read_csv(
        write_csv(tmp_path / "val.csv", [{"Start Time": marker, "End Time": marker, "Key Object": marker}])
    )
    record = only_record(result)
    assert result.errors == [] and result.warnings == []
    assert record.span is None and record.key_object is None
    assert record.usable_qa and record.usable_cls and record.usable_reason and not record.usable_tag


def test_normal_rows_and_empty_spans(tmp_path):
    result = read_csv(
        write_csv(
            tmp_path / "val.csv",
            [
                {"Anomaly Class": "Normal", "Start Time": "0.0", "End Time": "0.0"},
                {"Anomaly Class": "Normal", "Start Time": "3", "End Time": "9"},
                {"Start Time": "2", "End Time": "2"},
                {"Start Time": "2", "End Time": "-1"},
            ],
        )
    )
    normal, normal_with_times, empty, half = result.records
    assert normal.span is None and normal.is_normal and normal.usable_cls and not normal.usable_tag
    assert normal_with_times.span is None
    assert empty.span is None and half.span is None
    assert result.errors == []
    assert [w.split(":")[0] for w in result.warnings] == [
        "val.csv row 2 field 'Start Time'",
        "val.csv row 3 field 'End Time'",
        "val.csv row 4 field 'End Time'",
    ]


@pytest.mark.parametrize("marker", ["-1", "-1.0", "", "  "])
def test_missing_class_with_a_span_serves_tag(tmp_path, marker):
    result = read_csv(
        write_csv(
            tmp_path / "val.csv",
            [{"Anomaly Class": marker}, {"Anomaly Class": marker, "Start Time": marker, "End Time": marker}],
        )
    )
    spanned, bare = result.records
    assert result.errors == [] and result.warnings == []
    assert spanned.raw_class is None and spanned.anomaly_class is None and spanned.is_normal is None
    assert spanned.span == (1.5, 4.0) and spanned.usable_tag and not spanned.usable_cls
    assert bare.span is None and not bare.usable_tag


def test_unknown_and_respelled_classes(tmp_path):
    result = read_csv(
        write_csv(
            tmp_path / "val.csv", [{"Anomaly Class": "Absence_of_anomaly"}, {"Anomaly Class": " traffic accident "}]
        )
    )
    unknown, respelled = result.records
    assert unknown.anomaly_class is None and unknown.raw_class == "Absence_of_anomaly"
    assert not unknown.usable_cls and unknown.usable_tag  # an unknown class still names an anomaly with a span
    assert respelled.anomaly_class == "Traffic_accident" and respelled.usable_cls
    assert len(result.errors) == 1 and result.errors[0].startswith("val.csv row 1 field 'Anomaly Class': unknown class")
    assert len(result.warnings) == 1 and "read as 'Traffic_accident'" in result.warnings[0]


@pytest.mark.parametrize(
    "cell, letter, severity",
    [
        ("B", "B", None),
        (" c ", "C", None),
        ("D. A fire starts", "D", None),
        ("(b) No sign of anomaly", "B", None),
        ("A fire starts", "D", None),
        ("a car crashes.", "C", None),
        ("2", "B", "warning"),
        ("Option 3", "C", "warning"),
        ("A. A fire starts", "A", "warning"),  # the letter disagrees with its text
        ("B. Something else entirely", "B", "warning"),
        ("E", None, "error"),
        ("a dog barks", None, "error"),
        ("-1", None, None),
    ],
)
def test_correct_option_resolution(tmp_path, cell, letter, severity):
    result = read_csv(write_csv(tmp_path / "val.csv", [{"Correct Option": cell}]))
    record = only_record(result)
    assert record.answer == letter
    assert record.usable_qa == (letter is not None)
    messages = {"warning": result.warnings, "error": result.errors}
    for kind, found in messages.items():
        assert len(found) == (1 if kind == severity else 0), (kind, found)
        if found:
            assert found[0].startswith("val.csv row 1 field 'Correct Option': ")


@settings(max_examples=200, deadline=None)
@given(cell=st.text(max_size=40), options=st.lists(st.one_of(st.none(), st.text(max_size=20)), min_size=4, max_size=4))
def test_correct_option_resolution_is_total(cell, options):
    resolution = resolve_correct_option(cell, options)
    assert resolution.letter is None or resolution.letter in LETTERS
    assert resolution.severity in ("warning", "error")


def test_duplicates_extra_columns_and_header_spelling(tmp_path):
    header = [c.lower() if c == "Video Name" else c for c in COLUMNS] + ["Annotator"]
    path = tmp_path / "val.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for _ in range(2):
            writer.writerow([GOOD_ROW[c] for c in COLUMNS] + ["ann-1"])
    result = read_csv(path)
    assert len(result.records) == 2
    assert result.records[0].extra == {"Annotator": "ann-1"}
    joined = "\n".join(result.warnings)
    assert "val.csv row 0 (header): column 'video name' read as 'Video Name'" in joined
    assert "extra column(s) 'Annotator'" in joined
    assert "val.csv row 2 field 'Video Name': 'msad_Assault_1.mp4' duplicates row 1" in joined


def test_crlf_quoted_newlines_and_bom(tmp_path):
    path = write_csv(
        tmp_path / "val.csv",
        [{"Description": "line one\r\nline two, with a comma", "Reasoning": '### Key "Evidence"\nx'}],
        encoding="utf-8-sig",
        lineterminator="\r\n",
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbfVideo Name") and b"\r\n" in path.read_bytes()
    result = read_csv(path)
    record = only_record(result)
    assert result.errors == [] and result.warnings == []
    assert record.description == "line one\nline two, with a comma"
    assert record.reasoning == '### Key "Evidence"\nx'


def test_latin1_file_is_read_with_a_warning(tmp_path):
    path = write_csv(tmp_path / "val.csv", [{}, {"Description": "Un café renversé"}], encoding="latin-1")
    result = read_csv(path)
    assert result.records[1].description == "Un café renversé"
    assert result.errors == []
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("val.csv row 2 field 'Description': not valid UTF-8")


def test_utf16_file_is_read(tmp_path):
    path = write_csv(tmp_path / "val.csv", [{"Description": "naïve"}], encoding="utf-16")
    assert only_record(read_csv(path)).description == "naïve"


def test_short_rows_and_blank_rows(tmp_path):
    path = tmp_path / "val.csv"
    good = ",".join(f'"{GOOD_ROW[c]}"' for c in COLUMNS)
    path.write_text(
        ",".join(COLUMNS) + "\n" + good + "\nmsad_short.mp4,Question only\n" + "," * 12 + "\n", encoding="utf-8"
    )
    result = read_csv(path)
    assert result.rows == 3
    assert [r.video for r in result.records] == ["msad_Assault_1.mp4", "msad_short.mp4"]
    assert result.errors[0].startswith("val.csv row 2: has 2 fields, the header has 13; no value for 'Option 1'")
    assert not result.records[1].usable_qa
    assert result.warnings == [
        "val.csv row 3: empty row skipped",
        "val.csv: 1 row(s) carry no data any task can use (no question, class, usable span, description or reasoning; "
        "-1 or empty cells): rows 2",
    ]


@pytest.mark.parametrize("name", ["../escape.mp4", "/etc/passwd", "..\\..\\x.mp4", "a/../../b.mp4", ""])
def test_unsafe_or_empty_video_names_are_errors(tmp_path, name):
    result = read_csv(write_csv(tmp_path / "val.csv", [{}, {"Video Name": name}]))
    assert len(result.records) == 1
    assert len(result.errors) == 1 and result.errors[0].startswith("val.csv row 2 field 'Video Name': ")


def test_source_from_file_stem_and_split_override(tmp_path):
    for stem, source in [("test_msad", "msad"), ("test_ucf_crime", "ucf"), ("test_ecva", "ecva"), ("mine", None)]:
        record = only_record(read_csv(write_csv(tmp_path / f"{stem}.csv", [{"Video Name": "clip_1.mp4"}])))
        assert record.source == source and record.source_conflict is None, stem
    assert only_record(read_csv(tmp_path / "mine.csv", split="test")).split == "test"
    # The name's prefix gives the source of a file that names none.
    assert only_record(read_csv(write_csv(tmp_path / "val.csv", [{"Video Name": "ucf_x.mp4"}]))).source == "ucf"


@pytest.mark.parametrize(
    "stem, video, named",
    [
        ("test_msad", "Abuse028_x264.mp4", "UCF-Crime (the published UCF-Crime file naming)"),
        ("test_msad", "14.mp4", "ECVA (the published ECVA file naming)"),
        ("test_ucf_crime", "People_falling_3.mp4", "MSAD (the published MSAD file naming)"),
        ("test_ecva", "ucf_x.mp4", "UCF-Crime (its name prefix)"),
        ("test_ecva", "MSAD_normal_testing_7.mp4", "MSAD (its name prefix)"),
    ],
)
def test_a_video_of_another_source_than_its_file_gets_no_source(tmp_path, stem, video, named):
    """Rows pasted into another source's file were counted and scored as that file's source."""
    result = read_csv(write_csv(tmp_path / f"{stem}.csv", [{"Video Name": video}]))
    record = only_record(result)
    assert record.source is None and record.source_conflict
    assert result.errors == [f"{stem}.csv row 1 field 'Video Name': {record.source_conflict}"]
    assert record.source_conflict.startswith(f"video {video!r} belongs to {named}, but the file holds ")


@pytest.mark.parametrize("stem, video", [("test_msad", "Assault_2.mp4"), ("test_ucf_crime", "Normal_Videos_003_x264.mp4"),
                                         ("test_ecva", "2151.mp4"), ("mine", "14.mp4"), ("val", "ecva_14.mp4")])  # fmt: skip
def test_a_video_of_its_files_source_or_of_a_file_naming_none_is_no_conflict(tmp_path, stem, video):
    assert only_record(read_csv(write_csv(tmp_path / f"{stem}.csv", [{"Video Name": video}]))).source_conflict is None


# ------------------------------------------------------------------------------------------- unreadable sources


def test_unreadable_sources_raise_annotation_error(tmp_path):
    cases = {
        "missing": (tmp_path / "nope.csv", "no such file"),
        "empty": (tmp_path / "empty.csv", "empty file"),
        "binary": (tmp_path / "garbage.csv", "binary data"),
        "binary without NUL": (tmp_path / "noise.csv", "binary data"),
        "json": (tmp_path / "data.json", "not a VAU-Bench annotation CSV"),
        "semicolons": (tmp_path / "semi.csv", "not comma-separated"),
        "unclosed quote": (tmp_path / "quote.csv", "unclosed quote"),
        "no csv in dir": (tmp_path / "emptydir", "no .csv files"),
    }
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "garbage.csv").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "noise.csv").write_bytes(bytes(range(1, 256)) * 8)
    (tmp_path / "data.json").write_text('{"rows": [1, 2, 3]}\n')
    (tmp_path / "semi.csv").write_text(";".join(COLUMNS) + "\n")
    (tmp_path / "quote.csv").write_text(",".join(COLUMNS) + '\nmsad_a.mp4,"unclosed\n')
    (tmp_path / "emptydir").mkdir()
    for path, message in cases.values():
        with pytest.raises(AnnotationError, match=message):
            read_source(path)


def test_missing_columns_are_fatal_and_named(tmp_path):
    header = [c for c in COLUMNS if c not in ("Start Time", "End Time")]
    path = write_csv(tmp_path / "val.csv", [{}], header=header)
    with pytest.raises(AnnotationError) as info:
        read_csv(path)
    message = str(info.value)
    assert str(path) in message and "'Start Time', 'End Time'" in message


def test_hub_ids_and_paths(tmp_path, monkeypatch):
    assert is_hub_id("7xiang/VAU-Bench")
    assert not is_hub_id("annotations/val.csv") and not is_hub_id("/abs/dir") and not is_hub_id("a/b/c")
    # An existing path wins over the hub id of the same spelling.
    local = tmp_path / "7xiang" / "VAU-Bench"
    local.mkdir(parents=True)
    write_csv(local / "val.csv", [{}])
    monkeypatch.chdir(tmp_path)
    assert not is_hub_id("7xiang/VAU-Bench")
    assert len(load_records("7xiang/VAU-Bench")) == 1


def test_offline_hub_fails_fast_with_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    with pytest.raises(AnnotationError) as info:
        load_records("vau-plugin-tests/no-such-dataset")
    assert time.perf_counter() - started < 10
    message = str(info.value)
    assert "unreachable" in message and "local directory" in message and "HF_HUB_OFFLINE" in message


def test_parse_seconds():
    assert parse_seconds(" 12.5 ") == (12.5, None)
    assert parse_seconds("1e3") == (1000.0, None)
    assert parse_seconds("-1.00") == (None, None)
    value, problem = parse_seconds("-inf")
    assert value is None and "finite" in problem

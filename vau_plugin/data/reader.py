"""Read one VAU-Bench annotation CSV into `VAURecord`s (`read_csv`); `vau_plugin.data.sources` finds the CSVs of a
file, a directory or a hub dataset and reads each with it.

Every problem found in a row becomes a message naming file, 1-based data row and field, e.g.
``test_msad.csv row 17 field 'Start Time': expected a number of seconds, got 'abc'``. Only a file that
cannot be read at all (missing, not a CSV, required columns missing) raises `AnnotationError`.
"""

from __future__ import annotations

import csv
import gc
import math
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Optional, Sequence, Union

from vau_plugin.data.schema import (
    CLASSES,
    COLUMNS,
    LETTERS,
    NORMAL_CLASS,
    OPTION_COLUMNS,
    TASKS,
    VAURecord,
    canonical_class,
)
from vau_plugin.data.targets import infer_source, serves, source_conflict
from vau_plugin.data.videos import unsafe_video_name
from vau_plugin.progress import Progress

PathLike = Union[str, "os.PathLike[str]"]

# `-1`, `-1.0`, `-1.00` ... mark a field as not available (dataset card: "entries not equal to -1 are usable").
_MISSING_MARKER = re.compile(r"^-1(?:\.0*)?$")
# "D. Green trash bin ...", "(B) text", "C) text", "A: text": a letter, then (maybe) the option text.
_LETTER_PREFIX = re.compile(r"^\(?\s*([A-Da-d])\s*(?:[.):\]]|\s-\s|\s*$)\s*(.*)$", re.DOTALL)
# "2", "Option 2": the option's number.
_OPTION_NUMBER = re.compile(r"^(?:option\s*)?([1-4])\s*[.)]?$", re.IGNORECASE)
# The most characters one CSV field may hold. Real VAU-Bench cells are a few KB; the csv module's default
# (131,072) is raised so that a long Reasoning cell reads, while an unclosed quote, whose field runs on
# through the rest of the file, is still caught (and named) in a large file.
FIELD_SIZE_LIMIT = 1 << 20
# Rows between two looks at the clock for progress lines.
_PROGRESS_EVERY_ROWS = 2048
# A span reaching past this many seconds (24 h) is warned about: VAU-Bench videos last minutes, so such a time is
# almost surely in another unit (milliseconds, frames). `vau-plugin validate --videos` also checks each span
# against its video's own duration.
MAX_PLAUSIBLE_SECONDS = 24 * 3600.0
# How many row numbers a one-line summary of many rows lists.
_ROWS_LISTED = 20


class AnnotationError(ValueError):
    """A VAU-Bench annotation source that cannot be read at all; the message names the file and the reason."""


@dataclass
class ReadResult:
    """What `read_csv` got from one file.

    file: the file name used in messages; split: the split name (file stem unless given);
    records: one per readable data row; rows: data rows read (the header excluded);
    errors / warnings: messages naming file, row and field; unreadable: why the file could not be read at all
    (only from `sources.read_source(..., keep_going=True)`, which reports such a file instead of raising; its one error
    says the same).
    """

    file: str
    split: str
    records: list[VAURecord] = field(default_factory=list)
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    has_undecoded: bool = field(default=False, repr=False)  # the file holds bytes that are not UTF-8
    unreadable: Optional[str] = None


class AnswerResolution(NamedTuple):
    """`resolve_correct_option`'s answer: the letter (or None) and an optional problem with its severity."""

    letter: Optional[str]
    problem: Optional[str] = None
    severity: str = "warning"  # "warning" | "error"


# --------------------------------------------------------------------------------------------- cell parsing


def is_missing(value: Optional[str]) -> bool:
    """`is_missing(cell) -> bool`: True for None, an empty/blank cell, or the `-1` / `-1.0` marker."""
    if value is None:
        return True
    text = value.strip()
    return not text or (text[0] == "-" and _MISSING_MARKER.match(text) is not None)


def clean_text(value: Optional[str]) -> Optional[str]:
    """`clean_text(cell) -> str | None`: the trimmed cell with newlines as `\\n`, or None when it is missing."""
    if is_missing(value):
        return None
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.strip()


def parse_seconds(value: Optional[str]) -> tuple[Optional[float], Optional[str]]:
    """`parse_seconds(cell) -> (seconds | None, problem | None)`.

    A missing cell gives (None, None); a usable one (seconds, None); anything else (None, what is wrong).
    """
    if is_missing(value):
        return None, None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return None, f"expected a number of seconds, got {text!r}"
    if not math.isfinite(seconds):
        return None, f"expected a finite number of seconds, got {text!r}"
    if seconds < 0:
        return None, f"negative time {text!r} (only -1 may mark a missing time)"
    return seconds, None


def _option_key(text: str) -> str:
    """Compare option texts ignoring case, runs of whitespace, surrounding quotes and a final full stop."""
    return re.sub(r"\s+", " ", text).strip().strip("\"'").rstrip(".").strip().casefold()


def resolve_correct_option(raw: Optional[str], options: Sequence[Optional[str]]) -> AnswerResolution:
    """`resolve_correct_option(cell, options) -> AnswerResolution(letter, problem, severity)`.

    Accepts a letter ("A"), a letter with the option text ("D. Green trash bin ..."), the option text alone,
    or an option number ("2", "Option 2"). When the letter and the text disagree the letter is kept and the
    disagreement is a warning; text that is no letter and matches no option is an error.
    """
    if is_missing(raw):
        return AnswerResolution(None)
    text = raw.strip()
    if len(text) == 1 and text.upper() in LETTERS:
        return AnswerResolution(text.upper())
    keys = [_option_key(o) if o else None for o in options]
    number = _OPTION_NUMBER.match(text)
    if number:
        letter = LETTERS[int(number.group(1)) - 1]
        return AnswerResolution(letter, f"option number {text!r} read as letter {letter}")
    prefixed = _LETTER_PREFIX.match(text)
    if prefixed:
        letter, rest = prefixed.group(1).upper(), prefixed.group(2).strip()
        if not rest:
            return AnswerResolution(letter)
        rest_key = _option_key(rest)
        own = keys[LETTERS.index(letter)] if len(keys) == len(LETTERS) else None
        if own is not None and (rest_key == own or own.startswith(rest_key) or rest_key.startswith(own)):
            return AnswerResolution(letter)
        if rest_key in keys:
            other = LETTERS[keys.index(rest_key)]
            return AnswerResolution(
                letter, f"letter {letter} disagrees with its text, which is option {other} ({rest!r}); kept {letter}"
            )
        return AnswerResolution(
            letter, f"text after letter {letter} matches none of the options ({rest!r}); kept {letter}"
        )
    text_key = _option_key(text)
    matches = [LETTERS[i] for i, k in enumerate(keys) if k is not None and k == text_key]
    if len(matches) == 1:
        return AnswerResolution(matches[0])
    if len(matches) > 1:
        return AnswerResolution(None, f"{text!r} matches several options ({', '.join(matches)})", "error")
    return AnswerResolution(None, f"expected a letter A-D or the text of one option, got {text!r}", "error")


# --------------------------------------------------------------------------------------------- file decoding


def read_file_bytes(path: Path, expected: str = "a VAU-Bench CSV file", error: type = None) -> bytes:
    """`read_file_bytes(path, expected, error=AnnotationError) -> bytes`: the file's bytes, or `error` saying why it
    cannot be read (missing, a directory where `expected` was, unreadable)."""
    error = error or AnnotationError
    if not path.exists():
        raise error(f"{path}: no such file")
    if path.is_dir():
        raise error(f"{path}: is a directory, expected {expected}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _decode(data: bytes, path: Path) -> tuple[str, bool]:
    """Decode a CSV's bytes: (text, whether it holds bytes that are not UTF-8). Such bytes are kept as surrogates
    so that each row can report and repair them."""
    if not data or data.isspace():
        raise AnnotationError(f"{path}: empty file, expected a VAU-Bench CSV with a header row")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), False
        except UnicodeDecodeError:
            raise AnnotationError(f"{path}: starts with a UTF-16 mark but is not valid UTF-16") from None
    if b"\x00" in data[:65536]:
        raise AnnotationError(f"{path}: binary data, not a CSV text file")
    try:  # the common case, and much faster than scanning the text for surrogates afterwards
        text, undecoded = data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        text = data.decode("utf-8-sig", errors="surrogateescape")
        undecoded = _has_undecoded(text)
    sample = text[:8192]
    if len(_BINARY_HINT.findall(sample)) > 0.05 * len(sample):
        raise AnnotationError(
            f"{path}: binary data, not a CSV text file (or text in an encoding other than UTF-8, "
            "UTF-16 or Windows-1252; re-save it as UTF-8)"
        )
    return text, undecoded


class _Lines:
    """The text's physical lines as `csv.reader` gets them from a file opened with newline="" (line ends kept;
    a line ends at \\n, \\r\\n or a lone \\r), cut a block at a time rather than copied whole into a StringIO
    (which holds 4 bytes a character). `consumed`: characters handed out so far; `skip`: lines to leave out."""

    BLOCK = 1 << 20

    def __init__(self, text: str, skip: int = 0):
        self.text, self.skip, self.consumed = text, skip, 0

    def __iter__(self) -> Iterator[str]:
        text, n, start, pending, skip = self.text, len(self.text), 0, "", self.skip
        while start < n:
            end = text.find("\n", start + self.BLOCK)
            end = n if end < 0 else end + 1  # a block ends after a \n, so a \r\n is never cut in two
            # str.splitlines also ends lines at \v, \f, \x1c-\x1e, \x85, \u2028, \u2029: glue those back on.
            for line in text[start:end].splitlines(keepends=True):
                if pending:
                    line, pending = pending + line, ""
                if line[-1] not in "\r\n":
                    pending = line
                    continue
                self.consumed += len(line)
                if skip:
                    skip -= 1
                    continue
                yield line
            start = end
        if pending:
            self.consumed += len(pending)
            if not skip:
                yield pending


# `surrogateescape` turns each byte UTF-8 rejects into one of these code points.
_UNDECODED = re.compile("[\udc80-\udcff]")


# Control characters and undecodable bytes: a text CSV has few, a binary file many.
_BINARY_HINT = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f\udc80-\udcff]")


def _has_undecoded(text: str) -> bool:
    return _UNDECODED.search(text) is not None


def _redecode_byte(match: re.Match) -> str:
    byte = bytes([ord(match.group()) - 0xDC00])
    try:
        return byte.decode("cp1252")
    except UnicodeDecodeError:  # the few bytes Windows-1252 leaves undefined
        return byte.decode("latin-1")


def _repair(text: str) -> str:
    """Re-read the bytes UTF-8 rejected as Windows-1252 (Latin-1 where Windows-1252 has no character)."""
    return _UNDECODED.sub(_redecode_byte, text)


# --------------------------------------------------------------------------------------------- header


def shorten(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters ("..." marking the cut), to quote a cell in a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def column_key(name: str) -> str:
    """A header cell as it is matched to a column name: case, runs of spaces, `_` and `-` ignored."""
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


_COLUMN_BY_KEY = {column_key(c): c for c in COLUMNS}


def _map_header(header: list[str], path: Path, name: str) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Match header cells to the VAU-Bench columns.

    Returns (column -> index, extra column -> index, warnings); raises AnnotationError when required
    columns are missing.
    """
    warnings: list[str] = []
    index: dict[str, int] = {}
    extra: dict[str, int] = {}
    for i, cell in enumerate(header):
        cell_text = _repair(cell).lstrip("\ufeff").strip()  # a BOM: a file joined on after another one
        column = _COLUMN_BY_KEY.get(column_key(cell_text))
        if column is None:
            extra[cell_text or f"(unnamed column {i + 1})"] = i
        elif column in index:
            warnings.append(f"{name} row 0 (header): column {column!r} appears twice; the first one is used")
        else:
            if cell_text != column:
                warnings.append(f"{name} row 0 (header): column {cell_text!r} read as {column!r}")
            index[column] = i
    missing = [c for c in COLUMNS if c not in index]
    if missing:
        found = ", ".join(repr(shorten(_repair(h).strip())) for h in header[:16])
        if len(missing) == len(COLUMNS):
            hint = ""
            if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
                hint = " (the header is not comma-separated; VAU-Bench CSVs use commas)"
            raise AnnotationError(
                f"{path}: not a VAU-Bench annotation CSV{hint}: its first row has none of the columns "
                f"{', '.join(COLUMNS)}; found: {found}"
            )
        raise AnnotationError(
            f"{path}: missing required column(s) {', '.join(repr(c) for c in missing)}; "
            f"expected the VAU-Bench header {', '.join(COLUMNS)}; found: {found}"
        )
    if extra:
        warnings.append(
            f"{name} row 0 (header): extra column(s) {', '.join(repr(c) for c in extra)} "
            "are not VAU-Bench columns; kept in record.extra"
        )
    return index, extra, warnings


def _is_column_name(cell: str) -> bool:
    """True for a cell spelling a VAU-Bench column name (a header cell), quickly False for anything else."""
    if len(cell) > 40 or "." in cell:  # video names carry an extension; column names have no dot
        return False
    return column_key(_repair(cell).lstrip("\ufeff")) in _COLUMN_BY_KEY


def _repeats_header(cells: list[str], index: dict[str, int]) -> bool:
    """True for a data row that is a header row again (two CSV files joined): most of its cells name columns."""
    video = index["Video Name"]
    first_cells = (cells[0], cells[video] if video < len(cells) else "") if cells else ()
    if not any(_is_column_name(c) for c in first_cells):
        return False
    return sum(_is_column_name(c) for c in cells) > len(COLUMNS) // 2


class _Reading:
    """While any file is being read: csv.field_size_limit at FIELD_SIZE_LIMIT, and the cyclic garbage collector
    paused (a file's records hold no reference cycles, and collections that rescan the records of a large
    file again and again took a third of its reading time). Both process-wide settings are restored when the
    last reader (of any thread) is done."""

    _lock = threading.Lock()
    _readers = 0
    _saved_limit = 0
    _gc_was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if _Reading._readers == 0:
                _Reading._saved_limit = csv.field_size_limit(FIELD_SIZE_LIMIT)
                _Reading._gc_was_enabled = gc.isenabled()
                gc.disable()
            _Reading._readers += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            _Reading._readers -= 1
            if _Reading._readers == 0:
                csv.field_size_limit(_Reading._saved_limit)
                if _Reading._gc_was_enabled:
                    gc.enable()


def _bad_field(lines: Iterable[str], limit: int) -> tuple[Optional[int], str]:
    """Scan one record from its first line: (0-based field, what is wrong) for the field that breaks it: "long"
    (over `limit` characters unquoted), "long quoted" (the same, inside quotes), "unclosed" (a quote never
    closed) or "after quote" (text after a closing quote); (None, "") when the record ends without either."""
    number, length, state = 0, 0, "start"  # start | plain | quoted | closing (a quote seen inside quotes)
    for line in lines:
        for ch in line:
            if state == "quoted":
                if ch == '"':
                    state = "closing"
                    continue
            elif state == "closing":
                if ch == '"':
                    state = "quoted"  # a doubled quote: one quote character of text
                elif ch == ",":
                    number, length, state = number + 1, 0, "start"
                    continue
                elif ch in "\r\n":
                    return None, ""
                else:
                    return number, "after quote"
            elif ch == ",":
                number, length, state = number + 1, 0, "start"
                continue
            elif ch in "\r\n":
                return None, ""
            elif state == "start" and ch == '"':
                state = "quoted"
                continue
            else:
                state = "plain"
            length += 1
            if length > limit:
                return number, "long" if state == "plain" else "long quoted"
    return (number, "unclosed") if state == "quoted" else (None, "")


def _csv_error(
    exc: csv.Error, path: Path, text: str, row: int, row_line: int, header: Optional[list[str]]
) -> AnnotationError:
    """The AnnotationError for a csv.Error met in data row `row` (0: the header) whose first physical line is
    `row_line` (0-based): it names the row and, where it can be found, the field and what is wrong with it."""
    where = f"data row {row}" if row else "the header row,"
    number, problem = _bad_field(_Lines(text, skip=row_line), FIELD_SIZE_LIMIT)
    if number is None:
        return AnnotationError(f"{path}: not a readable CSV at {where}: {exc} (an unclosed quote?)")
    if header is not None and number < len(header):
        field_name = f"field {_repair(header[number]).strip()!r}"
    else:
        field_name = f"field {number + 1}"
    if problem == "long":
        return AnnotationError(
            f"{path}: {where} {field_name} is longer than {FIELD_SIZE_LIMIT:,} characters, the most one field may "
            "hold (VAU-Bench cells are a few KB); shorten it"
        )
    if problem == "long quoted":
        return AnnotationError(
            f"{path}: {where} {field_name} is longer than {FIELD_SIZE_LIMIT:,} characters, the most one field may "
            "hold (VAU-Bench cells are a few KB): most likely a quote opened in it is never closed, so the field "
            'runs on through the rows after it; close the quote (a quote inside quoted text is written twice: "")'
        )
    if problem == "unclosed":
        return AnnotationError(
            f"{path}: {where} {field_name} opens a quote that is never closed (an unclosed quote), so the field "
            'runs on to the end of the file; close it (a quote inside quoted text is written twice: "")'
        )
    return AnnotationError(
        f"{path}: {where} {field_name} has text after its closing quote ({exc}): a quote inside quoted text is "
        'written twice (""), or a quote opened in an earlier field is never closed (an unclosed quote)'
    )


# --------------------------------------------------------------------------------------------- rows


class _Row:
    """One data row under construction: reads cells by column and collects messages about it."""

    def __init__(self, name: str, number: int, cells: list[str], index: dict[str, int], result: ReadResult):
        self.name, self.number, self.cells, self.index, self.result = name, number, cells, index, result
        # Checked once per file: most files are clean UTF-8 and need no per-cell scan.
        self.result_has_undecoded = result.has_undecoded

    def where(self, column: str) -> str:
        return f"{self.name} row {self.number} field {column!r}"

    def error(self, column: str, message: str) -> None:
        self.result.errors.append(f"{self.where(column)}: {message}")

    def warn(self, column: str, message: str) -> None:
        self.result.warnings.append(f"{self.where(column)}: {message}")

    def raw(self, column: str) -> Optional[str]:
        i = self.index[column]
        if i >= len(self.cells):
            return None
        cell = self.cells[i]
        if self.result_has_undecoded and _has_undecoded(cell):
            self.warn(column, "not valid UTF-8; read as Windows-1252/Latin-1 (re-save the file as UTF-8)")
            cell = _repair(cell)
        return cell

    def text(self, column: str) -> Optional[str]:
        return clean_text(self.raw(column))


def _read_answer(row: _Row, options: list[Optional[str]]) -> Optional[str]:
    column = "Correct Option"
    resolution = resolve_correct_option(row.raw(column), options)
    if resolution.problem:
        (row.error if resolution.severity == "error" else row.warn)(column, resolution.problem)
    return resolution.letter


def _read_class(row: _Row) -> tuple[Optional[str], Optional[str]]:
    """(canonical class | None, class as written | None); an unknown class is an error."""
    column = "Anomaly Class"
    raw_class = row.text(column)
    if raw_class is None:
        return None, None
    canonical = canonical_class(raw_class)
    if canonical is None:
        row.error(column, f"unknown class {raw_class!r}; expected one of {', '.join(CLASSES)}")
    elif canonical != raw_class:
        row.warn(column, f"class {raw_class!r} read as {canonical!r}")
    return canonical, raw_class


def _read_span(row: _Row, anomaly_class: Optional[str], raw_class: Optional[str]) -> Optional[tuple[float, float]]:
    """The anomaly interval (start, end) when the row has one with 0 <= start < end, else None."""
    start, start_problem = parse_seconds(row.raw("Start Time"))
    end, end_problem = parse_seconds(row.raw("End Time"))
    if start_problem:
        row.error("Start Time", start_problem)
    if end_problem:
        row.error("End Time", end_problem)
    if start_problem or end_problem:
        return None
    if anomaly_class == NORMAL_CLASS:
        if (start, end) not in ((None, None), (0.0, 0.0)):
            row.warn("Start Time", f"a Normal video has times {start}/{end}; expected 0.0/0.0, ignored")
        return None
    if (start is None) != (end is None):
        given, absent = ("Start Time", "End Time") if end is None else ("End Time", "Start Time")
        row.warn(absent, f"missing while {given!r} is given; the row has no anomaly span")
        return None
    if start is None or end is None:
        return None
    if start > end:
        row.error("Start Time", f"start {start} is after end {end}")
        return None
    if start == end:
        if raw_class is not None:
            row.warn("End Time", f"empty span {start}-{end} for class {raw_class!r}; the row has no anomaly span")
        return None
    if end > MAX_PLAUSIBLE_SECONDS:
        column = "Start Time" if start > MAX_PLAUSIBLE_SECONDS else "End Time"
        row.warn(
            column,
            f"span {start:g}-{end:g} s reaches past 24 h ({MAX_PLAUSIBLE_SECONDS:g} s), longer than any VAU-Bench "
            "video: times in milliseconds or frames instead of seconds?",
        )
    return (start, end)


def _read_row(row: _Row, split: str, extra_columns: dict[str, int], header_width: int) -> Optional[VAURecord]:
    """Build the record for one data row, or None (with an error) when it has no video name."""
    if len(row.cells) != header_width:
        absent = [c for c, i in row.index.items() if i >= len(row.cells)]
        detail = f"; no value for {', '.join(repr(c) for c in absent)}" if absent else "; extra values ignored"
        row.result.errors.append(
            f"{row.name} row {row.number}: has {len(row.cells)} fields, the header has {header_width}{detail}"
        )
    video = row.text("Video Name")
    if video is None:
        row.error("Video Name", "missing video name; row skipped")
        return None
    unsafe = unsafe_video_name(video)
    if unsafe:
        row.error("Video Name", f"{video!r} {unsafe}; row skipped")
        return None
    options = [row.text(c) for c in OPTION_COLUMNS]
    answer = _read_answer(row, options)
    anomaly_class, raw_class = _read_class(row)
    span = _read_span(row, anomaly_class, raw_class)
    extra = {}
    for column, i in extra_columns.items():
        if i < len(row.cells):
            extra[column] = _repair(row.cells[i]).strip()
    conflict = source_conflict(video, split)
    if conflict:
        row.error("Video Name", conflict)
    return VAURecord(
        video=video,
        source=None if conflict else infer_source(video, split),
        source_conflict=conflict,
        split=split,
        question=row.text("Question"),
        options=tuple(options) if all(o is not None for o in options) else None,  # type: ignore[arg-type]
        answer=answer,
        key_object=row.text("Key Object"),
        description=row.text("Description"),
        reasoning=row.text("Reasoning"),
        anomaly_class=anomaly_class,
        raw_class=raw_class,
        span=span,
        file=row.name,
        row=row.number,
        extra=extra,
    )


def _report_duplicates(result: ReadResult) -> None:
    """A video named by two rows of one file: a warning when the rows agree, an error saying what differs when
    they do not (which row's answer is the truth cannot be told; the lmms-eval tasks refuse such rows)."""
    first: dict[str, VAURecord] = {}
    for record in result.records:
        earlier = first.setdefault(record.video, record)
        if earlier is record:
            continue
        where = f"{result.file} row {record.row} field 'Video Name': {record.video!r} duplicates row {earlier.row}"
        differences = record.differences(earlier)
        if differences:
            result.errors.append(f"{where} with different values: {'; '.join(differences)}")
        else:
            result.warnings.append(f"{where} (same values)")


def _report_rows_without_data(result: ReadResult) -> None:
    """One warning listing the rows that no task can use (every field but the video name missing): they are read
    and counted in `rows`, and nothing else."""
    empty = [r.row for r in result.records if not any(serves(r, task) for task in TASKS)]
    if empty:
        listed = ", ".join(map(str, empty[:_ROWS_LISTED])) + (" ..." if len(empty) > _ROWS_LISTED else "")
        result.warnings.append(
            f"{result.file}: {len(empty)} row(s) carry no data any task can use (no question, class, usable span, "
            f"description or reasoning; -1 or empty cells): rows {listed}"
        )


def read_csv(path: PathLike, *, split: Optional[str] = None) -> ReadResult:
    """`read_csv(path, *, split=None) -> ReadResult`: parse and validate one VAU-Bench annotation CSV.

    `split` names the split in the records (default: the file stem, e.g. `test_msad`). Row-level problems
    become messages in the result; an unreadable file raises AnnotationError.
    """
    path = Path(path).expanduser()
    name = path.name
    text, undecoded = _decode(read_file_bytes(path), path)
    result = ReadResult(file=name, split=split or path.stem, has_undecoded=undecoded)
    lines = _Lines(text)
    reader = csv.reader(lines, strict=True)
    progress = Progress(f"reading {name}")
    header: Optional[list[str]] = None
    row_line = 0  # the first physical line of the row being read (0-based)
    try:
        with _Reading():
            header = next(reader, None)
            while header is not None and not any(cell.strip() for cell in header):
                row_line = reader.line_num
                header = next(reader, None)
            if header is None:
                raise AnnotationError(f"{path}: empty file, expected a VAU-Bench CSV with a header row")
            index, extra_columns, header_warnings = _map_header(header, path, name)
            result.warnings.extend(header_warnings)
            row_line = reader.line_num
            for number, cells in enumerate(reader, start=1):
                result.rows = number
                if number % _PROGRESS_EVERY_ROWS == 0:
                    progress.update(lambda n=number: f"{n:,} rows, {lines.consumed / len(text):.0%} of the file")
                if not any(cell.strip() for cell in cells):
                    result.warnings.append(f"{name} row {number}: empty row skipped")
                elif _repeats_header(cells, index):
                    header, index, extra_columns = _repeated_header(
                        result, number, cells, header, index, extra_columns, path
                    )
                else:
                    row = _Row(name, number, cells, index, result)
                    record = _read_row(row, result.split, extra_columns, len(header))
                    if record is not None:
                        result.records.append(record)
                row_line = reader.line_num
    except csv.Error as exc:
        raise _csv_error(exc, path, text, result.rows + 1 if header else 0, row_line, header) from None
    progress.done(f"{result.rows:,} rows")
    _report_duplicates(result)
    _report_rows_without_data(result)
    return result


def _repeated_header(
    result: ReadResult,
    number: int,
    cells: list[str],
    header: list[str],
    index: dict[str, int],
    extra_columns: dict[str, int],
    path: Path,
) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """Report data row `number`, a header row again, as an error (the row is skipped) and return the header,
    column index and extra columns for the rows after it: its own when it orders the columns differently."""
    shown = ", ".join(repr(shorten(_repair(c).strip().lstrip("\ufeff"))) for c in cells[:3])
    message = (
        f"{result.file} row {number}: repeats the header row ({shown}, ...): two CSV files joined into one?; "
        "row skipped"
    )
    try:
        new_index, new_extra, _ = _map_header(cells, path, result.file)
    except AnnotationError:
        new_index = None
    if new_index is not None and (new_index != index or len(cells) != len(header)):
        message += "; its column order differs from row 0's, and the rows after it are read in its order"
        header, index, extra_columns = cells, new_index, new_extra
    result.errors.append(message)
    return header, index, extra_columns

"""Read VAU-Bench annotation CSVs (a file, a directory of them, or a hub dataset) into `VAURecord`s.

Every problem found in a row becomes a message naming file, 1-based data row and field, e.g.
``test_msad.csv row 17 field 'Start Time': expected a number of seconds, got 'abc'``. Only a source that
cannot be read at all (missing, not a CSV, required columns missing, hub unreachable) raises
`AnnotationError`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple, Optional, Sequence, Union

from vau_plugin.data.schema import (
    CLASSES,
    COLUMNS,
    LETTERS,
    NORMAL_CLASS,
    OPTION_COLUMNS,
    SOURCES,
    SPLIT_FILE_SOURCES,
    VAURecord,
    canonical_class,
)
from vau_plugin.data.videos import unsafe_video_name

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

# `-1`, `-1.0`, `-1.00` ... mark a field as not available (dataset card: "entries not equal to -1 are usable").
_MISSING_MARKER = re.compile(r"^-1(?:\.0*)?$")
# A hub dataset id: owner/name, nothing else (no leading slash, no dots-only parts, one separator).
_HUB_ID = re.compile(r"^(?:hf://datasets/)?([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)$")
# "D. Green trash bin ...", "(B) text", "C) text", "A: text": a letter, then (maybe) the option text.
_LETTER_PREFIX = re.compile(r"^\(?\s*([A-Da-d])\s*(?:[.):\]]|\s-\s|\s*$)\s*(.*)$", re.DOTALL)
# "2", "Option 2": the option's number.
_OPTION_NUMBER = re.compile(r"^(?:option\s*)?([1-4])\s*[.)]?$", re.IGNORECASE)
# Hub timeout in seconds: short, so an unreachable hub fails in seconds rather than hanging a CLI.
DEFAULT_HUB_TIMEOUT_S = 10.0


class AnnotationError(ValueError):
    """A VAU-Bench annotation source that cannot be read at all; the message names the file and the reason."""


@dataclass
class ReadResult:
    """What `read_csv` got from one file.

    file: the file name used in messages; split: the split name (file stem unless given);
    records: one per readable data row; rows: data rows read (the header excluded);
    errors / warnings: messages naming file, row and field.
    """

    file: str
    split: str
    records: list[VAURecord] = field(default_factory=list)
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    has_undecoded: bool = field(default=False, repr=False)  # the file holds bytes that are not UTF-8


class AnswerResolution(NamedTuple):
    """`resolve_correct_option`'s answer: the letter (or None) and an optional problem with its severity."""

    letter: Optional[str]
    problem: Optional[str] = None
    severity: str = "warning"  # "warning" | "error"


# --------------------------------------------------------------------------------------------- cell parsing


def is_missing(value: Optional[str]) -> bool:
    """`is_missing(cell) -> bool`: True for None, an empty/blank cell, or the `-1` / `-1.0` marker."""
    return value is None or not value.strip() or bool(_MISSING_MARKER.match(value.strip()))


def clean_text(value: Optional[str]) -> Optional[str]:
    """`clean_text(cell) -> str | None`: the trimmed cell with newlines as `\\n`, or None when it is missing."""
    if is_missing(value):
        return None
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


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
    keys = [_option_key(o) if o else None for o in options]
    if len(text) == 1 and text.upper() in LETTERS:
        return AnswerResolution(text.upper())
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


def source_from_name(video: str) -> Optional[str]:
    """`source_from_name(video) -> source | None`: the source named by a `msad_` / `ucf_` / `ecva_` prefix."""
    prefix = video.split("_", 1)[0].lower() if "_" in video else ""
    return prefix if prefix in SOURCES else None


def source_from_split(split: str) -> Optional[str]:
    """`source_from_split(stem) -> source | None`: test_msad -> msad, test_ucf_crime -> ucf, test_ecva -> ecva."""
    if split in SPLIT_FILE_SOURCES:
        return SPLIT_FILE_SOURCES[split]
    named = {token for token in re.split(r"[_\-.\s]+", split.lower()) if token in SOURCES}
    return named.pop() if len(named) == 1 else None


def infer_source(video: str, split: str) -> Optional[str]:
    """`infer_source(video, split) -> source | None`: from the video name prefix, else from the split name."""
    return source_from_name(video) or source_from_split(split)


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


def _decode(data: bytes, path: Path) -> str:
    """Decode a CSV's bytes; invalid UTF-8 bytes are kept as surrogates so each row can report and repair them."""
    if not data.strip():
        raise AnnotationError(f"{path}: empty file, expected a VAU-Bench CSV with a header row")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise AnnotationError(f"{path}: starts with a UTF-16 mark but is not valid UTF-16") from None
    if b"\x00" in data[:65536]:
        raise AnnotationError(f"{path}: binary data, not a CSV text file")
    text = data.decode("utf-8-sig", errors="surrogateescape")
    sample = text[:8192]
    if len(_BINARY_HINT.findall(sample)) > 0.05 * len(sample):
        raise AnnotationError(
            f"{path}: binary data, not a CSV text file (or text in an encoding other than UTF-8, "
            "UTF-16 or Windows-1252; re-save it as UTF-8)"
        )
    return text


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


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _column_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


_COLUMN_BY_KEY = {_column_key(c): c for c in COLUMNS}


def _map_header(header: list[str], path: Path, name: str) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Match header cells to the VAU-Bench columns.

    Returns (column -> index, extra column -> index, warnings); raises AnnotationError when required
    columns are missing.
    """
    warnings: list[str] = []
    index: dict[str, int] = {}
    extra: dict[str, int] = {}
    for i, cell in enumerate(header):
        cell_text = _repair(cell).strip()
        column = _COLUMN_BY_KEY.get(_column_key(cell_text))
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
        found = ", ".join(repr(_shorten(_repair(h).strip())) for h in header[:16])
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
    return VAURecord(
        video=video,
        source=infer_source(video, split),
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


def _warn_duplicates(result: ReadResult) -> None:
    first_row: dict[str, int] = {}
    for record in result.records:
        if record.video in first_row:
            earlier = first_row[record.video]
            result.warnings.append(
                f"{result.file} row {record.row} field 'Video Name': {record.video!r} duplicates row {earlier}"
            )
        else:
            first_row[record.video] = record.row


def read_csv(path: PathLike, *, split: Optional[str] = None) -> ReadResult:
    """`read_csv(path, *, split=None) -> ReadResult`: parse and validate one VAU-Bench annotation CSV.

    `split` names the split in the records (default: the file stem, e.g. `test_msad`). Row-level problems
    become messages in the result; an unreadable file raises AnnotationError.
    """
    path = Path(path).expanduser()
    name = path.name
    text = _decode(read_file_bytes(path), path)
    result = ReadResult(file=name, split=split or path.stem, has_undecoded=_has_undecoded(text))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise AnnotationError(f"{path}: empty file, expected a VAU-Bench CSV with a header row")
        index, extra_columns, header_warnings = _map_header(header, path, name)
        result.warnings.extend(header_warnings)
        for number, cells in enumerate(reader, start=1):
            result.rows = number
            if not any(cell.strip() for cell in cells):
                result.warnings.append(f"{name} row {number}: empty row skipped")
                continue
            record = _read_row(_Row(name, number, cells, index, result), result.split, extra_columns, len(header))
            if record is not None:
                result.records.append(record)
    except csv.Error as exc:
        raise AnnotationError(
            f"{path}: not a readable CSV at data row {result.rows + 1}: {exc} (an unclosed quote?)"
        ) from None
    _warn_duplicates(result)
    return result


# --------------------------------------------------------------------------------------------- sources


def _csv_files(directory: Path) -> list[Path]:
    """The CSVs directly in `directory`, else (a hub snapshot keeps them in sub-folders) those below it."""
    direct = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if direct:
        return direct
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() == ".csv")


def is_hub_id(source: PathLike) -> bool:
    """`is_hub_id(source) -> bool`: True for `owner/name` (or `hf://datasets/owner/name`) that is no existing path."""
    text = os.fspath(source)
    return not Path(text).expanduser().exists() and bool(_HUB_ID.match(text)) and not text.lower().endswith(".csv")


def _hub_unreachable(repo_id: str, reason: str) -> AnnotationError:
    return AnnotationError(
        f"{repo_id!r} is no local path, and as a Hugging Face hub dataset it cannot be loaded: the hub is "
        f"unreachable ({reason}) and no cached copy exists; pass a local directory of VAU-Bench CSVs instead"
    )


def hub_timeout_s() -> float:
    """`hub_timeout_s() -> float`: $VAU_HUB_TIMEOUT when it is a positive number, else DEFAULT_HUB_TIMEOUT_S."""
    try:
        value = float(os.environ.get("VAU_HUB_TIMEOUT", ""))
    except ValueError:
        return DEFAULT_HUB_TIMEOUT_S
    return value if math.isfinite(value) and value > 0 else DEFAULT_HUB_TIMEOUT_S


def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    return bool(constants.HF_HUB_OFFLINE) or flag


def download_hub_dataset(repo_id: str) -> Path:
    """`download_hub_dataset("owner/name") -> Path`: a local snapshot of the dataset's CSV files.

    Honours HF_HUB_OFFLINE (then only the local cache is used) and uses short timeouts; an unreachable hub
    raises AnnotationError telling the user to pass a local directory.
    """
    repo_id = _HUB_ID.match(repo_id).group(1) if _HUB_ID.match(repo_id) else repo_id
    try:
        import requests
        from huggingface_hub import HfApi, snapshot_download
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a dependency
        raise AnnotationError(f"cannot load {repo_id!r}: huggingface_hub is not installed ({exc})") from None

    def cached() -> Optional[Path]:
        try:
            return Path(
                snapshot_download(repo_id, repo_type="dataset", allow_patterns=["*.csv"], local_files_only=True)
            )
        except Exception:  # any failure means "not in the cache"
            return None

    if _offline():
        local = cached()
        if local is None:
            raise _hub_unreachable(repo_id, "HF_HUB_OFFLINE is set")
        return local
    try:
        timeout = hub_timeout_s()
        HfApi().repo_info(repo_id, repo_type="dataset", timeout=timeout)
        return Path(snapshot_download(repo_id, repo_type="dataset", allow_patterns=["*.csv"], etag_timeout=timeout))
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise AnnotationError(
            f"{repo_id!r}: no such dataset on the Hugging Face hub, or it needs a token you do not have "
            f"({type(exc).__name__}); and no local path {repo_id!r} exists"
        ) from None
    except (requests.exceptions.RequestException, OSError) as exc:
        local = cached()
        if local is None:
            raise _hub_unreachable(repo_id, type(exc).__name__) from None
        logger.warning("hub unreachable (%s); using the cached copy of %s", type(exc).__name__, repo_id)
        return local


def _by_stem(files: list[Path], where: PathLike) -> dict[str, Path]:
    """stem -> file; two files with one stem (a hub snapshot's sub-folders, a copy) is an error, not a choice."""
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise AnnotationError(
                f"{where}: two annotation files for split {path.stem!r}: {stems[path.stem]} and {path}; "
                "keep one, or point at the folder that holds the one you mean"
            )
        stems[path.stem] = path
    return stems


def _select_split(files: list[Path], split: Optional[str], where: PathLike) -> list[Path]:
    if split is None:
        return files
    stems = _by_stem(files, where)
    if split not in stems:
        available = ", ".join(stems) or "none"
        raise AnnotationError(f"{where}: no split {split!r}; available splits: {available}")
    return [stems[split]]


def split_files(source: PathLike) -> dict[str, Path]:
    """`split_files(source) -> {split: csv path}`: the annotation files a source holds, by split (file stem).

    `source` is a CSV (one split, its stem), a directory of CSVs or a hub dataset id. Raises AnnotationError
    when the source cannot be read or two files share a stem.
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_file():
        return {path.stem: path}
    directory = _source_directory(text)
    files = _csv_files(directory)
    if not files:
        raise AnnotationError(f"{text}: no .csv files found in {directory}")
    return _by_stem(files, text)


def _source_directory(text: str) -> Path:
    """The local directory of a directory or hub-id source; AnnotationError for anything else."""
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if is_hub_id(text):
        return download_hub_dataset(text)
    if path.exists():
        raise AnnotationError(f"{path}: neither a file nor a directory")
    raise AnnotationError(f"{path}: no such file or directory (nor a hub dataset id of the form owner/name)")


def read_source(source: PathLike, *, split: Optional[str] = None) -> list[ReadResult]:
    """`read_source(source, *, split=None) -> list[ReadResult]`, one per CSV read.

    `source` is a CSV file, a directory of CSVs (split = file stem) or a hub dataset id `owner/name`; an
    existing path always wins over a hub id. `split` selects one file by stem; a single file is its own
    split (asking it for another is an error: a file's rows never take another split's name).
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_file():
        if split is not None and split != path.stem:
            raise AnnotationError(
                f"{path}: is one annotation file, split {path.stem!r}; split {split!r} was asked for "
                "(to choose a split, pass the folder that holds the CSVs)"
            )
        return [read_csv(path)]
    directory = _source_directory(text)
    files = _csv_files(directory)
    if not files:
        raise AnnotationError(f"{text}: no .csv files found in {directory}")
    return [read_csv(p) for p in _select_split(files, split, text)]


def cross_file_duplicates(results: Iterable[ReadResult]) -> list[str]:
    """`cross_file_duplicates(results) -> list[str]`: warnings for a video named in more than one file."""
    seen: dict[str, VAURecord] = {}
    warnings = []
    for result in results:
        first_in_file: set[str] = set()
        for record in result.records:
            if record.video in first_in_file:
                continue  # already reported by read_csv
            first_in_file.add(record.video)
            if record.video in seen and seen[record.video].file != record.file:
                earlier = seen[record.video]
                warnings.append(
                    f"{record.file} row {record.row} field 'Video Name': {record.video!r} also appears in "
                    f"{earlier.file} row {earlier.row}"
                )
            else:
                seen.setdefault(record.video, record)
    return warnings


def load_records(source: PathLike, *, split: Optional[str] = None) -> list[VAURecord]:
    """`load_records(source, *, split=None) -> list[VAURecord]`: every readable row of a file, directory or hub id.

    Row-level problems are logged (use `read_source` or `vau-plugin validate` to see them all);
    an unreadable source raises AnnotationError.
    """
    results = read_source(source, split=split)
    records: list[VAURecord] = []
    for result in results:
        if result.errors or result.warnings:
            logger.warning(
                "%s: %d error(s), %d warning(s); run `vau-plugin validate %s` to list them",
                result.file,
                len(result.errors),
                len(result.warnings),
                os.fspath(source),
            )
        records.extend(result.records)
    return records

"""Prediction files made elsewhere, read for `vau-plugin score` (`vau_plugin.score`):

- VAU-R1's CSV layout: `Video Name` plus `QA answer` / `Temporal Grounding` / `CLS answer`;
- lmms-eval's `--log_samples` jsonl of a vau_bench task (one sample a line: `doc`, `resps`, `filtered_resps`,
  ...); the raw response is kept to be parsed again, the scores stored in the file are not used.

Video names are matched as VAU-R1's evaluators match them (`video_key`): trimmed, with ".mp4" appended when missing.
An empty prediction cell in a CSV is kept as a missing prediction (`raw` None) for that row.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from vau_plugin.data.reader import column_key, read_file_bytes, shorten
from vau_plugin.data.schema import SOURCES
from vau_plugin.task_metrics import TASK_METRICS, TASKS

# The response the plugin's model wrapper (vau_plugin.lmms.model) gives for a sample whose video cannot be decoded:
# the sample is kept, scored as a wrong answer, and flagged `video_error` in the per-sample log.
VIDEO_ERROR_PREFIX = "[vau-plugin video error]"

# The answer column of VAU-R1's prediction CSVs, per task.
TASK_COLUMNS: dict[str, str] = {"qa": "QA answer", "tag": "Temporal Grounding", "cls": "CLS answer"}
VIDEO_COLUMN = "Video Name"
CSV_FORMAT = "vau-r1-csv"
JSONL_FORMAT = "lmms-eval-samples"


class ScoreError(ValueError):
    """Predictions or annotations that cannot be scored; the message says which file, row and why."""


@dataclass
class Prediction:
    """One prediction read from a file. `raw` is None for an empty prediction cell."""

    key: str  # the video name as matched (see video_key)
    video: str  # the video name as written
    raw: Optional[str]
    where: str  # "file row N" / "file line N"
    truth: Any = None  # for lmms-eval samples: the ground truth the run scored against (in `score._truth`'s form)
    row: Optional["RowRef"] = None  # for lmms-eval samples: the annotation row the sample names, as far as it says


@dataclass(frozen=True)
class RowRef:
    """What an lmms-eval sample says about its annotation row: its `doc` names source, split, file and row; the
    plugin's per-sample entry (lmms-eval 0.7 drops the doc) names the source only. None where it does not say."""

    source: Optional[str] = None  # one of schema.SOURCES
    no_source: bool = False  # the sample says its row has no known source (docs write "unknown", or "mini")
    split: Optional[str] = None
    file: Optional[str] = None
    row: Optional[int] = None

    def describe(self) -> str:
        source = f"source {self.source}" if self.source else "source unknown" if self.no_source else ""
        parts = [source, f"split {self.split}" if self.split else "",
                 f"{self.file} row {self.row}" if self.file and self.row is not None else ""]  # fmt: skip
        return ", ".join(p for p in parts if p) or "no source, split or row"


@dataclass
class Predictions:
    path: str
    format: str
    entries: list[Prediction] = field(default_factory=list)


def video_key(name: str) -> str:
    """The name a video is matched by: trimmed, ".mp4" appended when missing (VAU-R1's evaluators)."""
    name = name.strip()
    return name if name.lower().endswith(".mp4") else name + ".mp4"


# ------------------------------------------------------------------------------------------------ ground truth


def _span_list(value: Any) -> Any:
    """A logged span as a list of floats (as `vau_plugin.score._truth` gives a row's), or the value unchanged when it
    is no pair of numbers."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        return [float(x) for x in value]
    return value


def _sample_truth(task: str, entry: dict) -> Any:
    """The ground truth a logged sample was scored against, from the plugin's per-sample entry."""
    if task == "tag":
        return (bool(entry.get("normal")), _span_list(entry.get("gt")))
    return entry.get("gt")


def _doc_truth(task: str, doc: dict) -> Any:
    """The ground truth an lmms-eval document carries (vau_plugin.lmms.docs), as `vau_plugin.score._truth` gives a
    row's."""
    if task == "qa":
        return doc.get("answer")
    if task == "tag":
        normal = bool(doc.get("is_normal"))
        return (normal, None if normal else _span_list(doc.get("span")))
    return doc.get("anomaly_class")


# ------------------------------------------------------------------------------------------------ reading


def _read_text(path: Path) -> str:
    data = read_file_bytes(path, "a prediction file (VAU-R1 CSV or lmms-eval samples jsonl)", ScoreError)
    if not data.strip():
        raise ScoreError(f"{path}: empty file, expected predictions (VAU-R1 CSV or lmms-eval samples jsonl)")
    if b"\x00" in data[:65536]:
        raise ScoreError(f"{path}: binary data, not a prediction file (VAU-R1 CSV or lmms-eval samples jsonl)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ScoreError(f"{path}: not UTF-8 text (line {line}); re-save it as UTF-8") from None


def _other_task_columns(found_keys: set[str], task: str) -> list[str]:
    return [t for t, column in TASK_COLUMNS.items() if t != task and column_key(column) in found_keys]


def _read_csv(path: Path, text: str, task: str) -> Predictions:
    name = path.name
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    predictions = Predictions(str(path), CSV_FORMAT)
    wanted = TASK_COLUMNS[task]
    row_number = 0
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise ScoreError(f"{path}: empty file, expected a header row")
        keys = [column_key(cell) for cell in header]
        missing = [c for c in (VIDEO_COLUMN, wanted) if column_key(c) not in keys]
        if missing:
            found = ", ".join(repr(shorten(cell.strip())) for cell in header[:16]) or "nothing"
            hint = ""
            others = _other_task_columns(set(keys), task)
            if others and column_key(VIDEO_COLUMN) in keys:
                hint = f" (this looks like a {others[0]} prediction file: did you mean --task {others[0]}?)"
            raise ScoreError(
                f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; a VAU-R1 {task} prediction CSV "
                f"has columns {VIDEO_COLUMN!r} and {wanted!r} (or pass an lmms-eval --log_samples jsonl); "
                f"found: {found}{hint}"
            )
        video_index, answer_index = keys.index(column_key(VIDEO_COLUMN)), keys.index(column_key(wanted))
        for row_number, cells in enumerate(reader, start=1):
            if not any(cell.strip() for cell in cells):
                continue
            where = f"{name} row {row_number}"
            video = cells[video_index].strip() if video_index < len(cells) else ""
            if not video:
                raise ScoreError(f"{where}: no video name in column {VIDEO_COLUMN!r}")
            raw = cells[answer_index] if answer_index < len(cells) else ""
            predictions.entries.append(Prediction(video_key(video), video, raw if raw.strip() else None, where))
    except csv.Error as exc:
        raise ScoreError(f"{path}: not a readable CSV at data row {row_number + 1}: {exc} (an unclosed quote?)") from None
    if not predictions.entries:
        raise ScoreError(f"{path}: no prediction rows under the header")
    return predictions


def _response(sample: dict, entry: Optional[dict], where: str) -> str:
    """The response the task scored: `filtered_resps` (what lmms-eval passes to process_results; a string, or a
    list in older logs), else `resps`, else the `raw` text the plugin's per-sample entry keeps."""
    for value in (sample.get("filtered_resps"), sample.get("resps"), (entry or {}).get("raw")):
        while isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str):
            return value
    raise ScoreError(f"{where}: no model response (expected a string in 'filtered_resps' or 'resps')")


def _read_sample(sample: Any, task: str, where: str, path: Path) -> Prediction:
    """One lmms-eval sample: the plugin's per-sample entries (one per metric: video, raw, pred, gt ...), and in
    logs that keep it (older lmms-eval) the `doc`; lmms-eval 0.7 drops `doc` when it writes the jsonl."""
    if not isinstance(sample, dict):
        raise ScoreError(f"{where}: not an lmms-eval sample (expected a JSON object)")
    if "results" in sample and "configs" in sample:
        raise ScoreError(
            f"{path}: an lmms-eval results file, not a samples file; pass the *_samples_<task>.jsonl written with "
            "--log_samples"
        )
    doc = sample.get("doc") if isinstance(sample.get("doc"), dict) else None
    entries = [sample[name] for name in TASK_METRICS[task] if isinstance(sample.get(name), dict)]
    entry = entries[0] if entries else None
    if doc is not None and doc.get("task") not in (None, task):
        raise ScoreError(f"{where}: a sample of the {doc['task']!r} task, not {task!r} (pass --task {doc['task']})")
    if entry is None and doc is None:
        others = [t for t, names in TASK_METRICS.items() if t != task and any(isinstance(sample.get(n), dict) for n in names)]
        if others:
            raise ScoreError(f"{where}: a sample of the vau_bench {others[0]} task, not {task} (pass --task {others[0]})")
        raise ScoreError(
            f"{where}: not a sample of a vau_bench {task} task: it has neither a 'doc' nor a per-sample entry "
            f"for the metrics {', '.join(TASK_METRICS[task])} (found keys: {', '.join(sorted(map(str, sample))[:12])})"
        )
    video = (doc or entry or {}).get("video")
    if not isinstance(video, str) or not video.strip():
        raise ScoreError(f"{where}: the sample names no video (expected 'video' in its doc or metric entry)")
    truth = _doc_truth(task, doc) if doc is not None else _sample_truth(task, entry)  # type: ignore[arg-type]
    return Prediction(video_key(video), video.strip(), _response(sample, entry, where), where, truth=truth,
                      row=_row_ref(doc if doc is not None else entry))  # fmt: skip


def _row_ref(fields: Any) -> RowRef:
    """The annotation row a sample's doc (or per-sample entry) names (`vau_plugin.lmms.docs._doc` writes source,
    split, file and row; the task's per-sample entry keeps the source)."""
    def text(name: str) -> Optional[str]:
        value = fields.get(name) if isinstance(fields, dict) else None
        return value.strip() if isinstance(value, str) and value.strip() else None

    source = text("source")
    row = fields.get("row") if isinstance(fields, dict) else None
    return RowRef(
        source=source if source in SOURCES else None,
        no_source=source is not None and source not in SOURCES,
        split=text("split"),
        file=text("file"),
        row=row if isinstance(row, int) and not isinstance(row, bool) else None,
    )


def _read_samples(path: Path, text: str, task: str) -> Predictions:
    name = path.name
    predictions = Predictions(str(path), JSONL_FORMAT)
    samples: list[tuple[str, Any]] = []
    try:  # one JSON document: an array of samples, a single sample, or (a mistake) a results file
        whole = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        whole = None
    if isinstance(whole, list):
        samples = [(f"{name} sample {i}", item) for i, item in enumerate(whole, start=1)]
    elif whole is not None:
        samples = [(f"{name} line 1", whole)]
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                samples.append((f"{name} line {number}", json.loads(line)))
            except (json.JSONDecodeError, RecursionError) as exc:
                raise ScoreError(f"{name} line {number}: not valid JSON ({exc})") from None
    predictions.entries = [_read_sample(sample, task, where, path) for where, sample in samples]
    if not predictions.entries:
        raise ScoreError(f"{path}: no samples")
    return predictions


def read_predictions(path: Any, task: str) -> Predictions:
    """`read_predictions(path, task) -> Predictions`: a VAU-R1 CSV or an lmms-eval samples jsonl (by content)."""
    if task not in TASKS:
        raise ScoreError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    path = Path(os.fspath(path)).expanduser()
    text = _read_text(path)
    if text.lstrip()[:1] in ("{", "["):
        return _read_samples(path, text, task)
    return _read_csv(path, text, task)

"""Scoring of prediction files made elsewhere: what `vau-plugin score` (`vau_plugin.commands.score`) reports.

Scores prediction files made elsewhere (read by `vau_plugin.predictions`) with the plugin's own parser
(`vau_plugin.parsing`) and metrics (`vau_plugin.task_metrics`), exactly as the lmms-eval tasks
(tasks/vau_bench/utils.py) score a run, on exactly the rows those tasks evaluate (`vau_plugin.data.targets.serves`).
This module matches the predictions with the annotation rows and builds the report.

When the annotations (a folder of CSVs) name one video in rows of different sources, or of different files whose
source is unknown, those are different rows (msad/Assault_2.mp4 is not ucf/Assault_2.mp4): a prediction for that name
is matched by what an lmms-eval sample says about its row (its doc's file and row, else its source and split) and is
an error naming both rows when it says nothing that tells them apart. Rows of one file (or one known source) that
repeat a video with the same ground truth are scored once, with a warning.

Several predictions for one row (e.g. sample logs of two runs concatenated): with `--duplicates error` (the
default) the first is kept when every copy parses to the same answer (a warning; copies whose text differs but
whose parsed answer is the same score the same whichever is kept, and the warning says so), and a copy with a
different parsed answer stops the command, naming both; `--duplicates first` / `last` keep the first / the last
copy (each ignored copy a warning). The report gives the count and the policy. Predictions for videos that are
not in the annotations are an error. When the predictions cover fewer of the task's rows than the annotations hold,
the command stops unless `--missing skip` (score the predicted rows only, as VAU-R1's TAG evaluator does) or
`--missing wrong` (each missing row is wrong / IoU 0, as VAU-R1's QA and CLS evaluators do) says what to do.
An empty prediction cell in a CSV counts as a missing prediction for that row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from vau_plugin.data.reader import AnnotationError, shorten
from vau_plugin.data.schema import VAURecord
from vau_plugin.data.sources import load_records
from vau_plugin.data.targets import NORMAL, serves, target
from vau_plugin.predictions import (
    JSONL_FORMAT,
    TASK_COLUMNS,
    VIDEO_ERROR_PREFIX,
    Prediction,
    Predictions,
    RowRef,
    ScoreError,
    read_predictions,
    video_key,
)
from vau_plugin.task_metrics import TASK_METRICS, TASKS, compute_task_metrics, parse_answer

# The public API names that vau_plugin.predictions and vau_plugin.task_metrics define stay importable from here
# (TASK_COLUMNS is imported for that alone).
__all__ = [
    "TASKS",
    "TASK_COLUMNS",
    "TASK_METRICS",
    "MISSING_POLICIES",
    "DUPLICATE_POLICIES",
    "ScoreError",
    "video_key",
    "read_predictions",
    "score_predictions",
]

MISSING_POLICIES: tuple[str, ...] = ("error", "skip", "wrong")
# Several predictions of one row: error (the default: the first is kept when they all score the same, else stop),
# first (keep the first, as VAU-R1's evaluators do), last (keep the last: the newer run of concatenated logs).
DUPLICATE_POLICIES: tuple[str, ...] = ("error", "first", "last")
# How many names / rows an error or warning lists before "... and N more".
EXAMPLES = 5
# How many warnings the table lists (the JSON lists all).
REPORT_WARNINGS = 20


# ------------------------------------------------------------------------------------------------ matching


def _examples(items: list[str], limit: int = EXAMPLES) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... and {len(items) - limit} more" if len(items) > limit else "")


def _truth(task: str, record: VAURecord) -> Any:
    """The ground truth of a row the task uses (`targets.target`), in the form the lmms-eval documents carry it:
    the answer; for tag (is normal, [start, end] or None for a normal video)."""
    truth = target(record, task)
    if task == "tag":
        normal = truth.answer == NORMAL
        return (normal, None if normal else list(truth.span))
    return truth.answer


def _describe_answer(task: str, raw: Optional[str], parsed: Any) -> str:
    if raw is None:
        return "empty"
    return f"{shorten(raw.strip(), 30)!r} -> {parsed!r}" if task != "tag" else f"{shorten(raw.strip(), 30)!r}"


@dataclass
class RowGroup:
    """The annotation rows of one video: rows of one file, or of one known source, that name it (see `_same_video`).
    Rows of other files whose source differs, or is unknown, are another group: the same name may be another video
    (msad/Assault_2.mp4 and a custom CSV's Assault_2.mp4)."""

    key: str
    records: list[VAURecord] = field(default_factory=list)
    task_record: Optional[VAURecord] = None  # the first row that serves the task, None when none does

    @property
    def source(self) -> Optional[str]:
        return self.records[0].source

    def describe(self) -> str:
        record = self.task_record or self.records[0]
        return f"{record.file} row {record.row} ({record.source or 'source unknown'})"


def _same_video(group: RowGroup, record: VAURecord) -> bool:
    """Whether `record` names the video of `group`: a row of one of its files (one file names one video by one
    name), or of the same known source."""
    return any(r.file == record.file for r in group.records) or (record.source is not None and record.source == group.source)


def _group_rows(records: list[VAURecord], task: str, annotations_text: str) -> tuple[dict[str, list[RowGroup]], list[RowGroup], list[str]]:
    """(video key -> its row groups, the groups the task evaluates in annotation order, warnings). Rows of one group
    that repeat the task's ground truth are scored once, with a warning; with another ground truth they are an error."""
    by_key: dict[str, list[RowGroup]] = {}
    task_groups: list[RowGroup] = []
    warnings: list[str] = []
    conflicting: list[str] = []
    for record in records:
        groups = by_key.setdefault(video_key(record.video), [])
        group = next((g for g in groups if _same_video(g, record)), None)
        if group is None:
            group = RowGroup(video_key(record.video))
            groups.append(group)
        group.records.append(record)
        if not serves(record, task):
            continue
        first = group.task_record
        if first is None:
            group.task_record = record
            task_groups.append(group)
        elif _truth(task, first) != _truth(task, record):
            conflicting.append(f"{record.video!r} ({first.file} row {first.row} vs {record.file} row {record.row})")
        else:
            warnings.append(
                f"{record.file} row {record.row}: video {record.video!r} repeats {first.file} row {first.row} with the "
                f"same {task} ground truth; scored once"
            )
    if conflicting:
        raise ScoreError(
            f"annotations {annotations_text}: {len(conflicting)} video(s) appear twice with different {task} ground "
            f"truth, so a prediction cannot be matched to one row: {_examples(conflicting)}"
        )
    return by_key, task_groups, warnings


def _prefer(groups: list[RowGroup], test: Any) -> list[RowGroup]:
    chosen = [g for g in groups if test(g)]
    return chosen or groups


def _narrow(groups: list[RowGroup], ref: Optional[RowRef]) -> list[RowGroup]:
    """The groups of a video a prediction can be for. A sample's row reference picks its exact file and row, else
    its source (a row of another known source is never it: [] when only such rows are left), split and file; a
    reference that matches nothing else does not rule a group out (the annotations may be a renamed copy)."""
    if ref is None:
        return groups
    if ref.file and ref.row is not None:
        groups = _prefer(groups, lambda g: any(r.file == ref.file and r.row == ref.row for r in g.records))
    if ref.source:
        groups = _prefer([g for g in groups if g.source in (None, ref.source)], lambda g: g.source == ref.source)
    elif ref.no_source:
        groups = _prefer(groups, lambda g: g.source is None)
    if ref.split:
        groups = _prefer(groups, lambda g: any(r.split == ref.split for r in g.records))
    if ref.file:
        groups = _prefer(groups, lambda g: any(r.file == ref.file for r in g.records))
    return groups


def _match(predictions: Predictions, by_key: dict[str, list[RowGroup]], annotations_text: str) -> list[tuple[Prediction, RowGroup]]:
    """Each prediction with the row group it answers, in file order. Raises ScoreError for predictions of videos the
    annotations lack, for samples whose source the annotations hold their video under no row of, and for
    predictions of a video that several groups name (rows of different sources or files) with nothing to tell which."""
    unknown: list[str] = []
    foreign: list[str] = []
    ambiguous: list[str] = []
    matched: list[tuple[Prediction, RowGroup]] = []
    for entry in predictions.entries:
        groups = by_key.get(entry.key)
        if groups is None:
            if entry.video not in unknown:
                unknown.append(entry.video)
            continue
        candidates = _narrow(groups, entry.row)
        if len(candidates) == 1:
            matched.append((entry, candidates[0]))
        elif not candidates:
            foreign.append(
                f"{entry.where} ({entry.video!r}, {entry.row.describe()}; the annotations hold it as "  # type: ignore[union-attr]
                f"{' and '.join(g.describe() for g in groups)})"
            )
        else:
            said = f"; the sample names {entry.row.describe()}" if entry.row is not None else ""
            ambiguous.append(f"{entry.video!r} ({entry.where}{said}) matches {' and '.join(g.describe() for g in candidates)}")
    if unknown:
        raise ScoreError(
            f"{len(unknown)} predicted video(s) are not in the annotations {annotations_text}: "
            f"{_examples(unknown)} (predictions for another split or dataset? e.g. UCF-Crime predictions scored "
            f"against the MSAD test CSV)"
        )
    if foreign:
        raise ScoreError(
            f"{len(foreign)} sample(s) were evaluated on a row of another source than the annotations "
            f"{annotations_text} hold their video under: {_examples(foreign)}; pass the annotations the run used"
        )
    if ambiguous:
        raise ScoreError(
            f"{len(ambiguous)} prediction(s) name a video that the annotations {annotations_text} hold in rows of "
            f"different sources or files, so a prediction cannot be matched to one row: {_examples(ambiguous)}. "
            "Score against the one annotation file the predictions answer (--annotations FILE.csv), or rename the "
            "videos apart (e.g. the msad_ / ucf_ / ecva_ prefixes)"
        )
    return matched


def _duplicate_verdict(task: str, kept: Prediction, other: Prediction, record: VAURecord) -> tuple[bool, str]:
    """(whether `other` scores differently from `kept`, the words for it). Two answers that parse the same score the
    same whichever is kept, even when their text differs (said, not an error)."""
    kept_answer, other_answer = parse_answer(task, kept.raw, record), parse_answer(task, other.raw, record)
    if kept_answer != other_answer:
        return True, (f"a DIFFERENT answer: kept {_describe_answer(task, kept.raw, kept_answer)}, "
                      f"ignored {_describe_answer(task, other.raw, other_answer)}")  # fmt: skip
    if (kept.raw or "").strip() == (other.raw or "").strip():
        return False, "the same answer"
    return False, (
        f"the same parsed answer in other words ({_describe_answer(task, other.raw, other_answer)}; "
        "the same score whichever is kept)"
    )


def _resolve_duplicates(task: str, matched: list[tuple[Prediction, RowGroup]], policy: str,
                        warnings: list[str]) -> tuple[dict[int, Prediction], int, int]:  # fmt: skip
    """(group id -> the prediction scored for it, duplicates, duplicates with a different answer). `policy` error
    keeps the first when every copy of a video's prediction scores the same and stops (naming both) when one does
    not; first / last keep that one. Each duplicate is a warning naming the kept one."""
    by_group: dict[int, list[Prediction]] = {}
    groups: dict[int, RowGroup] = {}
    for entry, group in matched:
        by_group.setdefault(id(group), []).append(entry)
        groups[id(group)] = group
    kept: dict[int, Prediction] = {}
    duplicates = differing = 0
    clashes: list[str] = []
    for gid, entries in by_group.items():
        keep = entries[-1] if policy == "last" else entries[0]
        kept[gid] = keep
        group = groups[gid]
        record = group.task_record or group.records[0]
        for entry in entries:
            if entry is keep:
                continue
            duplicates += 1
            differs, verdict = _duplicate_verdict(task, keep, entry, record)
            scored = group.task_record is not None
            differing += differs and scored
            if differs and scored and policy == "error":
                clashes.append(
                    f"{entry.video!r}: {keep.where} {_describe_answer(task, keep.raw, parse_answer(task, keep.raw, record))} vs "
                    f"{entry.where} {_describe_answer(task, entry.raw, parse_answer(task, entry.raw, record))}"
                )
            which = "last" if policy == "last" else "first"
            warnings.append(f"{entry.where}: duplicate prediction for {entry.video!r} ({which} at {keep.where}) with "
                            f"{verdict}; the {which} is kept")  # fmt: skip
    if clashes:
        raise ScoreError(
            f"{len(clashes)} duplicate prediction(s) give a video a different answer, so the score depends on which "
            f"is kept: {_examples(clashes)}. Choose: --duplicates first (keep the first of each, as VAU-R1's "
            "evaluators do) or --duplicates last (keep the last, e.g. the newer run of concatenated logs)"
        )
    return kept, duplicates, differing


def score_predictions(predictions_path: Any, annotations: Any, task: str, missing: str = "error",
                      duplicates: str = "error") -> dict:  # fmt: skip
    """`score_predictions(predictions, annotations, task, missing="error", duplicates="error") -> dict`: the report.

    Keys: task, predictions, format, annotations, missing_policy, duplicates_policy, rows (the task's rows in the
    annotations), predicted (rows with a prediction), scored, missing, the task's metrics as lmms-eval names them
    (percent; None where the base is empty), counts (numerators and bases), entries (predictions read),
    duplicates (predictions of a row already predicted), duplicates_differing (those with another answer than
    the one kept), ignored (predictions for annotated videos the task does not evaluate), empty, video_errors,
    warnings. Raises ScoreError with one message when the inputs cannot be scored.
    """
    if missing not in MISSING_POLICIES:
        raise ScoreError(f"unknown --missing policy {missing!r}; expected one of {', '.join(MISSING_POLICIES)}")
    if duplicates not in DUPLICATE_POLICIES:
        raise ScoreError(f"unknown --duplicates policy {duplicates!r}; expected one of {', '.join(DUPLICATE_POLICIES)}")
    predictions = read_predictions(predictions_path, task)
    annotations_text = os.fspath(annotations)
    try:
        records = load_records(annotations)
    except AnnotationError as exc:
        raise ScoreError(f"annotations: {exc}") from None
    except OSError as exc:
        raise ScoreError(f"annotations {annotations_text}: cannot be read ({exc.strerror or exc})") from None
    label = Path(annotations_text).name or annotations_text
    if not records:
        raise ScoreError(f"annotations {annotations_text}: no readable rows")
    conflicts = [r for r in records if r.source_conflict]
    if conflicts:  # scored against its file's split, such a row would count under the wrong source
        raise ScoreError(
            f"annotations {annotations_text}: {len(conflicts)} row(s) name a video of another source than their file: "
            f"{_examples([f'{r.file} row {r.row} ({r.video!r})' for r in conflicts])}; first: "
            f"{conflicts[0].source_conflict}"
        )

    # The annotations: every video (to tell unknown videos from videos the task does not score) and the task's rows.
    by_key, task_groups, warnings = _group_rows(records, task, annotations_text)
    if not task_groups:
        raise ScoreError(f"annotations {annotations_text}: no rows usable for the {task} task (see `vau-plugin validate`)")
    matched = _match(predictions, by_key, annotations_text)

    # Samples carry the ground truth they were scored against: it must be these annotations'.
    if predictions.format == JSONL_FORMAT:
        differing = [f"{entry.video!r} ({entry.where})" for entry, group in matched
                     if group.task_record is not None and entry.truth != _truth(task, group.task_record)]  # fmt: skip
        if differing:
            raise ScoreError(
                f"{len(differing)} sample(s) were evaluated against a different {task} ground truth than the "
                f"annotations {annotations_text} hold: {_examples(differing)}; pass the annotations the run used"
            )

    kept, duplicate_count, duplicates_differing = _resolve_duplicates(task, matched, duplicates, warnings)
    groups_by_id = {id(group): group for _, group in matched}
    ignored = sorted((e for gid, e in kept.items() if groups_by_id[gid].task_record is None), key=lambda e: e.where)
    if ignored:
        warnings.append(
            f"{len(ignored)} prediction(s) are for annotated videos the {task} task does not evaluate (their {task} "
            f"ground truth is missing or unusable in {label}); not scored: "
            f"{_examples([f'{e.video!r} ({e.where})' for e in ignored])}"
        )

    task_kept = {gid: e for gid, e in kept.items() if groups_by_id[gid].task_record is not None}
    empty = [e for e in task_kept.values() if e.raw is None]
    predicted = {gid: e for gid, e in task_kept.items() if e.raw is not None}
    missing_groups = [g for g in task_groups if id(g) not in predicted]
    if missing_groups and missing == "error":
        parts = [
            f"the predictions cover {len(predicted)} of the {len(task_groups)} {task} rows in {label} "
            f"({len(missing_groups)} missing: {_examples([g.task_record.video for g in missing_groups])})"  # type: ignore[union-attr]
        ]
        if empty:
            parts.append(
                f"; {len(empty)} of them have an empty prediction: {_examples([f'{e.where} ({e.video!r})' for e in empty])}"
            )
        parts.append(
            ". Choose how to score: --missing skip (score only the predicted rows, as VAU-R1's TAG evaluator does) "
            "or --missing wrong (count each missing row as wrong / IoU 0, as VAU-R1's QA and CLS evaluators do)"
        )
        raise ScoreError("".join(parts))
    if empty:
        warnings.append(
            f"{len(empty)} empty prediction(s), counted as missing (--missing {missing}): "
            f"{_examples([f'{e.where} ({e.video!r})' for e in empty])}"
        )
    if not predicted and missing == "skip":
        raise ScoreError(f"none of the {len(task_groups)} {task} rows in {label} has a prediction: nothing to score")

    # Score in annotation order, as lmms-eval evaluates the documents.
    scored: list[tuple[VAURecord, Any]] = []
    for group in task_groups:
        record = group.task_record
        entry = predicted.get(id(group))
        if entry is not None:
            scored.append((record, parse_answer(task, entry.raw, record)))  # type: ignore[arg-type]
        elif missing == "wrong":
            scored.append((record, None))  # type: ignore[arg-type]
    values, counts = compute_task_metrics(task, scored)
    report: dict = {
        "task": task,
        "predictions": predictions.path,
        "format": predictions.format,
        "annotations": annotations_text,
        "missing_policy": missing,
        "duplicates_policy": duplicates,
        "rows": len(task_groups),
        "predicted": len(predicted),
        "scored": len(scored),
        "missing": len(missing_groups),
        **values,
        "counts": counts,
        "entries": len(predictions.entries),
        "duplicates": duplicate_count,
        "duplicates_differing": duplicates_differing,
        "ignored": len(ignored),
        "empty": len(empty),
        "video_errors": sum(1 for e in predicted.values() if e.raw.startswith(VIDEO_ERROR_PREFIX)),
        "warnings": warnings,
    }
    return report

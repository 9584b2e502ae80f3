"""Record → task translation: where a VAU-Bench row comes from, which tasks use it and what its ground truth is.

The lmms-eval documents (`vau_plugin.lmms.docs`), the LLaMA-Factory exporter (`vau_plugin.llamafactory.prepare`)
and `vau-plugin score` all read these; none of them decides it for itself.

- A row's source (the dataset it comes from: msad, ucf or ecva): the video name's prefix (`source_from_name`),
  else the split it was read from (`source_from_split`), e.g. the published test split `test_ucf_crime`. A row whose
  video name is of one source (prefix, or the published naming of `source_from_pattern`) inside a file named for
  another has no source: `source_conflict` says why, and every consumer refuses it rather than relabel it.
  `TEST_SPLIT_SOURCE` maps those test splits to their source, `SOURCE_TEST_SPLIT` the other way.
- Which rows a task uses (`serves`): TAG also asks the normal videos (their answer is "no anomaly").
- A row's ground truth for a scored task (`target`): the answer and, for TAG, the span.
- The sentinels of the two output contracts, equal in value and different in meaning:
  `NORMAL_SPAN` is VAU-R1's "no anomaly" span, in an answer (`<glue>[-1.0, -1.0]</glue>`) and in the `span`
  column of a normal video's TAG row in the LLaMA-Factory dataset (the rewards read it); `DOC_NO_SPAN` is
  the `span` of an lmms-eval document whose row has none (a normal video, or an anomaly without times: the
  document's `is_normal` tells which). `ANOMALY` / `NORMAL` are the TAG answers ("is there an anomaly?").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from vau_plugin.data.schema import SOURCES, VAURecord

# ------------------------------------------------------------------------------------------- where a row is from

# File-name stems of the published test splits and the source each one holds.
TEST_SPLIT_SOURCE: dict[str, str] = {
    "test_msad": "msad",
    "test_ucf_crime": "ucf",
    "test_ecva": "ecva",
}
# The same map read the other way: source -> the published test split holding it.
SOURCE_TEST_SPLIT: dict[str, str] = {source: split for split, source in TEST_SPLIT_SOURCE.items()}


def source_from_name(video: str) -> Optional[str]:
    """`source_from_name(video) -> source | None`: the source named by a `msad_` / `ucf_` / `ecva_` prefix."""
    prefix = video.split("_", 1)[0].lower() if "_" in video else ""
    return prefix if prefix in SOURCES else None


def source_from_split(split: str) -> Optional[str]:
    """`source_from_split(stem) -> source | None`: test_msad -> msad, test_ucf_crime -> ucf, test_ecva -> ecva."""
    if split in TEST_SPLIT_SOURCE:
        return TEST_SPLIT_SOURCE[split]
    named = {token for token in re.split(r"[_\-.\s]+", split.lower()) if token in SOURCES}
    return named.pop() if len(named) == 1 else None


# The published file names of each source's test videos, for names without a source prefix: UCF-Crime's end in
# `_x264.mp4` (`Abuse028_x264.mp4`, `Normal_Videos_003_x264.mp4`), ECVA's are numbers (`14.mp4`), MSAD's are
# `MSAD_normal_testing_7.mp4` or one of its anomaly classes and a number (`People_falling_3.mp4`).
_MSAD_TEST_CLASSES = (
    "Assault|Explosion|Fighting|Fire|Object_falling|People_falling|Robbery|Shooting|Traffic_accident|Vandalism|"
    "Water_incident"
)
SOURCE_NAME_PATTERNS: dict[str, re.Pattern] = {
    "ucf": re.compile(r"^.+_x264\.mp4$", re.IGNORECASE),
    "ecva": re.compile(r"^\d+\.mp4$", re.IGNORECASE),
    "msad": re.compile(rf"^(?:MSAD_normal_testing_\d+|(?:{_MSAD_TEST_CLASSES})_\d+)\.mp4$", re.IGNORECASE),
}
# How the sources are named in messages.
SOURCE_LABELS: dict[str, str] = {"msad": "MSAD", "ucf": "UCF-Crime", "ecva": "ECVA"}


def source_from_pattern(video: str) -> Optional[str]:
    """`source_from_pattern(video) -> source | None`: the source whose published test names `video` follows
    (`SOURCE_NAME_PATTERNS`); None for any other name (a benchmark of one's own, train/val scene names)."""
    base = video.replace("\\", "/").rsplit("/", 1)[-1]
    return next((source for source, pattern in SOURCE_NAME_PATTERNS.items() if pattern.match(base)), None)


def infer_source(video: str, split: str) -> Optional[str]:
    """`infer_source(video, split) -> source | None`: from the video name prefix, else from the split name."""
    return source_from_name(video) or source_from_split(split)


def source_conflict(video: str, split: str) -> Optional[str]:
    """`source_conflict(video, split) -> problem | None`: why a row's video cannot be of its file's source, e.g. a
    UCF-Crime name (`Abuse028_x264.mp4`) inside `test_msad.csv` (two files joined, or a row pasted into the wrong
    one). Such a row must not be counted or scored as either source: the caller reports it and gives it no source."""
    file_source = source_from_split(split)
    if file_source is None:
        return None
    prefixed = source_from_name(video)
    name_source = prefixed or source_from_pattern(video)
    if name_source is None or name_source == file_source:
        return None
    how = "its name prefix" if prefixed else f"the published {SOURCE_LABELS[name_source]} file naming"
    return (
        f"video {video!r} belongs to {SOURCE_LABELS[name_source]} ({how}), but the file holds "
        f"{SOURCE_LABELS[file_source]} rows (split {split!r}); the row is given no source and is not counted as "
        f"either: move it to the file of its source, or give the file a name that names no source"
    )


# ------------------------------------------------------------------------------------------- what a task reads

# VAU-R1's "no anomaly" span: a normal video's answer (`<glue>[-1.0, -1.0]</glue>`, see `vau_plugin.parsing`)
# and the `span` column of its TAG row in the LLaMA-Factory dataset (read by `vau_plugin.rewards`).
NORMAL_SPAN: tuple[float, float] = (-1.0, -1.0)
# The TAG answers: the `answer` column of a TAG row in the LLaMA-Factory dataset, and `parse_anomaly`'s verdicts.
ANOMALY = "Anomaly"
NORMAL = "Normal"
# The `span` of an lmms-eval document whose row has no span (a normal video, or an anomaly without times).
DOC_NO_SPAN: tuple[float, float] = (-1.0, -1.0)
# The tasks with an answer to score (`target`); "reason" is judged against the row's texts instead.
TARGET_TASKS: tuple[str, ...] = ("qa", "tag", "cls")


@dataclass(frozen=True)
class Target:
    """The ground truth of one row for one task: `answer` (a letter for qa, ANOMALY / NORMAL for tag, the class
    for cls) and, for tag only, `span` in seconds (NORMAL_SPAN for a normal video)."""

    task: str
    answer: str
    span: Optional[tuple[float, float]] = None


def serves(record: VAURecord, task: str) -> bool:
    """`serves(record, task) -> bool`: whether a task ("qa", "tag", "cls", "reason") uses the row, in evaluation
    and in training alike. TAG also asks the normal videos (their answer should be no span); otherwise a task
    uses the rows `VAURecord.usable` admits."""
    if task == "tag":
        return record.usable_tag or (record.is_normal is True)
    return record.usable(task)


def target(record: VAURecord, task: str) -> Optional[Target]:
    """`target(record, task) -> Target | None`: the row's ground truth for qa, tag or cls; None when the task does
    not use the row (see `serves`). Raises ValueError for any other task."""
    if task not in TARGET_TASKS:
        raise ValueError(f"unknown training task {task!r}; expected one of {', '.join(TARGET_TASKS)}")
    if not serves(record, task):
        return None
    if task == "qa":
        return Target(task, record.answer)
    if task == "cls":
        return Target(task, record.anomaly_class)
    if record.is_normal:
        return Target(task, NORMAL, NORMAL_SPAN)
    return Target(task, ANOMALY, record.span)


def doc_span(record: VAURecord) -> list[float]:
    """`doc_span(record) -> [start, end]`: the `span` of the row's lmms-eval document, DOC_NO_SPAN when it has none."""
    return [float(record.span[0]), float(record.span[1])] if record.span else list(DOC_NO_SPAN)

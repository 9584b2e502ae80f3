"""VAU-Bench documents for the lmms-eval tasks: which annotations, which videos, which rows.

Where the data comes from (documented in the README):
- `VAU_BENCH_ROOT`: a folder of VAU-Bench CSVs, one CSV, or a hub dataset id (default `7xiang/VAU-Bench`);
- `VAU_BENCH_VIDEO_ROOT`: the folder holding the videos (flat or per source: `msad/`, `ucf/`, `ecva/`);
  default `$VAU_BENCH_ROOT/videos` when that exists;
- `VAU_BENCH_SPLITS`: the CSV stems the all-source tasks read (comma-separated; default the three published test
  splits), e.g. `test` for a benchmark of one's own in the VAU-Bench schema;
- `VAU_BENCH_VIDEO_SEARCH`: `source` (default: a row's video is taken from the root itself or the row's own source
  folder) or `anywhere` (also by file name anywhere below the root, each such video warned about);
- `VAU_BENCH_DUPLICATES`: `error` (default: rows of one video whose answers for the task differ stop the task) or
  `keep` (each such row is evaluated as a document of its own).
The `_mini` tasks read the mini bench shipped with the plugin and need none of them.

Every video is looked up before the model runs: a missing one stops the task with one message saying how many
are missing and where they were looked for, rather than dropping samples or failing half-way. So do rows the task
cannot score honestly: a row whose video is of another source than its file (`VAURecord.source_conflict`), a name
that matches two different files, and rows of one video that disagree on the task's answer.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Optional

from vau_plugin._env import SettingError, env_choice
from vau_plugin.data.bundled import bundled_mini_bench
from vau_plugin.data.reader import AnnotationError
from vau_plugin.data.schema import VAURecord
from vau_plugin.data.sources import load_records, split_files
from vau_plugin.data.targets import SOURCE_TEST_SPLIT, TARGET_TASKS, TEST_SPLIT_SOURCE, doc_span, serves, target
from vau_plugin.data.videos import VIDEO_SEARCH_SOURCE, VIDEO_SEARCHES, resolve_videos

ENV_ANNOTATIONS = "VAU_BENCH_ROOT"
ENV_VIDEOS = "VAU_BENCH_VIDEO_ROOT"
ENV_SPLITS = "VAU_BENCH_SPLITS"
ENV_VIDEO_SEARCH = "VAU_BENCH_VIDEO_SEARCH"
ENV_DUPLICATES = "VAU_BENCH_DUPLICATES"
# VAU_BENCH_DUPLICATES: stop at rows of one video that disagree on the task's answer, or evaluate each of them.
DUPLICATES_ERROR = "error"
DUPLICATES_KEEP = "keep"


def bench_environment(annotations: str | Path, videos: str | Path, splits: str) -> dict[str, str]:
    """bench_environment(annotations, videos, splits) -> the variables that point the VAU-Bench tasks at the
    annotation folder `annotations`, its `splits` (comma-separated) and the video root `videos`."""
    return {ENV_ANNOTATIONS: str(annotations), ENV_VIDEOS: str(videos), ENV_SPLITS: splits}


DEFAULT_HUB_ID = "7xiang/VAU-Bench"
# The subset of VAU-Bench a task variant reads (the suffix of its name): all published test splits (or those
# VAU_BENCH_SPLITS names), the bundled mini bench, or one source's test split (msad, ucf, ecva; SOURCE_TEST_SPLIT).
MINI = "mini"
ALL = "all"
logger = logging.getLogger(__name__)


class MissingVideosError(FileNotFoundError):
    """Videos named by the annotations are not under the video root."""


def _doc(record: VAURecord, task: str, video_path: Path, subset: str) -> dict:
    return {
        "video": record.video,
        "video_path": str(video_path),
        # the dataset the row comes from (video-name prefix, else its file), never the task's subset
        "source": record.source or (MINI if subset == MINI else "unknown"),
        "split": record.split,
        "file": record.file,
        "row": record.row,
        "task": task,
        "question": record.question or "",
        "options": list(record.options) if record.options else ["", "", "", ""],
        "answer": record.answer or "",
        "anomaly_class": record.anomaly_class or "",
        "is_normal": record.is_normal is True,
        "span": doc_span(record),
        "key_object": record.key_object or "",
        "description": record.description or "",
        "reasoning": record.reasoning or "",
    }


def _annotation_source() -> str:
    return os.environ.get(ENV_ANNOTATIONS) or DEFAULT_HUB_ID


def _video_root() -> Path:
    configured = os.environ.get(ENV_VIDEOS)
    if configured:
        return Path(configured).expanduser()
    annotations = os.environ.get(ENV_ANNOTATIONS)
    if annotations and (Path(annotations).expanduser() / "videos").is_dir():
        return Path(annotations).expanduser() / "videos"
    raise MissingVideosError(
        f"VAU-Bench videos are not distributed with the annotations: download them (MSAD, UCF-Crime, ECVA) and set "
        f"{ENV_VIDEOS} to their folder (flat, or with msad/, ucf/ and ecva/ sub-folders)"
    )


def configured_splits() -> list[str]:
    """The CSV stems `VAU_BENCH_SPLITS` names (empty when unset); a stem named twice is an error, since it would
    evaluate every row of that split twice."""
    stems = [stem.strip() for stem in os.environ.get(ENV_SPLITS, "").split(",") if stem.strip()]
    repeated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if repeated:
        raise AnnotationError(f"{ENV_SPLITS}={os.environ[ENV_SPLITS]!r} names {', '.join(repeated)} more than once")
    return stems


def _root_setting(annotations: str) -> str:
    return f"{ENV_ANNOTATIONS}={annotations}" if os.environ.get(ENV_ANNOTATIONS) else f"{ENV_ANNOTATIONS} is unset"


def task_name(task: str, subset: str) -> str:
    """The lmms-eval task name of a task on a subset: vau_bench_qa, vau_bench_qa_msad, ..."""
    return f"vau_bench_{task}" if subset == ALL else f"vau_bench_{task}_{subset}"


def _records(task: str, subset: str) -> tuple[list[VAURecord], Path]:
    """Every row of the splits a task's subset reads, each once, from its own file; and the video root.

    A root that lacks a split the task needs stops the task with a message saying what it has and what to do
    (a single CSV is one split: it never stands in for the others).
    """
    if subset == MINI:
        root = bundled_mini_bench()
        return load_records(root / "test.csv"), root / "videos"
    if subset == ALL:
        splits = configured_splits() or list(SOURCE_TEST_SPLIT.values())
    elif subset in SOURCE_TEST_SPLIT:
        splits = [SOURCE_TEST_SPLIT[subset]]
    else:
        raise ValueError(f"unknown VAU-Bench subset {subset!r}; expected one of all, mini, {', '.join(SOURCE_TEST_SPLIT)}")
    annotations = _annotation_source()
    try:
        files = split_files(annotations)
    except AnnotationError as error:
        raise AnnotationError(f"{error} ({_root_setting(annotations)}; set it to a folder of VAU-Bench CSVs)") from None
    absent = [split for split in splits if split not in files]
    if absent:
        hint = (
            f"the task of that split, {task_name(task, TEST_SPLIT_SOURCE[next(iter(files))])}"
            if len(files) == 1 and next(iter(files)) in TEST_SPLIT_SOURCE
            else f"{ENV_SPLITS}=<stems> with the all-source tasks"
        )
        raise AnnotationError(
            f"{task_name(task, subset)} reads split(s) {', '.join(splits)}, but {_root_setting(annotations)} holds "
            f"{', '.join(files)} only. Point {ENV_ANNOTATIONS} at the folder holding {', '.join(f + '.csv' for f in absent)}, "
            f"or use {hint}."
        )
    records = [record for split in splits for record in load_records(files[split])]
    conflicts = [r for r in records if r.source_conflict]
    if conflicts:
        raise AnnotationError(
            f"{task_name(task, subset)}: {len(conflicts)} row(s) name a video of another source than their file, and "
            f"would be scored under the wrong source: {_rows(conflicts)}; first: {conflicts[0].source_conflict} "
            "(`vau-plugin validate` lists them all)"
        )
    return records, _video_root()


def _rows(records: list[VAURecord], shown: int = 3) -> str:
    """"test_msad.csv row 3 ('a.mp4'), ... and N more"."""
    listed = ", ".join(f"{r.file} row {r.row} ({r.video!r})" for r in records[:shown])
    return listed + (f" and {len(records) - shown} more" if len(records) > shown else "")


def _answer(record: VAURecord, task: str) -> object:
    """What a task scores a row against: its target, or for `reason` the texts the judge compares with."""
    return target(record, task) if task in TARGET_TASKS else (record.description, record.reasoning)


def contradictory_duplicates(records: list[VAURecord], task: str) -> list[str]:
    """`contradictory_duplicates(rows a task uses, task) -> [message]`: one per row that names the same video (and
    source) as an earlier row but gives the task another answer, naming both rows and what differs. Which of the two
    is the truth cannot be told, and evaluating both would score one answer against two truths."""
    first: dict[tuple[str, object], VAURecord] = {}
    problems = []
    for record in records:
        earlier = first.setdefault((record.video, record.source), record)
        if earlier is not record and _answer(record, task) != _answer(earlier, task):
            problems.append(
                f"{record.file} row {record.row} and {earlier.file} row {earlier.row} ({record.video!r}): "
                f"{'; '.join(record.differences(earlier))}"
            )
    return problems


_LOCK = threading.Lock()
_LOGGED: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _LOGGED:
        _LOGGED.add(message)
        logger.error(message)


def load_task_docs(task: str, subset: str) -> list[dict]:
    """The lmms-eval documents of one VAU-Bench task ("qa", "tag", "cls", "reason") on one subset ("all", "mini",
    "msad", "ucf", "ecva"): one per annotation row the task uses (`targets.serves`), each carrying its true source,
    split, file and row.

    Raises AnnotationError when the annotations cannot serve the task, MissingVideosError naming how many
    videos are missing and where they were looked for.
    """
    name = task_name(task, subset)
    try:
        with _LOCK:
            records, video_root = _records(task, subset)
        selected = [r for r in records if serves(r, task)]
        if not selected:
            raise AnnotationError(f"{name}: none of the {len(records)} annotation rows is usable for {task}")
        duplicates = env_choice(ENV_DUPLICATES, (DUPLICATES_ERROR, DUPLICATES_KEEP), DUPLICATES_ERROR)
        contradictions = contradictory_duplicates(selected, task) if duplicates == DUPLICATES_ERROR else []
        if contradictions:
            raise AnnotationError(
                f"{name}: {len(contradictions)} row(s) repeat a video with another {task} answer than an earlier row: "
                f"{'; '.join(contradictions[:3])}{' ...' if len(contradictions) > 3 else ''}. Remove the wrong rows, or "
                f"set {ENV_DUPLICATES}={DUPLICATES_KEEP} to evaluate every row as a document of its own"
            )
        search = env_choice(ENV_VIDEO_SEARCH, VIDEO_SEARCHES, VIDEO_SEARCH_SOURCE)
        resolution = resolve_videos(selected, video_root, search=search)
        if resolution.missing or resolution.errors:
            problems = len(resolution.missing) + len(resolution.errors)
            raise MissingVideosError(
                f"{name}: {problems} of {len(resolution.found) + problems} videos not found or not told apart. "
                f"{resolution.describe()}\nSet {ENV_VIDEOS} to the folder that holds them."
            )
        for warning in resolution.warnings:  # videos taken from outside their source folder (search "anywhere")
            logger.warning("%s: %s", name, warning)
    except (AnnotationError, MissingVideosError, SettingError) as error:
        # lmms-eval retries dataset loading and then reports only "RetryError": say it plainly first.
        _log_once(str(error))
        raise
    return [_doc(r, task, resolution.found[r.video], subset) for r in selected]


def task_dataset(task: str, subset: str, placeholder: Optional[object] = None):
    """`process_docs` body: replaces lmms-eval's stand-in split with the task's documents as a `datasets.Dataset`."""
    import datasets

    return datasets.Dataset.from_list(load_task_docs(task, subset))

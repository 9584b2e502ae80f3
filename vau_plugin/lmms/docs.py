"""VAU-Bench documents for the lmms-eval tasks: which annotations, which videos, which rows.

Where the data comes from (documented in the README):
- `VAU_BENCH_ROOT`: a folder of VAU-Bench CSVs, one CSV, or a hub dataset id (default `7xiang/VAU-Bench`);
- `VAU_BENCH_VIDEO_ROOT`: the folder holding the videos (flat or per source: `msad/`, `ucf/`, `ecva/`);
  default `$VAU_BENCH_ROOT/videos` when that exists;
- `VAU_BENCH_SPLITS`: the CSV stems the all-source tasks read (comma-separated; default the three published test
  splits), e.g. `test` for a benchmark of one's own in the VAU-Bench schema.
The `_mini` tasks read the mini bench shipped with the plugin and need neither.

Every video is looked up before the model runs: a missing one stops the task with one message saying how many
are missing and where they were looked for, rather than dropping samples or failing half-way.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Optional

from vau_plugin.data.reader import AnnotationError, load_records
from vau_plugin.data.schema import NORMAL_CLASS, VAURecord
from vau_plugin.data.videos import resolve_videos

ENV_ANNOTATIONS = "VAU_BENCH_ROOT"
ENV_VIDEOS = "VAU_BENCH_VIDEO_ROOT"
ENV_SPLITS = "VAU_BENCH_SPLITS"
DEFAULT_HUB_ID = "7xiang/VAU-Bench"
MINI = "mini"
ALL = "all"
# Task source name -> the published test split holding it.
TEST_SPLITS: dict[str, str] = {"msad": "test_msad", "ucf": "test_ucf_crime", "ecva": "test_ecva"}
NO_SPAN = [-1.0, -1.0]
logger = logging.getLogger(__name__)


class MissingVideosError(FileNotFoundError):
    """Videos named by the annotations are not under the video root."""


def wants(record: VAURecord, task: str) -> bool:
    """Whether a record is evaluated by a task. TAG also asks normal videos (their answer should be no span)."""
    if task == "tag":
        return record.usable_tag or (record.is_normal is True)
    return record.usable(task)


def _doc(record: VAURecord, task: str, video_path: Path, source: str) -> dict:
    return {
        "video": record.video,
        "video_path": str(video_path),
        "source": record.source or source,
        "split": record.split,
        "task": task,
        "question": record.question or "",
        "options": list(record.options) if record.options else ["", "", "", ""],
        "answer": record.answer or "",
        "anomaly_class": record.anomaly_class or "",
        "is_normal": record.anomaly_class == NORMAL_CLASS,
        "span": [float(record.span[0]), float(record.span[1])] if record.span else list(NO_SPAN),
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


def _records(source: str) -> tuple[list[VAURecord], Path]:
    if source == MINI:
        from vau_plugin.data.mini_bench import bundled_mini_bench

        root = bundled_mini_bench()
        return load_records(root / "test.csv"), root / "videos"
    if source == ALL:
        configured = [stem.strip() for stem in os.environ.get(ENV_SPLITS, "").split(",") if stem.strip()]
        splits = configured or list(TEST_SPLITS.values())
    elif source in TEST_SPLITS:
        splits = [TEST_SPLITS[source]]
    else:
        raise ValueError(f"unknown VAU-Bench source {source!r}; expected one of all, mini, {', '.join(TEST_SPLITS)}")
    annotations = _annotation_source()
    records: list[VAURecord] = []
    for split in splits:
        try:
            records.extend(load_records(annotations, split=split))
        except AnnotationError as error:
            setting = f"{ENV_ANNOTATIONS}={annotations}" if os.environ.get(ENV_ANNOTATIONS) else f"{ENV_ANNOTATIONS} is unset"
            raise AnnotationError(f"{error} ({setting}; set it to a folder of VAU-Bench CSVs)") from None
    return records, _video_root()


_LOCK = threading.Lock()
_LOGGED: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _LOGGED:
        _LOGGED.add(message)
        logger.error(message)


def load_task_docs(task: str, source: str) -> list[dict]:
    """The lmms-eval documents of one VAU-Bench task ("qa", "tag", "cls", "reason") on one source.

    Raises MissingVideosError naming how many videos are missing and where they were looked for.
    """
    with _LOCK:
        records, video_root = _records(source)
    selected = [r for r in records if wants(r, task)]
    if not selected:
        raise ValueError(f"no VAU-Bench rows usable for task {task!r} on source {source!r}")
    resolution = resolve_videos(selected, video_root)
    if resolution.missing or resolution.errors:
        message = (
            f"vau_bench {task}/{source}: {len(resolution.missing) + len(resolution.errors)} of {len(selected)} "
            f"videos not found. {resolution.describe()} Set {ENV_VIDEOS} to the folder that holds them."
        )
        # lmms-eval retries dataset loading and then reports only "RetryError": say it plainly first.
        _log_once(message)
        raise MissingVideosError(message)
    return [_doc(r, task, resolution.found[r.video], source) for r in selected]


def task_dataset(task: str, source: str, placeholder: Optional[object] = None):
    """`process_docs` body: replaces lmms-eval's stand-in split with the task's documents as a `datasets.Dataset`."""
    import datasets

    return datasets.Dataset.from_list(load_task_docs(task, source))

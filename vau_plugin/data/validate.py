"""`vau-plugin validate PATH [--json] [--videos DIR]`: check VAU-Bench annotations, count usable rows per task."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from typing import Iterable, Optional

from vau_plugin.data.reader import AnnotationError, PathLike, cross_file_duplicates, read_source
from vau_plugin.data.schema import TASKS, VAURecord
from vau_plugin.data.videos import VIDEO_SEARCH_SOURCE, resolve_videos
from vau_plugin.progress import Progress

# How many messages of each kind the human-readable report lists (the JSON report lists them all).
REPORT_EXAMPLES = 20


def usable_counts(records: Iterable[VAURecord]) -> dict[str, int]:
    """`usable_counts(records) -> {task: count}` for every task in TASKS (qa, tag, cls, reason)."""
    records = list(records)
    return {task: sum(1 for r in records if r.usable(task)) for task in TASKS}


def undecodable_videos(found: dict[str, PathLike]) -> dict[str, str]:
    """`undecodable_videos({video: path}) -> {video: reason}` for the files the plugin's decoder cannot open
    (`vau_plugin.video.probe`: empty, not a video, no video stream, no frames). A file that opens but breaks
    further on is caught when it is decoded, and counted in the task's `video_errors`."""
    from vau_plugin.video import VideoError, probe

    broken: dict[str, str] = {}
    progress = Progress("opening the videos found")
    for done, (video, path) in enumerate(found.items(), start=1):
        try:
            probe(path)
        except (VideoError, OSError) as error:
            broken[video] = str(error)
        progress.update(lambda n=done: f"{n:,} of {len(found):,}")
    progress.done(f"{len(found):,} videos")
    return broken


def validate_path(path: PathLike, video_root: Optional[PathLike] = None, video_search: str = VIDEO_SEARCH_SOURCE) -> dict:
    """`validate_path(path, video_root=None, video_search="source") -> dict`: the validation report of a CSV, a
    directory or a hub id.

    Keys: path, rows, records, usable {qa, tag, cls, reason}, errors, warnings, files (per file: file, split,
    rows, records, usable, errors, warnings as counts, unreadable: why the file cannot be read, else None),
    sources {source: records; "unknown" for rows with none}, and with `video_root` videos {root, found, missing,
    missing_examples, elsewhere, rejected, ambiguous, undecodable, undecodable_examples, search_notes, summary}
    (`resolve_videos` with `video_search`): `found` counts files present (decodable or not), `elsewhere` names the
    same-named files outside a missing video's source folder that were not taken, `ambiguous` the names matching
    two different files or two sources (each also an error),
    `undecodable` those among them that the plugin's decoder cannot open (each also an error naming the file
    and why); where the search by file name stopped short (see `resolve_videos`) is a warning.

    Every file of a directory is reported: one that cannot be read (missing columns, not a CSV, ...) is an
    error naming it and why, and the others are counted. Raises AnnotationError when no file can be read and
    NotADirectoryError for a video root that is no directory.
    """
    results = read_source(path, keep_going=True)
    records = [r for result in results for r in result.records]
    errors = [m for result in results for m in result.errors]
    warnings = [m for result in results for m in result.warnings] + cross_file_duplicates(results)
    files = [
        {
            "file": result.file,
            "split": result.split,
            "rows": result.rows,
            "records": len(result.records),
            "usable": usable_counts(result.records),
            "errors": len(result.errors),
            "warnings": len(result.warnings),
            "unreadable": result.unreadable,
        }
        for result in results
    ]
    report: dict = {
        "path": str(path),
        "rows": sum(result.rows for result in results),
        "records": len(records),
        "usable": {task: sum(f["usable"][task] for f in files) for task in TASKS},
        "errors": errors,
        "warnings": warnings,
        "files": files,
        "sources": dict(Counter(r.source or "unknown" for r in records)),
    }
    if video_root is not None:
        resolution = resolve_videos(records, video_root, search=video_search)
        errors.extend(resolution.errors)
        warnings.extend(resolution.warnings)
        warnings.extend(f"videos: {note}" for note in resolution.search_notes)
        broken = undecodable_videos(resolution.found)
        errors.extend(f"video {video!r}: present but cannot be decoded: {reason}" for video, reason in broken.items())
        summary = resolution.describe()
        if broken:
            summary += f"\n{len(broken)} of the {len(resolution.found)} found cannot be decoded (listed under errors)"
        report["videos"] = {
            "root": str(resolution.root),
            "found": len(resolution.found),
            "missing": len(resolution.missing),
            "missing_examples": resolution.missing[:REPORT_EXAMPLES],
            "elsewhere": {video: [str(p) for p in paths] for video, paths in resolution.elsewhere.items()},
            "rejected": len(resolution.errors) - len(resolution.ambiguous),
            "ambiguous": len(resolution.ambiguous),
            "undecodable": len(broken),
            "undecodable_examples": list(broken)[:REPORT_EXAMPLES],
            "search_notes": list(resolution.search_notes),
            "summary": summary,
        }
    return report


def _listing(title: str, messages: list[str]) -> list[str]:
    lines = [f"{title}: {len(messages)}"]
    lines += [f"  {m}" for m in messages[:REPORT_EXAMPLES]]
    if len(messages) > REPORT_EXAMPLES:
        lines.append(f"  ... and {len(messages) - REPORT_EXAMPLES} more (--json lists all)")
    return lines


def format_report(report: dict) -> str:
    """`format_report(report) -> str`: a short human-readable rendering of `validate_path`'s report."""
    usable = ", ".join(f"{task} {n}" for task, n in report["usable"].items())
    lines = [f"{report['path']}: {report['rows']} rows in {len(report['files'])} file(s); usable rows: {usable}"]
    unreadable = [f for f in report["files"] if f.get("unreadable")]
    if unreadable:
        lines.append(
            f"{len(unreadable)} of {len(report['files'])} file(s) cannot be read (not counted above): "
            + ", ".join(f["file"] for f in unreadable)
        )
    if len(report["files"]) > 1:
        for f in report["files"]:
            if f.get("unreadable"):
                lines.append(f"  {f['file']}: cannot be read: {f['unreadable']}")
                continue
            per_task = ", ".join(f"{task} {n}" for task, n in f["usable"].items())
            lines.append(f"  {f['file']} (split {f['split']}): {f['rows']} rows; usable: {per_task}")
    sources = ", ".join(f"{s} {n}" for s, n in sorted(report["sources"].items()))
    lines.append(f"sources: {sources or 'none'}")
    warnings = report["warnings"]
    if "videos" in report:
        lines.append(report["videos"]["summary"])  # its notes are not listed again among the warnings
        shown = {f"videos: {note}" for note in report["videos"].get("search_notes", ())}
        warnings = [w for w in warnings if w not in shown]
    lines += _listing("errors", report["errors"])
    lines += _listing("warnings", warnings)
    return "\n".join(lines)


def run_validate(
    path: PathLike, as_json: bool = False, video_root: Optional[PathLike] = None, video_search: str = VIDEO_SEARCH_SOURCE
) -> int:
    """`run_validate(path, as_json=False, video_root=None, video_search="source") -> int` exit code for
    `vau-plugin validate`.

    0 when the annotations could be read (row-level errors included, they are in the report): for a directory,
    when at least one of its CSVs could be read (each one that cannot is an error in the report, naming it and
    why); 2 with one message on stderr when they cannot (missing file, not a CSV, missing columns, no file of
    a directory readable, bad video root). Progress lines of long steps go to stderr, never to stdout.
    """
    try:
        report = validate_path(path, video_root=video_root, video_search=video_search)
    except (AnnotationError, OSError) as exc:
        print(f"vau-plugin validate: error: {exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(report, indent=2) if as_json else format_report(report), flush=True)
    except BrokenPipeError:
        # The reader (e.g. `| head`) left early; silence the interpreter's own flush at exit too.
        sys.stdout = open(os.devnull, "w")
    return 0

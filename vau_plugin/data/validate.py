"""The row checks of `vau-plugin validate` (`vau_plugin.commands.validate`): read VAU-Bench annotations, count the
rows usable per task, find the videos they name; what the decoder makes of those videos is checked apart
(`vau_plugin.video_checks`, passed in as `check_videos`), so that the rows need no tensor library."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from vau_plugin.data.reader import PathLike
from vau_plugin.data.schema import TASKS, VAURecord
from vau_plugin.data.sources import cross_file_duplicates, read_source
from vau_plugin.data.videos import VIDEO_SEARCH_SOURCE, resolve_videos

# How many messages of each kind the human-readable report lists (the JSON report lists them all).
REPORT_EXAMPLES = 20


def usable_counts(records: Iterable[VAURecord]) -> dict[str, int]:
    """`usable_counts(records) -> {task: count}` for every task in TASKS (qa, tag, cls, reason)."""
    records = list(records)
    return {task: sum(1 for r in records if r.usable(task)) for task in TASKS}


@dataclass
class VideoFindings:
    """What a video check (`validate_path`'s `check_videos`; `vau_plugin.video_checks.check_videos` for `vau-plugin
    validate --videos`) found in the files of the rows. broken: video -> why evaluation cannot use it, as the end of
    "present but ..." ("cannot be decoded: ...", "cannot be sampled ..."); warnings: the report's warnings, each
    naming the file."""

    broken: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# check_videos(records, {video: path found}) -> VideoFindings. The checks open the files with the decoder, which
# this module (the rows) does not import.
VideoChecker = Callable[[list[VAURecord], dict[str, PathLike]], VideoFindings]


def validate_path(path: PathLike, video_root: Optional[PathLike] = None, video_search: str = VIDEO_SEARCH_SOURCE,
                  check_videos: Optional[VideoChecker] = None) -> dict:  # fmt: skip
    """`validate_path(path, video_root=None, video_search="source", check_videos=None) -> dict`: the validation
    report of a CSV, a directory or a hub id.

    Keys: path, rows, records, usable {qa, tag, cls, reason}, errors, warnings, files (per file: file, split,
    rows, records, usable, errors, warnings as counts, unreadable: why the file cannot be read, else None),
    sources {source: records; "unknown" for rows with none}, and with `video_root` videos {root, found, missing,
    missing_examples, elsewhere, rejected, ambiguous, undecodable, undecodable_examples, search_notes, summary}
    (`resolve_videos` with `video_search`): `found` counts files present (decodable or not), `elsewhere` names the
    same-named files outside a missing video's source folder that were not taken, `ambiguous` the names matching
    two different files or two sources (each also an error), `undecodable` those found that evaluation cannot use
    (`check_videos`, e.g. `vau_plugin.video_checks.check_videos`: the decoder cannot open them, or no evaluation
    budget can sample them; each also an error naming the file, the budget and why); where the search by file name
    stopped short (see `resolve_videos`) is a warning, and so is what `check_videos` warns about (a span that ends
    after its video, a video turned for display). Without `check_videos` the found files are not opened.

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
        findings = check_videos(records, resolution.found) if check_videos is not None else VideoFindings()
        broken = findings.broken
        errors.extend(f"video {video!r}: present but {reason}" for video, reason in broken.items())
        warnings.extend(findings.warnings)
        summary = resolution.describe()
        if broken:
            summary += (
                f"\n{len(broken)} of the {len(resolution.found)} found cannot be decoded or sampled by evaluation "
                "(listed under errors)"
            )
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

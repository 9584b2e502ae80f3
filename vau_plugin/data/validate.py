"""The checks of `vau-plugin validate` (`vau_plugin.commands.validate`): VAU-Bench annotations, the rows usable per task."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional

from vau_plugin.data.reader import PathLike, cross_file_duplicates, read_source
from vau_plugin.data.schema import TASKS, VAURecord
from vau_plugin.data.videos import VIDEO_SEARCH_SOURCE, resolve_videos
from vau_plugin.progress import Progress

if TYPE_CHECKING:
    from vau_plugin.video import VideoInfo

# How many messages of each kind the human-readable report lists (the JSON report lists them all).
REPORT_EXAMPLES = 20


def usable_counts(records: Iterable[VAURecord]) -> dict[str, int]:
    """`usable_counts(records) -> {task: count}` for every task in TASKS (qa, tag, cls, reason)."""
    records = list(records)
    return {task: sum(1 for r in records if r.usable(task)) for task in TASKS}


# The units a visual token covers in each model family the lmms-eval wrappers serve: a budget is written in 28-px
# units and scaled for 32-px ones (`VideoBudget.for_image_factor`), which rounds frames to other sizes.
MODEL_UNITS = {28: "Qwen2-VL / Qwen2.5-VL", 32: "Qwen3-VL"}
# How far past its video's end a span may reach before it is reported: annotation times carry one or two decimals,
# and tools disagree on a clip's duration by a frame or two (whether the last frame's display time counts, an audio
# track longer than the video). A span past the end by more (another video, times in frames or milliseconds) is
# reported.
SPAN_TOLERANCE_S = 0.5


@dataclass
class VideoChecks:
    """What `check_videos` found. broken: video -> why evaluation cannot decode or sample it; durations: video ->
    seconds, for the files that open; rotations: video -> degrees a player turns it clockwise, for the turned ones."""

    broken: dict[str, str] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    rotations: dict[str, int] = field(default_factory=dict)


def unsampleable(info: VideoInfo) -> list[tuple[str, int, str]]:
    """`unsampleable(probed video) -> [(task, image factor, why)]`: the evaluation budgets (`vau_plugin.budget`: qa,
    tag, cls, reason, each in the units of every model family) whose sample plan fails for this video, as
    evaluation's would."""
    from vau_plugin.budget import budget_for  # torch is imported only when videos are checked
    from vau_plugin.video import VideoError, plan_sample

    failures = []
    for factor in MODEL_UNITS:
        for task in TASKS:
            try:
                plan_sample(info, budget_for(task).for_image_factor(factor).sampling())
            except VideoError as error:
                failures.append((task, factor, str(error)))
    return failures


def _unsampleable_reason(failures: list[tuple[str, int, str]]) -> str:
    """One line for a video's failed budgets: the first one with its reason, the others by name."""
    (task, factor, why), others = failures[0], failures[1:]
    also = [
        f"{', '.join(t for t, f, _ in others if f == unit)} at {unit} px"
        for unit in MODEL_UNITS
        if any(f == unit for _, f, _ in others)
    ]
    nor = f" (nor for {' and '.join(also)})" if also else ""
    return f"cannot be sampled for budget {task} at {factor} px a token ({MODEL_UNITS[factor]}){nor}: {why}"


def check_videos(found: dict[str, PathLike]) -> VideoChecks:
    """`check_videos({video: path}) -> VideoChecks`: the checks evaluation's decoder makes before decoding, on every
    found file: it opens (`vau_plugin.video.probe`: empty, not a video, no video stream, no frames), its first frame
    decodes, and a sample plan fits every evaluation budget (`unsampleable`); also its duration and display rotation.
    A file that passes but breaks further on is caught when it is decoded, and counted in the task's
    `video_errors`."""
    from vau_plugin.video import VideoError, display_rotation, probe

    checks = VideoChecks()
    progress = Progress("checking the videos found")
    for done, (video, path) in enumerate(found.items(), start=1):
        try:
            info = probe(path)
            rotation = display_rotation(path)
        except (VideoError, OSError) as error:
            checks.broken[video] = str(error)
        else:
            checks.durations[video] = info.duration
            if rotation:
                checks.rotations[video] = rotation
            failures = unsampleable(info)
            if failures:
                checks.broken[video] = _unsampleable_reason(failures)
        progress.update(lambda n=done: f"{n:,} of {len(found):,}")
    progress.done(f"{len(found):,} videos")
    return checks


def spans_past_the_end(records: Iterable[VAURecord], found: dict[str, PathLike], durations: dict[str, float]) -> list[str]:
    """`spans_past_the_end(records, found, durations) -> warnings`: one per row whose span ends more than
    SPAN_TOLERANCE_S after the end of its video, naming file, row, span, duration and the video file."""
    warnings = []
    for record in records:
        duration = durations.get(record.video)
        if record.span is None or duration is None or record.span[1] <= duration + SPAN_TOLERANCE_S:
            continue
        start, end = record.span
        warnings.append(
            f"{record.file} row {record.row}: span [{start:g}, {end:g}] s ends after the end of video "
            f"{record.video!r} ({duration:.2f} s long, {found[record.video]})"
        )
    return warnings


def rotation_warning(video: str, path: PathLike, degrees: int) -> str:
    """The warning for a video whose metadata turns it for display (a phone clip)."""
    return (
        f"video {video!r}: {path}: its metadata turns it {degrees} degrees clockwise for display; the plugin turns "
        f"its frames upright as they are decoded, as players show them (a tool that ignores the rotation sees it "
        f"sideways; ffmpeg -i IN OUT re-encodes it upright)"
    )


def validate_path(path: PathLike, video_root: Optional[PathLike] = None, video_search: str = VIDEO_SEARCH_SOURCE) -> dict:
    """`validate_path(path, video_root=None, video_search="source") -> dict`: the validation report of a CSV, a
    directory or a hub id.

    Keys: path, rows, records, usable {qa, tag, cls, reason}, errors, warnings, files (per file: file, split,
    rows, records, usable, errors, warnings as counts, unreadable: why the file cannot be read, else None),
    sources {source: records; "unknown" for rows with none}, and with `video_root` videos {root, found, missing,
    missing_examples, elsewhere, rejected, ambiguous, undecodable, undecodable_examples, search_notes, summary}
    (`resolve_videos` with `video_search`): `found` counts files present (decodable or not), `elsewhere` names the
    same-named files outside a missing video's source folder that were not taken, `ambiguous` the names matching
    two different files or two sources (each also an error), `undecodable` those found that evaluation cannot use
    (`check_videos`: the decoder cannot open them, or no evaluation budget can sample them; each also an error
    naming the file, the budget and why); where the search by file name stopped short (see `resolve_videos`), a span
    that ends after its video and a video turned for display (see `check_videos`) are warnings.

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
        checks = check_videos(resolution.found)
        broken = checks.broken
        errors.extend(f"video {video!r}: present but {_as_error(reason)}" for video, reason in broken.items())
        warnings.extend(rotation_warning(video, resolution.found[video], deg) for video, deg in checks.rotations.items())
        warnings.extend(spans_past_the_end(records, resolution.found, checks.durations))
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


def _as_error(reason: str) -> str:
    return reason if reason.startswith("cannot be sampled") else f"cannot be decoded: {reason}"


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

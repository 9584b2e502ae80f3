"""What evaluation's decoder makes of the videos a VAU-Bench file names, checked before any run (`vau-plugin
validate --videos`): every found file opens and decodes, a sample plan fits every evaluation budget, each row's
span ends within its video, and a video turned for display is named. `check_videos` is what
`vau_plugin.data.validate.validate_path` takes as its `check_videos`: the row checks there import no decoder."""

from __future__ import annotations

from typing import Iterable

from vau_plugin.budget import budget_for
from vau_plugin.data.reader import PathLike
from vau_plugin.data.schema import TASKS, VAURecord
from vau_plugin.data.validate import VideoFindings
from vau_plugin.progress import Progress
from vau_plugin.sampling import VideoError, VideoInfo, plan_sample
from vau_plugin.video import display_rotation, probe

# The units a visual token covers in each model family the lmms-eval wrappers serve: a budget is written in 28-px
# units and scaled for 32-px ones (`VideoBudget.for_image_factor`), which rounds frames to other sizes.
MODEL_UNITS = {28: "Qwen2-VL / Qwen2.5-VL", 32: "Qwen3-VL"}
# How far past its video's end a span may reach before it is reported: annotation times carry one or two decimals,
# and tools disagree on a clip's duration by a frame or two (whether the last frame's display time counts, an audio
# track longer than the video). A span past the end by more (another video, times in frames or milliseconds) is
# reported.
SPAN_TOLERANCE_S = 0.5


def unsampleable(info: VideoInfo) -> list[tuple[str, int, str]]:
    """`unsampleable(probed video) -> [(task, image factor, why)]`: the evaluation budgets (`vau_plugin.budget`: qa,
    tag, cls, reason, each in the units of every model family) whose sample plan fails for this video, as
    evaluation's would."""
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


def check_videos(records: list[VAURecord], found: dict[str, PathLike]) -> VideoFindings:
    """`check_videos(records, {video: path}) -> VideoFindings`: the checks evaluation's decoder makes before
    decoding, on every found file: it opens (`vau_plugin.video.probe`: empty, not a video, no video stream, no
    frames), its first frame decodes, and a sample plan fits every evaluation budget (`unsampleable`); a file that
    fails is `broken`. Warnings: each file turned for display (`rotation_warning`), then each row whose span ends
    after its video (`spans_past_the_end`). A file that passes but breaks further on is caught when it is decoded,
    and counted in the task's `video_errors`."""
    findings = VideoFindings()
    durations: dict[str, float] = {}
    progress = Progress("checking the videos found")
    for done, (video, path) in enumerate(found.items(), start=1):
        try:
            info = probe(path)
            rotation = display_rotation(path)
        except (VideoError, OSError) as error:
            findings.broken[video] = f"cannot be decoded: {error}"
        else:
            durations[video] = info.duration
            if rotation:
                findings.warnings.append(rotation_warning(video, path, rotation))
            failures = unsampleable(info)
            if failures:
                findings.broken[video] = _unsampleable_reason(failures)
        progress.update(lambda n=done: f"{n:,} of {len(found):,}")
    progress.done(f"{len(found):,} videos")
    findings.warnings.extend(spans_past_the_end(records, found, durations))
    return findings

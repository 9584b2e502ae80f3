"""Find the video file of each VAU-Bench record under a user's video root.

Layouts understood: a flat root; one sub-folder per source (names from SOURCE_DIR_ALIASES: msad/, ucf/ or
ucf_crime/, ecva/), at any depth inside it (e.g. UCF-Crime's per-class folders), searched by file name. A row of
a known source is never given a file from another folder (another source's, another data set's) unless the
caller asks for that (`VIDEO_SEARCH_ANYWHERE`): a missing video is reported missing, naming any same-named file
seen elsewhere. Train/val names carry a source prefix (`msad_Assault_1.mp4`) that the original files lack, and
test names have none, so each name is tried as written, without its prefix and with its source prefix.

A name from a CSV never leads outside the root: absolute names and `..` are rejected before any lookup.
"""

from __future__ import annotations

import filecmp
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from vau_plugin.data.schema import SOURCE_DIR_ALIASES, SOURCES, VAURecord
from vau_plugin.data.targets import source_from_name
from vau_plugin.progress import Progress

PathLike = Union[str, "os.PathLike[str]"]

# ------------------------------------------------------------------------------------------------ names

_SEPARATORS = re.compile(r"[\\/]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def unsafe_video_name(name: str) -> Optional[str]:
    """`unsafe_video_name(name) -> reason | None`: why a CSV video name may not be joined to a root, or None.

    Allowed: a file name or a relative path inside the root (`clips/a.mp4`). Rejected: empty names,
    absolute paths (`/x`, `\\\\x`, `C:x`), any `..` component (with `/` or `\\` as separator), control characters.
    """
    if not name or not name.strip():
        return "is empty"
    if _CONTROL.search(name):
        return "contains control characters"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "is an absolute path; expected a file name relative to the video root"
    if ".." in _SEPARATORS.split(name):
        return "climbs out of the video root ('..'); expected a file name relative to the video root"
    return None


def name_candidates(video: str, source: Optional[str]) -> list[str]:
    """`name_candidates(video, source) -> list[str]`: file names to try, the name as written first.

    `msad_Assault_1.mp4` -> [`msad_Assault_1.mp4`, `Assault_1.mp4`]; `Assault_1.mp4` with source msad ->
    [`Assault_1.mp4`, `msad_Assault_1.mp4`].
    """
    names = [video]
    for prefix in SOURCES:
        if video.startswith(f"{prefix}_") and len(video) > len(prefix) + 1:
            names.append(video[len(prefix) + 1 :])
    if source and not video.startswith(f"{source}_"):
        names.append(f"{source}_{video}")
    return list(dict.fromkeys(names))


def _source_dirs(root: Path, sources: Iterable[str]) -> list[Path]:
    """Existing per-source sub-folders of `root` for `sources`, in SOURCE_DIR_ALIASES order."""
    dirs = []
    for source in sources:
        for alias in SOURCE_DIR_ALIASES.get(source, ()):
            candidate = root / alias
            if candidate.is_dir() and candidate not in dirs:
                dirs.append(candidate)
    return dirs


def _inside(root: Path, candidate: Path) -> bool:
    """Lexical containment (symlinks the user placed inside the root are allowed to point elsewhere)."""
    root_text = os.path.normpath(os.path.abspath(root))
    return os.path.normpath(os.path.abspath(candidate)).startswith(root_text.rstrip(os.sep) + os.sep)


# Bounds of the search by file name (the last resort, for deep layouts such as UCF-Crime's class folders):
# how many folders deep below the root, and how many directory entries in all. VAU-Bench's video roots are a
# few levels deep and hold thousands of files; a root that reaches past these is not a video folder.
MAX_SEARCH_DEPTH = 12
MAX_SEARCH_ENTRIES = 1_000_000


def _within(real_path: str, real_root: str) -> bool:
    """True when the resolved path is the resolved root or below it."""
    return real_path == real_root or real_path.startswith(real_root.rstrip(os.sep) + os.sep)


def _index_by_file_name(root: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """`_index_by_file_name(root) -> ({file name: [paths]}, notes)`: the files below `root`, keyed by name.

    Bounded: a symlinked folder is followed only when it leads to a folder inside the root, or inside one of
    the root's per-source folders (`ucf/`, ...) that is itself a link (`videos/ucf -> /data/UCF-Crime`, the
    documented layout assembled from separate downloads); each folder is read once; folders deeper than
    MAX_SEARCH_DEPTH and entries past MAX_SEARCH_ENTRIES are not read. A file that is itself a symlink (to
    anywhere) is indexed like any file. `notes` says which bound was hit. Walks depth first with names
    sorted, so the order of paths under one name is stable.
    """
    index: dict[str, list[Path]] = {}
    real_root = os.path.realpath(root)
    allowed = [real_root]
    for source_dir in _source_dirs(root, SOURCES):
        target = os.path.realpath(source_dir)
        # A per-source link is searched as a root of its own, unless it leads to / or to an ancestor of the root.
        if source_dir.is_symlink() and target != os.sep and not _within(real_root, target):
            allowed.append(target)
    visited: set[tuple[int, int]] = set()
    outside_links: list[str] = []
    too_deep: list[str] = []
    unreadable: list[str] = []
    entries = folders = 0
    stopped = False
    progress = Progress(f"searching for videos by file name below {root}")
    stack: list[tuple[str, int]] = [(os.fspath(root), 0)]
    while stack and not stopped:
        folder, depth = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in visited:
                continue
            visited.add((info.st_dev, info.st_ino))
            with os.scandir(folder) as scan:
                items = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            unreadable.append(f"{folder} ({error.strerror or error})")
            continue
        folders += 1
        subfolders: list[str] = []
        for entry in items:
            entries += 1
            if entries > MAX_SEARCH_ENTRIES:
                stopped = True
                break
            try:
                if entry.is_dir():  # follows a symlink, as a user's layout may use them
                    if entry.is_symlink():
                        target = os.path.realpath(entry.path)
                        if not any(_within(target, place) for place in allowed):
                            outside_links.append(f"{entry.path} -> {target}")
                            continue
                    if depth + 1 > MAX_SEARCH_DEPTH:
                        too_deep.append(entry.path)
                        continue
                    subfolders.append(entry.path)
                elif entry.is_file():
                    index.setdefault(entry.name, []).append(Path(entry.path))
            except OSError:
                continue
        stack.extend((path, depth + 1) for path in reversed(subfolders))
        progress.update(lambda e=entries, f=folders: f"{e:,} entries in {f:,} folders")
    progress.done(f"{entries:,} entries in {folders:,} folders")
    notes = []
    if outside_links:
        notes.append(
            f"the search by file name did not follow {len(outside_links)} symlinked folder(s) that lead outside "
            f"the video root ({_examples(outside_links)}); videos below them are found only at "
            "<root>/<name> or <root>/<source folder>/<name>: link the folder that holds them as the video root, "
            "or link the video files themselves"
        )
    if too_deep:
        notes.append(
            f"the search by file name did not look into {len(too_deep)} folder(s) deeper than {MAX_SEARCH_DEPTH} "
            f"levels below {root} ({_examples(too_deep)}); pass a folder nearer the videos as the video root"
        )
    if stopped:
        notes.append(
            f"the search by file name stopped after {MAX_SEARCH_ENTRIES:,} entries below {root}: it is no video "
            "folder, or a very large one; videos not reached are reported missing: pass the folder that holds "
            "the videos as the video root"
        )
    if unreadable:
        notes.append(f"the search by file name could not read {len(unreadable)} folder(s) ({_examples(unreadable)})")
    return index, notes


def _examples(items: list[str], shown: int = 3) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


# Where a row's video may be taken from (`resolve_videos(..., search=)`; `--video-search` of validate and prepare,
# VAU_BENCH_VIDEO_SEARCH of the lmms-eval tasks).
# "source": the root itself (a flat root) and the row's own source folders (msad/, ucf/, ...) at any depth; a
#   row of unknown source, every source folder. A same-named file anywhere else below the root (another source's
#   folder, another data set's) is never taken for it: the video is missing, and the report names that file.
# "anywhere": also any other folder below the root, by file name; each video found that way is a warning naming
#   the file taken.
VIDEO_SEARCH_SOURCE = "source"
VIDEO_SEARCH_ANYWHERE = "anywhere"
VIDEO_SEARCHES: tuple[str, ...] = (VIDEO_SEARCH_SOURCE, VIDEO_SEARCH_ANYWHERE)
VIDEO_SEARCH_HINT = "--video-search anywhere (VAU_BENCH_VIDEO_SEARCH=anywhere for the lmms-eval tasks)"


@dataclass
class VideoResolution:
    """Result of `resolve_videos`.

    found: video id -> path of its file; missing: ids with no file (in record order); errors: names that were
    not looked up (path escapes) or that cannot be told apart (also in `ambiguous`, id -> message: two different
    files, or two sources, for one name); warnings: videos taken from outside their source folder (search "anywhere"); searched: the
    folders looked in; search_notes: where the search by file name stopped short (links leading outside the root,
    depth and entry bounds); elsewhere: missing id -> same-named files below the root that were not taken.
    """

    root: Path
    search: str = VIDEO_SEARCH_SOURCE
    found: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ambiguous: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    searched: list[Path] = field(default_factory=list)
    search_notes: list[str] = field(default_factory=list)
    elsewhere: dict[str, list[Path]] = field(default_factory=dict)

    def describe(self, examples: int = 5) -> str:
        """`describe(examples=5) -> str`: counts, where it looked, a few missing names and why any was not taken."""
        total = len(self.found) + len(self.missing) + len(self.errors)
        folders = ", ".join(f"{p.name}/" for p in self.searched if p != self.root)
        looked = f"{self.root} (top level)" + (f" and its source folders {folders} at any depth" if folders else "")
        if self.search == VIDEO_SEARCH_ANYWHERE:
            looked += f", then by file name anywhere below {self.root}"
        lines = [f"videos: {len(self.found)} of {total} found, {len(self.missing)} missing (looked in {looked})"]
        if self.missing:
            lines.append(f"missing, e.g.: {_examples(self.missing, examples)}")
        if self.elsewhere:
            shown = [f"{video} -> {', '.join(map(str, paths[:2]))}" for video, paths in self.elsewhere.items()]
            lines.append(
                f"{len(self.elsewhere)} missing video(s) have a file of the same name elsewhere below the root, not "
                f"taken because it is outside the row's source folder (another source's or another data set's "
                f"clip?): {_examples(shown, examples)}. Move each right file into its source folder, or, if they are "
                f"the right clips, pass {VIDEO_SEARCH_HINT}"
            )
        if self.errors:
            lines.append(f"{len(self.errors)} video name(s) rejected or ambiguous, not taken: {'; '.join(self.errors[:examples])}")
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s): {'; '.join(self.warnings[:examples])}")
        lines += [f"note: {note}" for note in self.search_notes]
        return "\n".join(lines)


def _where(record: Union[VAURecord, str]) -> str:
    if isinstance(record, VAURecord):
        return f"{record.file} row {record.row}" if record.file else record.video
    return record


def _group_by_video(records: Iterable[Union[VAURecord, str]]) -> dict[str, list[Union[VAURecord, str]]]:
    """The records of each video name, in first-seen order."""
    groups: dict[str, list[Union[VAURecord, str]]] = {}
    for record in records:
        groups.setdefault(record.video if isinstance(record, VAURecord) else record, []).append(record)
    return groups


def _distinct_files(paths: Iterable[Path]) -> list[Path]:
    """`paths` less those that are the same file (a link) or a byte-identical copy of an earlier one."""
    kept: list[Path] = []
    for path in paths:
        if not any(os.path.samefile(path, other) or filecmp.cmp(path, other, shallow=False) for other in kept):
            kept.append(path)
    return kept


def _under(path: Path, root: Path, folders: Sequence[Path]) -> bool:
    """True when `path` (as walked from `root`) lies in one of `folders`, the root's own sub-folders."""
    try:
        first = path.relative_to(root).parts[0]
    except (ValueError, IndexError):
        return False
    return any(folder.name == first for folder in folders)


def resolve_videos(
    records: Iterable[Union[VAURecord, str]], video_root: PathLike, *, search: str = VIDEO_SEARCH_SOURCE
) -> VideoResolution:
    """`resolve_videos(records, video_root, *, search="source") -> VideoResolution`: the file of each record's video.

    For each candidate name (see `name_candidates`), looks in the root itself and in the record's own source
    folders, then below those folders by file name (`search` and VIDEO_SEARCHES say where else). Two different
    files for one video, or one name for videos of two sources, is an error naming both: which one the row means
    cannot be told. Raises NotADirectoryError when the root is no directory, ValueError for an unknown `search`.
    """
    if search not in VIDEO_SEARCHES:
        raise ValueError(f"unknown video search {search!r}; expected one of {', '.join(VIDEO_SEARCHES)}")
    root = Path(video_root).expanduser()
    if not root.is_dir():
        raise NotADirectoryError(f"video root {root} is not a directory")
    resolution = VideoResolution(root=root, search=search, searched=[root, *_source_dirs(root, SOURCES)])
    index: Optional[dict[str, list[Path]]] = None
    progress = Progress(f"looking for the videos under {root}")
    for number, (video, group) in enumerate(_group_by_video(records).items(), start=1):
        if number % 1024 == 0:
            progress.update(lambda n=number: f"{n:,} videos, {len(resolution.found):,} found")
        where = _where(group[0])
        unsafe = unsafe_video_name(video)
        if unsafe:
            resolution.errors.append(f"{where} field 'Video Name': {video!r} {unsafe}; not looked up")
            continue
        sources = list(dict.fromkeys(r.source for r in group if isinstance(r, VAURecord) and r.source))
        if len(sources) > 1:
            rows = ", ".join(f"{_where(r)} ({r.source})" for r in group if isinstance(r, VAURecord) and r.source)
            resolution.ambiguous[video] = (
                f"{video!r} names videos of {len(sources)} sources ({rows}): one name cannot stand for two clips; "
                "rename one, or keep each source's rows apart"
            )
            resolution.errors.append(resolution.ambiguous[video])
            continue
        source = sources[0] if sources else source_from_name(video)
        own_dirs = _source_dirs(root, [source] if source else SOURCES)
        candidates = name_candidates(video, source)
        hits = [d / n for n in candidates for d in [root, *own_dirs] if _inside(root, d / n) and (d / n).is_file()]
        elsewhere: list[Path] = []
        if not hits and not any(_SEPARATORS.search(n) for n in candidates):
            if index is None:
                index, resolution.search_notes = _index_by_file_name(root)
            below = [path for n in candidates for path in index.get(n, ())]
            hits = [path for path in below if _under(path, root, own_dirs)]
            elsewhere = [path for path in below if path not in hits]
            if not hits and elsewhere and search == VIDEO_SEARCH_ANYWHERE:
                hits, elsewhere = elsewhere, []
                if len(_distinct_files(hits)) == 1:
                    resolution.warnings.append(
                        f"{where}: {video!r} is not in the root nor in its source folder; taking {hits[0]}, found by "
                        "file name below the root (--video-search anywhere)"
                    )
        distinct = _distinct_files(hits)
        if len(distinct) > 1:
            resolution.ambiguous[video] = (
                f"{where}: {video!r} matches {len(distinct)} different files ({', '.join(map(str, distinct[:3]))}); "
                "which one the row means cannot be told: remove or rename the others"
            )
            resolution.errors.append(resolution.ambiguous[video])
        elif distinct:
            resolution.found[video] = distinct[0]
        else:
            resolution.missing.append(video)
            if elsewhere:
                resolution.elsewhere[video] = elsewhere
    progress.done(f"{len(resolution.found):,} found, {len(resolution.missing):,} missing")
    return resolution

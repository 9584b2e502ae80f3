"""Find the video file of each VAU-Bench record under a user's video root.

Layouts understood: a flat root; one sub-folder per source (names from SOURCE_DIR_ALIASES: msad/, ucf/ or
ucf_crime/, ecva/); deeper trees (e.g. UCF-Crime's per-class folders), searched by file name as a last
resort. Train/val names carry a source prefix (`msad_Assault_1.mp4`) that the original files lack, and
test names have none, so each name is tried as written, without its prefix and with its source prefix.

A name from a CSV never leads outside the root: absolute names and `..` are rejected before any lookup.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Union

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


@dataclass
class VideoResolution:
    """Result of `resolve_videos`.

    found: video id -> path of its file; missing: ids with no file (in record order); errors: rejected
    names (e.g. path escapes); warnings: ambiguous matches; searched: the folders looked in; search_notes:
    where the search by file name stopped short (links leading outside the root, depth and entry bounds).
    """

    root: Path
    found: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    searched: list[Path] = field(default_factory=list)
    search_notes: list[str] = field(default_factory=list)

    def describe(self, examples: int = 5) -> str:
        """`describe(examples=5) -> str`: counts, where it looked and a few missing names."""
        total = len(self.found) + len(self.missing)
        looked = ", ".join(str(p) for p in self.searched) or str(self.root)
        lines = [
            f"videos: {len(self.found)} of {total} found, {len(self.missing)} missing "
            f"(looked in {looked}, then by file name in the folders below {self.root})"
        ]
        if self.missing:
            shown = ", ".join(self.missing[:examples])
            more = f" and {len(self.missing) - examples} more" if len(self.missing) > examples else ""
            lines.append(f"missing, e.g.: {shown}{more}")
        if self.errors:
            lines.append(f"{len(self.errors)} name(s) rejected: {'; '.join(self.errors[:examples])}")
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s): {'; '.join(self.warnings[:examples])}")
        lines += [f"note: {note}" for note in self.search_notes]
        return "\n".join(lines)


def _record_key(record: Union[VAURecord, str]) -> tuple[str, Optional[str], str]:
    """(video id, source, where it came from) of a record or a bare video name."""
    if isinstance(record, VAURecord):
        where = f"{record.file} row {record.row}" if record.file else record.video
        return record.video, record.source, where
    return record, None, record


def resolve_videos(records: Iterable[Union[VAURecord, str]], video_root: PathLike) -> VideoResolution:
    """`resolve_videos(records, video_root) -> VideoResolution`: the file of each record's video under the root.

    Looks for each candidate name (see `name_candidates`) in the root, then in the source's sub-folders,
    then anywhere below the root by file name. Raises NotADirectoryError when the root is no directory.
    """
    root = Path(video_root).expanduser()
    if not root.is_dir():
        raise NotADirectoryError(f"video root {root} is not a directory")
    resolution = VideoResolution(root=root, searched=[root, *_source_dirs(root, SOURCES)])
    index: Optional[dict[str, list[Path]]] = None
    seen: set[str] = set()
    progress = Progress(f"looking for the videos under {root}")
    for number, record in enumerate(records, start=1):
        if number % 1024 == 0:
            progress.update(lambda n=number: f"{n:,} records, {len(resolution.found):,} videos found")
        video, source, where = _record_key(record)
        if video in seen:
            continue
        seen.add(video)
        unsafe = unsafe_video_name(video)
        if unsafe:
            resolution.errors.append(f"{where} field 'Video Name': {video!r} {unsafe}; not looked up")
            continue
        source = source or source_from_name(video)
        dirs = [root, *_source_dirs(root, [source] if source else SOURCES)]
        candidates = name_candidates(video, source)
        path = next(
            (d / n for n in candidates for d in dirs if _inside(root, d / n) and (d / n).is_file()),
            None,
        )
        if path is None and not any(_SEPARATORS.search(n) for n in candidates):
            if index is None:
                index, resolution.search_notes = _index_by_file_name(root)
            hits = next((index[n] for n in candidates if n in index), [])
            if len(hits) > 1:
                resolution.warnings.append(
                    f"{where}: {video!r} matches {len(hits)} files ({', '.join(str(h) for h in hits[:3])}); "
                    f"using {hits[0]}"
                )
            path = hits[0] if hits else None
        if path is None:
            resolution.missing.append(video)
        else:
            resolution.found[video] = path
    progress.done(f"{len(resolution.found):,} found, {len(resolution.missing):,} missing")
    return resolution

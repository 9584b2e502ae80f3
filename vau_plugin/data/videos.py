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

PathLike = Union[str, "os.PathLike[str]"]

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


def _index_by_file_name(root: Path) -> dict[str, list[Path]]:
    """Every file below `root` (following symlinked folders once) keyed by its file name."""
    index: dict[str, list[Path]] = {}
    visited: set[str] = set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:
            subfolders[:] = []
            continue
        visited.add(real)
        subfolders.sort()
        for name in sorted(files):
            index.setdefault(name, []).append(Path(folder) / name)
    return index


@dataclass
class VideoResolution:
    """Result of `resolve_videos`.

    found: video id -> path of its file; missing: ids with no file (in record order); errors: rejected
    names (e.g. path escapes); warnings: ambiguous matches; searched: the folders looked in.
    """

    root: Path
    found: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    searched: list[Path] = field(default_factory=list)

    def describe(self, examples: int = 5) -> str:
        """`describe(examples=5) -> str`: counts, where it looked and a few missing names."""
        total = len(self.found) + len(self.missing)
        looked = ", ".join(str(p) for p in self.searched) or str(self.root)
        lines = [
            f"videos: {len(self.found)} of {total} found, {len(self.missing)} missing "
            f"(looked in {looked}, then by file name in every folder below {self.root})"
        ]
        if self.missing:
            shown = ", ".join(self.missing[:examples])
            more = f" and {len(self.missing) - examples} more" if len(self.missing) > examples else ""
            lines.append(f"missing, e.g.: {shown}{more}")
        if self.errors:
            lines.append(f"{len(self.errors)} name(s) rejected: {'; '.join(self.errors[:examples])}")
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s): {'; '.join(self.warnings[:examples])}")
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
    for record in records:
        video, source, where = _record_key(record)
        if video in seen:
            continue
        seen.add(video)
        unsafe = unsafe_video_name(video)
        if unsafe:
            resolution.errors.append(f"{where} field 'Video Name': {video!r} {unsafe}; not looked up")
            continue
        source = source or next((s for s in SOURCES if video.startswith(f"{s}_")), None)
        dirs = [root, *_source_dirs(root, [source] if source else SOURCES)]
        candidates = name_candidates(video, source)
        path = next(
            (d / n for n in candidates for d in dirs if _inside(root, d / n) and (d / n).is_file()),
            None,
        )
        if path is None and not any(_SEPARATORS.search(n) for n in candidates):
            if index is None:
                index = _index_by_file_name(root)
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
    return resolution

"""On-disk cache of decoded, sampled and resized video frames.

GRPO revisits every video ``num_generations`` x epochs times and an evaluation sweep revisits it once per task;
decoding is by far the slowest step of loading a clip, so :func:`vau_plugin.video.load_video` can keep what it
decoded here and skip decoding the next time.

- Key: the file's identity (real path, size, ``mtime_ns``, inode), every sampling parameter, and the versions of
  the decoders and of the resizer, hashed with SHA-256. A changed file, setting or library is a new key, so a stale
  entry is never served; it ages out instead.
- Format (safe: nothing is unpickled): ``<key>.npy`` holds the uint8 frames (written with ``allow_pickle=False``,
  read with ``allow_pickle=False``); ``<key>.json`` holds the indices, timestamps, fps and source info. The JSON is
  written last and marks the entry complete.
- Writes are atomic (a temporary file in the same folder, then ``os.replace``), so several processes (torchrun
  ranks, parallel evaluations) can share a folder: a reader sees a whole entry or none.
- Size is bounded: after each write the least recently used entries (a hit refreshes an entry's time) are removed
  until the folder holds at most ``max_bytes``.
- Any unreadable, truncated or inconsistent entry is a miss (and is removed), never an error; a cache that cannot be
  written (read-only or full disk) logs one warning and the caller goes on without it.

Enable it for :func:`~vau_plugin.video.load_video` with ``VAU_FRAME_CACHE=<folder>`` (and optionally
``VAU_FRAME_CACHE_MAX_BYTES``, e.g. ``2G``), or pass ``cache=FrameCache(folder)``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import numpy as np

from vau_plugin._files import TEMP_PREFIX, write_atomic, write_bytes_atomic

logger = logging.getLogger(__name__)

ENV_DIR = "VAU_FRAME_CACHE"
ENV_MAX_BYTES = "VAU_FRAME_CACHE_MAX_BYTES"
DEFAULT_MAX_BYTES = 2 * 1024**3
# Bump when the entry layout or the meaning of a key field changes.
# 2: timestamps are the frames' PTS; variable-rate videos are sampled by time. 3: a stream with no average rate takes
# its rate from its packets' display times (a one-frame GIF: 10 fps, not its time base's 100), and repeated PTS
# fall back to index / fps: entries stored before hold the old rate and sample_fps.
# 4: frames are turned upright by the display rotation of the file's metadata (decord did, squeezed; PyAV did not).
FORMAT_VERSION = 4
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
# Libraries whose version can change the frames: the decoders and the resizer.
_DECODER_PACKAGES = ("decord", "av", "torch", "torchvision", "numpy")


def parse_size(text: str) -> int:
    """Bytes from ``"2147483648"``, ``"512M"``, ``"2G"``, ``"1.5GB"`` (binary units, case-insensitive).

    Raises:
        ValueError: not a non-negative number with an optional K/M/G/T unit.
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"expected a size in bytes such as 2147483648, 512M or 2G, got {text!r}")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])


@lru_cache(maxsize=1)
def decoder_versions() -> dict[str, Optional[str]]:
    """Installed versions of the libraries that decode and resize frames (None when one is missing)."""
    versions: dict[str, Optional[str]] = {}
    for name in _DECODER_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def file_identity(path: str | os.PathLike) -> dict[str, Any]:
    """(real path, size, mtime_ns, inode) of a file; raises OSError (FileNotFoundError...) when it cannot be stat-ed."""
    real = os.path.realpath(path)
    stat = os.stat(real)
    return {"path": real, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def cache_key(identity: dict[str, Any], config: Any) -> str:
    """SHA-256 hex of the file identity, the sampling config (a dataclass) and the decoder versions."""
    material = {
        "format": FORMAT_VERSION,
        "file": identity,
        "config": asdict(config),
        "decoders": decoder_versions(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class CachedFrames:
    """One cache entry: ``frames`` uint8 (T, 3, H, W) and the JSON metadata stored beside them."""

    frames: np.ndarray
    meta: dict[str, Any]


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


class FrameCache:
    """A folder of decoded-frame entries bounded to ``max_bytes`` (see the module docstring).

    Args:
        root: the cache folder (created on the first write).
        max_bytes: size budget of the folder; entries larger than it are not stored.
    """

    def __init__(self, root: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"FrameCache max_bytes must be >= 0, got {max_bytes}")
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self.hits = 0
        self.misses = 0
        self._write_warned = False

    def __repr__(self) -> str:
        return f"FrameCache({str(self.root)!r}, max_bytes={self.max_bytes})"

    @classmethod
    def from_env(cls, environ: Optional[dict] = None) -> Optional[FrameCache]:
        """The cache named by ``VAU_FRAME_CACHE`` (None when unset or empty) with the budget of
        ``VAU_FRAME_CACHE_MAX_BYTES`` (default 2 GiB).

        Raises:
            ValueError: ``VAU_FRAME_CACHE_MAX_BYTES`` is not a size.
        """
        environ = os.environ if environ is None else environ
        root = environ.get(ENV_DIR, "").strip()
        if not root:
            return None
        budget = environ.get(ENV_MAX_BYTES, "").strip()
        try:
            max_bytes = parse_size(budget) if budget else DEFAULT_MAX_BYTES
        except ValueError as error:
            raise ValueError(f"{ENV_MAX_BYTES}: {error}") from None
        return cls(os.path.expanduser(root), max_bytes)

    def _paths(self, key: str) -> tuple[Path, Path]:
        if not _KEY_RE.match(key):
            raise ValueError(f"not a cache key (64 hex digits): {key!r}")
        folder = self.root / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def get(self, key: str) -> Optional[CachedFrames]:
        """The entry for ``key``, or None on a miss (absent, incomplete or corrupt entries are misses)."""
        array_path, meta_path = self._paths(key)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            frames = np.load(array_path, allow_pickle=False)
            if (
                not isinstance(meta, dict)
                or meta.get("key") != key
                or frames.dtype != np.uint8
                or list(frames.shape) != meta.get("shape")
            ):
                raise ValueError("entry does not match its metadata")
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, TypeError, EOFError) as error:
            logger.warning("frame cache: dropping unreadable entry %s (%s)", key, error)
            _unlink(meta_path)
            _unlink(array_path)
            self.misses += 1
            return None
        try:  # recency for LRU eviction
            os.utime(meta_path)
        except OSError:
            pass
        self.hits += 1
        return CachedFrames(frames, meta)

    def put(self, key: str, frames: np.ndarray, meta: dict[str, Any]) -> bool:
        """Store uint8 ``frames`` and JSON-serialisable ``meta`` under ``key``, then evict to the budget.

        Returns False (after one logged warning per cache) when the entry is too large or cannot be written.
        """
        frames = np.ascontiguousarray(frames)
        if frames.dtype != np.uint8:
            raise ValueError(f"frame cache stores uint8 frames, got {frames.dtype}")
        if frames.nbytes > self.max_bytes:
            return False
        array_path, meta_path = self._paths(key)
        meta = {**meta, "key": key, "shape": list(frames.shape)}
        try:
            array_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(array_path, lambda f: np.save(f, frames, allow_pickle=False))
            text = json.dumps(meta, sort_keys=True).encode("utf-8")
            write_bytes_atomic(meta_path, text)
        except OSError as error:
            if not self._write_warned:
                logger.warning("frame cache %s is not writable, going on without it (%s)", self.root, error)
                self._write_warned = True
            return False
        self.evict()
        return True

    def entries(self) -> list[tuple[float, int, str]]:
        """(last use time, bytes, key) of every complete entry, oldest first."""
        found = []
        if not self.root.is_dir():
            return found
        for meta_path in self.root.glob("??/*.json"):
            key = meta_path.stem
            if not _KEY_RE.match(key):
                continue
            try:
                used = meta_path.stat().st_mtime
                size = meta_path.stat().st_size + meta_path.with_suffix(".npy").stat().st_size
            except OSError:  # half-written or being evicted by another process
                continue
            found.append((used, size, key))
        return sorted(found)

    def size_bytes(self) -> int:
        """Bytes held by complete entries."""
        return sum(size for _, size, _ in self.entries())

    def evict(self) -> int:
        """Remove least recently used entries until the folder fits ``max_bytes``; returns how many went.
        Also clears what killed writers left behind (older than an hour)."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, key in entries:
            if total <= self.max_bytes:
                break
            array_path, meta_path = self._paths(key)
            _unlink(meta_path)  # the marker first: a concurrent reader then sees a miss, not half an entry
            _unlink(array_path)
            total -= size
            removed += 1
        self._clear_stale_temporaries()
        return removed

    def _clear_stale_temporaries(self, max_age_s: float = 3600.0) -> None:
        """Temporary files and frames without metadata that a killed writer left (older than ``max_age_s``)."""
        cutoff = time.time() - max_age_s
        leftovers = list(self.root.glob(f"??/{TEMP_PREFIX}*"))
        leftovers += [p for p in self.root.glob("??/*.npy") if not p.with_suffix(".json").exists()]
        for path in leftovers:
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass

    def clear(self) -> None:
        """Remove every entry."""
        for _, _, key in self.entries():
            for path in self._paths(key):
                _unlink(path)

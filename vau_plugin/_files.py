"""Atomic file writes: the content goes to a temporary file beside the target, which `os.replace` then moves into
place, so a reader in another thread or process (torchrun ranks, parallel evaluations sharing a cache folder) sees
the whole old file or the whole new one, never half of one. A failed write leaves the target as it was and removes
its temporary file; the error propagates (callers that must not fail catch OSError).

The temporary file is created by `tempfile.mkstemp` (mode 0600, which the target keeps) in the target's folder,
named `TEMP_PREFIX` + random + the target's suffix: a writer killed mid-write leaves such a file, which a folder's
owner may sweep (`vau_plugin.cache.FrameCache` does).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["TEMP_PREFIX", "write_atomic", "write_bytes_atomic", "write_text_atomic"]

TEMP_PREFIX = ".tmp-"


def write_atomic(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call `write(file)` on a temporary binary file beside `target`, then move it into place."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=target.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write `data` to `target` atomically."""
    write_atomic(target, lambda handle: handle.write(data))


def write_text_atomic(target: Path, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `target` atomically, encoded with `encoding` (newlines written as they are in `text`)."""
    write_bytes_atomic(target, text.encode(encoding))

"""The atomic-write helper (vau_plugin._files) that the frame cache writes with: the target holds the old content or
the new one, never half, and no temporary file is left behind, also when the write fails."""

from __future__ import annotations

import pytest

from vau_plugin._files import TEMP_PREFIX, write_atomic, write_bytes_atomic, write_text_atomic


def test_writes_replace_the_target_and_leave_no_temporary(tmp_path):
    target = tmp_path / "entry.json"
    write_bytes_atomic(target, b"old")
    write_text_atomic(target, "néw\n")
    assert target.read_bytes() == "néw\n".encode("utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["entry.json"]


def test_a_failed_write_keeps_the_old_content_and_removes_its_temporary(tmp_path):
    target = tmp_path / "frames.npy"
    target.write_bytes(b"old")

    def fail_halfway(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, fail_halfway)
    assert target.read_bytes() == b"old"
    assert not list(tmp_path.glob(f"{TEMP_PREFIX}*"))

"""The decoded-frame cache (vau_plugin.cache) on real mp4 files, alone and through load_video."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from vau_plugin.benches.writer import write_mp4
from vau_plugin.budget import SamplingConfig
from vau_plugin.cache import FrameCache, cache_key, file_identity, parse_size
from vau_plugin.video import VideoDecodeError, load_video

CONFIG = SamplingConfig(fps=2.0, max_frames=16, total_pixels=16 * 224 * 224, backend="auto")


def _clip(path: Path, frames: int = 60, height: int = 240, width: int = 320, seed: int = 0) -> Path:
    """A textured clip (noise that drifts right), so decoding costs what a real video costs."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width + frames, 3), dtype=np.uint8)
    return write_mp4(path, (base[:, t : t + width] for t in range(frames)), fps=30.0)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("cache_videos")
    return [_clip(root / f"clip{i}.mp4", seed=i) for i in range(3)]


def _same(a, b) -> None:
    assert torch.equal(a.frames, b.frames)
    assert a.indices == b.indices and a.timestamps == b.timestamps
    assert a.sample_fps == pytest.approx(b.sample_fps) and a.backend == b.backend
    assert (a.info.frame_count, a.info.width, a.info.height) == (b.info.frame_count, b.info.width, b.info.height)
    assert a.info.fps == pytest.approx(b.info.fps) and a.info.duration == pytest.approx(b.info.duration)


def test_hit_returns_the_decoded_frames(videos, tmp_path):
    """A hit gives what decoding gives. How much faster it is (the 10x target) is measured by bench/cache.py."""
    cache = FrameCache(tmp_path / "cache")
    reference = load_video(videos[0], CONFIG, cache=False)
    first = load_video(videos[0], CONFIG, cache=cache)
    assert (cache.hits, cache.misses) == (0, 1)
    second = load_video(videos[0], CONFIG, cache=cache)
    assert (cache.hits, cache.misses) == (1, 1)
    _same(first, reference)
    _same(second, reference)
    assert second.info.path == Path(videos[0])


def test_entries_are_npy_and_json_readable_without_pickle(videos, tmp_path):
    cache = FrameCache(tmp_path / "cache")
    sampled = load_video(videos[0], CONFIG, cache=cache)
    files = sorted(p for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert sorted(p.suffix for p in files) == [".json", ".npy"]
    array = np.load(next(p for p in files if p.suffix == ".npy"), allow_pickle=False)
    assert array.dtype == np.uint8 and np.array_equal(array, sampled.frames.numpy())
    meta = json.loads(next(p for p in files if p.suffix == ".json").read_text())
    assert meta["indices"] == sampled.indices and meta["shape"] == list(sampled.frames.shape)


def test_key_follows_file_identity_and_every_sampling_parameter(videos, tmp_path):
    base = cache_key(file_identity(videos[0]), CONFIG)
    assert base == cache_key(file_identity(str(videos[0])), CONFIG)
    assert base != cache_key(file_identity(videos[1]), CONFIG)
    for change in ({"fps": 1.0}, {"max_frames": 8}, {"total_pixels": 8 * 224 * 224}, {"backend": "pyav"},
                   {"min_pixels": 28 * 28 * 64}, {"max_pixels": 200 * 28 * 28}):  # fmt: skip
        assert cache_key(file_identity(videos[0]), SamplingConfig(**{**CONFIG.__dict__, **change})) != base, change
    # a symlink is the same file
    link = tmp_path / "link.mp4"
    link.symlink_to(videos[0])
    assert cache_key(file_identity(link), CONFIG) == base


def test_a_rewritten_file_is_a_miss_and_gets_its_new_frames(tmp_path):
    cache = FrameCache(tmp_path / "cache")
    path = _clip(tmp_path / "v.mp4", seed=1)
    old = load_video(path, CONFIG, cache=cache)
    _clip(tmp_path / "v.mp4", seed=2)  # same name and size class, other content
    new = load_video(path, CONFIG, cache=cache)
    assert cache.hits == 0 and cache.misses == 2
    assert not torch.equal(old.frames, new.frames)
    _same(new, load_video(path, CONFIG, cache=False))


def _only_entry(root: Path) -> tuple[Path, Path]:
    (meta,) = root.rglob("*.json")
    return meta.with_suffix(".npy"), meta


@pytest.mark.parametrize(
    "damage",
    ["truncate_npy", "garbage_json", "drop_npy", "pickled_npy", "wrong_shape", "other_key"],
)
def test_a_damaged_entry_is_a_miss_never_a_crash(videos, tmp_path, damage, caplog):
    cache = FrameCache(tmp_path / "cache")
    reference = load_video(videos[0], CONFIG, cache=cache)
    array_path, meta_path = _only_entry(tmp_path / "cache")
    meta = json.loads(meta_path.read_text())
    if damage == "truncate_npy":
        array_path.write_bytes(array_path.read_bytes()[:1000])
    elif damage == "garbage_json":
        meta_path.write_bytes(b"\xff{not json")
    elif damage == "drop_npy":
        array_path.unlink()
    elif damage == "pickled_npy":  # an object array is stored as a pickle: must never be loaded
        np.save(array_path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    elif damage == "wrong_shape":
        meta_path.write_text(json.dumps({**meta, "shape": [1, 2, 3, 4]}))
    elif damage == "other_key":
        meta_path.write_text(json.dumps({**meta, "key": "0" * 64}))
    with caplog.at_level(logging.WARNING):
        again = load_video(videos[0], CONFIG, cache=cache)
    _same(again, reference)
    assert cache.hits == 0 and cache.misses == 2
    # the entry was rewritten and now hits
    _same(load_video(videos[0], CONFIG, cache=cache), reference)
    assert cache.hits == 1


def test_lru_eviction_keeps_the_folder_within_budget(tmp_path):
    cache = FrameCache(tmp_path / "cache", max_bytes=10_000)
    block = np.zeros((1, 3, 40, 25), np.uint8)  # 3000 bytes + headers per entry
    keys = [f"{i:064x}" for i in range(5)]
    for index, key in enumerate(keys[:3]):
        assert cache.put(key, block + index, {"i": index})
        os.utime(cache._paths(key)[1], (1000 + index, 1000 + index))  # distinct, ordered use times
    assert cache.get(keys[0]) is not None  # touched: now the most recent
    cache.put(keys[3], block, {"i": 3})
    assert cache.size_bytes() <= 10_000
    assert cache.get(keys[1]) is None, "the least recently used entry goes first"
    assert cache.get(keys[0]) is not None and cache.get(keys[3]) is not None
    # an entry larger than the whole budget is not stored
    assert not cache.put(keys[4], np.zeros((1, 3, 100, 100), np.uint8), {})
    assert cache.get(keys[4]) is None


def test_stale_temporaries_and_orphan_frames_are_cleared(tmp_path):
    cache = FrameCache(tmp_path / "cache", max_bytes=10**6)
    folder = tmp_path / "cache" / "ab"
    folder.mkdir(parents=True)
    stale = [folder / ".tmp-123.npy", folder / ("ab" + "1" * 62 + ".npy")]
    fresh = folder / ".tmp-456.npy"
    for path in [*stale, fresh]:
        path.write_bytes(b"x")
    for path in stale:
        os.utime(path, (time.time() - 7200,) * 2)
    cache.evict()
    assert not any(p.exists() for p in stale) and fresh.exists()


def test_unwritable_cache_warns_once_and_loading_goes_on(videos, tmp_path, caplog):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the cache folder should be")
    cache = FrameCache(blocker / "cache")
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            sampled = load_video(videos[0], CONFIG, cache=cache)
    assert sampled.frames.shape[0] > 0
    assert sum("not writable" in r.getMessage() for r in caplog.records) == 1


def test_environment_variables_enable_and_bound_the_cache(videos, tmp_path, monkeypatch):
    monkeypatch.setenv("VAU_FRAME_CACHE", str(tmp_path / "env_cache"))
    monkeypatch.setenv("VAU_FRAME_CACHE_MAX_BYTES", "64M")
    load_video(videos[1], CONFIG)
    assert len(list((tmp_path / "env_cache").rglob("*.npy"))) == 1
    assert FrameCache.from_env().max_bytes == 64 * 1024**2
    load_video(videos[2], CONFIG, cache=False)  # explicit off wins over the environment
    assert len(list((tmp_path / "env_cache").rglob("*.npy"))) == 1
    monkeypatch.setenv("VAU_FRAME_CACHE_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match="VAU_FRAME_CACHE_MAX_BYTES"):
        load_video(videos[1], CONFIG)
    monkeypatch.delenv("VAU_FRAME_CACHE")
    assert FrameCache.from_env() is None


def test_bad_videos_raise_as_without_cache_and_are_not_cached(tmp_path):
    cache = FrameCache(tmp_path / "cache")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(4096))
    for path, message in ((tmp_path / "missing.mp4", "not found"), (empty, "empty"), (garbage, "cannot read")):
        with pytest.raises(VideoDecodeError, match=message):
            load_video(path, CONFIG, cache=cache)
    assert not list((tmp_path / "cache").rglob("*.npy")) if (tmp_path / "cache").exists() else True


@pytest.mark.parametrize("text,expected", [("2147483648", 2 * 1024**3), ("512M", 512 * 1024**2), ("2G", 2 * 1024**3),
                                           ("1.5gb", int(1.5 * 1024**3)), ("0", 0), ("3KiB", 3072)])  # fmt: skip
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "-1", "2X", "lots", "1e9"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def _worker(args: tuple[str, str, int, int]) -> list[str]:
    """Load every video a few times through a shared cache; return a digest per load."""
    import hashlib

    root, videos, max_bytes, rounds = args
    cache = FrameCache(root, max_bytes=max_bytes)
    digests = []
    for _ in range(rounds):
        for path in json.loads(videos):
            digests.append(hashlib.sha256(load_video(path, CONFIG, cache=cache).frames.numpy().tobytes()).hexdigest())
    return digests


def test_processes_sharing_a_small_cache_all_get_correct_frames(videos, tmp_path):
    import hashlib

    loaded = [load_video(p, CONFIG, cache=False) for p in videos]
    expected = [hashlib.sha256(s.frames.numpy().tobytes()).hexdigest() for s in loaded]
    budget = 2 * loaded[0].frames.numpy().nbytes + 4096  # room for two of three entries: constant eviction
    names = json.dumps([str(p) for p in videos])
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.map(_worker, [(str(tmp_path / "shared"), names, budget, 4)] * 2)
    for digests in results:
        assert digests == expected * 4
    assert 0 < FrameCache(tmp_path / "shared", max_bytes=budget).size_bytes() <= budget

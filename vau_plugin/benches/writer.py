"""How a synthetic bench is written: one output folder, one loop over splits and clips, CSVs, README and manifest.

Every bench (mini, motion, order, colour) writes the same layout::

    out/videos/<prefix>_<split>_<nnnn>.mp4   H.264 clips (written by `write_mp4`)
    out/<split>.csv                          VAU-Bench columns (vau_plugin.data.schema.COLUMNS), one per split
    out/manifest.json                        per clip: name, split, what the bench records, content hashes
    out/README.md                            what this is and how it was generated

`write_bench` owns that loop; a bench gives it a plan (per split, the clips in order: frames, CSV row, manifest
keys) and its README text. It also holds what the benches share besides: the output-folder check, clip seeds,
balanced answer cycles, content hashes, and `BenchSummary`, what a bench returns and the CLI prints; and
`write_mp4`, the mp4 encoder that writes every synthetic clip (benches and tests).

Determinism: with the same plan, the CSVs, README and manifest are byte-identical and the frames identical,
and so are the mp4 bytes (the manifest's `file_sha256`). For widths that are not a multiple of
`STABLE_WIDTH_MULTIPLE` (128 px, 8 macroblocks) libx264 (core 165, default settings) gives different bytes and
different decoded frames (up to 55 grey levels apart in a 56-px order-bench clip) from run to run, as its
macroblock-tree lookahead reads memory it never initialised; so `write_mp4` turns mbtree off (x264 option
`mbtree=0`) at those widths, which makes them deterministic at about twice the file size. Widths that are a
multiple of 128 keep the default settings (and the bytes the bundled mini bench was written with).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Optional, TypeVar, Union

import numpy as np

from vau_plugin.benches.scene import ClipSpec
from vau_plugin.data.schema import COLUMNS, MISSING

logger = logging.getLogger(__name__)

VIDEO_DIR = "videos"
# libx264's output is byte-stable run to run only for widths that are a multiple of this (see the module doc).
STABLE_WIDTH_MULTIPLE = 128

T = TypeVar("T")


def check_output_dir(out: Union[str, Path], overwrite: bool = False) -> Path:
    """`check_output_dir(out, overwrite=False) -> Path`: `out`, checked to be a folder a generator may write into.

    A missing or empty folder is fine. A folder that holds anything raises FileExistsError naming a few of its
    entries, unless `overwrite` (`--force` on the command line); a file raises NotADirectoryError. Nothing
    is written here: call it before any slow work, so a refusal costs nothing.
    """
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a directory; expected an output directory")
    if out.is_dir() and not overwrite:
        with os.scandir(out) as scan:
            names = sorted(entry.name for _, entry in zip(range(1000), scan, strict=False))
        if names:
            more = len(names) - 3
            shown = ", ".join(names[:3]) + (f" and {more}{'+' if len(names) == 1000 else ''} more" if more > 0 else "")
            raise FileExistsError(
                f"{out} is not empty (it holds {shown}); refusing to overwrite it: pass --force "
                "(overwrite=True from Python) to write into it anyway, or choose an empty or new folder"
            )
    return out


def warn_unstable_width(title: str, width: int) -> None:
    """Log a warning when `width` is not a multiple of STABLE_WIDTH_MULTIPLE (mp4 bytes then vary between runs)."""
    if width % STABLE_WIDTH_MULTIPLE:
        logger.warning(
            "%s: width %d is not a multiple of %d; the CSVs and raw frames are deterministic but libx264 may encode "
            "the mp4 files (and so the decoded frames) slightly differently on each run",
            title,
            width,
            STABLE_WIDTH_MULTIPLE,
        )


def _frames_iter(frames: np.ndarray | Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4:
            raise ValueError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
        return iter(frames)
    return iter(frames)


def write_mp4(
    path: str | Path,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float,
    *,
    codec: str = "libx264",
    crf: int = 18,
    faststart: bool = False,
    timestamps: Sequence[float] | None = None,
) -> Path:
    """Encode RGB frames to an mp4 file (yuv420p) with PyAV and return its path.

    Args:
        path: output file; parent folders are created.
        frames: uint8 array (T, H, W, 3) in RGB, or an iterable of uint8 (H, W, 3) arrays.
            H and W must be even (yuv420p subsamples chroma by 2).
        fps: frame rate; non-integer rates such as 29.97 are kept as an exact fraction.
        codec: encoder name known to FFmpeg (libx264 by default).
        crf: x264 constant rate factor (0 = lossless, 18 = visually lossless); ignored by
            encoders without that option.
        faststart: put the index (moov atom) at the front of the file, as web videos do.
        timestamps: presentation time in seconds of each frame (increasing), for a variable-frame-rate
            file; ``fps`` is then only the nominal rate. Default: frame i at i / fps.

    Raises:
        ValueError: no frames, a frame of the wrong shape/dtype, odd H or W, or fps <= 0.
    """
    import av

    path = Path(path)
    if not fps > 0:
        raise ValueError(f"write_mp4({path}): fps must be > 0, got {fps}")
    rate = Fraction(fps).limit_denominator(1001)
    time_base = Fraction(1, 90000) if timestamps is not None else 1 / rate
    if timestamps is not None and any(b <= a for a, b in zip(timestamps, timestamps[1:])):
        raise ValueError(f"write_mp4({path}): timestamps must increase")
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if faststart else {}
    n_written = 0
    shape = None
    with av.open(str(path), mode="w", options=options) as container:
        stream = None
        for frame in _frames_iter(frames):
            frame = np.asarray(frame)
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(
                    f"write_mp4({path}): frame {n_written} must be uint8 (H, W, 3) RGB, "
                    f"got dtype {frame.dtype} shape {frame.shape}"
                )
            if stream is None:
                height, width = frame.shape[:2]
                if height % 2 or width % 2:
                    raise ValueError(
                        f"write_mp4({path}): yuv420p needs even height and width, got {height}x{width} "
                        "(crop or pad the frames to even sizes)"
                    )
                shape = frame.shape
                stream = container.add_stream(codec, rate=rate)
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuv420p"
                if timestamps is not None:
                    stream.codec_context.time_base = time_base
                if codec in ("libx264", "libx265"):
                    stream.options = {"crf": str(crf)}
                if codec == "libx264" and width % STABLE_WIDTH_MULTIPLE:
                    # libx264's macroblock-tree lookahead reads uninitialised memory at these widths (module doc):
                    # off, the same frames give the same bytes every time, so a regenerated bench trains the same model.
                    stream.options["x264-params"] = "mbtree=0"
            elif frame.shape != shape:
                raise ValueError(
                    f"write_mp4({path}): frame {n_written} has shape {frame.shape}, expected {shape}"
                )
            video_frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(frame), format="rgb24"
            )
            if timestamps is not None:
                if n_written >= len(timestamps):
                    raise ValueError(f"write_mp4({path}): more frames than timestamps ({len(timestamps)})")
                video_frame.pts = round(timestamps[n_written] / time_base)
            else:
                video_frame.pts = n_written
            video_frame.time_base = time_base
            for packet in stream.encode(video_frame):
                container.mux(packet)
            n_written += 1
        if stream is None:
            raise ValueError(f"write_mp4({path}): no frames to write")
        if timestamps is not None and n_written != len(timestamps):
            raise ValueError(f"write_mp4({path}): {n_written} frames but {len(timestamps)} timestamps")
        for packet in stream.encode():
            container.mux(packet)
    return path



def clip_seed(seed: int, split_index: int, index: int) -> int:
    """The 64-bit seed of one clip, derived from the bench seed so that clips are independent."""
    state = np.random.SeedSequence([seed, split_index, index]).generate_state(2, np.uint32)
    return int(state[0]) | (int(state[1]) << 32)


def shuffled_cycle(values: Sequence[T], n: int, rng: np.random.Generator) -> list[T]:
    """`n` values cycling through `values` (each equally often, ±1), in a shuffled order (e.g. answer letters)."""
    cycle = [values[i % len(values)] for i in range(n)]
    return [cycle[i] for i in rng.permutation(n)]


def sha256_hex(data: bytes) -> str:
    """The hex SHA-256 of `data` (the manifests' content hashes)."""
    return hashlib.sha256(data).hexdigest()


def clip_hashes(frames: np.ndarray, mp4: Path) -> dict[str, str]:
    """The manifest's content hashes of one clip: its rendered frames (before encoding) and its mp4 file."""
    return {
        "frames_sha256": sha256_hex(np.ascontiguousarray(frames).tobytes()),
        "file_sha256": sha256_hex(Path(mp4).read_bytes()),
    }


def bench_row(fields: Mapping[str, str]) -> dict[str, str]:
    """bench_row(fields) -> a VAU-Bench CSV row: `fields` by column name, MISSING in the columns not given."""
    unknown = sorted(set(fields) - set(COLUMNS))
    if unknown:
        raise ValueError(f"bench row: unknown columns {unknown}; expected names of {list(COLUMNS)}")
    return {column: fields.get(column, MISSING) for column in COLUMNS}


def write_bench_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """Write rows in the VAU-Bench schema: UTF-8, LF line ends, header COLUMNS."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_manifest(
    path: Path, *, generator: str, version: int, seed: int, spec: ClipSpec, files: list[Path], clips: list[dict], **extra
) -> None:
    """Write a bench's manifest.json: generator, seed, clip spec, hashes of `files`, the clips, and `extra` keys."""
    document = {
        "generator": generator,
        "version": version,
        "seed": seed,
        "spec": {"width": spec.width, "height": spec.height, "fps": spec.fps, "seconds": spec.seconds, "n_frames": spec.n_frames},
        "files": {p.name: sha256_hex(p.read_bytes()) for p in files},
        "clips": clips,
        **extra,
    }
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class BenchClip:
    """One clip of a bench's plan: its frames (T, H, W, 3) uint8, its CSV row (whose "Video Name" is the mp4's
    file name), its manifest entry besides name, split and hashes, and the keys it counts for in the summary."""

    frames: np.ndarray
    row: dict[str, str]
    manifest: dict = field(default_factory=dict)
    counts: tuple[str, ...] = ()


# plan(split_index, split, names) -> the split's clips, one per name, in order.
Plan = Callable[[int, str, list[str]], Iterable[BenchClip]]


@dataclass(frozen=True)
class BenchSummary:
    """What a bench wrote: paths, clips and counts per split, the generation parameters; `describe()` for the CLI.

    `counts` maps split -> key -> clips (the keys each bench counts: classes, kinds, question types);
    `settings` is the bench's own part of the first line of `describe()`; `lmms_split`, when set, is the split
    lmms-eval reads (describe() then prints the environment for it); `manifest` is None for a bench without one."""

    title: str
    root: Path
    videos_dir: Path
    csvs: dict[str, Path]
    manifest: Optional[Path]
    readme: Path
    seed: int
    spec: ClipSpec
    settings: str
    sizes: dict[str, int]  # split -> clips
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    lmms_split: Optional[str] = None

    @property
    def train_csv(self) -> Path:
        return self.csvs["train"]

    @property
    def val_csv(self) -> Path:
        return self.csvs["val"]

    @property
    def test_csv(self) -> Path:
        return self.csvs["test"]

    def n(self, split: str) -> int:
        """Clips in one split."""
        return self.sizes.get(split, 0)

    @property
    def n_train(self) -> int:
        return self.n("train")

    @property
    def n_test(self) -> int:
        return self.n("test")

    def describe(self) -> str:
        """A short human-readable report for the CLI."""
        lines = [
            f"{self.title} written to {self.root} (seed {self.seed}, {self.settings})",
            f"  videos:   {self.videos_dir} ({sum(self.sizes.values())} mp4)",
        ]
        for split, path in self.csvs.items():
            detail = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.get(split, {}).items()))
            lines.append(f"  {split + ':':9} {path} ({self.n(split)} rows: {detail})")
        if self.manifest is not None:
            lines.append(f"  manifest: {self.manifest}")
        if self.lmms_split is not None:
            lines.append(
                f"  lmms-eval: VAU_BENCH_ROOT={self.root} VAU_BENCH_SPLITS={self.lmms_split} VAU_BENCH_VIDEO_ROOT={self.videos_dir} "
                "--tasks vau_bench_qa,vau_bench_tag"
            )
        return "\n".join(lines)


def write_bench(
    out: Union[str, Path],
    *,
    title: str,
    prefix: str,
    sizes: dict[str, int],
    plan: Plan,
    spec: ClipSpec,
    seed: int,
    readme: Callable[[dict[str, dict[str, int]]], str],
    settings: str,
    manifest: Optional[dict] = None,
    count_keys: Sequence[str] = (),
    lmms_split: Optional[str] = None,
    overwrite: bool = False,
) -> BenchSummary:
    """Write a bench into `out` (checked by `check_output_dir`, then created) and return its BenchSummary.

    For each split of `sizes` (split -> clips, in order) `plan(split_index, split, names)` yields one BenchClip per
    name (`<prefix>_<split>_<nnnn>.mp4`); each is encoded at `spec.fps` into videos/ and its row written to
    `<split>.csv`. `readme(counts)` gives README.md's text. `manifest` (generator, version and any extra keys for
    `write_manifest`) writes manifest.json with each clip's name, split, its BenchClip.manifest keys and content
    hashes; None writes none. `counts` start at 0 for `count_keys` in every split."""
    root = check_output_dir(out, overwrite)
    videos = root / VIDEO_DIR
    videos.mkdir(parents=True, exist_ok=True)
    clips: list[dict] = []
    csvs: dict[str, Path] = {}
    counts: dict[str, dict[str, int]] = {}
    for split_index, (split, n) in enumerate(sizes.items()):
        names = [f"{prefix}_{split}_{index:04d}.mp4" for index in range(n)]
        rows: list[dict[str, str]] = []
        counts[split] = dict.fromkeys(count_keys, 0)
        for clip in plan(split_index, split, names):
            name = clip.row["Video Name"]
            path = write_mp4(videos / name, clip.frames, spec.fps)
            rows.append(clip.row)
            for key in clip.counts:
                counts[split][key] = counts[split].get(key, 0) + 1
            if manifest is not None:
                clips.append({"name": name, "split": split, **clip.manifest, **clip_hashes(clip.frames, path)})
        if len(rows) != n:
            raise RuntimeError(f"{title}: the plan gave {len(rows)} clips for split {split!r}, expected {n}")
        csvs[split] = root / f"{split}.csv"
        write_bench_csv(csvs[split], rows)
    readme_path = root / "README.md"
    readme_path.write_text(readme(counts), encoding="utf-8")
    manifest_path = None
    if manifest is not None:
        manifest_path = root / "manifest.json"
        write_manifest(manifest_path, seed=seed, spec=spec, files=[*csvs.values(), readme_path], clips=clips, **manifest)
    return BenchSummary(
        title=title,
        root=root,
        videos_dir=videos,
        csvs=csvs,
        manifest=manifest_path,
        readme=readme_path,
        seed=seed,
        spec=spec,
        settings=settings,
        sizes=dict(sizes),
        counts=counts,
        lmms_split=lmms_split,
    )

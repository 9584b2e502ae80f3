"""`vau-plugin motion-preview VIDEO OUT.png`: see what a motion prompt does to a clip.

The image is a strip of three labelled rows of `frames` tiles each: the sampled frames (frame t+1 of each pair),
the attention maps A_t (white = attended, black = ignored) and the prompted frames the model would see. A header
names the clip, m, n and fill, and each column's frame time (its real presentation time, `load_video`'s
timestamps). When the clip comes from a bench (a `manifest.json` or a VAU-Bench CSV in the video's folder or the
folder above, as `make-mini-bench` / `make-motion-bench` write them), the header also gives the annotated class
and anomaly span, and the times of frames inside the span are marked in red.

The output format follows OUT's extension: .png, .jpg / .jpeg, .webp or .bmp; any other is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported when a preview is made, not when the CLI builds its parser
    import torch

TILE_HEIGHT = 128  # pixels; tiles keep the clip's aspect ratio
PREVIEW_MAX_PIXELS = 224 * 224  # frames are sampled small: a preview, not an input to a model
LABEL_WIDTH = 84  # the row-label column on the left
HEADER_HEIGHT = 48  # two text lines (clip, settings / annotation) and the frame times above the tiles
ROW_LABELS = ("frames", "attention", "prompted")
FILL_CHOICES = ("mean", "black")  # vau_plugin.motion.FILLS, without importing torch for the CLI parser
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}
_BACKGROUND = (24, 24, 24)
_TEXT = (235, 235, 235)
_IN_SPAN = (230, 60, 50)


@dataclass(frozen=True)
class ClipAnnotation:
    """What a bench says about one clip: its class, its anomaly span in seconds (None for a normal clip) and the
    file it came from."""

    anomaly_class: str | None
    span: tuple[float, float] | None
    source: Path

    def describe(self) -> str:
        label = self.anomaly_class or "unknown class"
        if self.span is None:
            return f"annotated: {label}, no anomaly span ({self.source.name})"
        return f"annotated: {label}, anomaly {self.span[0]:g}-{self.span[1]:g} s ({self.source.name})"


def _from_manifest(path: Path, video: Path) -> ClipAnnotation | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    clips = data.get("clips") if isinstance(data, dict) else None
    for clip in clips if isinstance(clips, list) else []:
        if isinstance(clip, dict) and clip.get("name") == video.name:
            span = clip.get("span")
            valid = isinstance(span, list) and len(span) == 2 and all(isinstance(v, (int, float)) for v in span)
            kind = clip.get("anomaly_class") or clip.get("kind")
            return ClipAnnotation(str(kind) if kind else None, (float(span[0]), float(span[1])) if valid else None, path)
    return None


def _from_csv(path: Path, video: Path) -> ClipAnnotation | None:
    from vau_plugin.data.reader import read_csv

    try:
        records = read_csv(path).records
    except (OSError, ValueError):  # not a VAU-Bench CSV (AnnotationError is a ValueError)
        return None
    for record in records:
        if record.video in (video.name, video.stem):
            return ClipAnnotation(record.anomaly_class or record.raw_class, record.span, path)
    return None


def find_annotation(video: str | Path) -> ClipAnnotation | None:
    """find_annotation(video) -> the clip's annotation from a `manifest.json`, else a VAU-Bench CSV, in the video's
    folder or the folder above (a bench's layout: videos/ beside the manifest and CSVs); None when none names it."""
    video = Path(video)
    for folder in dict.fromkeys((video.parent, video.parent.parent)):  # the same folder once
        manifest = folder / "manifest.json"
        found = _from_manifest(manifest, video) if manifest.is_file() else None
        for csv in sorted(folder.glob("*.csv")) if found is None else ():
            found = _from_csv(csv, video)
            if found is not None:
                break
        if found is not None:
            return found
    return None


def _tile_width(height: int, width: int) -> int:
    return max(1, round(width * TILE_HEIGHT / height))


def _to_image(chw: torch.Tensor, size: tuple[int, int]):
    """(C, H, W) float in [0, 255] -> PIL image resized to size (width, height)."""
    import torch
    from PIL import Image

    array = chw.clamp(0, 255).round().to(torch.uint8)
    if array.shape[0] == 1:
        image = Image.fromarray(array[0].numpy()).convert("RGB")
    else:
        image = Image.fromarray(array.permute(1, 2, 0).contiguous().numpy())
    return image.resize(size, Image.BILINEAR)


def preview_config(frames: int):
    """preview_config(frames) -> the SamplingConfig the preview decodes with (4 fps, at least frames + 1, small)."""
    from vau_plugin.budget import SamplingConfig

    return SamplingConfig(
        fps=4.0,
        min_frames=frames + 1,
        frame_factor=1,
        min_pixels=4 * 28 * 28,
        max_pixels=PREVIEW_MAX_PIXELS,
    )


def output_format(out: str | Path) -> str:
    """output_format(out) -> the PIL format name of OUT's extension; ValueError for an unsupported one."""
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"{out}: unsupported image extension {suffix or '(none)'!r}; use one of {', '.join(sorted(FORMATS))}"
        )
    return FORMATS[suffix]


def run_motion_preview(
    video: str | Path,
    out: str | Path,
    *,
    frames: int = 8,
    m: float = 0.0,
    n: float = 0.0,
    fill: str = "mean",
) -> Path:
    """run_motion_preview(video, out, *, frames=8, m=0.0, n=0.0, fill="mean") -> Path of the image written.

    Samples `frames` + 1 evenly spaced frames (fewer when the clip is shorter; at least 2 are needed) and writes
    a strip LABEL_WIDTH + `shown` tiles wide and HEADER_HEIGHT + 3 * 128 px high, each tile 128 px high with the
    clip's aspect ratio, in the format of OUT's extension (`FORMATS`).
    Raises ValueError for frames < 1, non-finite m or n, an unknown fill, an unsupported extension or a clip with a
    single frame (all before decoding but the last); VideoError from `vau_plugin.video.load_video` for missing or
    unreadable files; OSError when OUT cannot be written.
    """
    import torch
    from PIL import Image, ImageDraw, ImageFont

    from vau_plugin.motion import FILLS, MotionPrompt
    from vau_plugin.video import load_video

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    image_format = output_format(out)
    layer = MotionPrompt(m, n, fill=fill).requires_grad_(False)  # refuses NaN / inf m, n before decoding
    loaded = load_video(video, preview_config(frames))
    sampled = loaded.frames
    if sampled.shape[0] < 2:
        raise ValueError(f"{video}: motion prompts need at least 2 frames, the clip has {sampled.shape[0]}")
    pick = torch.linspace(0, sampled.shape[0] - 1, min(frames + 1, sampled.shape[0])).round().long()
    clip = sampled[pick].float()
    times = [float(loaded.timestamps[i]) for i in pick.tolist()]

    with torch.no_grad():
        attention = layer.attention(clip) * 255.0
        prompted, _ = layer(clip)

    shown = clip.shape[0] - 1
    size = (_tile_width(loaded.info.height, loaded.info.width), TILE_HEIGHT)  # the source's aspect, not the resize's
    strip = Image.new("RGB", (LABEL_WIDTH + size[0] * shown, HEADER_HEIGHT + size[1] * 3), _BACKGROUND)
    for t in range(shown):
        for row, tile in enumerate((clip[t + 1], attention[t], prompted[t])):
            strip.paste(_to_image(tile, size), (LABEL_WIDTH + t * size[0], HEADER_HEIGHT + row * size[1]))

    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default()
    annotation = find_annotation(video)
    settings = layer.settings()
    draw.text((4, 2), Path(video).name, fill=_TEXT, font=font)
    line = f"m={settings['m']:.4g}  n={settings['n']:.4g}  fill={settings['fill']}"
    if annotation is not None:
        line += f"  |  {annotation.describe()}"
    draw.text((4, 16), line, fill=_TEXT, font=font)
    draw.text((4, 32), "time", fill=_TEXT, font=font)
    span = annotation.span if annotation is not None else None
    for t in range(shown):
        seconds = times[t + 1]  # column t shows frame t+1 (prompt_t: the motion into it)
        inside = span is not None and span[0] <= seconds <= span[1]
        left = LABEL_WIDTH + t * size[0]
        if inside:
            draw.rectangle((left, 30, left + size[0] - 1, HEADER_HEIGHT - 2), fill=_IN_SPAN)
        draw.text((left + 3, 32), f"{seconds:.2f} s", fill=_TEXT, font=font)
    for row, label in enumerate(ROW_LABELS):
        draw.text((4, HEADER_HEIGHT + row * size[1] + size[1] // 2 - 6), label, fill=_TEXT, font=font)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    strip.save(out, format=image_format)
    return out

"""`vau-plugin motion-preview VIDEO OUT.png`: see what a motion prompt does to a clip.

The PNG is a strip of three rows of `frames` tiles each: the sampled frames (frame t+1 of each pair), the
attention maps A_t (white = attended, black = ignored) and the prompted frames the model would see.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vau_plugin.motion import FILLS, Fill, MotionPrompt

TILE_HEIGHT = 128  # pixels; tiles keep the clip's aspect ratio
PREVIEW_MAX_PIXELS = 224 * 224  # frames are sampled small: a preview, not an input to a model


def _tile_width(height: int, width: int) -> int:
    return max(1, round(width * TILE_HEIGHT / height))


def _to_image(chw: torch.Tensor, size: tuple[int, int]):
    """(C, H, W) float in [0, 255] -> PIL image resized to size (width, height)."""
    from PIL import Image

    array = chw.clamp(0, 255).round().to(torch.uint8)
    if array.shape[0] == 1:
        image = Image.fromarray(array[0].numpy()).convert("RGB")
    else:
        image = Image.fromarray(array.permute(1, 2, 0).contiguous().numpy())
    return image.resize(size, Image.BILINEAR)


def run_motion_preview(
    video: str | Path,
    out: str | Path,
    *,
    frames: int = 8,
    m: float = 0.0,
    n: float = 0.0,
    fill: Fill = "mean",
) -> Path:
    """run_motion_preview(video, out, *, frames=8, m=0.0, n=0.0, fill="mean") -> Path of the PNG written.

    Samples `frames` + 1 evenly spaced frames (fewer when the clip is shorter; at least 2 are needed) and
    writes a (3 * 128) px high strip, `shown` tiles wide, each tile 128 px high with the clip's aspect ratio.
    Raises ValueError for frames < 1, an unknown fill or a clip with a single frame; VideoError from
    `vau_plugin.video.load_video` for unreadable files.
    """
    from PIL import Image

    from vau_plugin.video import SamplingConfig, load_video

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be an integer >= 1, got {frames!r}")
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {FILLS}, got {fill!r}")
    config = SamplingConfig(
        fps=4.0,
        min_frames=frames + 1,
        frame_factor=1,
        min_pixels=4 * 28 * 28,
        max_pixels=PREVIEW_MAX_PIXELS,
    )
    loaded = load_video(video, config)
    sampled = loaded.frames
    if sampled.shape[0] < 2:
        raise ValueError(f"{video}: motion prompts need at least 2 frames, the clip has {sampled.shape[0]}")
    pick = torch.linspace(0, sampled.shape[0] - 1, min(frames + 1, sampled.shape[0])).round().long()
    clip = sampled[pick].float()

    layer = MotionPrompt(m, n, fill=fill).requires_grad_(False)
    with torch.no_grad():
        attention = layer.attention(clip) * 255.0
        prompted, _ = layer(clip)

    shown = clip.shape[0] - 1
    size = (_tile_width(loaded.info.height, loaded.info.width), TILE_HEIGHT)  # the source's aspect, not the resize's
    strip = Image.new("RGB", (size[0] * shown, size[1] * 3))
    for t in range(shown):
        for row, tile in enumerate((clip[t + 1], attention[t], prompted[t])):
            strip.paste(_to_image(tile, size), (t * size[0], row * size[1]))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    strip.save(out, format="PNG")
    return out

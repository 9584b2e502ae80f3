"""The plugin's LLaMA-Factory mm_plugin: videos decoded by `vau_plugin.video`, the decoder the lmms-eval wrapper
`vau_qwen2_5_vl` uses, so a model is trained on the frames it is evaluated on.

Two templates, registered with LLaMA-Factory's own `register_mm_plugin` / `register_template` by `register()`,
which `vau_plugin.llamafactory.patch` calls when LLaMA-Factory is imported (each is the `qwen2_vl` template with this
mm_plugin):

- `qwen2_vl_vau`: frames sampled by their real timestamps (variable-frame-rate files included), sized as
  qwen-vl-utils sizes them, the real rate passed on as `second_per_grid_ts`, decoded frames cached when
  `VAU_FRAME_CACHE` is set;
- `qwen2_vl_motion`: the same, with video motion prompts at fixed (m, n) (`vau_motion_*` recipe keys; see
  `vau_plugin.llamafactory.motion`): T + 1 frames are decoded over the same span and prompted into the T the
  model sees (the lmms-eval wrapper does the same with `motion_prompt=true`).

The video budget comes from LLaMA-Factory's own keys: `video_fps`, `video_maxlen` (frame cap),
`video_max_pixels` / `video_min_pixels` (pixels a frame); the processor's own pixel range (its
`video_processor.size`) bounds the frame size, so the processor never resizes the frames again. Video tokens
are counted from a probe of the file (`sample_plan`), without decoding. Videos given as lists of frames keep
LLaMA-Factory's handling (prompted too under `qwen2_vl_motion`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Optional

VAU_PLUGIN = "qwen2_vl_vau"
MOTION_PLUGIN = "qwen2_vl_motion"
TEMPLATES = {VAU_PLUGIN: VAU_PLUGIN, MOTION_PLUGIN: MOTION_PLUGIN}  # template name -> mm_plugin name
BASE_TEMPLATE = "qwen2_vl"


def sampling_config(processor: Any, *, extra_frames: int = 0):
    """sampling_config(LLaMA-Factory processor, extra_frames=0) -> vau_plugin.video.SamplingConfig from the run's
    `video_fps`, `video_maxlen`, `video_max_pixels`, `video_min_pixels` (set on the processor by LLaMA-Factory's
    loader; its defaults otherwise) and the processor's pixel range and patch size."""
    from vau_plugin.video import SamplingConfig

    video_processor = getattr(processor, "video_processor", None) or getattr(processor, "image_processor", None)
    size = getattr(video_processor, "size", None) or {}
    low = size.get("shortest_edge") if isinstance(size, dict) else getattr(size, "shortest_edge", None)
    high = size.get("longest_edge") if isinstance(size, dict) else getattr(size, "longest_edge", None)
    factor = int(getattr(video_processor, "patch_size", 14)) * int(getattr(video_processor, "merge_size", 2))
    min_pixels = int(getattr(processor, "video_min_pixels", 16 * 16))
    max_pixels = int(getattr(processor, "video_max_pixels", 256 * 256))
    return SamplingConfig(
        fps=float(getattr(processor, "video_fps", 2.0)),
        max_frames=int(getattr(processor, "video_maxlen", 128)),
        min_pixels=min(min_pixels, max_pixels),
        max_pixels=max_pixels,
        image_factor=factor,
        frame_factor=int(getattr(video_processor, "temporal_patch_size", 2)),
        processor_min_pixels=int(low) if low and high else None,
        processor_max_pixels=int(high) if low and high else None,
        extra_frames=extra_frames,
    )


def _plugin_class():
    """The `Qwen2VLVAUPlugin` class (built on first use, so importing this module needs no LLaMA-Factory)."""
    import torch
    from llamafactory.data.mm_plugin import Qwen2VLPlugin, _check_video_is_nested_images

    from vau_plugin.llamafactory.motion import MotionSettings, frames_to_tensor, hook_for, tensor_to_frames
    from vau_plugin.video import frames_to_grid_t, load_video, sample_plan

    @dataclasses.dataclass
    class Qwen2VLVAUPlugin(Qwen2VLPlugin):
        """Qwen2-VL mm_plugin whose video files go through `vau_plugin.video` (and motion prompts when
        `motion` is on: the `qwen2_vl_motion` template)."""

        motion: ClassVar[bool] = False  # set by the registered subclass of `qwen2_vl_motion`

        def _motion_hook(self) -> Optional[Any]:
            if not self.motion:
                return None
            settings = MotionSettings.from_env()
            return None if settings.learnable else hook_for(settings)  # learnable: the model prompts them

        def _files_only(self, videos: list) -> bool:
            return all(not _check_video_is_nested_images(video) for video in videos)

        def _get_video_token_metadata(self, videos: list, processor: Any) -> Optional[dict]:
            if not videos or not self._files_only(videos):
                return None  # LLaMA-Factory then counts from `_get_mm_inputs`
            config = sampling_config(processor, extra_frames=int(self._motion_hook() is not None))
            patch = config.image_factor // int(getattr(processor.image_processor, "merge_size", 2))
            grids = []
            for video in videos:
                plan = sample_plan(video, config)
                grids.append([frames_to_grid_t(plan.frames, config.frame_factor), plan.size[0] // patch, plan.size[1] // patch])
            return {"video_grid_thw": torch.tensor(grids, dtype=torch.long)}

        def _get_mm_inputs(self, images: list, videos: list, audios: list, processor: Any) -> dict:
            hook = self._motion_hook()
            if not videos or not self._files_only(videos):
                if hook is not None and videos:
                    videos = [tensor_to_frames(hook(frames_to_tensor(self._regularize_images(v)["images"])))
                              if _check_video_is_nested_images(v) else v for v in videos]  # fmt: skip
                return super()._get_mm_inputs(images, videos, audios, processor)
            inputs = super()._get_mm_inputs(images, [], audios, processor) if images or audios else {}
            config = sampling_config(processor, extra_frames=int(hook is not None))
            frames, rates = [], []
            for video in videos:
                sampled = load_video(video, config)
                frames.append(hook.prompt(sampled.frames) if hook is not None else sampled.frames)
                rates.append(sampled.sample_fps)
            video_processor = getattr(processor, "video_processor", None) or processor.image_processor
            inputs.update(video_processor(videos=frames, return_tensors="pt"))
            if "second_per_grid_ts" in processor.model_input_names:
                temporal_patch = int(getattr(video_processor, "temporal_patch_size", 2))
                inputs["second_per_grid_ts"] = [temporal_patch / rate for rate in rates]
            return inputs

    Qwen2VLVAUPlugin.__qualname__ = "Qwen2VLVAUPlugin"
    return Qwen2VLVAUPlugin


def register() -> None:
    """register() -> None: add the `qwen2_vl_vau` and `qwen2_vl_motion` mm_plugins and templates to
    LLaMA-Factory (idempotent)."""
    from llamafactory.data import mm_plugin, template

    plugin_class = None
    base = template.TEMPLATES[BASE_TEMPLATE]
    plugin_kwargs = {f.name: getattr(base.mm_plugin, f.name) for f in dataclasses.fields(base.mm_plugin)}
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.name != "mm_plugin"}
    for name, plugin_name in TEMPLATES.items():
        if plugin_name not in mm_plugin.PLUGINS:
            plugin_class = plugin_class or _plugin_class()
            motion = plugin_name == MOTION_PLUGIN
            mm_plugin.register_mm_plugin(plugin_name, type(plugin_class.__name__, (plugin_class,), {"motion": motion}))
        if name not in template.TEMPLATES:
            template.register_template(
                name,
                **fields,
                mm_plugin=mm_plugin.get_mm_plugin(plugin_name, **plugin_kwargs),
                template_class=type(base),
            )

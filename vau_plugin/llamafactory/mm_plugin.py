"""The plugin's LLaMA-Factory mm_plugins: videos decoded by `vau_plugin.video`, the decoder the lmms-eval wrapper
uses, so a model is trained on the frames it is evaluated on.

Four templates, registered with LLaMA-Factory's own `register_mm_plugin` / `register_template` by `register()`,
which `vau_plugin.llamafactory.patch` calls when LLaMA-Factory is imported (each is LLaMA-Factory's base template of
its family, `qwen2_vl` or `qwen3_vl_nothink`, with this module's mm_plugin). The Qwen3-VL base is the plain
`qwen3_vl_nothink`, the Instruct checkpoints' chat template and so the prompt lmms-eval evaluates on: LLaMA-Factory's
`qwen3_vl` is a reasoning template, which adds an empty <think></think> to answers without one (to the prompt under
`enable_thinking: false`); VAU's answers carry their own <think> block, as the prompt asks.

- `qwen2_vl_vau` (Qwen2-VL / Qwen2.5-VL) and `qwen3_vl_vau` (Qwen3-VL): frames sampled by their real timestamps
  (variable-frame-rate files included), sized as qwen-vl-utils sizes them (multiples of the processor's patch x
  merge: 28 px, 32 px for Qwen3-VL), decoded frames cached when `VAU_FRAME_CACHE` is set. Qwen2.5-VL gets the real
  rate as `second_per_grid_ts`; Qwen3-VL gets the real times of the frames it sees as `video_metadata`
  (`vau_plugin.sampling.timestamp_metadata`), written into the prompt as "<t seconds>" before each temporal patch;
- `qwen2_vl_motion` / `qwen3_vl_motion`: the same, with video motion prompts at fixed (m, n) (`vau_motion_*` recipe
  keys; see `vau_plugin.llamafactory.motion`): T + 1 frames are decoded over the same span and prompted into the T
  the model sees (frame j at the time of sampled frame j + 1; the lmms-eval wrapper does the same with
  `motion_prompt=true`).

The video budget comes from LLaMA-Factory's own keys: `video_fps`, `video_maxlen` (frame cap),
`video_max_pixels` / `video_min_pixels` (pixels a frame). A Qwen2-VL processor's own pixel range (its
`video_processor.size`, per frame) bounds the frame size, so the processor never resizes the frames again; a
Qwen3-VL video processor's `size` bounds the whole clip instead and is not applied: the frames go in at their
final size with `do_resize=False`. Video tokens are counted from a probe of the file (`sample_plan`), without
decoding. Videos given as lists of frames keep LLaMA-Factory's handling (prompted too under the motion templates).
"""

from __future__ import annotations

import dataclasses
from copy import deepcopy
from typing import Any, ClassVar, Optional

VAU_PLUGIN = "qwen2_vl_vau"
MOTION_PLUGIN = "qwen2_vl_motion"
QWEN3_VAU_PLUGIN = "qwen3_vl_vau"
QWEN3_MOTION_PLUGIN = "qwen3_vl_motion"
BASE_TEMPLATE = "qwen2_vl"
QWEN3_BASE_TEMPLATE = "qwen3_vl_nothink"  # the Instruct chat template; `qwen3_vl` is a reasoning template (see below)
MOTION_PLUGINS = (MOTION_PLUGIN, QWEN3_MOTION_PLUGIN)
# template name -> (mm_plugin name, LLaMA-Factory base template)
FAMILIES = {
    VAU_PLUGIN: (VAU_PLUGIN, BASE_TEMPLATE),
    MOTION_PLUGIN: (MOTION_PLUGIN, BASE_TEMPLATE),
    QWEN3_VAU_PLUGIN: (QWEN3_VAU_PLUGIN, QWEN3_BASE_TEMPLATE),
    QWEN3_MOTION_PLUGIN: (QWEN3_MOTION_PLUGIN, QWEN3_BASE_TEMPLATE),
}
TEMPLATES = {name: plugin for name, (plugin, _) in FAMILIES.items()}  # template name -> mm_plugin name
# base template -> (the checkpoints its templates are for, their processor classes)
FAMILY_PROCESSORS = {
    BASE_TEMPLATE: ("Qwen2-VL / Qwen2.5-VL", ("Qwen2VLProcessor", "Qwen2_5_VLProcessor")),
    QWEN3_BASE_TEMPLATE: ("Qwen3-VL", ("Qwen3VLProcessor",)),
}
# base template -> the `model_type`s (config.json) of its checkpoints: the family is known before anything loads
FAMILY_MODEL_TYPES = {
    BASE_TEMPLATE: ("qwen2_vl", "qwen2_5_vl"),
    QWEN3_BASE_TEMPLATE: ("qwen3_vl", "qwen3_vl_moe"),
}
# LLaMA-Factory's mm_plugin class -> the family its templates are for (qwen2_vl, qwen3_vl, qwen3_vl_nothink, the
# plugin's own, and LLaMA-Factory's others built on them, e.g. mimo_vl); subclasses of its own (GLM4VPlugin,
# Qwen2OmniPlugin, ...) are other families and not judged here.
LF_PLUGIN_FAMILIES = {"Qwen2VLPlugin": BASE_TEMPLATE, "Qwen3VLPlugin": QWEN3_BASE_TEMPLATE}


def model_type_family(model_type: Any) -> Optional[str]:
    """model_type_family(config.json's model_type) -> the base template of its family, or None when not one here."""
    return next((base for base, types in FAMILY_MODEL_TYPES.items() if model_type in types), None)


def processor_family(processor: Any) -> Optional[str]:
    """processor_family(processor) -> the base template of the processor's family, or None (no processor, or
    another family)."""
    if processor is None:
        return None
    names = {c.__name__ for c in type(processor).__mro__}
    return next((base for base, (_, classes) in FAMILY_PROCESSORS.items() if names & set(classes)), None)


def template_family(template: Any) -> Optional[str]:
    """template_family(LLaMA-Factory Template) -> the base template of the family its mm_plugin is for, or None: the
    nearest LLaMA-Factory class of the mm_plugin decides (`LF_PLUGIN_FAMILIES`)."""
    for cls in type(getattr(template, "mm_plugin", None)).__mro__:
        if cls.__module__.startswith("llamafactory."):
            return LF_PLUGIN_FAMILIES.get(cls.__name__)
    return None


def family_error(template_name: str, template_base: str, model_base: str, evidence: str) -> str:
    """The message for a template of one family on a checkpoint of another: "template X does not fit model family
    Y (evidence): X is for Z checkpoints; use template: ..." (the plugin's templates of the model's family, then
    LLaMA-Factory's base template)."""
    right = [name for name, (_, base) in FAMILIES.items() if base == model_base] + [model_base]
    return (
        f"template {template_name} does not fit model family {FAMILY_PROCESSORS[model_base][0]} ({evidence}): "
        f"{template_name} is for {FAMILY_PROCESSORS[template_base][0]} checkpoints; use template: {' or '.join(right)}"
    )


def family_mismatch(base_template: str, processor: Any) -> Optional[str]:
    """family_mismatch(base template of the run's template, processor) -> None, or the error to raise when the model
    is of another family. Another family's template does not fail by itself: a Qwen3-VL under `qwen2_vl_vau` would
    train without the frame times its prompts hold at inference, silently."""
    if processor is None:
        return None
    names = {c.__name__ for c in type(processor).__mro__}
    if names & set(FAMILY_PROCESSORS[base_template][1]):
        return None
    family = " / ".join(name for name, (_, base) in FAMILIES.items() if base == base_template)
    model_base = processor_family(processor)
    if model_base is None:
        return (f"template {family} is for {FAMILY_PROCESSORS[base_template][0]} checkpoints, but the model's processor "
                f"is {type(processor).__name__}; use a template of the model's family")  # fmt: skip
    return family_error(family, base_template, model_base, f"the model's processor is {type(processor).__name__}")


def template_processor_mismatch(template_name: str, template: Any, processor: Any) -> Optional[str]:
    """template_processor_mismatch(template name, LLaMA-Factory Template, processor) -> None, or the error when the
    template's family (`template_family`) and the processor's (`processor_family`) are both known and differ."""
    template_base, model_base = template_family(template), processor_family(processor)
    if template_base is None or model_base is None or template_base == model_base:
        return None
    return family_error(template_name, template_base, model_base, f"the model's processor is {type(processor).__name__}")


def sampling_config(processor: Any, *, extra_frames: int = 0, processor_range: bool = True):
    """sampling_config(LLaMA-Factory processor, extra_frames=0, processor_range=True) -> vau_plugin.budget.SamplingConfig
    from the run's `video_fps`, `video_maxlen`, `video_max_pixels`, `video_min_pixels` (set on the processor by
    LLaMA-Factory's loader; its defaults otherwise), the processor's patch size and, with `processor_range`, its
    per-frame pixel range (`size`; pass False for a processor whose `size` bounds the whole clip, Qwen3-VL's)."""
    from vau_plugin.budget import SamplingConfig

    video_processor = getattr(processor, "video_processor", None) or getattr(processor, "image_processor", None)
    size = (getattr(video_processor, "size", None) or {}) if processor_range else {}
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


def _meta_field(metadata: Any, name: str) -> Any:
    """A field of one video's metadata: a dict, transformers' VideoMetadata or a namespace."""
    return metadata[name] if isinstance(metadata, dict) else getattr(metadata, name)


def _plugin_classes() -> dict[str, type]:
    """{BASE_TEMPLATE: Qwen2VLVAUPlugin, QWEN3_BASE_TEMPLATE: Qwen3VLVAUPlugin} (built on first use, so importing this module needs
    no LLaMA-Factory): LLaMA-Factory's Qwen2VLPlugin / Qwen3VLPlugin with the shared `_VAUVideos` decoding."""
    import torch
    from llamafactory.data.mm_plugin import Qwen2VLPlugin, Qwen3VLPlugin, _check_video_is_nested_images
    from llamafactory.extras.constants import IMAGE_PLACEHOLDER, VIDEO_PLACEHOLDER

    from vau_plugin.llamafactory.motion import MotionSettings, frames_to_tensor, hook_for, tensor_to_frames
    from vau_plugin.sampling import frames_to_grid_t, timestamp_metadata
    from vau_plugin.video import load_video, sample_plan

    class _VAUVideos:
        """The shared part: video files through `vau_plugin.video` (one decoder), fixed motion prompts when `motion`
        is on. A subclass says how decoded frames become the model's inputs (`_video_inputs`), what the token
        count needs besides the grid (`_token_metadata`) and whether the processor's `size` is a per-frame range."""

        motion: ClassVar[bool] = False  # set by the registered subclass of a motion template
        per_frame_processor_range: ClassVar[bool] = True
        base_template: ClassVar[str]  # BASE_TEMPLATE or QWEN3_BASE_TEMPLATE: the family (see FAMILY_PROCESSORS)

        def _validate_input(self, processor: Any, images: list, videos: list, audios: list) -> None:
            super()._validate_input(processor, images, videos, audios)
            error = family_mismatch(self.base_template, processor)
            if error:
                raise ValueError(error)

        def _motion_hook(self) -> Optional[Any]:
            if not self.motion:
                return None
            settings = MotionSettings.from_env()
            return None if settings.learnable else hook_for(settings)  # learnable: the model prompts them

        def _files_only(self, videos: list) -> bool:
            return all(not _check_video_is_nested_images(video) for video in videos)

        def _sampling_config(self, processor: Any, motion: bool):
            return sampling_config(processor, extra_frames=int(motion),
                                   processor_range=self.per_frame_processor_range)  # fmt: skip

        def _token_metadata(self, grids: list, plans: list) -> dict:
            return {"video_grid_thw": torch.tensor(grids, dtype=torch.long)}

        def _video_inputs(self, frames: list, sampled: list, processor: Any) -> dict:
            raise NotImplementedError

        def _get_video_token_metadata(self, videos: list, processor: Any) -> Optional[dict]:
            if not videos or not self._files_only(videos):
                return None  # LLaMA-Factory then counts from `_get_mm_inputs`
            config = self._sampling_config(processor, self._motion_hook() is not None)
            patch = config.image_factor // int(getattr(processor.image_processor, "merge_size", 2))
            grids, plans = [], []
            for video in videos:
                plan = sample_plan(video, config)
                plans.append(plan)
                grids.append([frames_to_grid_t(plan.frames, config.frame_factor), plan.size[0] // patch, plan.size[1] // patch])
            return self._token_metadata(grids, plans)

        def _get_mm_inputs(self, images: list, videos: list, audios: list, processor: Any) -> dict:
            hook = self._motion_hook()
            if not videos or not self._files_only(videos):
                if hook is not None and videos:
                    videos = [tensor_to_frames(hook(frames_to_tensor(self._regularize_images(v)["images"])))
                              if _check_video_is_nested_images(v) else v for v in videos]  # fmt: skip
                return super()._get_mm_inputs(images, videos, audios, processor)
            inputs = super()._get_mm_inputs(images, [], audios, processor) if images or audios else {}
            config = self._sampling_config(processor, hook is not None)
            sampled = [load_video(video, config) for video in videos]
            frames = [hook.prompt(s.frames) if hook is not None else s.frames for s in sampled]
            inputs.update(self._video_inputs(frames, sampled, processor))
            return inputs

    @dataclasses.dataclass
    class Qwen2VLVAUPlugin(_VAUVideos, Qwen2VLPlugin):
        """Qwen2-VL / Qwen2.5-VL mm_plugin whose video files go through `vau_plugin.video` (templates `qwen2_vl_vau`,
        `qwen2_vl_motion`)."""

        base_template = BASE_TEMPLATE

        def _video_inputs(self, frames: list, sampled: list, processor: Any) -> dict:
            video_processor = getattr(processor, "video_processor", None) or processor.image_processor
            inputs = dict(video_processor(videos=frames, return_tensors="pt"))
            if "second_per_grid_ts" in processor.model_input_names:
                temporal_patch = int(getattr(video_processor, "temporal_patch_size", 2))
                inputs["second_per_grid_ts"] = [temporal_patch / s.sample_fps for s in sampled]
            return inputs

    @dataclasses.dataclass
    class Qwen3VLVAUPlugin(_VAUVideos, Qwen3VLPlugin):
        """Qwen3-VL mm_plugin whose video files go through `vau_plugin.video` (templates `qwen3_vl_vau`,
        `qwen3_vl_motion`): the frames go to the video processor at their final size (`do_resize=False`, no
        resampling) with the real times of the frames the model sees as `video_metadata`; `process_messages`
        writes them into the prompt per video, as transformers' Qwen3VLProcessor does."""

        per_frame_processor_range: ClassVar[bool] = False  # Qwen3VLVideoProcessor's `size` bounds the whole clip
        base_template = QWEN3_BASE_TEMPLATE

        def _token_metadata(self, grids: list, plans: list) -> dict:
            return {"video_grid_thw": torch.tensor(grids, dtype=torch.long),
                    "video_metadata": [timestamp_metadata(plan.model_timestamps) for plan in plans]}  # fmt: skip

        def _video_inputs(self, frames: list, sampled: list, processor: Any) -> dict:
            return dict(processor.video_processor(
                videos=frames,
                video_metadata=[timestamp_metadata(s.model_timestamps) for s in sampled],
                do_resize=False,
                do_sample_frames=False,
                return_metadata=True,
                return_tensors="pt",
            ))  # fmt: skip

        def _video_structure(self, grid_thw: Any, metadata: Any, processor: Any) -> str:
            """One video's text as Qwen3VLProcessor writes it: per temporal patch "<t seconds>" + vision start +
            the patch's pads + vision end, t from this video's own metadata."""
            merge_size = int(processor.video_processor.merge_size)
            indices = _meta_field(metadata, "frames_indices")
            indices = list(indices.tolist() if hasattr(indices, "tolist") else indices)  # the processor extends it
            timestamps = processor._calculate_timestamps(indices, _meta_field(metadata, "fps"), merge_size)
            seqlen = int(torch.as_tensor(grid_thw)[1:].prod()) // merge_size**2
            frame = f"{self.vision_bos_token}{self.video_token * seqlen}{self.vision_eos_token}"
            return "".join(f"<{timestamps[t]:.1f} seconds>{frame}" for t in range(int(grid_thw[0])))

        def process_messages(self, messages: list, images: list, videos: list, audios: list, processor: Any) -> list:
            # LLaMA-Factory 0.9.5's Qwen3VLPlugin reads video_metadata by message index and every video's frame
            # count from the first video's grid; here both are per video.
            self._validate_input(processor, images, videos, audios)
            self._validate_messages(messages, images, videos, audios)
            messages = deepcopy(messages)
            image_merge = int(getattr(processor.image_processor, "merge_size")) ** 2 if processor is not None else 1
            if self.expand_mm_tokens:
                mm_inputs = self._get_mm_token_metadata(images, videos, audios, processor)
                if mm_inputs is None:
                    mm_inputs = self._get_mm_inputs(images, videos, audios, processor)
                image_grid = mm_inputs.get("image_grid_thw", [])
                video_grid = mm_inputs.get("video_grid_thw", [])
                video_metadata = mm_inputs.get("video_metadata", [])
            num_images = num_videos = 0
            for message in messages:
                content = message["content"]
                while IMAGE_PLACEHOLDER in content:
                    seqlen = int(image_grid[num_images].prod()) // image_merge if self.expand_mm_tokens else 1
                    image = f"{self.vision_bos_token}{self.image_token * seqlen}{self.vision_eos_token}"
                    content = content.replace(IMAGE_PLACEHOLDER, image, 1)
                    num_images += 1
                while VIDEO_PLACEHOLDER in content:
                    if self.expand_mm_tokens:
                        video = self._video_structure(video_grid[num_videos], video_metadata[num_videos], processor)
                    else:
                        video = f"{self.vision_bos_token}{self.video_token}{self.vision_eos_token}"
                    content = content.replace(VIDEO_PLACEHOLDER, video, 1)
                    num_videos += 1
                message["content"] = content
            return messages

    for cls in (Qwen2VLVAUPlugin, Qwen3VLVAUPlugin):
        cls.__qualname__ = cls.__name__
    return {BASE_TEMPLATE: Qwen2VLVAUPlugin, QWEN3_BASE_TEMPLATE: Qwen3VLVAUPlugin}


def register() -> None:
    """register() -> None: add the `qwen2_vl_vau`, `qwen2_vl_motion`, `qwen3_vl_vau` and `qwen3_vl_motion`
    mm_plugins and templates to LLaMA-Factory (idempotent)."""
    from llamafactory.data import mm_plugin, template

    classes = None
    for name, (plugin_name, base_name) in FAMILIES.items():
        base = template.TEMPLATES[base_name]
        if plugin_name not in mm_plugin.PLUGINS:
            classes = classes or _plugin_classes()
            plugin_class = classes[base_name]
            motion = plugin_name in MOTION_PLUGINS
            mm_plugin.register_mm_plugin(plugin_name, type(plugin_class.__name__, (plugin_class,), {"motion": motion}))
        if name not in template.TEMPLATES:
            plugin_kwargs = {f.name: getattr(base.mm_plugin, f.name) for f in dataclasses.fields(base.mm_plugin)}
            fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base) if f.name != "mm_plugin"}
            template.register_template(
                name,
                **fields,
                mm_plugin=mm_plugin.get_mm_plugin(plugin_name, **plugin_kwargs),
                template_class=type(base),
            )

"""`--model vau_qwen2_5_vl`: lmms-eval's Qwen2.5-VL chat model that reads videos the way VAU-R1's evaluation
does, through the plugin's one decoder (`vau_plugin.video`), with an optional motion-prompt hook and
per-sample handling of videos that cannot be decoded.

What differs from lmms-eval's `qwen2_5_vl` (which goes through qwen-vl-utils):
- each VAU-Bench task's video budget (`vau_plugin.budget`: frame rate, frame count, pixel range, what the
  processor is told, `add_vision_id`) is the one of the VAU-R1 script it reproduces — QA samples at 1 fps, TAG and
  CLS at 2 fps — instead of one setting for every task;
- frames are sampled by their real timestamps (variable-frame-rate files included) and their real rate reaches
  the processor (Qwen2.5-VL's temporal position ids), except where the reference script passes none;
- a video that cannot be decoded is recorded, answered with `VIDEO_ERROR_PREFIX` (scored wrong, counted in
  every task's `video_errors`) and the run goes on; a run where every video fails stops with one message;
- decoded frames can be cached (`VAU_FRAME_CACHE=<folder>`), so a rerun or a second task skips decoding;
- without a GPU it runs on the CPU (upstream defaults to CUDA).

model_args beyond those of `qwen2_5_vl`: `motion_prompt=true` with `motion_m`, `motion_n`, `motion_fill`
(`mean`/`black`) or `motion_weights=PATH` (a `motion_prompt.json` saved by fine-tuning, or a checkpoint folder
holding one); `total_pixels`; `video_backend` (`auto`/`decord`/`pyav`). `fps`, `max_num_frames`, `min_pixels`,
`max_pixels` and `total_pixels`, when given, replace those fields of every task's budget (the processor's pixel
range follows min/max_pixels).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import replace
from typing import Any, List, Optional

import torch
from lmms_eval.api.instance import GenerationResult, Instance, TokenCounts
from lmms_eval.models.chat.qwen2_5_vl import Qwen2_5_VL
from lmms_eval.protocol import ChatMessages
from loguru import logger as eval_logger

from vau_plugin.budget import BUDGETS, PROCESSOR_MAX_PIXELS, PROCESSOR_MIN_PIXELS, TAG, VideoBudget, budget_for
from vau_plugin.lmms import VIDEO_ERROR_PREFIX, RunStopped


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


class EncodedVideo:
    """One video of a request, ready for the processor: frames (T, 3, H, W) uint8 and the rate to pass."""

    def __init__(self, frames: torch.Tensor, fps: float):
        self.frames, self.fps = frames, fps


class VAUQwen2_5_VL(Qwen2_5_VL):
    is_simple = False

    def __init__(
        self,
        pretrained: str = "Qwen/Qwen2.5-VL-3B-Instruct",
        device: Optional[str] = None,
        device_map: Optional[str] = None,
        motion_prompt: Any = False,
        motion_m: Optional[float] = None,
        motion_n: Optional[float] = None,
        motion_fill: str = "mean",
        motion_weights: Optional[str] = None,
        fps: Optional[float] = None,
        max_num_frames: Optional[int] = None,
        min_pixels: Optional[int] = None,
        max_pixels: Optional[int] = None,
        total_pixels: Optional[int] = None,
        video_backend: str = "auto",
        **kwargs: Any,
    ) -> None:
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device_map is None:
            device_map = "auto" if str(device).startswith("cuda") else str(device)
        processor_min = int(min_pixels) if min_pixels is not None else PROCESSOR_MIN_PIXELS
        processor_max = int(max_pixels) if max_pixels is not None else PROCESSOR_MAX_PIXELS
        super().__init__(
            pretrained=pretrained, device=device, device_map=device_map, min_pixels=processor_min,
            max_pixels=processor_max, **kwargs,
        )  # fmt: skip
        # VAU-R1's processors have this range for videos too (then one image processor did both); transformers
        # 4.57 gives videos their own processor, which AutoProcessor's min/max_pixels do not always reach.
        video_processor = getattr(self.processor, "video_processor", None)
        if video_processor is not None:
            video_processor.size = {"shortest_edge": processor_min, "longest_edge": processor_max}
            video_processor.min_pixels, video_processor.max_pixels = processor_min, processor_max
        self.budget_overrides = {
            "fps": float(fps) if fps is not None else None,
            "max_frames": int(max_num_frames) if max_num_frames is not None else None,
            "min_pixels": int(min_pixels) if min_pixels is not None else None,
            "max_pixels": int(max_pixels) if max_pixels is not None else None,
            "total_pixels": int(total_pixels) if total_pixels is not None else None,
            "processor_min_pixels": processor_min,
            "processor_max_pixels": processor_max,
        }
        self.video_backend = video_backend
        self.video_failures: list[dict] = []
        self.motion_hook = None
        if _flag(motion_prompt):
            from vau_plugin.motion import FrameMotionPrompt

            self.motion_hook = FrameMotionPrompt.from_settings(
                m=motion_m, n=motion_n, fill=motion_fill, weights=motion_weights
            )
            eval_logger.info(f"vau_qwen2_5_vl: motion prompts on ({self.motion_hook.describe()})")

    # ------------------------------------------------------------ video budget and decoding
    def budget(self, doc: Any) -> VideoBudget:
        """The video budget of a document: its VAU-Bench task's (docs carry `task`), else the TAG/CLS one (the
        qwen-vl-utils defaults VAU-R1 uses), with the model_args overrides applied."""
        task = doc.get("task") if isinstance(doc, dict) else None
        base = budget_for(task) if task in BUDGETS else TAG
        if self.budget_overrides["fps"] is not None:
            base = replace(base, processor_fps=None)  # a rate of one's own is encoded as it is (no reference quirk)
        return base.with_overrides(**self.budget_overrides)

    def encode_video(self, path: str, budget: VideoBudget) -> EncodedVideo:
        """Decode one video for `budget` (plus one frame when motion prompts turn T + 1 frames into T)."""
        from vau_plugin.video import load_video

        config = budget.sampling(self.video_backend)
        if self.motion_hook is not None:
            config = replace(config, extra_frames=1)
        sampled = load_video(path, config)
        frames = self.motion_hook.prompt(sampled.frames) if self.motion_hook is not None else sampled.frames
        return EncodedVideo(frames, budget.encode_fps(sampled.sample_fps))

    def _doc(self, request: Instance) -> Any:
        _, _, _, doc_id, task, split = request.args
        return self.task_dict[task][split][doc_id]

    def _failed(self, request: Instance, reason: str) -> GenerationResult:
        _, _, _, doc_id, task, _ = request.args
        self.video_failures.append({"task": task, "doc_id": doc_id, "error": reason})
        eval_logger.warning(f"vau_qwen2_5_vl: {task} doc {doc_id}: video skipped: {reason}")
        return GenerationResult(text=f"{VIDEO_ERROR_PREFIX} {reason}")

    def prepare(self, doc: Any, messages: ChatMessages) -> tuple[str, list[EncodedVideo]]:
        """prepare(doc, messages) -> (chat text, decoded videos) of one request, as the processor gets them.
        Raises VideoError for a video that cannot be decoded."""
        budget = self.budget(doc)
        _, videos, _ = messages.extract_media()
        text = self.processor.apply_chat_template(
            [messages.to_hf_messages()], tokenize=False, add_generation_prompt=True, add_vision_id=budget.add_vision_id
        )[0]
        return text, [self.encode_video(str(path), budget) for path in videos]

    # ------------------------------------------------------------ generation
    def inputs(self, texts: list[str], videos: list[EncodedVideo]) -> Any:
        """The processor's output for a batch: token ids, `pixel_values_videos`, `video_grid_thw`,
        `second_per_grid_ts` (from each video's rate)."""
        return self.processor(
            text=texts,
            videos=[v.frames for v in videos] or None,
            fps=[v.fps for v in videos] if videos else None,
            padding=True,
            padding_side="left" if len(texts) > 1 else "right",
            return_tensors="pt",
        )

    def _generate(self, texts: list[str], videos: list[EncodedVideo], gen_kwargs: dict) -> list[GenerationResult]:
        inputs = self.inputs(texts, videos).to("cuda" if self.device_map == "auto" else self.device)
        settings = {"max_new_tokens": 128, "temperature": 0.0, "top_p": None, "num_beams": 1, **gen_kwargs}
        sampling = bool(settings["temperature"] and settings["temperature"] > 0)
        output = self.model.generate(
            **inputs,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            do_sample=sampling,
            temperature=settings["temperature"] if sampling else None,
            top_p=settings["top_p"] if sampling else None,
            top_k=settings.get("top_k") if sampling else None,
            num_beams=settings["num_beams"],
            max_new_tokens=settings["max_new_tokens"],
            use_cache=self.use_cache,
        )
        trimmed = [out[len(inp) :] for inp, out in zip(inputs.input_ids, output)]
        answers = self.processor.batch_decode(trimmed, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return [
            GenerationResult(text=answer, token_counts=TokenCounts(output_tokens=len(ids)))
            for answer, ids in zip(answers, trimmed)
        ]

    def _decoded(self, batch: list, requests: List[Instance], results: list) -> list[tuple[int, str, list[EncodedVideo]]]:
        """(index, chat text, videos) of the requests in `batch` whose videos decode; the others get a video-error
        result in `results`."""
        from vau_plugin.video import VideoError

        ready = []
        for index, doc, messages in batch:
            try:
                ready.append((index, *self.prepare(doc, messages)))
            except (VideoError, OSError) as error:
                results[index] = self._failed(requests[index], str(error))
        return ready

    def _generate_batch(self, batch: list, requests: List[Instance], gen_kwargs: dict) -> list[GenerationResult]:
        """Generate for a batch; when the batch fails, sample by sample, so one bad sample loses only itself."""
        try:
            return self._generate([t for _, t, _ in batch], [v for _, _, vs in batch for v in vs], gen_kwargs)
        except Exception as batch_error:
            eval_logger.warning(f"vau_qwen2_5_vl: generation failed ({batch_error}); retrying sample by sample")
        outputs = []
        for index, text, videos in batch:
            try:
                outputs.extend(self._generate([text], videos, gen_kwargs))
            except Exception as error:
                outputs.append(self._failed(requests[index], f"{type(error).__name__}: {error}"))
        return outputs

    def generate_until(self, requests: List[Instance]) -> List[GenerationResult]:
        from tqdm import tqdm

        results: list[Optional[GenerationResult]] = [None] * len(requests)
        with_images: list[int] = []  # lmms-eval's own path serves requests with images
        groups: dict[str, list[tuple[int, Any, ChatMessages]]] = defaultdict(list)
        for index, request in enumerate(requests):
            doc = self._doc(request)
            messages = ChatMessages(messages=request.args[1](doc))
            if messages.extract_media()[0]:
                with_images.append(index)
            else:
                groups[json.dumps(request.args[2], sort_keys=True, default=str)].append((index, doc, messages))
        generated = 0
        progress = tqdm(total=len(requests) - len(with_images), disable=(self.rank != 0), desc="Model Responding")
        for items in groups.values():
            gen_kwargs = dict(requests[items[0][0]].args[2])
            for start in range(0, len(items), self.batch_size):
                # videos are decoded a batch at a time: memory stays that of one batch, whatever the task's size
                batch = self._decoded(items[start : start + self.batch_size], requests, results)
                outputs = self._generate_batch(batch, requests, gen_kwargs) if batch else []
                for (index, _, _), output in zip(batch, outputs):
                    results[index] = output
                    generated += not output.text.startswith(VIDEO_ERROR_PREFIX)
                    self.cache_hook.add_partial("generate_until", (requests[index].args[0], gen_kwargs), output.text)
                progress.update(min(self.batch_size, len(items) - start))
        progress.close()
        if with_images:
            for index, output in zip(with_images, super().generate_until([requests[i] for i in with_images])):
                results[index] = output
                generated += 1
        if self.video_failures:
            eval_logger.warning(f"vau_qwen2_5_vl: {len(self.video_failures)} sample(s) had a video that could not be "
                                "decoded or run; each is scored as wrong and counted in its task's video_errors")  # fmt: skip
        if len(requests) > 1 and generated == 0:
            last = "; ".join(f["error"] for f in self.video_failures[-3:])
            raise RunStopped(
                f"vau_qwen2_5_vl: none of the {len(requests)} samples could be run (last errors: {last}). "
                "Check the video files (VAU_BENCH_VIDEO_ROOT) and the model; no score was computed."
            )
        return [r if r is not None else GenerationResult(text="") for r in results]

"""`--model vau_qwen2_5_vl`: lmms-eval's Qwen2.5-VL chat model with VAU-R1's video settings, an optional
motion-prompt preprocessing hook, and per-sample handling of videos that cannot be decoded.

model_args beyond those of `qwen2_5_vl`:
- the processor receives the frame rate of the sampled frames, so Qwen2.5-VL's temporal position ids follow
  the real time between frames (upstream's qwen2_5_vl always encodes 2 fps);
- `motion_prompt=true` applies video motion prompts to the sampled frames before the processor, with
  `motion_m`, `motion_n` (the layer's two scalars), `motion_fill` (`mean` or `black`), or `motion_weights=PATH`
  (a `motion_prompt.json` saved by fine-tuning, or a checkpoint folder holding one).
Defaults differ from `qwen2_5_vl` where VAU-R1's evaluation differs: 2 fps, 256·28² to 768·28² pixels a frame.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

from loguru import logger as eval_logger

from lmms_eval.api.instance import GenerationResult, Instance
from lmms_eval.models.chat.qwen2_5_vl import Qwen2_5_VL
from lmms_eval.protocol import ChatMessages

from vau_plugin.lmms import VIDEO_ERROR_PREFIX

VAU_R1_FPS = 2.0
VAU_R1_MIN_PIXELS = 256 * 28 * 28
VAU_R1_MAX_PIXELS = 768 * 28 * 28


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def sampled_fps(metadata: Any) -> Optional[float]:
    """sampled_fps(video metadata from qwen-vl-utils) -> frames per second of the sampled frames (qwen-vl-utils'
    own formula: frames kept / frames in the file × file fps), or None when the metadata lacks a field."""
    def field(name: str) -> Any:
        return metadata.get(name) if isinstance(metadata, dict) else getattr(metadata, name, None)

    fps, indices, total = field("fps"), field("frames_indices"), field("total_num_frames")
    if not fps or indices is None or not total:
        return None
    return len(indices) / float(total) * float(fps)


class VideoHookProcessor:
    """Wraps a HF processor: `videos=` pass through `hook` first (when given), and the frame rate of the
    sampled frames reaches the processor as `fps=` (it sets second_per_grid_ts, the time step of Qwen2.5-VL's
    temporal position ids). Upstream lmms-eval passes no fps, so every video is encoded as if sampled at 2 fps,
    which is wrong for any other rate and differs from training (LLaMA-Factory passes the real rate)."""

    def __init__(self, processor: Any, hook: Optional[Callable[[Any], Any]] = None):
        self._processor = processor
        self._hook = hook

    def __getattr__(self, name: str) -> Any:
        return getattr(self._processor, name)

    def __call__(self, *args: Any, videos: Any = None, **kwargs: Any) -> Any:
        if videos is not None:
            if self._hook is not None:
                videos = [self._hook(video) for video in videos]
            metadata = kwargs.get("video_metadata")
            if "fps" not in kwargs and metadata is not None and len(metadata) == len(videos):
                rates = [sampled_fps(m) for m in metadata]
                if all(rate for rate in rates):
                    kwargs["fps"] = rates
        return self._processor(*args, videos=videos, **kwargs)


class VAUQwen2_5_VL(Qwen2_5_VL):
    is_simple = False

    def __init__(
        self,
        pretrained: str = "Qwen/Qwen2.5-VL-3B-Instruct",
        motion_prompt: Any = False,
        motion_m: Optional[float] = None,
        motion_n: Optional[float] = None,
        motion_fill: str = "mean",
        motion_weights: Optional[str] = None,
        fps: Optional[float] = VAU_R1_FPS,
        min_pixels: int = VAU_R1_MIN_PIXELS,
        max_pixels: int = VAU_R1_MAX_PIXELS,
        **kwargs: Any,
    ) -> None:
        super().__init__(pretrained=pretrained, fps=fps, min_pixels=min_pixels, max_pixels=max_pixels, **kwargs)
        self.video_failures: list[dict] = []
        self.motion_hook = None
        if _flag(motion_prompt):
            from vau_plugin.motion import FrameMotionPrompt

            self.motion_hook = FrameMotionPrompt.from_settings(
                m=motion_m, n=motion_n, fill=motion_fill, weights=motion_weights
            )
            eval_logger.info(f"vau_qwen2_5_vl: motion prompts on ({self.motion_hook.describe()})")
        self.processor = VideoHookProcessor(self.processor, self.motion_hook)

    # ------------------------------------------------------------ broken videos: record, answer, go on
    def _request_videos(self, request: Instance) -> list[str]:
        _, doc_to_messages, _, doc_id, task, split = request.args
        messages = ChatMessages(messages=doc_to_messages(self.task_dict[task][split][doc_id]))
        _, videos, _ = messages.extract_media()
        return [str(v) for v in videos]

    def _unreadable(self, request: Instance) -> Optional[str]:
        from vau_plugin.video import VideoError, probe

        try:
            for path in self._request_videos(request):
                probe(path)
        except (VideoError, OSError) as error:
            return str(error)
        return None

    def _failed(self, request: Instance, reason: str) -> GenerationResult:
        _, _, _, doc_id, task, _ = request.args
        self.video_failures.append({"task": task, "doc_id": doc_id, "error": reason})
        eval_logger.warning(f"vau_qwen2_5_vl: {task} doc {doc_id}: video skipped: {reason}")
        return GenerationResult(text=f"{VIDEO_ERROR_PREFIX} {reason}")

    def generate_until(self, requests: List[Instance]) -> List[GenerationResult]:
        results: list[Optional[GenerationResult]] = [None] * len(requests)
        runnable: list[int] = []
        for index, request in enumerate(requests):
            problem = self._unreadable(request)
            if problem:
                results[index] = self._failed(request, problem)
            else:
                runnable.append(index)
        if runnable:
            try:
                outputs = list(super().generate_until([requests[i] for i in runnable]))
            except Exception as batch_error:  # one bad sample must not lose the others: redo them one by one
                eval_logger.warning(f"vau_qwen2_5_vl: batch failed ({batch_error}); retrying sample by sample")
                outputs = []
                for i in runnable:
                    try:
                        outputs.extend(super().generate_until([requests[i]]))
                    except Exception as error:
                        videos = ", ".join(self._request_videos(requests[i]))
                        outputs.append(self._failed(requests[i], f"{videos}: {type(error).__name__}: {error}"))
                if len(outputs) > 1 and all(o.text.startswith(VIDEO_ERROR_PREFIX) for o in outputs):
                    raise batch_error  # nothing works: a model or set-up problem, not a broken video
            for i, output in zip(runnable, outputs):
                results[i] = output
        return [r if r is not None else GenerationResult(text="") for r in results]

"""`--model vau_qwen2_5_vl`, `vau_qwen3_vl` and `vau_qwen2_vl`: lmms-eval's Qwen2.5-VL / Qwen3-VL / Qwen2-VL models
reading videos the way VAU-R1's evaluation does, through the plugin's one decoder (`vau_plugin.video`), with an
optional motion-prompt hook and per-sample handling of videos that cannot be decoded. All share `VAUVideoChat`; what
differs is how a video's time reaches the model (`video_inputs`).

What differs from lmms-eval's `qwen2_5_vl` / `qwen3_vl` (which go through qwen-vl-utils):
- each VAU-Bench task's video budget (`vau_plugin.budget`: frame rate, frame count, pixel range, what the
  processor is told, `add_vision_id`) is the one of the VAU-R1 script it reproduces — QA samples at 1 fps, TAG and
  CLS at 2 fps — instead of one setting for every task; for Qwen3-VL the same visual tokens, in its 32-px units;
- frames are sampled by their real timestamps (variable-frame-rate files included). Qwen2.5-VL: their real rate
  reaches the processor (the temporal position ids), except where the reference script passes none. Qwen3-VL: their
  real times are written into the prompt ("<1.3 seconds>"; with motion prompts, the times of the frames shown);
- no system prompt is added (upstream `qwen3_vl` adds "You are a helpful assistant."): the prompt is the one
  LLaMA-Factory's template trains on (Qwen2.5-VL's chat template adds its own default system prompt in both);
- a checkpoint of another family than the wrapper's is refused (loading it would leave weights random);
- a video that cannot be decoded, or that no frame size of the budget fits (`vau_plugin.sampling.VideoError`: an aspect
  ratio above 200, a side the pixel cap shrinks to 0 px), is recorded, answered with `VIDEO_ERROR_PREFIX` (scored
  wrong, counted in every task's `video_errors`) and the run goes on; a run where every video fails stops with one
  message; model_args that make no valid budget stop the model at load;
- decoded frames can be cached (`VAU_FRAME_CACHE=<folder>`), so a rerun or a second task skips decoding;
- without a GPU it runs on the CPU (upstream defaults to CUDA);
- several processes (`accelerate launch`, `torchrun`) run data parallel, each with a full copy of the model, on GPUs
  or on the CPU (gloo): each process loads where `_placement` says (upstream puts every process on
  `cuda:<local rank>` whatever `device` says, and refuses the CPU), and its rank is its global one (upstream takes
  the rank within the node: on two nodes two processes would be rank 0).

model_args beyond those of `qwen2_5_vl`: `motion_prompt=true` with `motion_m`, `motion_n`, `motion_fill`
(`mean`/`black`) or `motion_weights=PATH` (a `motion_prompt.json` saved by fine-tuning, or a checkpoint folder
holding one); `total_pixels`; `video_backend` (`auto`/`decord`/`pyav`). `fps`, `max_num_frames`, `min_pixels`,
`max_pixels` and `total_pixels`, when given, replace those fields of every task's budget (the processor's pixel
range follows min/max_pixels); they are pixels as given, not scaled to the model's units.
"""

from __future__ import annotations

import atexit
import json
import types
from collections import defaultdict
from dataclasses import replace
from typing import Any, Callable, ClassVar, List, Optional

import torch
from accelerate import Accelerator
from lmms_eval.api.instance import GenerationResult, Instance, TokenCounts
from lmms_eval.models.chat.qwen2_5_vl import Qwen2_5_VL
from lmms_eval.models.chat.qwen3_vl import Qwen3_VL
from lmms_eval.models.simple.qwen2_vl import Qwen2_VL
from lmms_eval.protocol import ChatMessages
from loguru import logger as eval_logger

from vau_plugin.budget import BUDGETS, PROCESSOR_MAX_PIXELS, PROCESSOR_MIN_PIXELS, TAG, VideoBudget, budget_for
from vau_plugin.data.schema import TASKS
from vau_plugin.lmms import VIDEO_ERROR_PREFIX, RunStopped


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


class EncodedVideo:
    """One video of a request, ready for the processor: frames (T, 3, H, W) uint8, the rate to pass (Qwen2.5-VL) and
    the times in seconds of the T frames (Qwen3-VL)."""

    def __init__(self, frames: torch.Tensor, fps: float, times: Optional[list[float]] = None):
        self.frames, self.fps, self.times = frames, fps, times


def _model_type(pretrained: str) -> str:
    from transformers import AutoConfig

    return str(getattr(AutoConfig.from_pretrained(pretrained), "model_type", ""))


def _placement(device: Optional[str], device_map: Optional[str], accelerator: Accelerator) -> tuple[str, str]:
    """_placement(device, device_map, accelerator) -> (device, device_map) this process loads the model with.

    One process: the given ones; no device is CUDA when there is a GPU (device_map `auto`: spread over the GPUs),
    else the CPU. Several processes (data parallel): `cpu` stays the CPU; any CUDA device is this process's own GPU,
    `cuda:<local rank>`, as in upstream; no device is the accelerator's for this process (its GPU, or the CPU when
    the processes talk over gloo); the device_map is that one device, since `auto` would spread every process's copy
    over every GPU of the node."""
    if accelerator.num_processes == 1:
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        return device, device_map or ("auto" if device.startswith("cuda") else device)
    if device is None:  # accelerate says `cpu:0` under gloo, which transformers' loader takes for GPU 0
        device = "cpu" if accelerator.device.type == "cpu" else str(accelerator.device)
    elif device.startswith("cuda"):
        device = f"cuda:{accelerator.local_process_index}"
    return device, device


def _leave_process_group() -> None:
    """Destroy this process's process group, if any: lmms-eval ends a multi-process run without doing so, and a gloo
    group (the CPU's) torn down with the interpreter instead aborts the process now and then ("terminate called
    without an active exception", SIGABRT: measured 3 runs in 20 of two processes), after the results were written,
    which makes the launcher report the run as failed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


class _OneProcessView(Accelerator):
    """This process's accelerator, shown to lmms-eval's Qwen classes while they load as one process, so they load
    the model on the device they are given and wrap nothing; the wrapper then takes its rank and world size from the
    real accelerator (`VAUVideoChat.__init__`)."""

    @property
    def num_processes(self) -> int:
        return 1


def _reading(function: Callable, name: str, value: Any) -> Callable:
    """A copy of `function` that reads the global `name` of its module as `value`; the function and its module are
    left as they are (nothing upstream is patched)."""
    copy = types.FunctionType(function.__code__, {**function.__globals__, name: value}, function.__name__,
                              function.__defaults__, function.__closure__)  # fmt: skip
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


class VAUVideoChat:
    """What the three wrappers share: per-task budgets, decoding through `vau_plugin.video`, motion prompts, batching
    and broken videos. Mixed in before lmms-eval's model class of the family, which loads it."""

    is_simple = False
    model_name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]  # the checkpoints' `model_type` the family's lmms-eval class loads
    default_pretrained: ClassVar[str]

    def __init__(
        self,
        pretrained: Optional[str] = None,
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
        accelerator = Accelerator()
        device, device_map = _placement(device, device_map, accelerator)
        pretrained = pretrained or self.default_pretrained
        model_type = _model_type(pretrained)
        if model_type not in self.model_types:
            others = ", ".join(f"--model {c.model_name} for {'/'.join(c.model_types)}" for c in MODELS if c is not type(self))
            raise ValueError(
                f"{self.model_name}: {pretrained} is a {model_type or 'model of unknown type'} checkpoint, and "
                f"--model {self.model_name} loads {'/'.join(self.model_types)} only (another family would load with "
                f"random weights); use {others}"
            )
        # The family's loader (lmms-eval's __init__, which builds its own `Accelerator()`) sees one process.
        upstream_init = _reading(super().__init__.__func__, "Accelerator", _OneProcessView)
        upstream_init(
            self, pretrained=pretrained, device=device, device_map=device_map,
            min_pixels=int(min_pixels) if min_pixels is not None else PROCESSOR_MIN_PIXELS,
            max_pixels=int(max_pixels) if max_pixels is not None else PROCESSOR_MAX_PIXELS, **kwargs,
        )  # fmt: skip
        # Data parallel: documents are shared out by global rank (lmms-eval's evaluator does the same with RANK).
        self.accelerator = accelerator
        self._rank, self._world_size = accelerator.process_index, accelerator.num_processes
        if self._world_size > 1:
            atexit.unregister(_leave_process_group)  # registered once, however many models are built
            atexit.register(_leave_process_group)
            eval_logger.info(f"{self.model_name}: {self._where()}, a full copy of the model on {device} "
                             f"({accelerator.distributed_type.value}, data parallel)")  # fmt: skip
        video_processor = getattr(self.processor, "video_processor", None) or self.processor.image_processor
        self.image_factor = int(video_processor.patch_size) * int(video_processor.merge_size)
        units = budget_for("tag").for_image_factor(self.image_factor)  # VAU-R1's processor range, in this model's units
        processor_min = int(min_pixels) if min_pixels is not None else units.processor_min_pixels
        processor_max = int(max_pixels) if max_pixels is not None else units.processor_max_pixels
        self.set_processor_range(video_processor, processor_min, processor_max)
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
        self._check_budgets()
        self.video_failures: list[dict] = []
        self.motion_hook = None
        if _flag(motion_prompt):
            from vau_plugin.motion import FrameMotionPrompt

            self.motion_hook = FrameMotionPrompt.from_settings(
                m=motion_m, n=motion_n, fill=motion_fill, weights=motion_weights
            )
            eval_logger.info(f"{self.model_name}: motion prompts on ({self.motion_hook.describe()})")

    def _where(self) -> str:
        """Which process this is, for messages of a multi-process run."""
        return f"process {self._rank} of {self._world_size}"

    # ------------------------------------------------------------ what differs between families
    def set_processor_range(self, video_processor: Any, low: int, high: int) -> None:
        """Give the video processor the budget's pixel range a frame (frames arrive at their final size)."""
        raise NotImplementedError

    def video_inputs(self, videos: list[EncodedVideo]) -> dict:
        """The processor arguments that carry the videos and their time."""
        raise NotImplementedError

    # ------------------------------------------------------------ video budget and decoding
    def budget(self, doc: Any) -> VideoBudget:
        """The video budget of a document: its VAU-Bench task's (docs carry `task`), else the TAG/CLS one (the
        qwen-vl-utils defaults VAU-R1 uses), with the model_args overrides applied."""
        task = doc.get("task") if isinstance(doc, dict) else None
        base = budget_for(task) if task in BUDGETS else TAG
        if self.budget_overrides["fps"] is not None:
            base = replace(base, processor_fps=None)  # a rate of one's own is encoded as it is (no reference quirk)
        return base.for_image_factor(self.image_factor).with_overrides(**self.budget_overrides)

    def _check_budgets(self) -> None:
        """Raise ValueError, naming the model_args, when they make a task's budget invalid: a mistake in the settings,
        found at load, not a per-sample video error (a video that no valid budget fits is one; see `_decoded`)."""
        for task in TASKS:  # the evaluation tasks (a document without one gets TAG's)
            try:
                self.budget({"task": task}).sampling(self.video_backend)
            except ValueError as error:
                given = {key: value for key, value in self.budget_overrides.items() if value is not None}
                raise ValueError(
                    f"{self.model_name}: model_args (video_backend={self.video_backend!r}, {given}) make no valid "
                    f"video budget for task {task}: {error}"
                ) from None

    def encode_video(self, path: str, budget: VideoBudget) -> EncodedVideo:
        """Decode one video for `budget` (plus one frame when motion prompts turn T + 1 frames into T)."""
        from vau_plugin.video import load_video

        config = budget.sampling(self.video_backend)
        if self.motion_hook is not None:
            config = replace(config, extra_frames=1)
        sampled = load_video(path, config)
        frames = self.motion_hook.prompt(sampled.frames) if self.motion_hook is not None else sampled.frames
        return EncodedVideo(frames, budget.encode_fps(sampled.sample_fps), sampled.model_timestamps)

    def _doc(self, request: Instance) -> Any:
        _, _, _, doc_id, task, split = request.args
        return self.task_dict[task][split][doc_id]

    def _failed(self, request: Instance, reason: str) -> GenerationResult:
        _, _, _, doc_id, task, _ = request.args
        self.video_failures.append({"task": task, "doc_id": doc_id, "error": reason})
        eval_logger.warning(f"{self.model_name}: {task} doc {doc_id}: video skipped: {reason}")
        return GenerationResult(text=f"{VIDEO_ERROR_PREFIX} {reason}")

    def prepare(self, doc: Any, messages: ChatMessages) -> tuple[str, list[EncodedVideo]]:
        """prepare(doc, messages) -> (chat text, decoded videos) of one request, as the processor gets them.
        Raises VideoError for a video that cannot be decoded or sampled within the budget."""
        budget = self.budget(doc)
        _, videos, _ = messages.extract_media()
        text = self.processor.apply_chat_template(
            [messages.to_hf_messages()], tokenize=False, add_generation_prompt=True, add_vision_id=budget.add_vision_id
        )[0]
        return text, [self.encode_video(str(path), budget) for path in videos]

    # ------------------------------------------------------------ generation
    def inputs(self, texts: list[str], videos: list[EncodedVideo]) -> Any:
        """The processor's output for a batch: token ids, `pixel_values_videos`, `video_grid_thw` (and for Qwen2.5-VL
        `second_per_grid_ts`, from each video's rate)."""
        return self.processor(
            text=texts,
            **(self.video_inputs(videos) if videos else {}),
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
        result in `results`. Every failure of one video is a VideoError (or an OSError reading it); anything else is
        a bug or a bad setting, which must stop the run rather than be counted as a video error."""
        from vau_plugin.sampling import VideoError

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
            eval_logger.warning(f"{self.model_name}: generation failed ({batch_error}); retrying sample by sample")
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
            eval_logger.warning(f"{self.model_name}: {len(self.video_failures)} sample(s) had a video that could not be "
                                "decoded or run; each is scored as wrong and counted in its task's video_errors")  # fmt: skip
        # Documents, not requests: lmms-eval repeats a request (`repeats`, and to even out the processes' shares it
        # pads a process's list with copies of its last one), and one broken document must not stop the run.
        docs = {(task, split, doc_id) for *_, doc_id, task, split in (request.args for request in requests)}
        # Each process judges its own share: no collective here, since under `--use_cache` a process whose requests
        # are all cached does not call generate_until (the others would wait for it for ever).
        if len(docs) > 1 and generated == 0:
            last = "; ".join(f["error"] for f in self.video_failures[-3:])
            mine = f" given to {self._where()}" if self._world_size > 1 else ""
            raise RunStopped(
                f"{self.model_name}: none of the {len(docs)} samples{mine} could be run (last errors: {last}). "
                "Check the video files (VAU_BENCH_VIDEO_ROOT) and the model; no score was computed."
            )
        return [r if r is not None else GenerationResult(text="") for r in results]


class VAUQwen2_5_VL(VAUVideoChat, Qwen2_5_VL):
    """`--model vau_qwen2_5_vl`: Qwen2.5-VL, a video's time as its frame rate (`second_per_grid_ts`)."""

    model_name = "vau_qwen2_5_vl"
    model_types = ("qwen2_5_vl",)
    default_pretrained = "Qwen/Qwen2.5-VL-3B-Instruct"

    def set_processor_range(self, video_processor: Any, low: int, high: int) -> None:
        # VAU-R1's processors have this range for videos too (then one image processor did both); transformers
        # 4.57 gives videos their own processor, which AutoProcessor's min/max_pixels do not always reach.
        video_processor.size = {"shortest_edge": low, "longest_edge": high}
        video_processor.min_pixels, video_processor.max_pixels = low, high

    def video_inputs(self, videos: list[EncodedVideo]) -> dict:
        return {"videos": [v.frames for v in videos], "fps": [v.fps for v in videos]}


class VAUQwen2_VL(VAUVideoChat, Qwen2_VL):
    """`--model vau_qwen2_vl`: Qwen2-VL (the VAU-R1 paper's 2B model), whose temporal position ids step one per
    temporal patch whatever the rate (it takes no `second_per_grid_ts`): the frames carry no time of their own."""

    model_name = "vau_qwen2_vl"
    model_types = ("qwen2_vl",)
    default_pretrained = "Qwen/Qwen2-VL-2B-Instruct"
    set_processor_range = VAUQwen2_5_VL.set_processor_range

    def video_inputs(self, videos: list[EncodedVideo]) -> dict:
        return {"videos": [v.frames for v in videos]}


class VAUQwen3_VL(VAUVideoChat, Qwen3_VL):
    """`--model vau_qwen3_vl`: Qwen3-VL, a video's time as the real time of each frame pair, written in the prompt."""

    model_name = "vau_qwen3_vl"
    model_types = ("qwen3_vl",)
    default_pretrained = "Qwen/Qwen3-VL-2B-Instruct"

    def set_processor_range(self, video_processor: Any, low: int, high: int) -> None:
        # Qwen3VLVideoProcessor's `size` bounds a whole clip, not a frame; the frames are resized once by the
        # budget (which holds this range) and given with do_resize=False, so its own size is left as it is.
        return None

    def video_inputs(self, videos: list[EncodedVideo]) -> dict:
        from vau_plugin.sampling import timestamp_metadata

        return {
            "videos": [v.frames for v in videos],
            "video_metadata": [timestamp_metadata(v.times) for v in videos],
            "do_sample_frames": False,
            "do_resize": False,
        }


MODELS: tuple[type[VAUVideoChat], ...] = (VAUQwen2_5_VL, VAUQwen2_VL, VAUQwen3_VL)

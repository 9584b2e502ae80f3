"""The video budget of each VAU-Bench task: the one place that says how many frames, at what rate and size,
a model sees of a video.

Besides the tasks' budgets (`VideoBudget`, `budget_for`), it holds what a budget is made of: qwen-vl-utils' constants
(`IMAGE_FACTOR`, `FPS`, ... `VIDEO_TOTAL_PIXELS`) and `SamplingConfig`, the budget of one decode in qwen-vl-utils'
terms, which `VideoBudget.sampling()` gives and `vau_plugin.sampling` / `vau_plugin.video` apply to a file. It imports
no other module of the plugin, so everything that samples can read it.

Read by the lmms-eval tasks' documents (through `vau_qwen2_5_vl` / `vau_qwen3_vl`, which decode every video itself with
`vau_plugin.video`), by the LLaMA-Factory recipes (whose `video_*` keys are checked against `TRAIN` by the
tests) and by `bench/`. Each evaluation budget reproduces the VAU-R1 inference script of its task
(GVCLab/VAU-R1 `src/evaluation/inference_{qa,tag,cls,reasoning}_qwen.py`, read in the source):

| task   | script                        | video element passed to qwen-vl-utils                | processor call            |
|--------|-------------------------------|------------------------------------------------------|---------------------------|
| qa     | inference_qa_qwen.py          | fps 1.0, max_pixels 768·28², min: qwen-vl-utils' 128·28² | no fps (→ 2 fps step), `add_vision_id=True` |
| tag    | inference_tag_qwen.py         | fps: qwen-vl-utils' 2.0, 256·28² ≤ px ≤ 768·28²      | the sampled fps           |
| cls    | inference_cls_qwen.py         | same as tag                                          | the sampled fps           |
| reason | inference_reasoning_qwen.py   | same as qa                                           | no fps, `add_vision_id=True` |

Every script builds its processor with `AutoProcessor.from_pretrained(model, min_pixels=256·28²,
max_pixels=768·28²)`, so the processor enlarges a QA frame below 256·28² once more: `PROCESSOR_MIN_PIXELS` /
`PROCESSOR_MAX_PIXELS` are part of every budget, and frames are resized once, straight to that final size.
The QA and reasoning scripts pass no `fps` to the processor, so Qwen2.5-VL's temporal position ids step as if
frames were 0.5 s apart although they are 1 s apart (`processor_fps = 2.0` reproduces that); TAG and CLS pass
the sampled rate (`processor_fps = None`).

Pixels are written in Qwen2/2.5-VL units (a visual token covers 28·28 px). `VideoBudget.for_image_factor(32)` is
the same budget for Qwen3-VL (patch 16 x merge 2): the same visual tokens a frame and a clip, `vau_qwen3_vl` uses it.

`TRAIN` is VAU-R1's GRPO setting (`src/open_r1/grpo_*.py`: 2 fps, 3584·28² pixels for the whole clip, at
least 16·28² a frame), written the way LLaMA-Factory caps videos (frames x pixels a frame).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

__all__ = ["SamplingConfig", "VideoBudget", "BUDGETS", "TRAIN", "PROCESSOR_MIN_PIXELS", "PROCESSOR_MAX_PIXELS", "budget_for"]

# Upstream constants (qwen_vl_utils.vision_process); pixel limits are token counts x image_factor^2.
IMAGE_FACTOR = 28
FRAME_FACTOR = 2
FPS = 2.0
FPS_MIN_FRAMES = 4
FPS_MAX_FRAMES = 768
VIDEO_MIN_TOKENS = 128
VIDEO_MAX_TOKENS = 768
MODEL_SEQ_LEN = 128000
MAX_RATIO = 200
VIDEO_MIN_PIXELS = VIDEO_MIN_TOKENS * IMAGE_FACTOR * IMAGE_FACTOR
VIDEO_TOTAL_PIXELS = int(MODEL_SEQ_LEN * IMAGE_FACTOR * IMAGE_FACTOR * 0.9)
# VAU-R1 training/evaluation budget (2 fps, 3584 visual tokens for the whole clip).
VAU_R1_TOTAL_PIXELS = 3584 * IMAGE_FACTOR * IMAGE_FACTOR

# The decoders `SamplingConfig.backend` names ("auto": decord, then PyAV; see vau_plugin.video).
BACKENDS = ("auto", "decord", "pyav")

# The pixel range of VAU-R1's AutoProcessor in every inference script.
PROCESSOR_MIN_PIXELS = 256 * IMAGE_FACTOR * IMAGE_FACTOR
PROCESSOR_MAX_PIXELS = 768 * IMAGE_FACTOR * IMAGE_FACTOR
# The frame rate the Qwen2.5-VL processor assumes when it is given none.
PROCESSOR_DEFAULT_FPS = 2.0


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample and resize frames; defaults are qwen-vl-utils' video defaults.

    Attributes:
        fps: frames per second to sample.
        min_frames, max_frames: bounds on the number of sampled frames (before the even rounding).
        min_pixels: lower bound on pixels per resized frame.
        max_pixels: optional upper bound on pixels per resized frame; the effective bound is never
            above ``VIDEO_MAX_TOKENS * image_factor**2`` nor ``total_pixels / n * frame_factor``.
        total_pixels: pixel budget for the whole clip (all sampled frames together).
        image_factor: resized height and width are multiples of this (patch size x spatial merge).
        frame_factor: the frame count is a multiple of this (the temporal patch size).
        backend: "auto" (decord, then PyAV), "decord" or "pyav".
        processor_min_pixels, processor_max_pixels: the pixel range of the HF processor the frames go to,
            when known. The Qwen processor resizes a frame outside its range once more (VAU-R1's QA
            inference samples at >= 128*28*28 px a frame and its processor then enlarges anything below
            256*28*28); with the range given, frames are resized once, straight to the size the
            processor would end with, so the processor has nothing left to resize.
    """

    fps: float = FPS
    max_frames: int = FPS_MAX_FRAMES
    min_frames: int = FPS_MIN_FRAMES
    min_pixels: int = VIDEO_MIN_PIXELS
    max_pixels: int | None = None
    total_pixels: int = VIDEO_TOTAL_PIXELS
    image_factor: int = IMAGE_FACTOR
    frame_factor: int = FRAME_FACTOR
    backend: str = "auto"
    processor_min_pixels: int | None = None
    processor_max_pixels: int | None = None
    extra_frames: int = 0

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ValueError(f"SamplingConfig.fps must be > 0, got {self.fps}")
        if self.backend not in BACKENDS:
            raise ValueError(
                f"SamplingConfig.backend must be one of {BACKENDS}, got {self.backend!r}"
            )
        for name in (
            "max_frames",
            "min_frames",
            "min_pixels",
            "total_pixels",
            "image_factor",
            "frame_factor",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"SamplingConfig.{name} must be > 0, got {getattr(self, name)}"
                )
        if self.max_frames < self.frame_factor:
            raise ValueError(
                f"SamplingConfig.max_frames ({self.max_frames}) must be >= frame_factor ({self.frame_factor})"
            )
        if self.max_pixels is not None and self.max_pixels < self.min_pixels:
            raise ValueError(
                f"SamplingConfig.max_pixels ({self.max_pixels}) < min_pixels ({self.min_pixels})"
            )
        if self.extra_frames not in (0, 1):
            raise ValueError(f"SamplingConfig.extra_frames must be 0 or 1, got {self.extra_frames}")
        if (self.processor_min_pixels is None) != (self.processor_max_pixels is None):
            raise ValueError("SamplingConfig.processor_min_pixels and processor_max_pixels go together")
        if self.processor_min_pixels is not None and not 0 < self.processor_min_pixels <= self.processor_max_pixels:
            raise ValueError(
                f"SamplingConfig processor pixel range must satisfy 0 < min <= max, got "
                f"{self.processor_min_pixels}..{self.processor_max_pixels}"
            )

    @classmethod
    def vau_r1(cls, **overrides) -> SamplingConfig:
        """The VAU-R1 setting: 2 fps within a total budget of 3584 * 28 * 28 pixels."""
        return cls(**{"fps": 2.0, "total_pixels": VAU_R1_TOTAL_PIXELS, **overrides})


@dataclass(frozen=True)
class VideoBudget:
    """How one task samples and encodes a video.

    Attributes:
        name: the task ("qa", "tag", "cls", "reason") or "train".
        fps: frames sampled per second of video.
        min_pixels, max_pixels: per-frame pixel range of the sampling stage (qwen-vl-utils' min_pixels /
            max_pixels of the video element).
        total_pixels: pixel budget of the whole clip (qwen-vl-utils' total_pixels).
        min_frames, max_frames: bounds on the sampled frame count.
        processor_min_pixels, processor_max_pixels: the pixel range of the processor the frames go to.
        processor_fps: the rate the processor is told (it sets Qwen2.5-VL's `second_per_grid_ts`); None = the
            real rate of the sampled frames.
        add_vision_id: the chat template labels each video ("Video 1: ").
        reference: where the setting comes from.
        image_factor: the side in pixels of one visual token (patch size x spatial merge): 28 for Qwen2-VL and
            Qwen2.5-VL, whose units the budgets are written in; `for_image_factor` gives a budget in another
            model's units.
    """

    name: str
    fps: float
    min_pixels: int
    max_pixels: Optional[int]
    total_pixels: int = VIDEO_TOTAL_PIXELS
    min_frames: int = FPS_MIN_FRAMES
    max_frames: int = FPS_MAX_FRAMES
    processor_min_pixels: Optional[int] = PROCESSOR_MIN_PIXELS
    processor_max_pixels: Optional[int] = PROCESSOR_MAX_PIXELS
    processor_fps: Optional[float] = None
    add_vision_id: bool = False
    reference: str = ""
    image_factor: int = IMAGE_FACTOR

    def sampling(self, backend: str = "auto") -> SamplingConfig:
        """The `SamplingConfig` that decodes frames for this budget."""
        return SamplingConfig(
            fps=self.fps,
            min_frames=self.min_frames,
            max_frames=self.max_frames,
            min_pixels=self.min_pixels,
            max_pixels=self.max_pixels,
            total_pixels=self.total_pixels,
            backend=backend,
            image_factor=self.image_factor,
            processor_min_pixels=self.processor_min_pixels,
            processor_max_pixels=self.processor_max_pixels,
        )

    def for_image_factor(self, image_factor: int) -> "VideoBudget":
        """This budget for a model whose visual token covers image_factor x image_factor pixels (Qwen3-VL: patch 16
        x merge 2 = 32): the same visual tokens a frame and a clip, so every pixel field is scaled by
        (image_factor / self.image_factor)^2 (768·28² px a frame become 768·32²)."""
        if image_factor == self.image_factor:
            return self
        old, new = self.image_factor**2, image_factor**2
        scaled = {
            name: getattr(self, name) * new // old
            for name in ("min_pixels", "max_pixels", "total_pixels", "processor_min_pixels", "processor_max_pixels")
            if getattr(self, name) is not None
        }
        return replace(self, image_factor=image_factor, **scaled)

    def encode_fps(self, sampled_fps: float) -> float:
        """The rate to pass to the processor for frames sampled at `sampled_fps`."""
        return sampled_fps if self.processor_fps is None else self.processor_fps

    def with_overrides(self, **overrides) -> "VideoBudget":
        """A copy with the given fields replaced (None values are ignored: "not set")."""
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(self, **given) if given else self


_QA_REFERENCE = "VAU-R1 src/evaluation/inference_qa_qwen.py"
QA = VideoBudget(
    "qa",
    fps=1.0,
    min_pixels=VIDEO_MIN_PIXELS,
    max_pixels=PROCESSOR_MAX_PIXELS,
    processor_fps=PROCESSOR_DEFAULT_FPS,
    add_vision_id=True,
    reference=_QA_REFERENCE,
)
TAG = VideoBudget(
    "tag",
    fps=2.0,
    min_pixels=PROCESSOR_MIN_PIXELS,
    max_pixels=PROCESSOR_MAX_PIXELS,
    reference="VAU-R1 src/evaluation/inference_tag_qwen.py",
)
CLS = replace(TAG, name="cls", reference="VAU-R1 src/evaluation/inference_cls_qwen.py")
REASON = replace(QA, name="reason", reference="VAU-R1 src/evaluation/inference_reasoning_qwen.py")
# VAU-R1 GRPO: 2 fps within 3584·28² pixels for the clip, >= 16·28² a frame. LLaMA-Factory caps frames and
# pixels a frame instead: 64 frames x 87808 px (= 2·3584·28²/64) is at most the same 3584 visual tokens.
TRAIN = VideoBudget(
    "train",
    fps=2.0,
    min_pixels=16 * IMAGE_FACTOR * IMAGE_FACTOR,
    max_pixels=2 * 3584 * IMAGE_FACTOR * IMAGE_FACTOR // 64,
    max_frames=64,
    processor_min_pixels=None,
    processor_max_pixels=None,
    reference="VAU-R1 src/open_r1/grpo_*.py (total_pixels 3584·28², min_pixels 16·28², 2 fps)",
)
BUDGETS: dict[str, VideoBudget] = {b.name: b for b in (QA, TAG, CLS, REASON, TRAIN)}


def budget_for(task: str) -> VideoBudget:
    """budget_for("qa" | "tag" | "cls" | "reason" | "train") -> VideoBudget; KeyError names the known ones."""
    try:
        return BUDGETS[task]
    except KeyError:
        raise KeyError(f"no video budget for task {task!r}; known: {', '.join(BUDGETS)}") from None


def llamafactory_keys(budget: VideoBudget) -> dict:
    """The LLaMA-Factory recipe keys (`video_fps`, `video_maxlen`, `video_max_pixels`, `video_min_pixels`)
    that express `budget` for the plugin's `qwen2_vl_vau` / `qwen2_vl_motion` templates."""
    return {
        "video_fps": budget.fps,
        "video_maxlen": budget.max_frames,
        "video_max_pixels": budget.max_pixels,
        "video_min_pixels": budget.min_pixels,
    }


def lmms_budget_args(recipe: dict) -> str:
    """The lmms-eval `--model_args` of the plugin's `vau_qwen*_vl` wrappers (`fps`, `max_num_frames`, `min_pixels`,
    `max_pixels`) that sample a video as a recipe's keys (`video_fps`, `video_maxlen`, `video_min_pixels`,
    `video_max_pixels`; `llamafactory_keys`) make the plugin's templates sample it in training: the one translation
    of a training budget into an evaluation one."""
    return (f"fps={recipe['video_fps']},max_num_frames={recipe['video_maxlen']},"
            f"min_pixels={recipe['video_min_pixels']},max_pixels={recipe['video_max_pixels']}")  # fmt: skip

"""GRPO rewards of VAU-R1 with TRL's reward signature ``f(completions, **kwargs) -> list[float]``.

Completions are strings, or conversational message lists (``[{"role": "assistant", "content": …}]``,
content a string or a list of ``{"type": "text", "text": …}`` parts). The dataset columns arrive as
keyword lists, one value per completion (TRL repeats them for each generation):

- ``task``: "qa" | "tag" | "cls";
- ``answer``: the letter for qa (option text such as "D. Green trash bin" also resolves), "Anomaly"/
  "Normal" for tag, the class name for cls;
- ``span``: [start, end] in seconds; None or [-1, -1] for a normal video.

Rewards (each in [0, 1], summed with weight 1 each in VAU-R1):

- format: `parsing.is_well_formatted`; the ``<glue>`` span is required for tag samples (as in VAU-R1's
  grounding training) unless `RewardConfig.require_glue` says otherwise.
- accuracy: qa compares letters (`parse_choice`), tag compares the yes/no verdict (`parse_anomaly`;
  VAU-R1's reference code reduced "Anomaly" to the letter "A", which this does not copy), cls compares
  classes (`parse_class`).
- tIoU (tag samples): `metrics.temporal_iou` of the predicted and true spans: both normal → 1, exactly
  one normal → 0, else the IoU. A completion that gives no (valid) span scores 0, also on a normal
  video: the prompt asks for [-1, -1] there, and rewarding silence would teach the model to omit spans.
  qa/cls samples score 0 (a constant within a GRPO group, so it does not move the advantages).

`combined_reward` sums them with `RewardConfig` weights (VAU-R1: 1 each, so [0, 3]); `make_reward_funcs`
gives the three functions for TRL's GRPOTrainer, whose `reward_weights` take `RewardConfig.weights()`.

Every function is total: any completion (also None or odd types) and any column values give floats in
[0, 1]; a sample whose needed column is missing or unusable scores 0.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Optional, Sequence

from vau_plugin.metrics import _span_iou
from vau_plugin.parsing import (
    NORMAL_SPAN,
    coerce_span,
    is_well_formatted,
    parse_anomaly,
    parse_choice,
    parse_class,
    parse_span,
)

__all__ = [
    "RewardConfig",
    "REWARD_NAMES",
    "completion_text",
    "format_reward",
    "accuracy_reward",
    "tiou_reward",
    "combined_reward",
    "weighted_rewards",
    "make_reward_funcs",
]

REWARD_NAMES: tuple[str, str, str] = ("format", "accuracy", "iou")
_MISSING = object()  # a column that is absent, or shorter than the completions
_GROUNDING_TASK = "tag"


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the three rewards and the grounding-format rule.

    require_glue: True → every sample needs ``<glue>[s, e]</glue>`` for the format reward; False → none
    may have it after the answer; None (default) → tag samples need it, qa/cls samples must not have it
    (VAU-R1's per-task format rewards).
    """

    format_weight: float = 1.0
    accuracy_weight: float = 1.0
    iou_weight: float = 1.0
    require_glue: Optional[bool] = None

    def __post_init__(self) -> None:
        for name in ("format_weight", "accuracy_weight", "iou_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ValueError(f"RewardConfig.{name}: expected a finite number >= 0, got {value!r}")
        if self.require_glue not in (None, True, False):
            raise ValueError(f"RewardConfig.require_glue: expected None, True or False, got {self.require_glue!r}")

    def weights(self) -> list[float]:
        """Weights in REWARD_NAMES order, e.g. for TRL's `GRPOConfig.reward_weights`."""
        return [self.format_weight, self.accuracy_weight, self.iou_weight]

    def reward_funcs(self) -> list[Callable[..., list[float]]]:
        """The three reward functions bound to this config (see `make_reward_funcs`)."""
        return make_reward_funcs(self)


DEFAULT_CONFIG = RewardConfig()


# ---------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str) and part.get("type", "text") == "text":
                    parts.append(text)
        return "".join(parts)
    return ""


def completion_text(completion: Any) -> str:
    """completion_text(completion) -> str: the generated text of one completion.

    A string is returned as is; a message list gives the content of its last assistant message (or of
    its last message when none has a role); a single message dict its content. Anything else gives "".
    """
    if isinstance(completion, str):
        return completion
    try:
        if isinstance(completion, dict):
            return _content_text(completion.get("content"))
        if isinstance(completion, (list, tuple)):
            fallback: Any = None
            for message in reversed(completion):
                if isinstance(message, dict):
                    if message.get("role") == "assistant":
                        return _content_text(message.get("content"))
                    if fallback is None:
                        fallback = message
            return _content_text(fallback.get("content")) if fallback is not None else ""
    except Exception:  # dict subclasses with odd .get; a reward must never raise
        return ""
    return ""


def _as_list(completions: Any) -> Sequence[Any]:
    """The completions as a sequence: a single string or message counts as one, None as none."""
    if isinstance(completions, (list, tuple)):
        return completions
    if completions is None:
        return []
    if isinstance(completions, (str, dict)):
        return [completions]
    try:
        return list(completions)
    except Exception:  # not iterable, or an iterator that fails: no completions to score
        return []


def _column(kwargs: dict, name: str, n: int) -> Sequence[Any]:
    """The per-sample values of column `name`, padded with _MISSING to length `n`.

    TRL passes lists; a scalar (a str, None, a number) is broadcast to every sample for direct calls.
    """
    if name not in kwargs:
        return [_MISSING] * n
    values = kwargs[name]
    if not isinstance(values, (list, tuple)):
        return [values] * n
    if len(values) >= n:
        return values
    return list(values) + [_MISSING] * (n - len(values))


def _task_of(value: Any) -> Optional[str]:
    return value.strip().lower() if isinstance(value, str) else None


@lru_cache(maxsize=8192)
def _true_letter(answer: str) -> Optional[str]:
    return parse_choice(answer)


@lru_cache(maxsize=1024)
def _true_verdict(answer: str) -> Optional[str]:
    return parse_anomaly(answer)


@lru_cache(maxsize=1024)
def _true_class(answer: str) -> Optional[str]:
    return parse_class(answer)


def _true_span(value: Any) -> Optional[tuple[float, float]]:
    """The ground-truth span: NORMAL_SPAN for None, [-1, -1] and zero-length spans such as VAU-Bench's
    0.0/0.0 of normal rows; (start, end) with start < end; None when missing or unusable."""
    if value is _MISSING:
        return None
    if value is None:
        return NORMAL_SPAN
    span = coerce_span(value)
    if span is None:
        return None
    return NORMAL_SPAN if span[0] == span[1] else span


# ---------------------------------------------------------------------------------------------------
# Per-sample scores
# ---------------------------------------------------------------------------------------------------


def _format_score(text: str, task: Optional[str], require_glue: Optional[bool]) -> float:
    glue = (task == _GROUNDING_TASK) if require_glue is None else require_glue
    return 1.0 if is_well_formatted(text, require_glue=glue) else 0.0


def _accuracy_score(text: str, task: Optional[str], answer: Any) -> float:
    if not isinstance(answer, str):
        return 0.0
    if task == "qa":
        truth = _true_letter(answer)
        return 1.0 if truth is not None and parse_choice(text) == truth else 0.0
    if task == "tag":
        truth = _true_verdict(answer)
        return 1.0 if truth is not None and parse_anomaly(text) == truth else 0.0
    if task == "cls":
        truth = _true_class(answer)
        return 1.0 if truth is not None and parse_class(text) == truth else 0.0
    return 0.0


def _iou_score(text: str, task: Optional[str], span: Any) -> float:
    if task is not None and task != _GROUNDING_TASK:
        return 0.0
    truth = _true_span(span)
    if truth is None:
        return 0.0
    return _span_iou(parse_span(text), truth)


# ---------------------------------------------------------------------------------------------------
# TRL reward functions
# ---------------------------------------------------------------------------------------------------


def _format_rewards(completions: Sequence[Any], config: RewardConfig, kwargs: dict) -> list[float]:
    completions = _as_list(completions)
    tasks = _column(kwargs, "task", len(completions))
    return [_format_score(completion_text(c), _task_of(t), config.require_glue) for c, t in zip(completions, tasks)]


def _accuracy_rewards(completions: Sequence[Any], kwargs: dict) -> list[float]:
    completions = _as_list(completions)
    n = len(completions)
    tasks, answers = _column(kwargs, "task", n), _column(kwargs, "answer", n)
    return [_accuracy_score(completion_text(c), _task_of(t), a) for c, t, a in zip(completions, tasks, answers)]


def _iou_rewards(completions: Sequence[Any], kwargs: dict) -> list[float]:
    completions = _as_list(completions)
    n = len(completions)
    tasks, spans = _column(kwargs, "task", n), _column(kwargs, "span", n)
    return [_iou_score(completion_text(c), _task_of(t), s) for c, t, s in zip(completions, tasks, spans)]


def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """format_reward(completions, **kwargs) -> list[float]: 1.0 for the VAU-R1 answer layout, else 0.0.

    Reads the `task` column (tag samples need the ``<glue>`` span); default RewardConfig.
    """
    return _format_rewards(completions, DEFAULT_CONFIG, kwargs)


def accuracy_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """accuracy_reward(completions, **kwargs) -> list[float]: 1.0 when the answer matches `answer`.

    Reads `task` and `answer`; qa compares letters, tag the Anomaly/Normal verdict, cls the class.
    """
    return _accuracy_rewards(completions, kwargs)


def tiou_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """tiou_reward(completions, **kwargs) -> list[float]: temporal IoU of the predicted span with `span`.

    Reads `span` (and `task`: non-tag samples score 0.0). Both normal → 1.0, one normal → 0.0.
    """
    return _iou_rewards(completions, kwargs)


def weighted_rewards(
    completions: Sequence[Any], config: RewardConfig = DEFAULT_CONFIG, **kwargs: Any
) -> dict[str, list[float]]:
    """weighted_rewards(completions, config, **kwargs) -> {name: [weight * reward, ...]} for REWARD_NAMES.

    A reward with weight 0 is not computed (all zeros).
    """
    completions = _as_list(completions)
    n = len(completions)
    tasks = [_task_of(t) for t in _column(kwargs, "task", n)]
    answers, spans = _column(kwargs, "answer", n), _column(kwargs, "span", n)
    texts = [completion_text(c) for c in completions]
    fw, aw, iw = config.weights()
    glue = config.require_glue
    return {
        "format": [fw * _format_score(x, t, glue) for x, t in zip(texts, tasks)] if fw else [0.0] * n,
        "accuracy": [aw * _accuracy_score(x, t, a) for x, t, a in zip(texts, tasks, answers)] if aw else [0.0] * n,
        "iou": [iw * _iou_score(x, t, s) for x, t, s in zip(texts, tasks, spans)] if iw else [0.0] * n,
    }


def combined_reward(completions: Sequence[Any], config: RewardConfig = DEFAULT_CONFIG, **kwargs: Any) -> list[float]:
    """combined_reward(completions, config, **kwargs) -> list[float]: the weighted sum of the three
    rewards per completion, in [0, sum of weights] (VAU-R1: weight 1 each, so [0, 3])."""
    completions = _as_list(completions)
    n = len(completions)
    tasks, answers, spans = _column(kwargs, "task", n), _column(kwargs, "answer", n), _column(kwargs, "span", n)
    fw, aw, iw = config.weights()
    glue = config.require_glue
    totals = []
    for completion, raw_task, answer, span in zip(completions, tasks, answers, spans):
        text = completion_text(completion)
        task = _task_of(raw_task)
        total = 0.0
        if fw:
            total += fw * _format_score(text, task, glue)
        if aw:
            total += aw * _accuracy_score(text, task, answer)
        if iw:
            total += iw * _iou_score(text, task, span)
        totals.append(total)
    return totals


def make_reward_funcs(config: RewardConfig = DEFAULT_CONFIG) -> list[Callable[..., list[float]]]:
    """make_reward_funcs(config) -> [format_reward, accuracy_reward, tiou_reward] bound to `config`.

    Pass them to TRL's GRPOTrainer(reward_funcs=...) with GRPOConfig(reward_weights=config.weights());
    their __name__ values are the names TRL logs.
    """
    if config.require_glue is None:  # the weights do not change the functions, only how TRL sums them
        return [format_reward, accuracy_reward, tiou_reward]

    def bound_format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return _format_rewards(completions, config, kwargs)

    bound_format_reward.__name__ = bound_format_reward.__qualname__ = "format_reward"
    bound_format_reward.__doc__ = format_reward.__doc__
    return [bound_format_reward, accuracy_reward, tiou_reward]

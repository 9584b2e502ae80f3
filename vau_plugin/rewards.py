"""GRPO rewards of VAU-R1 in TRL's reward-function shape, and `REWARD_FUNCS`, the one registry of their names.

A reward function is ``f(completions, <its columns>, **kwargs) -> list[float]``, as TRL 0.24's GRPOTrainer calls
it (``prompts=, completions=, completion_ids=, trainer_state=`` and every dataset column, all by keyword; what a
function does not read lands in ``**kwargs``). Completions are strings, or conversational message lists
(``[{"role": "assistant", "content": …}]``, content a string or a list of ``{"type": "text", "text": …}`` parts).
The columns come as lists, one value per completion (TRL repeats them for each generation):

- ``task``: "qa" | "tag" | "cls";
- ``answer``: the letter for qa (option text such as "D. Green trash bin" also resolves), "Anomaly"/
  "Normal" for tag, the class name for cls;
- ``span``: [start, end] in seconds; None or [-1, -1] for a normal video.

Rewards (each in [0, 1]; VAU-R1 sums them with weight 1 each):

- ``format`` (`format_reward`): `parsing.is_well_formatted`; the ``<glue>`` span is required for tag samples (as
  in VAU-R1's grounding training); `FormatReward` (a picklable class) sets another ``require_glue`` rule.
- ``accuracy`` (`accuracy_reward`): qa compares letters (`parse_choice`), tag compares the yes/no verdict
  (`parse_anomaly`; VAU-R1's reference code reduced "Anomaly" to the letter "A", which this does not copy), cls
  compares classes (`parse_class`).
- ``iou`` (`tiou_reward`, tag samples): `metrics.temporal_iou` of the predicted and true spans: both normal → 1,
  exactly one normal → 0, else the IoU. A completion that gives no (valid) span scores 0, also on a normal
  video: the prompt asks for [-1, -1] there, and rewarding silence would teach the model to omit spans.
  qa/cls samples score 0 (a constant within a GRPO group, so it does not move the advantages).

`REWARD_FUNCS` maps each name to its function; a recipe's ``reward_funcs`` names them (`get_reward_func` also
takes the function's own name, with or without ``_reward``: ``tiou_reward``, ``tiou``). Weights are TRL's
``reward_weights`` (one per function, default 1 each): TRL sums ``weight * reward`` over the functions.

Every function is total: any completion (also None or odd types) and any column values give floats in
[0, 1]; a sample whose needed column is missing or unusable scores 0.0.
"""

from __future__ import annotations

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
    "REWARD_ALIASES",
    "REWARD_FUNCS",
    "FormatReward",
    "RewardFunc",
    "accuracy_reward",
    "completion_text",
    "format_reward",
    "get_reward_func",
    "tiou_reward",
]

RewardFunc = Callable[..., list]  # f(completions, **columns) -> list[float], TRL's reward-function shape
_GROUNDING_TASK = "tag"


class _Missing:
    """The value of a column that is absent, or shorter than the completions (scores 0.0)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no column>"


_MISSING: Any = _Missing()


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
    """The generated text of one completion, as every reward reads it.

    Args:
        completion: a string (returned as is); a message list (the content of its last assistant message, or of
            its last message when none has a role); a single message dict (its content). Content is a string or
            a list of ``{"type": "text", "text": ...}`` parts, joined.

    Returns:
        The text; "" for anything else (None, numbers, messages without text).

    Example:
        >>> completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "<answer>B</answer>"}])
        '<answer>B</answer>'
        >>> completion_text(None)
        ''
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


def _column(values: Any, n: int) -> Sequence[Any]:
    """The per-sample values of one column, padded with _MISSING to length `n`.

    TRL passes lists; a scalar (a str, None, a number, _MISSING for an absent column) is broadcast to every
    sample, for direct calls.
    """
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


def _format_score(text: str, task: Any, require_glue: Optional[bool] = None) -> float:
    glue = (_task_of(task) == _GROUNDING_TASK) if require_glue is None else require_glue
    return 1.0 if is_well_formatted(text, require_glue=glue) else 0.0


def _accuracy_score(text: str, task: Any, answer: Any) -> float:
    if not isinstance(answer, str):
        return 0.0
    task = _task_of(task)
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


def _iou_score(text: str, span: Any, task: Any) -> float:
    task = _task_of(task)
    if task is not None and task != _GROUNDING_TASK:
        return 0.0
    truth = _true_span(span)
    if truth is None:
        return 0.0
    return _span_iou(parse_span(text), truth)


def _score_each(score: Callable[..., float], completions: Any, *columns: Any) -> list[float]:
    """The per-sample loop of every reward: ``score(text, value, ...)`` for each completion's text and its value
    in each of `columns`, in order (`_as_list` reads the completions, `_column` each column: a list per column
    as TRL passes them, a scalar broadcast to every sample)."""
    completions = _as_list(completions)
    n = len(completions)
    return list(map(score, map(completion_text, completions), *(_column(column, n) for column in columns)))


# ---------------------------------------------------------------------------------------------------
# TRL reward functions
# ---------------------------------------------------------------------------------------------------


def format_reward(completions: Sequence[Any], task: Any = None, **kwargs: Any) -> list[float]:
    """1.0 for each completion in VAU-R1's answer layout, else 0.0.

    The layout is ``<think>…</think><answer>…</answer>``; tag samples need ``<glue>[s, e]</glue>`` after it
    and qa/cls samples must not have it (VAU-R1's per-task format rewards; `FormatReward` sets another rule).
    The tags are case-sensitive and must be closed (`parsing.is_well_formatted`).

    Args:
        completions: one completion per sample: a string or a conversational message list.
        task: the ``task`` column ("qa" | "tag" | "cls"), one value per completion; missing → no glue wanted.
        **kwargs: what else TRL passes (``prompts``, ``completion_ids``, ``trainer_state``, other columns); unused.

    Returns:
        One float per completion, 1.0 or 0.0.

    Example:
        >>> format_reward(["<think>Two cars.</think><answer>B</answer>", "B"], task=["qa", "qa"])
        [1.0, 0.0]
        >>> format_reward(["<think>A crash.</think><answer>Anomaly</answer><glue>[3.0, 7.5]</glue>"], task=["tag"])
        [1.0]
    """
    return _score_each(_format_score, completions, task)


def accuracy_reward(completions: Sequence[Any], task: Any = None, answer: Any = None, **kwargs: Any) -> list[float]:
    """1.0 for each completion whose answer matches the ``answer`` column, else 0.0.

    qa compares letters (`parse_choice`; option text such as "D. Green trash bin" resolves to its letter), tag
    the Anomaly/Normal verdict (`parse_anomaly`), cls the class (`parse_class`); other tasks score 0.0.

    Args:
        completions: one completion per sample: a string or a conversational message list.
        task: the ``task`` column ("qa" | "tag" | "cls"), one value per completion.
        answer: the ``answer`` column: a letter (qa), "Anomaly"/"Normal" (tag) or a class name (cls).
        **kwargs: what else TRL passes (``prompts``, ``completion_ids``, ``trainer_state``, other columns); unused.

    Returns:
        One float per completion, 1.0 or 0.0; 0.0 where `task` or `answer` is missing or unusable.

    Example:
        >>> accuracy_reward(["<answer>B</answer>", "The answer is (c)."], task=["qa", "qa"], answer=["B", "B"])
        [1.0, 0.0]
        >>> accuracy_reward(["<answer>traffic accident</answer>"], task=["cls"], answer=["Traffic_accident"])
        [1.0]
    """
    return _score_each(_accuracy_score, completions, task, answer)


def tiou_reward(completions: Sequence[Any], span: Any = _MISSING, task: Any = None, **kwargs: Any) -> list[float]:
    """The temporal IoU of each completion's span with the ``span`` column, for tag samples.

    Both spans normal (None, [-1, -1] or zero-length for the truth, [-1, -1] for the prediction) → 1.0, exactly
    one normal → 0.0, else the IoU. A completion with no valid span scores 0.0; qa/cls samples score 0.0.

    Args:
        completions: one completion per sample: a string or a conversational message list.
        span: the ``span`` column, [start, end] in seconds (also as text); None or [-1, -1] for a normal video.
            Missing → every sample scores 0.0.
        task: the ``task`` column; samples whose task is given and is not "tag" score 0.0.
        **kwargs: what else TRL passes (``prompts``, ``completion_ids``, ``trainer_state``, other columns); unused.

    Returns:
        One float per completion in [0, 1].

    Example:
        >>> tiou_reward(["<glue>[3.0, 7.5]</glue>", "<glue>[0, 4.5]</glue>"], span=[[3.0, 7.5], [1.5, 6.0]])
        [1.0, 0.5]
        >>> tiou_reward(["<answer>Normal</answer><glue>[-1, -1]</glue>"], span=[None], task=["tag"])
        [1.0]
    """
    return _score_each(_iou_score, completions, span, task)


class FormatReward:
    """`format_reward` with another ``<glue>`` rule, as a picklable callable named "format_reward" for TRL.

    Args:
        require_glue: True → every sample needs ``<glue>[s, e]</glue>`` after the answer; False → none may have
            it; None (default) → tag samples need it and qa/cls samples must not have it (`format_reward`).

    Returns:
        A reward function ``f(completions, task=None, **kwargs) -> list[float]`` (1.0 or 0.0 per completion);
        its ``__name__`` is "format_reward", the name TRL logs (``rewards/format_reward/mean``).

    Raises:
        ValueError: for a `require_glue` other than None, True or False.

    Example:
        >>> always = FormatReward(require_glue=True)
        >>> always(["<think>.</think><answer>B</answer>", "<think>.</think><answer>B</answer><glue>[1, 2]</glue>"])
        [0.0, 1.0]
    """

    def __init__(self, require_glue: Optional[bool] = None) -> None:
        if require_glue is not None and not isinstance(require_glue, bool):
            raise ValueError(f"FormatReward.require_glue: expected None, True or False, got {require_glue!r}")
        self.require_glue = require_glue
        self.__name__ = format_reward.__name__

    def __call__(self, completions: Sequence[Any], task: Any = None, **kwargs: Any) -> list[float]:
        return _score_each(_format_score, completions, task, self.require_glue)  # a scalar: the same for every sample

    def __repr__(self) -> str:
        return f"FormatReward(require_glue={self.require_glue!r})"


# ---------------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------------

# The one registry of reward names: a recipe's `reward_funcs: format,accuracy,iou` names these; all three, in
# this order, by default (the order of TRL's `reward_weights`).
REWARD_FUNCS: dict[str, RewardFunc] = {
    "format": format_reward,
    "accuracy": accuracy_reward,
    "iou": tiou_reward,
}

# Every accepted spelling -> its name in REWARD_FUNCS: the name itself, the function's __name__ (what TRL logs)
# and that without "_reward" (format_reward, format; accuracy_reward, accuracy; tiou_reward, tiou).
REWARD_ALIASES: dict[str, str] = {
    spelling: name
    for name, func in REWARD_FUNCS.items()
    for spelling in (name, func.__name__, func.__name__.removesuffix("_reward"))
}


def get_reward_func(name: str) -> RewardFunc:
    """The reward function registered as `name` (or one of its `REWARD_ALIASES`), surrounding spaces ignored.

    Args:
        name: a key of `REWARD_FUNCS` ("format", "accuracy", "iou") or an alias ("tiou", "tiou_reward", ...).

    Returns:
        The function, e.g. `tiou_reward` for "iou".

    Raises:
        ValueError: for any other name, listing the names of `REWARD_FUNCS`.

    Example:
        >>> get_reward_func(" tiou ").__name__
        'tiou_reward'
    """
    key = REWARD_ALIASES.get(name.strip()) if isinstance(name, str) else None
    if key is None:
        raise ValueError(f"unknown reward {name!r}; expected one of {', '.join(sorted(REWARD_FUNCS))}")
    return REWARD_FUNCS[key]

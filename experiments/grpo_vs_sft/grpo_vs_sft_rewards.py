"""The rewards of the GRPO-vs-SFT experiment, in TRL's shape (`f(completions, **columns) -> list[float]`).

Recipes name them as `grpo_vs_sft_rewards:gated_accuracy` / `grpo_vs_sft_rewards:random_reward` with this folder on
PYTHONPATH; they are not in the plugin's registry (`vau_plugin.rewards.REWARD_FUNCS`): the random one is a control,
not a reward anybody should train with.
"""

from __future__ import annotations

import os
import random
from typing import Any, Sequence

from vau_plugin.parsing import is_answer_only
from vau_plugin.rewards import accuracy_reward, completion_text

# The seed of the random reward's generator (the experiment sets it to the run's seed).
SEED_VARIABLE = "GRPO_VS_SFT_SEED"
_generators: dict[int, random.Random] = {}


def gated_accuracy(completions: Sequence[Any], task: Any = None, answer: Any = None, **kwargs: Any) -> list[float]:
    """1.0 for a completion that is exactly ``<answer>X</answer>`` (`vau_plugin.parsing.is_answer_only`) with the
    right answer (`vau_plugin.rewards.accuracy_reward`), else 0.0: the layout is a gate, not a second reward that
    would take half the advantage's variance.

    Example:
        >>> gated_accuracy(["<answer>B</answer>", "B", "<answer>C</answer>"], task=["qa"] * 3, answer=["B"] * 3)
        [1.0, 0.0, 0.0]
    """
    correct = accuracy_reward(completions, task=task, answer=answer)
    return [c if is_answer_only(completion_text(x)) else 0.0 for c, x in zip(correct, completions)]


def random_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """A uniform draw in [0, 1) for each completion, unrelated to it: the noise control. Whatever GRPO does with it
    is what its steps do without any signal. One generator per process, seeded from `GRPO_VS_SFT_SEED` (default 0)
    and the process's rank, so a rerun draws the same numbers."""
    seed = int(os.environ.get(SEED_VARIABLE, "0")) * 1000 + int(os.environ.get("RANK", "0"))
    generator = _generators.setdefault(seed, random.Random(seed))
    return [generator.random() for _ in completions]

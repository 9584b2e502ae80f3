"""GRPO arguments: LLaMA-Factory's TrainingArguments plus TRL 0.24's GRPOConfig, parsed by LLaMA-Factory itself.

`get_grpo_train_args(args)` runs LLaMA-Factory's `get_train_args` (all its checks, resume detection, seeding,
logging set-up) with `GRPOTrainingArguments` in place of its TrainingArguments, so every usual YAML key works and
every GRPOConfig key (num_generations, beta, loss_type, max_completion_length, epsilon, scale_rewards,
reward_weights, use_vllm, ...) is accepted too, plus `reward_funcs`.

Imported only when a `stage: grpo` run starts. The dataclass lives at module level so that Trainer can pickle it
into training_args.bin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from typing import Any, Callable, Iterator, Optional

from llamafactory.hparams import parser as lf_parser
from llamafactory.hparams.training_args import RayArguments
from llamafactory.hparams.training_args import TrainingArguments as LFTrainingArguments
from trl import GRPOConfig

# GeneratingArguments owns these names (HfArgumentParser rejects duplicates); GRPO copies them from there.
SAMPLING_FIELDS: tuple[str, ...] = ("temperature", "top_p", "top_k", "repetition_penalty")
# TRL's defaults, used when the recipe does not set a sampling key (LLaMA-Factory's are tuned for chat, e.g.
# top_p 0.7, which would narrow GRPO's exploration silently).
TRL_SAMPLING_DEFAULTS: dict[str, Any] = {"temperature": 1.0, "top_p": 1.0, "top_k": None, "repetition_penalty": 1.0}
DEFAULT_REWARD_FUNCS = "format,accuracy,iou"


@dataclasses.dataclass
class GRPOTrainingArguments(LFTrainingArguments, GRPOConfig):
    """LLaMA-Factory TrainingArguments + TRL GRPOConfig (MRO: LF → Seq2SeqTrainingArguments → GRPOConfig →
    transformers.TrainingArguments). GRPO-only fields keep TRL's defaults (learning_rate 1e-6, logging_steps 10,
    beta 0.0, num_generations 8, loss_type "dapo", ...); `bf16` and `gradient_checkpointing` keep LLaMA-Factory's
    meaning (bf16 off unless asked; gradient checkpointing is applied by LLaMA-Factory's model loader, see its
    `disable_gradient_checkpointing`)."""

    bf16: bool = dataclasses.field(default=False, metadata={"help": "Whether to use bf16 (mixed) precision."})
    gradient_checkpointing: bool = dataclasses.field(
        default=False, metadata={"help": "Left to LLaMA-Factory's loader (disable_gradient_checkpointing)."}
    )
    temperature: float = dataclasses.field(default=1.0, init=False)
    top_p: float = dataclasses.field(default=1.0, init=False)
    top_k: Optional[int] = dataclasses.field(default=None, init=False)
    repetition_penalty: float = dataclasses.field(default=1.0, init=False)
    reward_funcs: str = dataclasses.field(  # a YAML list is accepted too (joined in __post_init__)
        default=DEFAULT_REWARD_FUNCS,
        metadata={
            "help": "Comma-separated reward functions: format, accuracy, iou (vau_plugin.rewards), or "
            "'package.module:function' for your own (TRL signature f(completions, **columns) -> list[float])."
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.reward_funcs, (list, tuple)):
            self.reward_funcs = ",".join(str(name) for name in self.reward_funcs)
        RayArguments.__post_init__(self)
        GRPOConfig.__post_init__(self)  # its super() is transformers.TrainingArguments in this MRO


# ------------------------------------------------------------------------------------------------ rewards

_BUILTIN_REWARDS: dict[str, str] = {
    "format": "format_reward",
    "format_reward": "format_reward",
    "accuracy": "accuracy_reward",
    "accuracy_reward": "accuracy_reward",
    "iou": "tiou_reward",
    "tiou": "tiou_reward",
    "tiou_reward": "tiou_reward",
}


def resolve_reward_func(name: str) -> Callable[..., list]:
    """resolve_reward_func(name) -> the reward callable: a built-in name (format, accuracy, iou/tiou) or
    "package.module:function". Raises ValueError naming the key and the choices."""
    name = name.strip()
    if name in _BUILTIN_REWARDS:
        from vau_plugin import rewards

        return getattr(rewards, _BUILTIN_REWARDS[name])
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            func = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"reward_funcs: cannot import {name!r} ({err})") from err
        if not callable(func):
            raise ValueError(f"reward_funcs: {name!r} is not callable")
        return func
    choices = ", ".join(sorted({"format", "accuracy", "iou"}))
    raise ValueError(f"reward_funcs: unknown reward {name!r}; expected one of {choices} or 'package.module:function'")


def reward_funcs_of(training_args: GRPOTrainingArguments) -> list[Callable[..., list]]:
    """reward_funcs_of(training_args) -> the callables named by `reward_funcs`, checked against reward_weights."""
    names = [n for n in str(training_args.reward_funcs).split(",") if n.strip()]
    if not names:
        raise ValueError("reward_funcs: expected at least one reward function")
    funcs = [resolve_reward_func(n) for n in names]
    weights = training_args.reward_weights
    if weights is not None and len(weights) != len(funcs):
        raise ValueError(f"reward_weights has {len(weights)} values but reward_funcs names {len(funcs)} functions")
    return funcs


# ------------------------------------------------------------------------------------------------ parsing


def _explicit_keys(args: Any) -> set[str]:
    """Keys the user set in the raw arguments (YAML/JSON dict or argv list)."""
    if isinstance(args, dict):
        return set(args)
    keys = set()
    for item in args or []:
        if isinstance(item, str) and item.startswith("--"):
            keys.add(item[2:].split("=", 1)[0].replace("-", "_"))
    return keys


@contextlib.contextmanager
def _grpo_training_arguments() -> Iterator[None]:
    """Let LLaMA-Factory's parser build GRPOTrainingArguments in place of its TrainingArguments."""
    index = lf_parser._TRAIN_ARGS.index(LFTrainingArguments)
    lf_parser._TRAIN_ARGS[index] = GRPOTrainingArguments
    try:
        yield
    finally:
        lf_parser._TRAIN_ARGS[index] = LFTrainingArguments


def get_grpo_train_args(args: Any) -> tuple:
    """get_grpo_train_args(args) -> (model_args, data_args, training_args, finetuning_args, generating_args)
    from LLaMA-Factory's raw arguments, with `training_args` a GRPOTrainingArguments whose sampling settings
    come from the recipe's temperature/top_p/top_k/repetition_penalty (TRL's defaults when unset)."""
    args = lf_parser.read_args(args)
    with _grpo_training_arguments():
        model_args, data_args, training_args, finetuning_args, generating_args = lf_parser.get_train_args(args)
    explicit = _explicit_keys(args)
    for name in SAMPLING_FIELDS:
        value = getattr(generating_args, name) if name in explicit else TRL_SAMPLING_DEFAULTS[name]
        setattr(training_args, name, value)
    if not training_args.top_k:  # LLaMA-Factory spells "no top-k" as 0, TRL as None
        training_args.top_k = None
    return model_args, data_args, training_args, finetuning_args, generating_args

"""GRPO arguments: LLaMA-Factory's TrainingArguments plus TRL 0.24's GRPOConfig, parsed by LLaMA-Factory itself.

`get_grpo_train_args(args)` runs LLaMA-Factory's `get_train_args` (all its checks, resume detection, seeding,
logging set-up) with `GRPOTrainingArguments` in place of its TrainingArguments
(`scoped_patches.training_arguments_class`), so every usual YAML key works and every GRPOConfig key
(num_generations, beta, loss_type, max_completion_length, epsilon, scale_rewards, reward_weights, use_vllm, ...) is
accepted too, plus `reward_funcs`.

Imported only when a `stage: grpo` run starts. The dataclass lives at module level so that Trainer can pickle it
into training_args.bin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import math
from typing import Any, Callable, Optional

from llamafactory.hparams import parser as lf_parser
from llamafactory.hparams.training_args import RayArguments
from llamafactory.hparams.training_args import TrainingArguments as LFTrainingArguments
from trl import GRPOConfig

from vau_plugin.llamafactory.scoped_patches import training_arguments_class
from vau_plugin.rewards import REWARD_FUNCS, get_reward_func

# GeneratingArguments owns these names (HfArgumentParser rejects duplicates); GRPO copies them from there.
SAMPLING_FIELDS: tuple[str, ...] = ("temperature", "top_p", "top_k", "repetition_penalty")
# TRL's defaults, used when the recipe does not set a sampling key (LLaMA-Factory's are tuned for chat, e.g.
# top_p 0.7, which would narrow GRPO's exploration silently).
TRL_SAMPLING_DEFAULTS: dict[str, Any] = {"temperature": 1.0, "top_p": 1.0, "top_k": None, "repetition_penalty": 1.0}
DEFAULT_REWARD_FUNCS = ",".join(REWARD_FUNCS)  # every registered reward: "format,accuracy,iou"


@dataclasses.dataclass
class GRPOTrainingArguments(LFTrainingArguments, GRPOConfig):
    """LLaMA-Factory TrainingArguments + TRL GRPOConfig (MRO: LF → Seq2SeqTrainingArguments → GRPOConfig →
    transformers.TrainingArguments). GRPO fields keep TRL's defaults (learning_rate 1e-6, logging_steps 10,
    beta 0.0, num_generations 8, loss_type "dapo", ...); `bf16` and `gradient_checkpointing` keep LLaMA-Factory's
    meaning (bf16 off unless asked; gradient checkpointing is applied by LLaMA-Factory's model loader, see its
    `disable_gradient_checkpointing`)."""

    # Seq2SeqTrainingArguments comes after GRPOConfig in the MRO, so without these two fields the dataclass takes
    # transformers' defaults (5e-5 and 500): a recipe without `learning_rate` trained 50 times faster than TRL's
    # GRPO default the README states.
    learning_rate: float = dataclasses.field(default=GRPOConfig.learning_rate, metadata={"help": "TRL's GRPO default."})
    logging_steps: float = dataclasses.field(default=GRPOConfig.logging_steps, metadata={"help": "TRL's GRPO default."})
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
            "help": f"Comma-separated reward functions: {', '.join(REWARD_FUNCS)} (vau_plugin.rewards.REWARD_FUNCS), "
            "or 'package.module:function' for your own (TRL signature f(completions, **columns) -> list[float])."
        },
    )

    vision_once_per_group: bool = dataclasses.field(
        default=True,
        metadata={
            "help": "Run the vision tower once per distinct video in each forward (generation, reference, loss) and "
            "give its embeddings to the group's copies; same log-probs and gradients (vau_plugin.llamafactory.group_reuse)."
        },
    )
    prefill_once_per_group: bool = dataclasses.field(
        default=True,
        metadata={
            "help": "In generation, prefill each distinct prompt once and copy its KV cache to the group's rows "
            "(dynamic cache only; off with a cache_implementation)."
        },
    )
    prompt_once_per_group: bool = dataclasses.field(
        default=True,
        metadata={
            "help": "In the log-prob forwards, forward each distinct prompt once and the completions on its KV cache "
            "(gradients through the cache); log-probs equal to float32 rounding. Applies without gradient checkpointing "
            "(its layers drop the cache); with it, vision_once_per_group still applies."
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.reward_funcs, (list, tuple)):
            self.reward_funcs = ",".join(str(name) for name in self.reward_funcs)
        RayArguments.__post_init__(self)
        GRPOConfig.__post_init__(self)  # its super() is transformers.TrainingArguments in this MRO


# ------------------------------------------------------------------------------------------------ rewards

# What TRL 0.24's GRPOTrainer passes to a reward function, all by keyword (plus every dataset column).
TRL_REWARD_KEYWORDS = ("prompts", "completions", "completion_ids", "trainer_state")
_EXPECTED_SIGNATURE = "f(completions, **kwargs) -> list[float]"


def check_reward_func(name: str, func: Any) -> None:
    """check_reward_func(name, func) -> None: raise ValueError (naming `reward_funcs` and `name`) unless TRL can call
    `func` as it calls a reward function: a synchronous function with a `__name__` (TRL logs rewards/<name>/mean)
    called as f(prompts=..., completions=..., completion_ids=..., trainer_state=..., <each dataset column>=...),
    i.e. accepting **kwargs and taking nothing positionally only."""
    where = f"reward_funcs: {name!r}"
    if isinstance(func, type):
        raise ValueError(f"{where} is a class; expected a function {_EXPECTED_SIGNATURE}")
    if not callable(func):
        raise ValueError(f"{where} is not callable; expected a function {_EXPECTED_SIGNATURE}")
    if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None)):
        raise ValueError(f"{where} is async; TRL 0.24 calls reward functions synchronously ({_EXPECTED_SIGNATURE})")
    if not isinstance(getattr(func, "__name__", None), str):
        raise ValueError(
            f"{where} has no __name__ (TRL logs each reward as rewards/<__name__>/mean; a functools.partial or a "
            "callable object has none): wrap it in a def"
        )
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: cannot read its signature ({err}); expected {_EXPECTED_SIGNATURE}") from err
    params = signature.parameters.values()
    trl_call = (
        f"TRL calls it as f({', '.join(f'{k}=...' for k in TRL_REWARD_KEYWORDS)}, <every dataset column>=...); "
        f"expected {_EXPECTED_SIGNATURE}"
    )
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        raise ValueError(f"{where} takes {signature}, without **kwargs: {trl_call}")
    positional_only = [p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_ONLY and p.default is p.empty]
    if positional_only:
        raise ValueError(
            f"{where} takes {', '.join(positional_only)} positionally only ({signature}); every argument comes by "
            f"keyword: {trl_call}"
        )


def resolve_reward_func(name: str) -> Callable[..., list]:
    """resolve_reward_func(name) -> the reward callable: a name in `vau_plugin.rewards.REWARD_FUNCS` (or one of its
    aliases, see `get_reward_func`) or "package.module:function", checked with `check_reward_func`. Raises
    ValueError naming the key and the choices."""
    name = name.strip()
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            func = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"reward_funcs: cannot import {name!r} ({err})") from err
        check_reward_func(name, func)
        return func
    try:
        return get_reward_func(name)
    except ValueError as err:  # "unknown reward 'x'; expected one of <the registry's names>"
        raise ValueError(f"reward_funcs: {err} or 'package.module:function'") from None


def reward_weights_of(value: Any, count: int) -> Optional[list[float]]:
    """reward_weights_of(value, count) -> the weights as floats (None when not set): a list of numbers, one per
    reward function, or the same as text ("1, 0.5, 2" from a `key=value` override). Raises ValueError naming
    `reward_weights` for a value that is not a finite number (YAML's `nan` is the text 'nan', `.nan` a float NaN;
    a bool is not a weight) and for a count that differs from reward_funcs'."""
    if value is None:
        return None
    if isinstance(value, str):
        items: list[Any] = [item for item in value.strip().strip("[]").split(",") if item.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError(f"reward_weights: expected a list of numbers, one per reward function, got {value!r}")
    weights = []
    for position, item in enumerate(items, start=1):
        weight = None
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            weight = float(item)
        elif isinstance(item, str):
            with contextlib.suppress(ValueError):
                weight = float(item.strip())
        if weight is None or not math.isfinite(weight):
            shown = repr(item.strip()) if isinstance(item, str) else repr(item)
            raise ValueError(
                f"reward_weights: {shown} (weight {position}) is not a finite number; expected one number per "
                "reward function, e.g. reward_weights: [1.0, 1.0, 1.0]"
            )
        weights.append(weight)
    if len(weights) != count:
        raise ValueError(f"reward_weights has {len(weights)} values but reward_funcs names {count} functions")
    return weights


def reward_funcs_of(training_args: GRPOTrainingArguments) -> list[Callable[..., list]]:
    """reward_funcs_of(training_args) -> the callables named by `reward_funcs` (each checked with
    `check_reward_func`); `reward_weights` is checked against them and set to floats."""
    names = [n for n in str(training_args.reward_funcs).split(",") if n.strip()]
    if not names:
        raise ValueError("reward_funcs: expected at least one reward function")
    funcs = [resolve_reward_func(n) for n in names]
    training_args.reward_weights = reward_weights_of(training_args.reward_weights, len(funcs))
    return funcs


# ------------------------------------------------------------------------------------------------ videos

# GRPOConfig switches TRL 0.24 implements for images only: the videos of a sample would not reach vLLM or paged
# generation (they generate from the text alone) nor the Liger loss.
IMAGE_ONLY_SWITCHES = ("use_vllm", "use_transformers_paged", "use_liger_loss")


def video_datasets(data_args: Any) -> list[str]:
    """video_datasets(data_args) -> the recipe's datasets (`dataset`, `eval_dataset`) whose dataset_info.json entry
    maps a `videos` column: LLaMA-Factory reads videos from that column only, so the others hold none. Read with
    LLaMA-Factory's own parser, before any dataset loads; [] when dataset_info.json is remote (REMOTE:, not fetched
    here) or cannot be read (LLaMA-Factory says why when it loads the data)."""
    from llamafactory.data.parser import get_dataset_list

    names = [*(data_args.dataset or []), *(data_args.eval_dataset or [])]
    if not names or str(data_args.dataset_dir).startswith("REMOTE:"):
        return []
    try:
        attrs = get_dataset_list(names, data_args.dataset_dir)
    except (OSError, ValueError):
        return []
    return list(dict.fromkeys(name for name, attr in zip(names, attrs) if attr.videos))


def image_only_switches_problem(training_args: Any, data_args: Any) -> Optional[str]:
    """image_only_switches_problem(training_args, data_args) -> the refusal of IMAGE_ONLY_SWITCHES set for datasets
    with videos (`video_datasets`), naming the keys and the datasets; None when none is set or no dataset has
    videos (text-only datasets keep them)."""
    switches = [name for name in IMAGE_ONLY_SWITCHES if getattr(training_args, name, False)]
    datasets = video_datasets(data_args) if switches else []
    if not datasets:
        return None
    info = f"{data_args.dataset_dir}/dataset_info.json"
    return (
        f"{', '.join(f'{name}: true' for name in switches)} with videos: TRL 0.24 passes only images to vLLM / paged "
        f"generation and the Liger loss, and dataset {', '.join(datasets)} maps a videos column in {info}; "
        f"set {' and '.join(f'{name}: false' for name in switches)}"
    )


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


def get_grpo_train_args(args: Any) -> tuple:
    """get_grpo_train_args(args) -> (model_args, data_args, training_args, finetuning_args, generating_args)
    from LLaMA-Factory's raw arguments, with `training_args` a GRPOTrainingArguments whose sampling settings
    come from the recipe's temperature/top_p/top_k/repetition_penalty (TRL's defaults when unset). The reward
    functions and weights are checked here (`reward_funcs_of`), when the recipe is read, and so are TRL switches that
    cannot take videos (`image_only_switches_problem`): ValueError naming the key."""
    args = lf_parser.read_args(args)
    with training_arguments_class(GRPOTrainingArguments):
        model_args, data_args, training_args, finetuning_args, generating_args = lf_parser.get_train_args(args)
    explicit = _explicit_keys(args)
    for name in SAMPLING_FIELDS:
        value = getattr(generating_args, name) if name in explicit else TRL_SAMPLING_DEFAULTS[name]
        setattr(training_args, name, value)
    if not training_args.top_k:  # LLaMA-Factory spells "no top-k" as 0, TRL as None
        training_args.top_k = None
    reward_funcs_of(training_args)  # reward functions TRL can call, finite weights, one each: before anything loads
    problem = image_only_switches_problem(training_args, data_args)  # before a model of minutes to load
    if problem:
        raise ValueError(problem)
    return model_args, data_args, training_args, finetuning_args, generating_args

"""`stage: grpo`: the entry point the patched tuner calls, and `run_grpo`, shaped like LLaMA-Factory's `run_sft`.

`stage_of(args)` reads the stage from LLaMA-Factory's raw arguments (a YAML dict or an argv list, `raw_values`);
the patched `_training_function` (`vau_plugin.llamafactory.patch`) sends `stage: grpo` to `run_grpo_stage`.
`check_recipe(args)` runs first for every stage (the patched `_training_function` calls it on the raw arguments):
a misspelt `stage: grpo` gets "unknown stage 'gpro' (did you mean grpo?)", a bool / int / float key of a YAML
recipe (or its `key=value` overrides) holding a value of another type gets an error naming the key, the value and
the type (`learning_rate: 'abc' is not a number (expected float; ...)`), a local path that does not exist gets an
error naming the key, and a `template` of another model family than the local checkpoint's gets "template X does
not fit model family Y", all before a tokenizer or model is read. Other stages' arguments pass unchanged.
`run_grpo` checks the template against the loaded processor too (a hub checkpoint), before encoding any row.

Model, tokenizer/processor, template, adapters (LoRA/OFT/freeze/full), quantisation and datasets all go through
LLaMA-Factory's own loaders, so its YAML keys keep their meaning; the trainer is `VideoGRPOTrainer` (TRL).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import sys
import types
import typing
from typing import Any, Optional

GRPO_STAGE = "grpo"  # the stage name the plugin adds (patch.extend_stage_choices)
# LLaMA-Factory 0.9.5's stages (FinetuningArguments.stage), used when its module is not imported yet.
_LF_STAGES = ("pt", "sft", "rm", "ppo", "dpo", "kto")
# Keys whose value may be a local path or a hub id: a value that looks like a path must exist.
_MODEL_KEYS = ("model_name_or_path", "adapter_name_or_path")
# Keys that are always local paths (LLaMA-Factory and transformers read them relative to the working directory).
_LOCAL_DIR_KEYS = ("dataset_dir", "media_dir", "resume_from_checkpoint")
_LOCAL_FILE_KEYS = ("deepspeed",)
_DEMO_PREFIX = ".demo/"


class RecipeError(ValueError):
    """A recipe value that cannot work (a misspelt stage, a local path that does not exist), found before anything
    is loaded; the message names the key to set."""


# ------------------------------------------------------------------------------------------------ raw arguments


def raw_values(args: Any) -> dict[str, Any]:
    """raw_values(args) -> LLaMA-Factory's raw train arguments as a dict: the YAML/JSON dict itself (plus its
    `key=value` overrides), or the `--key value` / `--key=value` pairs of an argv list (empty for anything else)."""
    if isinstance(args, dict):
        return args
    values: dict[str, Any] = {}
    items = list(args) if isinstance(args, (list, tuple)) else []
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.startswith("--"):
            continue
        key, sep, value = item[2:].partition("=")
        if sep:
            values[key.replace("-", "_")] = value
        elif i + 1 < len(items) and not str(items[i + 1]).startswith("--"):
            values[key.replace("-", "_")] = items[i + 1]
    return values


def stage_of(args: Any) -> Optional[str]:
    """stage_of(args) -> the `stage` of LLaMA-Factory's raw train arguments (see `raw_values`), or None when it is
    not given."""
    stage = raw_values(args).get("stage")
    return stage if isinstance(stage, str) else None


# ------------------------------------------------------------------------------------------------ checks


def known_stages() -> tuple[str, ...]:
    """known_stages() -> LLaMA-Factory's stage names (from FinetuningArguments when it is imported) plus "grpo"."""
    finetuning = sys.modules.get("llamafactory.hparams.finetuning_args")
    stages: tuple[str, ...] = _LF_STAGES
    if finetuning is not None:
        annotation = finetuning.FinetuningArguments.__annotations__.get("stage")
        if annotation is not None and not isinstance(annotation, str):
            stages = tuple(str(s) for s in typing.get_args(annotation)) or _LF_STAGES
    return tuple(dict.fromkeys((*stages, GRPO_STAGE)))


def unknown_stage_message(stage: Any) -> Optional[str]:
    """unknown_stage_message(stage) -> "unknown stage 'gpro' (did you mean grpo?)" when `stage` is not a known
    stage and its closest known stage (difflib) is the plugin's "grpo"; None otherwise (a known stage, or a typo
    of one of LLaMA-Factory's own stages, which LLaMA-Factory reports itself)."""
    if not isinstance(stage, str) or stage in known_stages():
        return None
    candidate = stage.strip().lower()
    best = difflib.get_close_matches(candidate, known_stages(), n=1, cutoff=0.6)
    if candidate == GRPO_STAGE or best == [GRPO_STAGE]:
        return f"unknown stage {stage!r} (did you mean {GRPO_STAGE}?)"
    return None


def looks_like_local_path(value: str) -> bool:
    """looks_like_local_path(value) -> True for an absolute path, one starting with "." or "~" ("./m", "../m",
    ".demo/m"), one with a backslash, or one with more than one "/" ("saves/run/full"); False for what can be a
    hub id ("org/name", "name")."""
    return (
        os.path.isabs(value)
        or value.startswith((".", "~"))
        or "\\" in value
        or value.count("/") > 1
    )


def _missing(key: str, value: str, kind: str) -> str:
    hint = f"set {key} to an existing {kind}" + (" or a Hugging Face hub id" if key in _MODEL_KEYS else "")
    state = f"is not a {kind}" if os.path.exists(value) else "does not exist"
    message = f"{key}: {value!r} {state}; {hint}"
    if value.startswith("~") and os.path.exists(os.path.expanduser(value)):
        message += f" (LLaMA-Factory does not expand '~': write {os.path.expanduser(value)})"
    return message


def _path_problems(values: dict[str, Any]) -> list[str]:
    problems = []
    for key in _MODEL_KEYS:
        value = values.get(key)
        names = value if isinstance(value, (list, tuple)) else str(value).split(",") if isinstance(value, str) else []
        for name in (str(n).strip() for n in names):
            if name and looks_like_local_path(name) and not os.path.exists(name):
                problems.append(_missing(key, name, "folder"))
    uses_datasets = bool(values.get("dataset") or values.get("eval_dataset"))
    for key in _LOCAL_DIR_KEYS:
        value = values.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        if key == "dataset_dir" and (value == "ONLINE" or value.startswith("REMOTE:")):
            continue
        if key == "resume_from_checkpoint" and value.strip().lower() in ("true", "false", "none", "null"):
            continue
        if not os.path.isdir(value):
            problems.append(_missing(key, value, "folder"))
        elif key == "dataset_dir" and uses_datasets and not os.path.isfile(os.path.join(value, "dataset_info.json")):
            problems.append(
                f"dataset_dir: {value!r} has no dataset_info.json (`vau-plugin prepare ... --out DIR` writes it); "
                "set dataset_dir to the folder that holds it"
            )
    for key in _LOCAL_FILE_KEYS:
        value = values.get(key)
        if isinstance(value, str) and value.strip() and not value.lstrip().startswith("{") and not os.path.isfile(value):
            problems.append(_missing(key, value, "file"))
    return problems


# ------------------------------------------------------------------------------------------------ value types

_SCALARS: tuple[type, ...] = (bool, int, float)
_SCALAR_WORDS = {bool: "true or false", int: "an integer", float: "a number"}


def scalar_kind(annotation: Any) -> Optional[tuple[type, bool]]:
    """scalar_kind(field annotation) -> (bool | int | float, whether null is allowed) for a field of one of those
    types or an Optional of one; None for every other annotation (text, lists, dicts, enums, unions with str),
    which this check leaves to LLaMA-Factory and transformers."""
    if annotation in _SCALARS:
        return annotation, False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1 and rest[0] in _SCALARS and len(typing.get_args(annotation)) == 2:
            return rest[0], True
    return None


def scalar_fields(classes: Any) -> dict[str, tuple[type, bool, Any]]:
    """scalar_fields(argument dataclasses) -> {key: (type, null allowed, default)} of every bool / int / float field a
    recipe can set (fields with init=False are not read from a recipe)."""
    table: dict[str, tuple[type, bool, Any]] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kind = scalar_kind(hints.get(f.name, f.type)) if f.init else None
            if kind is not None:
                table[f.name] = (*kind, f.default)
    return table


def _fits(value: Any, kind: type) -> bool:
    if kind is bool:  # 0 / 1 mean false / true wherever the value is used
        return isinstance(value, bool) or (type(value) is int and value in (0, 1))
    if kind is int:
        return type(value) is int
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (isinstance(value, float) and math.isnan(value))


def type_problems(values: dict[str, Any], classes: Any) -> list[str]:
    """type_problems(raw recipe dict, argument dataclasses) -> one line per bool / int / float key whose value is of
    another type, naming the key, the value and the type expected. LLaMA-Factory reads a recipe dict with
    HfArgumentParser.parse_dict, which converts nothing: `learning_rate: abc` would reach torch's optimizer."""
    problems = []
    for key, (kind, nullable, default) in scalar_fields(classes).items():
        if key not in values or (values[key] is None and (nullable or default is None)) or _fits(values[key], kind):
            continue  # null where the field's own default is None (an upstream Optional annotated without it) is fine
        value = values[key]
        what = "not a finite number" if isinstance(value, float) and kind is float else f"not {_SCALAR_WORDS[kind]}"
        shown = "" if default is dataclasses.MISSING else f"; default {json.dumps(default)}"
        problems.append(f"{key}: {value!r} is {what} (expected {kind.__name__}{' or null' if nullable else ''}{shown})")
    return problems


def train_argument_classes(stage: Optional[str]) -> list[type]:
    """train_argument_classes(stage) -> the dataclasses LLaMA-Factory parses a train recipe into: its _TRAIN_ARGS,
    with `args.GRPOTrainingArguments` (TrainingArguments + TRL's GRPOConfig) for stage grpo."""
    from llamafactory.hparams import parser
    from llamafactory.hparams.training_args import TrainingArguments

    classes = list(parser._TRAIN_ARGS)
    if stage == GRPO_STAGE:
        from vau_plugin.llamafactory.args import GRPOTrainingArguments

        classes = [GRPOTrainingArguments if cls is TrainingArguments else cls for cls in classes]
    return classes


# ------------------------------------------------------------------------------------------------ template family


def template_family_problem(values: dict[str, Any]) -> Optional[str]:
    """template_family_problem(raw recipe values) -> the error for a `template` of one model family on a local
    checkpoint of another (its config.json's model_type), or None (families agree, or either is not known here:
    a hub id, a model type or template of another family). Read before any tokenizer or model loads."""
    from vau_plugin.llamafactory.mm_plugin import family_error, model_type_family, template_family

    template, model = values.get("template"), values.get("model_name_or_path")
    if not isinstance(template, str) or not isinstance(model, str):
        return None
    try:
        with open(os.path.join(model, "config.json"), encoding="utf-8") as handle:
            model_type = json.load(handle).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None
    model_base = model_type_family(model_type)
    if model_base is None:
        return None
    from llamafactory.data.template import TEMPLATES

    template_base = template_family(TEMPLATES.get(template))
    if template_base is None or template_base == model_base:
        return None
    return family_error(template, template_base, model_base, f"{model}/config.json has model_type {model_type}")


def check_recipe(args: Any) -> None:
    """check_recipe(args) -> None, for LLaMA-Factory's raw train arguments (YAML dict or argv list), before anything
    loads. Raises RecipeError for a misspelt `stage: grpo` ("unknown stage 'gpro' (did you mean grpo?)"), for
    bool / int / float keys of a YAML dict holding a value of another type (`type_problems`: every such key of the
    stage's argument classes, GRPOConfig's included for grpo), for every local path that does not exist
    (model_name_or_path, adapter_name_or_path: only values that look like paths, hub ids stay hub ids;
    dataset_dir, media_dir, resume_from_checkpoint, deepspeed), naming the key, and for a `template` of another
    model family than the local checkpoint's (`template_family_problem`)."""
    values = raw_values(args)
    message = unknown_stage_message(values.get("stage"))
    if message:
        raise RecipeError(message)
    if isinstance(args, dict):  # argv is typed by argparse itself; a YAML dict (+ key=value) by nothing
        wrong = type_problems(values, train_argument_classes(stage_of(args)))
        if wrong:
            raise RecipeError("\n".join([
                "recipe values of the wrong type (found before anything is loaded):",
                *(f"  {problem}" for problem in wrong),
                f"Set them in the YAML or after it: `llamafactory-cli train RECIPE.yaml {wrong[0].split(':', 1)[0]}=...`.",
            ]))  # fmt: skip
    problems = _path_problems(values)
    if not problems:
        message = template_family_problem(values)
        if message:
            raise RecipeError(message)
        return
    example = problems[0].split(":", 1)[0]
    lines = [
        f"recipe paths not found (relative paths are read from the working directory, {os.getcwd()}, as "
        "LLaMA-Factory reads them):",
        *(f"  {problem}" for problem in problems),
        f"Set a key in the YAML or after it: `llamafactory-cli train RECIPE.yaml {example}=/path/to/it`.",
    ]
    if any(str(v).replace("\\", "/").startswith(_DEMO_PREFIX) for v in values.values() if isinstance(v, str)):
        lines.append(
            "The _tiny recipes read .demo/ as `vau-plugin demo` leaves it: run them from the folder that holds .demo/, "
            "or write them with absolute paths: `vau-plugin recipes DIR --workdir PATH/TO/.demo`."
        )
    raise RecipeError("\n".join(lines))


def grpo_callbacks(callbacks: list, model_args: Any, data_args: Any, training_args: Any,
                   finetuning_args: Any, generating_args: Any) -> list:
    """grpo_callbacks(...) -> the callback list LLaMA-Factory's `_training_function` builds for every stage
    (log file, PiSSA conversion, SwanLab, early stopping, profilers, reporter last)."""
    from llamafactory.train.callbacks import (
        LogCallback,
        ModuleProfilerCallback,
        PissaConvertCallback,
        ReporterCallback,
        TorchProfilerCallback,
    )
    from llamafactory.train.trainer_utils import get_swanlab_callback
    from transformers import EarlyStoppingCallback

    callbacks = list(callbacks or [])
    callbacks.append(LogCallback())
    if finetuning_args.pissa_convert:
        callbacks.append(PissaConvertCallback())
    if finetuning_args.use_swanlab:
        callbacks.append(get_swanlab_callback(finetuning_args))
    if finetuning_args.early_stopping_steps is not None:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=finetuning_args.early_stopping_steps))
    if getattr(training_args, "enable_torch_profiler", False):
        callbacks.append(TorchProfilerCallback(training_args))
    if getattr(training_args, "profile_modules", None):
        callbacks.append(ModuleProfilerCallback(training_args.profile_modules))
    callbacks.append(ReporterCallback(model_args, data_args, finetuning_args, generating_args))
    return callbacks


def run_grpo_stage(config: dict[str, Any]) -> None:
    """run_grpo_stage({"args": raw args, "callbacks": list}) -> None: what `_training_function` does for a
    stage, for grpo (parse, callbacks, train, tear down the process group)."""
    import torch.distributed as dist
    from llamafactory.extras.packages import is_ray_available

    from vau_plugin.llamafactory.args import get_grpo_train_args

    model_args, data_args, training_args, finetuning_args, generating_args = get_grpo_train_args(config.get("args"))
    callbacks = grpo_callbacks(
        config.get("callbacks"), model_args, data_args, training_args, finetuning_args, generating_args
    )
    run_grpo(model_args, data_args, training_args, finetuning_args, generating_args, callbacks)
    if is_ray_available():
        import ray

        if ray.is_initialized():
            return  # Ray tears the process group down itself
    if dist.is_initialized():
        dist.destroy_process_group()


def run_grpo(
    model_args: Any,
    data_args: Any,
    training_args: Any,
    finetuning_args: Any,
    generating_args: Any,
    callbacks: Optional[list] = None,
) -> None:
    """run_grpo(model_args, data_args, training_args, finetuning_args, generating_args, callbacks) -> None:
    load everything with LLaMA-Factory's loaders, train with VideoGRPOTrainer, save model/metrics/state."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.extras.ploting import plot_loss
    from llamafactory.model import load_model, load_tokenizer

    from vau_plugin.llamafactory.args import reward_funcs_of
    from vau_plugin.llamafactory.dataset import load_grpo_datasets
    from vau_plugin.llamafactory.mm_plugin import template_processor_mismatch
    from vau_plugin.llamafactory.motion import attach_learnable_motion
    from vau_plugin.llamafactory.trainer import VideoGRPOTrainer

    reward_funcs = reward_funcs_of(training_args)  # fail on a bad name before loading anything heavy
    tokenizer_module = load_tokenizer(model_args)
    tokenizer, processor = tokenizer_module["tokenizer"], tokenizer_module["processor"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    # before the datasets: their encoding would drop every row on the processor's error ("no usable row left")
    mismatch = template_processor_mismatch(data_args.template, template, processor)
    if mismatch:
        raise RecipeError(mismatch)
    datasets = load_grpo_datasets(template, model_args, data_args, training_args, tokenizer, processor)
    model = load_model(tokenizer, model_args, finetuning_args, training_args.do_train)
    attach_learnable_motion(model, processor, training_args.resume_from_checkpoint)
    tokenizer.padding_side = "left"
    if training_args.beta and finetuning_args.finetuning_type != "lora" and training_args.model_init_kwargs is None:
        # TRL loads the reference model itself (from model_name_or_path); same dtype as the policy
        training_args.model_init_kwargs = {"dtype": model_args.compute_dtype}

    trainer = VideoGRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=datasets["train_dataset"],
        eval_dataset=datasets["eval_dataset"],
        processing_class=processor if processor is not None else tokenizer,
        callbacks=callbacks,
        template=template,
        lf_processor=processor,
    )
    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        trainer.save_state()
        if trainer.is_world_process_zero() and finetuning_args.plot_loss:
            plot_loss(training_args.output_dir, keys=["loss", "reward"])
    if training_args.do_eval:
        metrics = trainer.evaluate(metric_key_prefix="eval")
        trainer.log_metrics("eval", metrics)
        trainer.save_metrics("eval", metrics)

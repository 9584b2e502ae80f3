"""The monkeypatches that give LLaMA-Factory 0.9.5 a `stage: grpo`, in one place.

Called by the start-up hook (`_startup`) right after LLaMA-Factory's modules are imported; each function is
idempotent. What changes, and why it is the least that works:

- ``llamafactory.train.tuner._training_function`` is wrapped: a run whose raw arguments say ``stage: grpo``
  goes to `vau_plugin.llamafactory.workflow.run_grpo_stage`; every other stage calls the original function
  with the same arguments (so `stage: sft` etc. behave exactly as before). LLaMA-Factory has no stage registry;
  `run_exp` and Ray's worker look this function up as a module global at call time.
- ``FinetuningArguments.stage``'s Literal gains "grpo", so the argv form ``--stage grpo`` (argparse choices)
  and ``-h`` know it. The YAML form does not need it (HfArgumentParser.parse_dict does not check Literals).
- If `vau_plugin.llamafactory.motion` exists (motion prompts): its `register()` runs when ``llamafactory.data``
  is imported (template/mm_plugin `qwen2_vl_motion`); the wrapped `_training_function` passes the raw arguments
  through its `consume_motion_args` (which only removes `vau_motion_*` keys), and its `patch_sft_workflow`
  is applied to LLaMA-Factory's SFT workflow (a no-op unless the learnable motion prompt is switched on).

`patch_status()` tells whether the patches took effect in this process (and why the start-up hook is missing when
the .pth line failed, silently); `apply()` applies them explicitly (importing LLaMA-Factory), for programs started
without the .pth (e.g. `python -S`, or with the hook disabled).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
import typing
from typing import Any, Optional

GRPO_STAGE = "grpo"
MOTION_MODULE = "vau_plugin.llamafactory.motion"
_WRAPPED_FLAG = "__vau_plugin_grpo__"
_motion_registered = False


def extend_stage_choices(finetuning_args_cls: type) -> None:
    """extend_stage_choices(FinetuningArguments) -> None: add "grpo" to the `stage` Literal (idempotent).

    HfArgumentParser re-reads the class annotations on every parser build, so argparse then accepts it.
    """
    current = finetuning_args_cls.__annotations__["stage"]
    if isinstance(current, str):  # postponed annotations (from __future__ import annotations)
        current = typing.get_type_hints(finetuning_args_cls)["stage"]
    choices = typing.get_args(current)
    if typing.get_origin(current) is not typing.Literal:
        raise TypeError(f"{finetuning_args_cls.__name__}.stage: expected a Literal of stage names, got {current!r}")
    if GRPO_STAGE in choices:
        return
    extended = typing.Literal[(*choices, GRPO_STAGE)]
    finetuning_args_cls.__annotations__["stage"] = extended
    finetuning_args_cls.__dataclass_fields__["stage"].type = extended


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


def motion_module() -> Optional[Any]:
    """motion_module() -> `vau_plugin.llamafactory.motion` if it exists (the motion-prompt integration), else None."""
    if importlib.util.find_spec(MOTION_MODULE) is None:
        return None
    return importlib.import_module(MOTION_MODULE)


def _wrap_training_function(original):
    @functools.wraps(original)
    def _training_function(config: dict[str, Any]) -> None:
        motion = motion_module()
        if motion is not None and hasattr(motion, "consume_motion_args"):
            # its vau_motion_* recipe keys become environment settings; other args pass through unchanged
            config = {**config, "args": motion.consume_motion_args(config.get("args"))}
        from vau_plugin.llamafactory.workflow import check_recipe

        check_recipe(config.get("args"))  # "did you mean grpo?" for a misspelt stage; missing local paths; any stage
        if stage_of(config.get("args")) == GRPO_STAGE:
            from vau_plugin.llamafactory.workflow import run_grpo_stage

            return run_grpo_stage(config)
        return original(config)

    setattr(_training_function, _WRAPPED_FLAG, True)
    return _training_function


def patch_tuner(tuner: Any) -> None:
    """patch_tuner(llamafactory.train.tuner) -> None: route `stage: grpo` to the plugin (idempotent)."""
    from llamafactory.hparams.finetuning_args import FinetuningArguments

    extend_stage_choices(FinetuningArguments)
    if not getattr(tuner._training_function, _WRAPPED_FLAG, False):
        tuner._training_function = _wrap_training_function(tuner._training_function)
    register_motion()
    motion = motion_module()
    sft_workflow = sys.modules.get("llamafactory.train.sft.workflow")
    if motion is not None and sft_workflow is not None and hasattr(motion, "patch_sft_workflow"):
        motion.patch_sft_workflow(sft_workflow)  # learnable motion prompt in SFT; a no-op unless switched on


def patch_data(data_package: Any) -> None:
    """patch_data(llamafactory.data) -> None: register the motion-prompt template/mm_plugin when available."""
    register_motion()


def register_motion() -> bool:
    """register_motion() -> bool: call `vau_plugin.llamafactory.motion.register()` once per process if that
    module exists; True when it is registered."""
    global _motion_registered
    if _motion_registered:
        return True
    module = motion_module()
    if module is None:
        return False
    module.register()
    _motion_registered = True
    return True


STARTUP_MODULE = "vau_plugin.llamafactory._startup"
STARTUP_ERROR_ATTR = "vau_plugin_startup_error"  # set on `sys` by the .pth line when its import failed


def patch_status() -> dict[str, Any]:
    """patch_status() -> {"hook_installed", "tuner_patched", "stage_choice", "motion_registered", "startup_error"}:
    which patches are in effect in this process (tuner/stage are False until LLaMA-Factory's tuner is imported).

    It only looks: it does not install the hook itself. `startup_error` is the error that kept the .pth line from
    installing the hook at start-up (it fails silently, so as not to print a traceback at every Python start), or
    None."""
    startup = sys.modules.get(STARTUP_MODULE)
    tuner = sys.modules.get("llamafactory.train.tuner")
    finetuning = sys.modules.get("llamafactory.hparams.finetuning_args")
    stage_choice = False
    if finetuning is not None:
        stage_choice = GRPO_STAGE in typing.get_args(finetuning.FinetuningArguments.__annotations__["stage"])
    return {
        "hook_installed": startup is not None
        and not startup.hook_disabled()
        and any(getattr(f, "_vau_post_import_finder", False) for f in sys.meta_path),
        "tuner_patched": tuner is not None and bool(getattr(tuner._training_function, _WRAPPED_FLAG, False)),
        "stage_choice": stage_choice,
        "motion_registered": _motion_registered,
        "startup_error": getattr(sys, STARTUP_ERROR_ATTR, None),
    }


def apply() -> dict[str, Any]:
    """apply() -> patch_status(): import LLaMA-Factory's tuner and apply every patch now (idempotent)."""
    import llamafactory.data
    import llamafactory.train.tuner as tuner

    patch_data(llamafactory.data)
    patch_tuner(tuner)
    return patch_status()

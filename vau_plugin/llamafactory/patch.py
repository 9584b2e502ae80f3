"""Every change the plugin makes to LLaMA-Factory 0.9.5, in one place (lmms-eval's one is in `vau_plugin.lmms.entry`).

What each patch replaces lives here (the two scoped to a grpo run in `scoped_patches`, below); what the replacement
does lives in the module of its theme (`workflow`, `motion`, `mm_plugin`, `dataset`, `args`). Each patch is idempotent. `tests/test_upstream_contract.py` checks every
upstream name below in a second, so an upgrade that moves one fails there, with its name.

Applied by the start-up hook (`_startup`) right after LLaMA-Factory's modules are imported, for every stage:

- ``llamafactory.train.tuner._training_function`` is wrapped (`patch_tuner`): the raw arguments first lose their
  `vau_motion_*` keys (`motion.consume_motion_args`, which exports them as environment settings) and are checked
  (`workflow.check_recipe`: "did you mean grpo?", missing local paths); a run whose arguments say ``stage: grpo``
  then goes to `workflow.run_grpo_stage`, every other stage calls the original function with the same arguments
  (so `stage: sft` etc. behave exactly as before). LLaMA-Factory has no stage registry; `run_exp` and Ray's worker
  look this function up as a module global at call time.
- ``FinetuningArguments.stage``'s Literal gains "grpo" (`extend_stage_choices`), so the argv form ``--stage grpo``
  (argparse choices) and ``-h`` know it. The YAML form does not need it (HfArgumentParser.parse_dict does not check
  Literals).
- ``llamafactory.train.sft.workflow.load_model`` is wrapped (`patch_sft_workflow`): it also attaches the learnable
  motion prompt (`motion.attach_learnable_motion`), a no-op unless `vau_motion_learnable` is switched on.
- the templates and mm_plugins `qwen2_vl_vau`, `qwen2_vl_motion`, `qwen3_vl_vau` and `qwen3_vl_motion` join
  LLaMA-Factory's registries (`register_templates`, through its own `register_template` / `register_mm_plugin`) when ``llamafactory.data`` is
  imported.
- ``preprocess_dataset`` of ``llamafactory.data.processor``'s per-example processors (SFT, PPO, DPO, KTO) is wrapped
  (`patch_dataset_processors`): an example whose video the plugin cannot use is dropped with a warning naming the
  file (`example_filter.drop_examples_with_unusable_videos`), instead of ending the run while the dataset is encoded.

Applied only while a `stage: grpo` run reads its arguments and datasets (context managers, restored on exit; they
live in `scoped_patches`, which `args` and `dataset` import without reaching back here):

- ``llamafactory.hparams.parser._TRAIN_ARGS`` holds `args.GRPOTrainingArguments` in place of LLaMA-Factory's
  TrainingArguments (`scoped_patches.training_arguments_class`), so its parser accepts every GRPOConfig key;
- ``llamafactory.data.converter.DATASET_CONVERTERS["sharegpt"]`` is `dataset.ColumnKeepingSharegptConverter`
  (`scoped_patches.sharegpt_converter`), which keeps the reward columns.

`patch_status()` tells whether the start-up patches took effect in this process (and why the start-up hook is
missing when the .pth line failed, silently); `apply()` applies them explicitly (importing LLaMA-Factory), for
programs started without the .pth (e.g. `python -S`, or with the hook disabled).

Importing this module imports no third-party package, so `patch_status()` is cheap and the hook adds nothing to
LLaMA-Factory's own import; `motion` (torch) and LLaMA-Factory's modules are imported where a patch is applied or
run.
"""

from __future__ import annotations

import functools
import sys
import typing
from typing import Any

from vau_plugin.llamafactory import workflow
from vau_plugin.llamafactory.workflow import GRPO_STAGE, stage_of

_WRAPPED_FLAG = "__vau_plugin_grpo__"
_SFT_WRAPPED_FLAG = "__vau_motion__"
_templates_registered = False  # patch_status()["motion_registered"]: the key keeps the name it had before


# ------------------------------------------------------------------------------------------------ the tuner


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


def _wrap_training_function(original):
    @functools.wraps(original)
    def _training_function(config: dict[str, Any]) -> None:
        from vau_plugin.llamafactory.motion import consume_motion_args

        # its vau_motion_* recipe keys become environment settings; other args pass through unchanged
        config = {**config, "args": consume_motion_args(config.get("args"))}
        # looked up on the module at call time (not imported by name), so a test can stand in for them
        workflow.check_recipe(config.get("args"))  # "did you mean grpo?" for a misspelt stage; missing paths; any stage
        if stage_of(config.get("args")) == GRPO_STAGE:
            return workflow.run_grpo_stage(config)
        return original(config)

    setattr(_training_function, _WRAPPED_FLAG, True)
    return _training_function


def patch_sft_workflow(sft_workflow: Any) -> None:
    """patch_sft_workflow(llamafactory.train.sft.workflow) -> None: its `load_model` also attaches the learnable
    motion prompt when VAU_MOTION_LEARNABLE is on (idempotent; otherwise the model is untouched and no other
    VAU_MOTION_* variable is read)."""
    original = sft_workflow.load_model
    if getattr(original, _SFT_WRAPPED_FLAG, False):
        return

    @functools.wraps(original)
    def load_model(*args: Any, **kwargs: Any) -> Any:
        from vau_plugin.llamafactory.motion import attach_learnable_motion

        model = original(*args, **kwargs)
        attach_learnable_motion(model)  # reads only VAU_MOTION_LEARNABLE unless it is on
        return model

    setattr(load_model, _SFT_WRAPPED_FLAG, True)
    sft_workflow.load_model = load_model  # run_sft looks `load_model` up as a module global at call time


def patch_tuner(tuner: Any) -> None:
    """patch_tuner(llamafactory.train.tuner) -> None: route `stage: grpo` to the plugin, let argv name it, register
    the templates and patch the SFT workflow (idempotent)."""
    from llamafactory.hparams.finetuning_args import FinetuningArguments

    extend_stage_choices(FinetuningArguments)
    if not getattr(tuner._training_function, _WRAPPED_FLAG, False):
        tuner._training_function = _wrap_training_function(tuner._training_function)
    register_templates()
    sft_workflow = sys.modules.get("llamafactory.train.sft.workflow")  # the tuner imported it (run_sft)
    if sft_workflow is not None:
        patch_sft_workflow(sft_workflow)  # learnable motion prompt in SFT; a no-op unless switched on


# ------------------------------------------------------------------------------------------------ the data package


def patch_data(data_package: Any) -> None:
    """patch_data(llamafactory.data) -> None: register the plugin's templates and mm_plugins, and let the dataset
    processors drop an example whose video cannot be used (idempotent)."""
    register_templates()
    patch_dataset_processors()


def patch_dataset_processors() -> None:
    """Wrap `preprocess_dataset` of LLaMA-Factory's per-example processors (`example_filter.EXAMPLE_PROCESSORS`) with
    `example_filter.drop_examples_with_unusable_videos` (idempotent)."""
    from llamafactory.data import processor

    from vau_plugin.llamafactory.example_filter import EXAMPLE_PROCESSORS, drop_examples_with_unusable_videos

    for name in EXAMPLE_PROCESSORS:
        cls = getattr(processor, name)
        if "preprocess_dataset" in vars(cls):  # its own, not one inherited and already wrapped
            cls.preprocess_dataset = drop_examples_with_unusable_videos(cls.preprocess_dataset)


def register_templates() -> bool:
    """register_templates() -> True: add `qwen2_vl_vau`, `qwen2_vl_motion`, `qwen3_vl_vau`, `qwen3_vl_motion` to
    LLaMA-Factory's template and mm_plugin registries, once per process (`vau_plugin.llamafactory.mm_plugin.register`)."""
    global _templates_registered
    if not _templates_registered:
        from vau_plugin.llamafactory.mm_plugin import register

        register()
        _templates_registered = True
    return True


# ------------------------------------------------------------------------------------------------ status


STARTUP_MODULE = "vau_plugin.llamafactory._startup"
STARTUP_ERROR_ATTR = "vau_plugin_startup_error"  # set on `sys` by the .pth line when its import failed


def patch_status() -> dict[str, Any]:
    """patch_status() -> {"hook_installed", "tuner_patched", "stage_choice", "sft_patched", "motion_registered",
    "startup_error"}: which patches are in effect in this process (the tuner, stage and SFT ones are False until
    LLaMA-Factory's tuner is imported; "motion_registered": the plugin's templates are registered).

    It only looks: it does not install the hook itself. `startup_error` is the error that kept the .pth line from
    installing the hook at start-up (it fails silently, so as not to print a traceback at every Python start), or
    None."""
    startup = sys.modules.get(STARTUP_MODULE)
    tuner = sys.modules.get("llamafactory.train.tuner")
    finetuning = sys.modules.get("llamafactory.hparams.finetuning_args")
    sft_workflow = sys.modules.get("llamafactory.train.sft.workflow")
    stage_choice = False
    if finetuning is not None:
        stage_choice = GRPO_STAGE in typing.get_args(finetuning.FinetuningArguments.__annotations__["stage"])
    return {
        "hook_installed": startup is not None
        and not startup.hook_disabled()
        and any(getattr(f, "_vau_post_import_finder", False) for f in sys.meta_path),
        "tuner_patched": tuner is not None and bool(getattr(tuner._training_function, _WRAPPED_FLAG, False)),
        "stage_choice": stage_choice,
        "sft_patched": sft_workflow is not None and bool(getattr(sft_workflow.load_model, _SFT_WRAPPED_FLAG, False)),
        "motion_registered": _templates_registered,
        "startup_error": getattr(sys, STARTUP_ERROR_ATTR, None),
    }


def apply() -> dict[str, Any]:
    """apply() -> patch_status(): import LLaMA-Factory's tuner and apply every start-up patch now (idempotent)."""
    import llamafactory.data
    import llamafactory.train.tuner as tuner

    patch_data(llamafactory.data)
    patch_tuner(tuner)
    return patch_status()

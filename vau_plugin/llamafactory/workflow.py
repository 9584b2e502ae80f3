"""`stage: grpo`: the entry point the patched tuner calls, and `run_grpo`, shaped like LLaMA-Factory's `run_sft`.

Model, tokenizer/processor, template, adapters (LoRA/OFT/freeze/full), quantisation and datasets all go through
LLaMA-Factory's own loaders, so its YAML keys keep their meaning; the trainer is `VideoGRPOTrainer` (TRL).
"""

from __future__ import annotations

from typing import Any, Optional


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


def attach_learnable_motion(model: Any, processor: Any, resume_from: Optional[str]) -> bool:
    """attach_learnable_motion(model, processor, resume_from) -> bool: attach the motion-prompt layer when the
    recipe switched it on (vau_motion_learnable) and the motion integration exists; True when attached."""
    from vau_plugin.llamafactory.patch import motion_module

    motion = motion_module()
    if motion is None or not hasattr(motion, "enable_learnable_motion"):
        return False
    settings = motion.MotionSettings.from_env()
    if not settings.learnable:
        return False
    motion.enable_learnable_motion(model, settings, processor=processor, resume_from=resume_from)
    return True


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
    from vau_plugin.llamafactory.trainer import VideoGRPOTrainer

    reward_funcs = reward_funcs_of(training_args)  # fail on a bad name before loading anything heavy
    tokenizer_module = load_tokenizer(model_args)
    tokenizer, processor = tokenizer_module["tokenizer"], tokenizer_module["processor"]
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
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

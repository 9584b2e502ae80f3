"""Every upstream name the plugin relies on, checked in seconds: LLaMA-Factory 0.9.5 (the private names it
patches, copies or calls, the Qwen3-VL mm_plugin's included), TRL 0.24 (the GRPOTrainer methods VideoGRPOTrainer
overrides and the helpers it calls), lmms-eval 0.7.3 (the model it subclasses, `Instance.args`, `ModelManifest`, the
entry-point registry, the task loader), transformers and openai (the judge's client). An upgrade that removes, renames
or re-signs one of them fails here, with the name as the case id, instead of deep inside a five-minute subprocess test.

A signature case lists the leading parameters in order (what the plugin passes by position, or the parameters
of a method it overrides) and the parameters it passes by keyword. A source case asserts a line of upstream code
the plugin depends on but cannot see through a signature (e.g. that `run_exp` looks `_training_function` up at
call time), so it fails on a rewrite that may still be compatible: read the upstream change, then update it.
Every patch of LLaMA-Factory (`vau_plugin.llamafactory.patch`) is also applied here once, in-process.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import typing

import pytest

# (upstream name "module:attribute.path", leading parameters in order, parameters passed by keyword)
SIGNATURES = [
    # --- LLaMA-Factory: the patches (vau_plugin.llamafactory.patch) and what args/dataset call around them
    ("llamafactory.train.tuner:_training_function", ["config"], []),
    ("llamafactory.hparams.parser:read_args", ["args"], []),
    ("llamafactory.hparams.parser:get_train_args", ["args"], []),
    ("llamafactory.hparams.training_args:RayArguments.__post_init__", ["self"], []),
    ("llamafactory.data.converter:SharegptDatasetConverter.__call__", ["self", "example"], []),
    ("llamafactory.data.loader:_get_merged_dataset",
     ["dataset_names", "model_args", "data_args", "training_args"], ["stage", "return_dict"]),
    ("llamafactory.data:split_dataset", ["dataset", "eval_dataset", "data_args"], ["seed"]),
    ("llamafactory.train.sft.workflow:load_model", ["tokenizer", "model_args", "finetuning_args", "is_trainable"], []),
    # patch_dataset_processors wraps each per-example processor's own preprocess_dataset(self, examples)
    *[(f"llamafactory.data.processor:{name}.preprocess_dataset", ["self", "examples"], [])
      for name in ("SupervisedDatasetProcessor", "UnsupervisedDatasetProcessor", "PairwiseDatasetProcessor",
                   "FeedbackDatasetProcessor")],  # fmt: skip
    # --- LLaMA-Factory: the mm_plugin subclass (vau_plugin.llamafactory.mm_plugin) and the template API
    ("llamafactory.data.mm_plugin:Qwen2VLPlugin._get_mm_inputs", ["self", "images", "videos", "audios", "processor"], []),
    ("llamafactory.data.mm_plugin:Qwen2VLPlugin._get_video_token_metadata", ["self", "videos", "processor"], []),
    ("llamafactory.data.mm_plugin:Qwen2VLPlugin._regularize_images", ["self", "images"], []),
    ("llamafactory.data.mm_plugin:Qwen2VLPlugin.process_messages",
     ["self", "messages", "images", "videos", "audios", "processor"], []),
    ("llamafactory.data.mm_plugin:Qwen2VLPlugin.process_token_ids",
     ["self", "input_ids", "labels", "images", "videos", "audios", "tokenizer", "processor"], []),
    ("llamafactory.data.mm_plugin:Qwen2VLPlugin.get_mm_inputs",
     ["self", "images", "videos", "audios", "imglens", "vidlens", "audlens", "batch_ids", "processor"], []),
    ("llamafactory.data.mm_plugin:_check_video_is_nested_images", ["video"], []),
    # Qwen3VLVAUPlugin copies Qwen3VLPlugin.process_messages (per-video metadata) and calls what it calls
    ("llamafactory.data.mm_plugin:Qwen3VLPlugin.process_messages",
     ["self", "messages", "images", "videos", "audios", "processor"], []),
    ("llamafactory.data.mm_plugin:Qwen3VLPlugin._validate_input", ["self", "processor", "images", "videos", "audios"], []),
    ("llamafactory.data.mm_plugin:Qwen3VLPlugin._validate_messages", ["self", "messages", "images", "videos", "audios"], []),
    ("llamafactory.data.mm_plugin:Qwen3VLPlugin._get_mm_token_metadata", ["self", "images", "videos", "audios", "processor"], []),
    ("llamafactory.data.mm_plugin:Qwen3VLPlugin._get_mm_inputs", ["self", "images", "videos", "audios", "processor"], []),
    # ... and on the processor: the "<t seconds>" of each temporal patch, as transformers' Qwen3VLProcessor writes them
    ("transformers.models.qwen3_vl.processing_qwen3_vl:Qwen3VLProcessor._calculate_timestamps",
     ["self", "indices", "video_fps", "merge_size"], []),
    ("llamafactory.data.mm_plugin:register_mm_plugin", ["name", "plugin_class"], []),
    ("llamafactory.data.mm_plugin:get_mm_plugin", ["name"], ["image_token", "video_token", "audio_token"]),
    ("llamafactory.data.template:register_template", ["name"], ["mm_plugin", "template_class"]),
    ("llamafactory.data.template:Template.encode_oneturn", ["self", "tokenizer", "messages", "system", "tools"], []),
    # --- LLaMA-Factory: what the grpo stage calls as run_sft does (vau_plugin.llamafactory.workflow)
    ("llamafactory.model:load_tokenizer", ["model_args"], []),
    ("llamafactory.model:load_model", ["tokenizer", "model_args", "finetuning_args", "is_trainable"], []),
    ("llamafactory.data:get_template_and_fix_tokenizer", ["tokenizer", "data_args"], []),
    ("llamafactory.train.callbacks:LogCallback.__init__", ["self"], []),
    ("llamafactory.train.callbacks:PissaConvertCallback.__init__", ["self"], []),
    ("llamafactory.train.callbacks:ReporterCallback.__init__",
     ["self", "model_args", "data_args", "finetuning_args", "generating_args"], []),
    ("llamafactory.train.callbacks:TorchProfilerCallback.__init__", ["self", "training_args"], []),
    ("llamafactory.train.callbacks:ModuleProfilerCallback.__init__", ["self", "profile_modules"], []),
    ("llamafactory.train.trainer_utils:get_swanlab_callback", ["finetuning_args"], []),
    ("llamafactory.extras.packages:is_ray_available", [], []),
    ("llamafactory.extras.ploting:plot_loss", ["save_dictionary"], ["keys"]),
    # --- TRL: the GRPOTrainer methods VideoGRPOTrainer overrides, and the helpers it calls
    ("trl:GRPOTrainer.__init__", ["self"],
     ["model", "reward_funcs", "args", "train_dataset", "eval_dataset", "processing_class", "callbacks"]),
    ("trl:GRPOTrainer._generate_and_score_completions", ["self", "inputs"], []),
    ("trl:GRPOTrainer._generate_single_turn", ["self", "prompts", "images"], []),
    ("trl:GRPOTrainer.compute_loss", ["self", "model", "inputs", "return_outputs", "num_items_in_batch"], []),
    ("trl:GRPOTrainer._get_per_token_logps_and_entropies",
     ["self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy"], []),
    ("trl:GRPOConfig.__post_init__", ["self"], []),
    ("trl.models:unwrap_model_for_generation", ["model", "accelerator"], ["gather_deepspeed3_params"]),
    ("trl.trainer.utils:pad", ["tensors"], ["padding_value", "padding_side"]),
    ("trl.trainer.utils:entropy_from_logits", ["logits"], []),
    ("trl.trainer.utils:selective_log_softmax", ["logits", "index"], []),
    # --- lmms-eval: the model wrapper (vau_plugin.lmms.model), the entry point and task folder (lmms.entry)
    ("lmms_eval.models.chat.qwen2_5_vl:Qwen2_5_VL.__init__", ["self"],
     ["pretrained", "device", "device_map", "min_pixels", "max_pixels"]),
    ("lmms_eval.models.chat.qwen2_5_vl:Qwen2_5_VL.generate_until", ["self", "requests"], []),
    ("lmms_eval.protocol:ChatMessages.extract_media", ["self"], []),
    ("lmms_eval.protocol:ChatMessages.to_hf_messages", ["self"], []),
    ("lmms_eval.tasks:TaskManager.initialize_tasks", ["self", "include_path", "include_defaults"], []),
    # --- lmms-eval: the CLI in this process (runners.run_lmms_eval_in_process) and its task-index memo (lmms.entry)
    ("lmms_eval.__main__:cli_evaluate", ["args"], []),
    ("lmms_eval.tasks:TaskManager._get_task_and_group", ["self", "task_dir"], []),
    # --- lmms-eval: what lmms.entry.guard_exit_status wraps (a failed plugin run exits non-zero)
    ("lmms_eval.evaluator:simple_evaluate", ["model"], ["tasks", "cli_args", "evaluation_tracker", "verbosity"]),
    ("lmms_eval.tasks:TaskManager.__init__", ["self"], ["model_name"]),
    ("lmms_eval.tasks:TaskManager.match_tasks", ["self", "task_list"], []),
    ("lmms_eval.loggers.evaluation_tracker:EvaluationTracker.__init__", ["self", "output_path"], []),
    ("lmms_eval.loggers.evaluation_tracker:EvaluationTracker.save_results_aggregated",
     ["self", "results", "samples", "datetime_str"], []),
    ("lmms_eval.loggers.evaluation_tracker:EvaluationTracker.save_results_samples", ["self", "task_name", "samples"], []),
    ("lmms_eval.models.registry_v2:ModelRegistryV2.load_entrypoint_manifests", ["self", "group"], []),
    ("lmms_eval.utils:import_function", ["loader", "node"], []),  # `!function utils.qa_docs` in the task YAMLs
    # --- openai: the judge's transport (vau_plugin.lmms.judge_client)
    ("openai:OpenAI.__init__", ["self"], ["api_key", "base_url", "timeout", "max_retries", "http_client"]),
    ("openai.resources.chat.completions:Completions.create", ["self"],
     ["model", "messages", "temperature", "stream", "extra_headers"]),
    # --- transformers: what the GRPO group reuse (vau_plugin.llamafactory.group_reuse) calls or replaces per forward
    *[(f"transformers.models.{module}.modeling_{module}:{name}.get_video_features",
       ["self", "pixel_values_videos", "video_grid_thw"], [])
      for module, name in (("qwen2_5_vl", "Qwen2_5_VLModel"), ("qwen2_vl", "Qwen2VLModel"), ("qwen3_vl", "Qwen3VLModel"))],
    ("transformers.cache_utils:DynamicCache.reorder_cache", ["self", "beam_idx"], []),
]

# (upstream dataclass, fields the plugin reads, sets or passes)
FIELDS = [
    ("llamafactory.data.converter:SharegptDatasetConverter", ["dataset_attr"]),
    ("llamafactory.data.parser:DatasetAttr",
     ["messages", "system", "tools", "images", "videos", "audios", "chosen", "rejected", "kto_tag"]),
    ("llamafactory.hparams:FinetuningArguments",
     ["stage", "finetuning_type", "pissa_convert", "use_swanlab", "early_stopping_steps", "plot_loss"]),
    ("llamafactory.hparams:DataArguments",
     ["dataset", "eval_dataset", "streaming", "eval_on_each_dataset", "preprocessing_num_workers", "overwrite_cache",
      "cutoff_len"]),
    ("llamafactory.hparams:ModelArguments",
     ["compute_dtype", "video_fps", "video_maxlen", "video_max_pixels", "video_min_pixels"]),
    ("llamafactory.hparams.training_args:TrainingArguments", ["resume_from_checkpoint", "do_train", "do_eval", "seed"]),
    ("llamafactory.data.mm_plugin:Qwen2VLPlugin", ["image_token", "video_token", "audio_token"]),
    ("llamafactory.data.mm_plugin:Qwen3VLPlugin",
     ["image_token", "video_token", "expand_mm_tokens", "vision_bos_token", "vision_eos_token"]),
    ("trl:GRPOConfig",
     ["use_vllm", "use_transformers_paged", "use_liger_loss", "ds3_gather_for_generation", "temperature", "top_p",
      "top_k", "repetition_penalty", "model_init_kwargs", "beta", "reward_weights"]),
    ("lmms_eval.api.instance:Instance", ["arguments"]),
    ("lmms_eval.api.instance:GenerationResult", ["text", "token_counts"]),
    ("lmms_eval.api.instance:TokenCounts", ["output_tokens"]),
    ("lmms_eval.models.registry_v2:ModelManifest", ["model_id", "chat_class_path"]),
]

# (upstream function or class, regular expression its source must match, what the plugin relies on)
SOURCES = [
    ("llamafactory.train.tuner:run_exp", r"\b_training_function\(",
     "run_exp calls the module global _training_function, which the plugin wraps"),
    ("llamafactory.train.sft.workflow:run_sft", r"\bload_model\(",
     "run_sft calls the module global load_model, which the motion prompt's SFT patch wraps"),
    ("llamafactory.data.mm_plugin:Qwen2VLPlugin._get_mm_token_metadata",
     r"self\._get_video_token_metadata\(videos, processor\)",
     "the video token count comes from _get_video_token_metadata, which the plugin answers from a probe of the file"),
    ("llamafactory.data.mm_plugin:Qwen3VLPlugin.process_messages", r"metadata = video_metadata\[idx\]",
     "upstream reads video_metadata by message index, which Qwen3VLVAUPlugin's copy of process_messages fixes "
     "(per video): on a change, compare the copy with upstream's new code"),
    ("llamafactory.data.mm_plugin:Qwen3VLPlugin.process_messages", r"f\"<\{timestamp_sec:\.1f\} seconds>\"",
     "Qwen3VLVAUPlugin's copy writes each temporal patch's time as upstream does: <t seconds> with one decimal"),
    ("llamafactory.model.patcher:patch_processor", r"setattr\(processor, \"video_fps\"",
     "the processor carries video_fps/video_maxlen/video_*_pixels, read by mm_plugin.sampling_config"),
    ("trl:GRPOTrainer.__init__", r"self\.model_kwarg_keys\s*=",
     "VideoGRPOTrainer keeps only the visual inputs the model's forward accepts (model_kwarg_keys)"),
    ("trl:GRPOTrainer.__init__", r"self\._metrics\s*=", "VideoGRPOTrainer logs skipped_samples in _metrics"),
    ("trl:GRPOTrainer._generate", r"prompt_ids, completion_ids, logprobs, forward_kwargs = self\._generate_single_turn\(",
     "_generate_single_turn returns (prompt_ids, completion_ids, logprobs, forward_kwargs)"),
    ("trl:GRPOTrainer._generate_and_score_completions", r"\*\*forward_kwargs",
     "forward_kwargs (the plugin's mm_inputs) reach _get_per_token_logps_and_entropies"),
    ("trl:GRPOTrainer._calculate_rewards", r"prompts=prompts, completions=completions, completion_ids=",
     "reward functions are called with the keywords of args.TRL_REWARD_KEYWORDS"),
    ("trl:GRPOTrainer._calculate_rewards", r"\[\"trainer_state\"\]", "reward functions also get trainer_state"),
    ("transformers:Trainer", r"self\.current_gradient_accumulation_steps\s*=",
     "the motion regulariser is divided by current_gradient_accumulation_steps"),
    # --- DeepSpeed (tests/test_deepspeed.py runs them; these name the upstream lines the plugin's fixes answer)
    ("transformers:Trainer.save_model", r"state_dict = self\.accelerator\.get_state_dict\(self\.deepspeed\)[\s\S]*"
     r"self\._save\(output_dir, state_dict=state_dict\)",
     "under DeepSpeed the Trainer gathers the weights on every process and saves them as state_dict, where "
     "motion_model's save hook reads a ZeRO-3-partitioned m / n"),
    ("transformers:Trainer._save", r"self\.model\.save_pretrained\(\s*output_dir, state_dict=state_dict",
     "the consolidated weights reach save_pretrained as the state_dict keyword"),
    ("transformers.integrations.deepspeed:deepspeed_optim_sched",
     r"optimizer = trainer\.create_optimizer\(\)[\s\S]*"
     r"lr_scheduler = trainer\.create_scheduler\(num_training_steps=num_training_steps, optimizer=optimizer\)",
     "the scheduler is made from create_optimizer's groups before DeepSpeed sees the optimizer, so "
     "VideoGRPOTrainer.create_optimizer drops the empty group first (transformers#43711 changes this order)"),
    ("deepspeed.runtime.engine:DeepSpeedEngine._configure_optimizer",
     r"basic_optimizer\.param_groups\[:\] = \[pg for pg in basic_optimizer\.param_groups if len\(pg\[\"params\"\]\) != 0\]",
     "DeepSpeed drops empty parameter groups (trainer.drop_empty_param_groups does the same, earlier)"),
    ("deepspeed.runtime.engine:DeepSpeedEngine._broadcast_model", r"\.view\(torch\.uint8\)",
     "DeepSpeed broadcasts parameters as bytes, which torch refuses for 0-dim tensors: motion m and n are shape [1]"),
    ("lmms_eval.api.task",
     r"arguments = \(ctx, self\.doc_to_messages, copy\.deepcopy\(self\.config\.generation_kwargs\), doc_id, "
     r"self\.config\.task, split\)",
     "a chat request's Instance.args is (context, doc_to_messages, gen_kwargs, doc_id, task, split)"),
    ("lmms_eval.api.model:lmms.__init__", r"self\.task_dict\s*=", "the model wrapper reads task_dict[task][split][doc_id]"),
    ("lmms_eval.__main__:cli_evaluate", r"except Exception as e:",
     "cli_evaluate catches a run's Exception and exits 0; a SystemExit (RunStopped) passes through"),
    ("lmms_eval.__main__:cli_evaluate_single", r"TaskManager\(args\.verbosity, include_path=args\.include_path, model_name=args\.model\)",
     "the CLI builds its TaskManager (where guard_exit_status runs) first, with the model name"),
    ("lmms_eval.__main__:cli_evaluate_single", r"task_names = task_manager\.match_tasks\(task_list\)",
     "the CLI matches the --tasks names with TaskManager.match_tasks"),
    ("lmms_eval.__main__:cli_evaluate_single", r"evaluator\.simple_evaluate\(",
     "the CLI looks simple_evaluate up on the module at call time, so the wrapped one runs"),
    ("lmms_eval.__main__:cli_evaluate_single", r"cli_args=args,",
     "the CLI passes cli_args, which tells a CLI run (guarded) from a library call (left alone)"),
    ("lmms_eval.tasks:TaskManager.__init__", r"self\.model_name = model_name", "match_tasks reads the model name"),
    ("lmms_eval.loggers.evaluation_tracker:EvaluationTracker.save_results_aggregated",
     r"joinpath\(self\.general_config_tracker\.model_name_sanitized\)[\s\S]*joinpath\(f\"\{self\.date_id\}_results\.json\"\)",
     "the results file the guard checks for is OUTPUT/<model_name_sanitized>/<date_id>_results.json"),
    ("lmms_eval.loggers.evaluation_tracker:EvaluationTracker.save_results_samples",
     r"joinpath\(f\"\{self\.date_id\}_samples_\{task_name\}\.jsonl\"\)",
     "the samples file the guard checks for is OUTPUT/<model_name_sanitized>/<date_id>_samples_<task>.jsonl"),
    ("lmms_eval.api.model:lmms.__init__", r"self\.cache_hook\s*=", "the model wrapper calls cache_hook.add_partial"),
    ("lmms_eval.models.simple.qwen2_5_vl:Qwen2_5_VL.__init__", r"self\.processor\s*=", "the wrapper uses processor"),
    ("lmms_eval.models.simple.qwen2_5_vl:Qwen2_5_VL.__init__", r"self\.use_cache\s*=", "the wrapper uses use_cache"),
    ("lmms_eval.models.simple.qwen2_5_vl:Qwen2_5_VL.__init__", r"self\.device_map\s*=", "the wrapper uses device_map"),
] + [
    # the group reuse replaces the instance's get_video_features during a forward, and copies rope_deltas to a batch
    (f"transformers.models.{module}.modeling_{module}:{name}.forward", pattern, why)
    for module, name in (("qwen2_5_vl", "Qwen2_5_VLModel"), ("qwen2_vl", "Qwen2VLModel"), ("qwen3_vl", "Qwen3VLModel"))
    for pattern, why in (
        (r"= self\.get_video_features\(pixel_values_videos, video_grid_thw\)",
         "the inner model encodes videos through self.get_video_features (vision_once_per_group replaces it)"),
        (r"self\.rope_deltas = rope_deltas",
         "the inner model keeps the prefill's rope offsets for decoding (prefill_once_per_group copies them to rows)"),
        (r"cache_position\[0\] \+ self\.rope_deltas",
         "decoding and a forward on a cache place text at cache position + rope offset (prompt_once_per_group too)"),
    )
] + [
    # the wrappers run each family's __init__ with the module global `Accelerator` read as a one-process view
    (f"lmms_eval.models.simple.{module}:{name}.__init__", pattern,
     "the family's __init__ builds `Accelerator()` from its module's globals and branches on num_processes")
    for module, name in (("qwen2_5_vl", "Qwen2_5_VL"), ("qwen2_vl", "Qwen2_VL"), ("qwen3_vl", "Qwen3_VL"))
    for pattern in (r"accelerator = Accelerator\(\)", r"if accelerator\.num_processes > 1:")
]


def resolve(name: str):
    """resolve("package.module:Class.attribute") -> the object; AttributeError/ImportError name what is missing."""
    module_name, _, path = name.partition(":")
    obj = importlib.import_module(module_name)
    for part in filter(None, path.split(".")):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name, leading, keywords", SIGNATURES, ids=[case[0] for case in SIGNATURES])
def test_signature(name, leading, keywords):
    parameters = inspect.signature(resolve(name)).parameters  # follows __wrapped__ through the plugin's own wraps
    names = list(parameters)
    assert names[: len(leading)] == leading, f"{name}{inspect.signature(resolve(name))}: expected to start with {leading}"
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    missing = [k for k in keywords if k not in parameters]
    assert not missing or takes_any, f"{name}: no parameter {missing}"


@pytest.mark.parametrize("name, fields", FIELDS, ids=[case[0] for case in FIELDS])
def test_dataclass_fields(name, fields):
    cls = resolve(name)
    known = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set(cls.model_fields)
    missing = [f for f in fields if f not in known]
    assert not missing, f"{name}: no field {missing}"


@pytest.mark.parametrize("name, pattern, why", SOURCES, ids=[f"{case[0]}~{case[2][:40]}" for case in SOURCES])
def test_source(name, pattern, why):
    source = inspect.getsource(resolve(name))
    assert re.search(pattern, source), f"{name} no longer matches {pattern!r}; the plugin relies on it: {why}"


# ------------------------------------------------------------------ contracts that need more than a name


def test_stage_is_a_literal_the_patch_can_extend():
    from llamafactory.hparams.finetuning_args import FinetuningArguments

    stage = typing.get_type_hints(FinetuningArguments)["stage"]
    assert typing.get_origin(stage) is typing.Literal
    assert {"pt", "sft", "rm", "ppo", "dpo", "kto"} <= set(typing.get_args(stage))
    assert "stage" in FinetuningArguments.__dataclass_fields__


def test_train_args_list_holds_the_training_arguments_the_grpo_parser_swaps():
    from llamafactory.hparams import parser
    from llamafactory.hparams.training_args import TrainingArguments

    assert isinstance(parser._TRAIN_ARGS, list) and TrainingArguments in parser._TRAIN_ARGS
    assert len(parser._TRAIN_ARGS) == 5  # get_train_args returns five argument objects


def test_sharegpt_converter_is_looked_up_in_a_mutable_table():
    from llamafactory.data import converter

    assert converter.DATASET_CONVERTERS["sharegpt"] is converter.SharegptDatasetConverter
    assert "DATASET_CONVERTERS[" in inspect.getsource(converter.get_dataset_converter)


def test_the_patches_apply_to_this_llamafactory_and_the_scoped_ones_restore():
    """Every patch of vau_plugin.llamafactory.patch, applied to the installed LLaMA-Factory: the start-up ones take
    (twice: idempotent), the grpo-only swaps (`scoped_patches`) take inside their block and are undone after it."""
    from llamafactory.data import converter
    from llamafactory.hparams import parser
    from llamafactory.hparams.training_args import TrainingArguments

    from vau_plugin.llamafactory import patch, scoped_patches

    patch.apply()
    status = patch.apply()
    for key in ("tuner_patched", "stage_choice", "sft_patched", "motion_registered"):
        assert status[key] is True, f"patch_status()[{key!r}] after apply(): {status}"
    import llamafactory.model
    import llamafactory.train.sft.workflow as sft_workflow
    import llamafactory.train.tuner as tuner

    assert not hasattr(tuner._training_function.__wrapped__, "__vau_plugin_grpo__")  # wrapped once, not twice
    assert sft_workflow.load_model.__wrapped__ is llamafactory.model.load_model

    class Converter(converter.SharegptDatasetConverter):
        pass

    class Arguments(TrainingArguments):
        pass

    before = list(parser._TRAIN_ARGS)
    with scoped_patches.sharegpt_converter(Converter), scoped_patches.training_arguments_class(Arguments):
        assert converter.DATASET_CONVERTERS["sharegpt"] is Converter
        assert Arguments in parser._TRAIN_ARGS and TrainingArguments not in parser._TRAIN_ARGS
        with scoped_patches.training_arguments_class(Arguments):  # nested: left as it is
            assert parser._TRAIN_ARGS.count(Arguments) == 1
    assert converter.DATASET_CONVERTERS["sharegpt"] is converter.SharegptDatasetConverter
    assert parser._TRAIN_ARGS == before


def test_template_and_mm_plugin_registries():
    from llamafactory.data import mm_plugin, template

    from vau_plugin.llamafactory.mm_plugin import BASE_TEMPLATE

    assert isinstance(mm_plugin.PLUGINS, dict) and isinstance(template.TEMPLATES, dict)
    base = template.TEMPLATES[BASE_TEMPLATE]
    assert dataclasses.is_dataclass(base) and dataclasses.is_dataclass(base.mm_plugin)
    assert isinstance(base.mm_plugin, mm_plugin.Qwen2VLPlugin)
    # register() passes every field of the base template but mm_plugin back to register_template
    fields = {f.name for f in dataclasses.fields(base)} - {"mm_plugin"}
    assert fields <= set(inspect.signature(template.register_template).parameters)


def test_the_family_check_reads_llamafactorys_plugin_classes_and_transformers_model_types():
    """The template/model family check (issue 24, item 12) knows a template's family by the nearest LLaMA-Factory
    class of its mm_plugin and a checkpoint's by config.json's model_type: both names must still be these."""
    from llamafactory.data import mm_plugin, template
    from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3VLConfig

    from vau_plugin.llamafactory.mm_plugin import (
        BASE_TEMPLATE,
        FAMILY_MODEL_TYPES,
        LF_PLUGIN_FAMILIES,
        QWEN3_BASE_TEMPLATE,
        template_family,
    )

    assert set(LF_PLUGIN_FAMILIES) <= set(vars(mm_plugin))
    assert issubclass(mm_plugin.Qwen3VLPlugin, mm_plugin.Qwen2VLPlugin)  # why the nearest class decides, not isinstance
    for name, family in (("qwen2_vl", BASE_TEMPLATE), ("qwen3_vl", QWEN3_BASE_TEMPLATE), ("qwen3_vl_nothink", QWEN3_BASE_TEMPLATE)):
        assert template_family(template.TEMPLATES[name]) == family, name
    assert template_family(template.TEMPLATES["glm4v"]) is None  # a Qwen2VLPlugin subclass of another family
    assert {Qwen2VLConfig.model_type, Qwen2_5_VLConfig.model_type} == set(FAMILY_MODEL_TYPES[BASE_TEMPLATE])
    assert Qwen3VLConfig.model_type in FAMILY_MODEL_TYPES[QWEN3_BASE_TEMPLATE]


def test_grpo_arguments_combine_llamafactory_and_trl():
    from llamafactory.hparams.training_args import TrainingArguments
    from transformers import Seq2SeqTrainingArguments
    from trl import GRPOConfig

    from vau_plugin.llamafactory.args import GRPOTrainingArguments

    assert issubclass(TrainingArguments, Seq2SeqTrainingArguments)
    mro = GRPOTrainingArguments.__mro__
    assert mro.index(TrainingArguments) < mro.index(GRPOConfig)


def test_instance_args_is_a_property():
    from lmms_eval.api.instance import Instance

    assert isinstance(inspect.getattr_static(Instance, "args"), property)


@pytest.mark.parametrize("module, name", [("chat.qwen2_5_vl", "Qwen2_5_VL"), ("simple.qwen2_vl", "Qwen2_VL"), ("chat.qwen3_vl", "Qwen3_VL")])
def test_lmms_model_attributes_the_wrapper_reads(module, name):
    import importlib

    base = getattr(importlib.import_module(f"lmms_eval.models.{module}"), name)
    for attribute in ("tokenizer", "model", "batch_size", "device", "rank"):
        assert isinstance(inspect.getattr_static(base, attribute), property), f"{name}.{attribute}"
    assert hasattr(base, "is_simple")
    # the wrapper passes these to the family's __init__ by name
    assert {"pretrained", "device", "device_map", "min_pixels", "max_pixels"} <= set(inspect.signature(base.__init__).parameters)


def test_entry_point_registers_the_plugin_models():
    import lmms_eval.models

    from vau_plugin.lmms.entry import MODEL_CLASS_PATH, MODEL_ID, MODELS, task_dir_registered

    assert MODELS[MODEL_ID] == MODEL_CLASS_PATH and set(MODELS) == {"vau_qwen2_5_vl", "vau_qwen2_vl", "vau_qwen3_vl"}
    for model_id, path in MODELS.items():
        assert lmms_eval.models.MODEL_REGISTRY_V2.get_manifest(model_id).chat_class_path == path
    assert task_dir_registered()


def test_the_exit_status_guard_applies_once_to_this_lmms_eval():
    from lmms_eval import evaluator
    from lmms_eval.tasks import TaskManager
    from tenacity import RetryError

    from vau_plugin.lmms.entry import _GUARD_MARK, exit_status_guarded, guard_exit_status

    guard_exit_status()
    guard_exit_status()
    assert exit_status_guarded()
    for guarded in (evaluator.simple_evaluate, TaskManager.match_tasks):  # wrapped once, not twice
        assert not getattr(guarded.__wrapped__, _GUARD_MARK, False)
    # failure_message reaches a task loader's own error through lmms-eval's retry: RetryError.last_attempt
    assert "last_attempt" in inspect.signature(RetryError.__init__).parameters


def test_openai_names_the_judge_uses():
    import openai

    for name in ("APIStatusError", "APITimeoutError", "APIConnectionError", "Omit", "DefaultHttpxClient"):
        assert hasattr(openai, name), f"openai.{name}"
    # The judge tells a timeout from another connection error by testing the subclass first.
    assert issubclass(openai.APITimeoutError, openai.APIConnectionError)
    client = openai.OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0)
    assert hasattr(client.chat.completions.with_raw_response, "create")

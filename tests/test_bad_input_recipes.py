"""Bad recipe input gets a clear error before anything loads (issue 12): local paths that do not exist, a misspelt
`stage: grpo`, reward functions TRL cannot call, reward weights that are not finite numbers; and the `_tiny`
recipes written by `vau-plugin recipes DIR --workdir W` / the demo work from any folder.

Fast checks call the functions; a few run the real `llamafactory-cli train` (about 10 s each: the error comes
right after LLaMA-Factory's imports, before a tokenizer or model is read).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from vau_plugin.recipes import copy_recipes, recipe_names, recipe_path

from vau_plugin.cli import build_parser
from vau_plugin.commands import recipes as recipes_command
from vau_plugin.runners import train

CLI_TIMEOUT_S = 180
TINY_RECIPES = ("vau_r1_grpo_tiny.yaml", "vau_r1_grpo_lora_tiny.yaml", "vau_r1_sft_tiny.yaml", "vau_r1_grpo_qwen3_vl_tiny.yaml")


def _demo_workdir(root: Path) -> Path:
    """A folder laid out as `vau-plugin demo` leaves it (only the files the checks look at)."""
    for model in ("tiny_model", "tiny_qwen3_vl"):
        (root / model).mkdir(parents=True)
        (root / model / "config.json").write_text("{}", encoding="utf-8")
    (root / "data").mkdir()
    (root / "data" / "dataset_info.json").write_text(json.dumps({"vau_r1_mixed": {}}), encoding="utf-8")
    return root


# ------------------------------------------------------------------------------------------------ 1. paths


def test_missing_local_paths_name_the_key_to_set(tmp_path, monkeypatch):
    from vau_plugin.llamafactory.workflow import check_recipe

    monkeypatch.chdir(tmp_path)
    recipe = yaml.safe_load(recipe_path("vau_r1_grpo_tiny.yaml").read_text(encoding="utf-8"))
    with pytest.raises(ValueError) as caught:
        check_recipe(recipe)
    message = str(caught.value)
    assert "model_name_or_path: '.demo/tiny_model' does not exist" in message
    assert "dataset_dir: '.demo/data' does not exist" in message
    assert str(tmp_path) in message  # says where relative paths were looked up
    assert "--workdir" in message  # and how to get recipes that work from anywhere


@pytest.mark.parametrize("hub_id", ["Qwen/Qwen2.5-VL-3B-Instruct", "gpt2", "tiny_model"])
def test_a_hub_id_stays_a_hub_id(tmp_path, monkeypatch, hub_id):
    from vau_plugin.llamafactory.workflow import check_recipe

    monkeypatch.chdir(tmp_path)
    check_recipe({"stage": "grpo", "model_name_or_path": hub_id, "adapter_name_or_path": "org/adapter"})


@pytest.mark.parametrize(
    "key, value",
    [
        ("model_name_or_path", "./model"),
        ("model_name_or_path", "/nowhere/at/all/model"),
        ("model_name_or_path", "saves/qwen/full"),  # two slashes: no hub id looks like this
        ("adapter_name_or_path", "org/adapter,./saves/lora"),
        ("dataset_dir", "data/vau_r1"),
        ("media_dir", "videos"),
        ("deepspeed", "ds_z3_config.json"),
        ("resume_from_checkpoint", "saves/run/checkpoint-2"),
    ],
)
def test_each_local_path_key_is_checked(tmp_path, monkeypatch, key, value):
    from vau_plugin.llamafactory.workflow import check_recipe

    monkeypatch.chdir(tmp_path)
    args = {"stage": "sft", "model_name_or_path": "org/model", "dataset": "vau_r1_qa", key: value}
    with pytest.raises(ValueError, match=f"{key}: .* does not exist"):
        check_recipe(args)
    argv = [item for k, v in args.items() for item in (f"--{k}", v)]
    with pytest.raises(ValueError, match=f"{key}: .* does not exist"):
        check_recipe(argv)  # the argv form (llamafactory-cli train --key value ...) too


def test_dataset_dir_without_dataset_info_is_named(tmp_path, monkeypatch):
    from vau_plugin.llamafactory.workflow import check_recipe

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    with pytest.raises(ValueError, match="dataset_dir: 'data' has no dataset_info.json"):
        check_recipe({"stage": "grpo", "model_name_or_path": "org/m", "dataset": "vau_r1_qa", "dataset_dir": "data"})


def test_existing_paths_pass(tmp_path, monkeypatch):
    from vau_plugin.llamafactory.workflow import check_recipe

    work = _demo_workdir(tmp_path / "w")
    monkeypatch.chdir(work)
    (work / "ds.json").write_text("{}", encoding="utf-8")
    check_recipe({"stage": "grpo", "model_name_or_path": "./tiny_model", "dataset_dir": str(work / "data"),
                  "dataset": "vau_r1_mixed", "deepspeed": "ds.json", "output_dir": "./not/yet/made",
                  "resume_from_checkpoint": None})


@pytest.mark.parametrize("recipe", ["vau_r1_grpo_tiny.yaml", "vau_r1_sft_tiny.yaml"])
@pytest.mark.e2e
def test_a_tiny_recipe_run_elsewhere_says_which_key_to_set(tmp_path, recipe):
    """Was: an HFValidationError about repo ids ('.demo/tiny_model'), after the run had started."""
    result = train(recipe_path(recipe), cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    assert result.returncode != 0
    assert "HFValidationError" not in result.stdout, result.stdout[-3000:]
    assert "model_name_or_path: '.demo/tiny_model' does not exist" in result.stdout, result.stdout[-3000:]
    assert "dataset_dir: '.demo/data' does not exist" in result.stdout


def test_recipes_with_workdir_get_absolute_paths_that_work_from_anywhere(tmp_path, monkeypatch, capsys):
    from vau_plugin.llamafactory.workflow import check_recipe

    work = _demo_workdir(tmp_path / "demo")
    parser = build_parser("recipes")
    args = parser.parse_args(["recipes", str(tmp_path / "recipes"), "--workdir", str(work)])
    assert recipes_command.run(args) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for name in TINY_RECIPES:
        text = (tmp_path / "recipes" / name).read_text(encoding="utf-8")
        recipe = yaml.safe_load(text)
        model = "tiny_qwen3_vl" if "qwen3_vl" in name else "tiny_model"
        assert recipe["model_name_or_path"] == str(work.resolve() / model)
        assert recipe["dataset_dir"] == str(work.resolve() / "data")
        assert recipe["output_dir"] == str(work.resolve() / "out" / Path(name).stem)
        assert "### model" in text  # the comments are kept
        check_recipe(recipe)
    # the full-size recipes keep their hub id and relative dataset_dir (LLaMA-Factory reads it from the cwd)
    full = yaml.safe_load((tmp_path / "recipes" / "vau_r1_grpo.yaml").read_text(encoding="utf-8"))
    assert (full["model_name_or_path"], full["dataset_dir"]) == ("Qwen/Qwen2.5-VL-3B-Instruct", "data/vau_r1")


def test_recipes_workdir_must_hold_the_demo_files(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="tiny_model"):
        copy_recipes(tmp_path / "recipes", workdir=tmp_path / "empty")
    parser = build_parser("recipes")
    args = parser.parse_args(["recipes", str(tmp_path / "recipes"), "--workdir", str(tmp_path / "empty")])
    assert recipes_command.run(args) == 1 and "vau-plugin demo" in capsys.readouterr().err


def test_recipes_workdir_without_the_qwen3_vl_model_writes_every_other_recipe(tmp_path, monkeypatch):
    """Issue 25, item 6. Was: exit 1 and nothing written until WORKDIR/tiny_qwen3_vl existed, also for a user who
    wants only the Qwen2.5-VL recipes."""
    from vau_plugin.llamafactory.workflow import check_recipe

    work = _demo_workdir(tmp_path / "demo")
    shutil.rmtree(work / "tiny_qwen3_vl")
    cmd = [str(Path(sys.executable).with_name("vau-plugin")), "recipes", str(tmp_path / "recipes"), "--workdir", str(work)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    qwen3 = "vau_r1_grpo_qwen3_vl_tiny.yaml"
    assert sorted(p.name for p in (tmp_path / "recipes").iterdir()) == [name for name in recipe_names() if name != qwen3]
    assert done.stderr.splitlines() == [f"vau-plugin recipes: {qwen3} not written: {work / 'tiny_qwen3_vl' / 'config.json'} "
                                        f"not found (`vau-plugin demo --workdir {work}` makes them)"]  # fmt: skip
    monkeypatch.chdir(tmp_path)
    for name in TINY_RECIPES:
        if name != qwen3:
            check_recipe(yaml.safe_load((tmp_path / "recipes" / name).read_text(encoding="utf-8")))


def test_recipes_write_nothing_when_one_of_them_exists(tmp_path):
    """Was: the recipes before the existing one (in name order) were written, then the refusal."""
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "vau_r1_sft_tiny.yaml").write_text("mine\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match="vau_r1_sft_tiny.yaml exists; pass --force to overwrite"):
        copy_recipes(tmp_path / "recipes")
    assert [p.name for p in (tmp_path / "recipes").iterdir()] == ["vau_r1_sft_tiny.yaml"]


def test_demo_writes_recipes_that_work_from_anywhere(tmp_path, monkeypatch):
    from vau_plugin.demo import demo_recipes
    from vau_plugin.llamafactory.workflow import check_recipe

    work = _demo_workdir(tmp_path / "demo")
    folder = demo_recipes(work)
    assert folder == work.resolve() / "recipes"
    monkeypatch.chdir(tmp_path)
    for name in TINY_RECIPES:
        recipe = yaml.safe_load((folder / name).read_text(encoding="utf-8"))
        assert Path(recipe["model_name_or_path"]).is_absolute()
        check_recipe(recipe)
    assert demo_recipes(work) == folder  # a second demo run rewrites them


# ------------------------------------------------------------------------------------------------ 2. stage


def _wrapped():
    from vau_plugin.llamafactory import patch

    calls = []
    return calls, patch._wrap_training_function(lambda config: calls.append(config))


@pytest.mark.parametrize("stage", ["gpro", "GRPO", "grp", "grpoo", "rgpo"])
def test_a_misspelt_grpo_stage_gets_did_you_mean(stage):
    calls, wrapped = _wrapped()
    with pytest.raises(ValueError, match=rf"unknown stage '{stage}' \(did you mean grpo\?\)"):
        wrapped({"args": {"stage": stage, "model_name_or_path": "org/m"}, "callbacks": []})
    with pytest.raises(ValueError, match="did you mean grpo"):
        wrapped({"args": ["--stage", stage], "callbacks": []})
    assert calls == []


@pytest.mark.parametrize("stage", ["sft", "dpo", "ppo", "dop", "foo", "kto"])
def test_other_stages_go_to_llamafactory_unchanged(stage):
    calls, wrapped = _wrapped()
    config = {"args": {"stage": stage, "model_name_or_path": "org/m"}, "callbacks": []}
    wrapped(config)
    assert calls == [config]


@pytest.mark.e2e
def test_a_misspelt_stage_through_the_cli(tmp_path):
    """Was: LLaMA-Factory's 'Some keys are not used by the HfArgumentParser: [beta, ...]'."""
    result = train(recipe_path("vau_r1_grpo_tiny.yaml"), {"stage": "gpro"}, cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    assert result.returncode != 0
    assert "unknown stage 'gpro' (did you mean grpo?)" in result.stdout, result.stdout[-3000:]
    assert "keys are not used" not in result.stdout


# ------------------------------------------------------------------------------------------------ 2. rewards


def good_reward(completions, **kwargs):
    return [0.0 for _ in completions]


def with_prompts(prompts, completions, answer, **kwargs):
    return [0.0 for _ in completions]


def only_kwargs(**kwargs):
    return [0.0 for _ in kwargs["completions"]]


def no_kwargs(completions):
    return [0.0 for _ in completions]


def positional_only(completions, /, **kwargs):
    return [0.0 for _ in completions]


async def coroutine_reward(completions, **kwargs):
    return [0.0 for _ in completions]


class RewardClass:
    def __init__(self, completions, **kwargs):
        pass


@pytest.mark.parametrize("func", [good_reward, with_prompts, only_kwargs])
def test_reward_functions_trl_can_call_are_accepted(func):
    from vau_plugin.llamafactory.args import check_reward_func

    check_reward_func(f"tests:{func.__name__}", func)


@pytest.mark.parametrize(
    "func, reason",
    [
        (no_kwargs, r"\*\*kwargs"),
        (positional_only, "keyword"),
        (coroutine_reward, "async"),
        (RewardClass, "class"),
        (functools.partial(good_reward), "__name__"),
        (print, r"\*\*kwargs|signature"),
        (len, r"\*\*kwargs|signature"),
    ],
)
def test_reward_functions_trl_cannot_call_are_refused(func, reason):
    from vau_plugin.llamafactory.args import check_reward_func

    with pytest.raises(ValueError, match=rf"reward_funcs: 'x:f' .*({reason})"):
        check_reward_func("x:f", func)


def test_every_registered_reward_and_option_is_one_trl_can_call():
    from vau_plugin.llamafactory.args import check_reward_func
    from vau_plugin.rewards import REWARD_FUNCS, FormatReward

    for name, func in REWARD_FUNCS.items():
        check_reward_func(name, func)
    for require_glue in (None, True, False):
        check_reward_func("x:glue", FormatReward(require_glue))


def test_a_format_reward_option_is_reachable_from_a_recipe_by_import_path():
    """A module-level FormatReward(...) is named like any own reward: reward_funcs: mymodule:glue_always."""
    import sys
    import types

    from vau_plugin.llamafactory.args import resolve_reward_func
    from vau_plugin.rewards import FormatReward

    module = types.ModuleType("_vau_test_rewards")
    module.glue_always = FormatReward(require_glue=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, module.__name__, module)
        assert resolve_reward_func("_vau_test_rewards:glue_always") is module.glue_always


@pytest.mark.parametrize(
    "spelling", ["format", "format_reward", "accuracy", "accuracy_reward", "iou", "tiou", "tiou_reward", " iou "]
)
def test_recipe_reward_names_resolve_through_the_registry(spelling):
    from vau_plugin.llamafactory.args import resolve_reward_func
    from vau_plugin.rewards import REWARD_ALIASES, REWARD_FUNCS

    assert resolve_reward_func(spelling) is REWARD_FUNCS[REWARD_ALIASES[spelling.strip()]]


@pytest.mark.parametrize("name", ["bleu", "Format", "reward"])
def test_an_unknown_recipe_reward_lists_the_registry_names(name):
    from vau_plugin.llamafactory.args import resolve_reward_func
    from vau_plugin.rewards import REWARD_FUNCS

    choices = ", ".join(sorted(REWARD_FUNCS))
    expected = f"reward_funcs: unknown reward {name!r}; expected one of {choices} or 'package.module:function'"
    with pytest.raises(ValueError) as info:
        resolve_reward_func(name)
    assert str(info.value) == expected


def test_the_default_reward_funcs_are_every_registered_reward(tmp_path):
    from vau_plugin.llamafactory.args import DEFAULT_REWARD_FUNCS, GRPOTrainingArguments, get_grpo_train_args
    from vau_plugin.rewards import REWARD_FUNCS

    assert DEFAULT_REWARD_FUNCS == "format,accuracy,iou" == ",".join(REWARD_FUNCS)
    assert GRPOTrainingArguments.__dataclass_fields__["reward_funcs"].default == DEFAULT_REWARD_FUNCS
    args = _recipe_args(tmp_path)
    args.pop("reward_funcs", None)
    training_args = get_grpo_train_args(args)[2]
    assert training_args.reward_funcs == DEFAULT_REWARD_FUNCS


def test_a_recipe_without_learning_rate_gets_trls_grpo_defaults(tmp_path):
    """The README's defaults (TRL's GRPOConfig: learning_rate 1e-6, logging_steps 10); the MRO used to give
    transformers' 5e-5 and 500, so a recipe without `learning_rate` trained 50 times faster than documented."""
    from trl import GRPOConfig

    from vau_plugin.llamafactory.args import get_grpo_train_args

    args = _recipe_args(tmp_path)
    for key in ("learning_rate", "logging_steps"):
        args.pop(key, None)
    training_args = get_grpo_train_args(args)[2]
    assert (training_args.learning_rate, training_args.logging_steps) == (1e-6, 10)
    assert (GRPOConfig.learning_rate, GRPOConfig.logging_steps) == (1e-6, 10)  # what the README states


def _recipe_args(tmp_path: Path, **overrides) -> dict:
    args = yaml.safe_load(recipe_path("vau_r1_grpo_tiny.yaml").read_text(encoding="utf-8"))
    args.update(output_dir=str(tmp_path / "out"), **overrides)
    return args


def test_os_system_as_a_reward_is_refused_when_the_recipe_is_read(tmp_path):
    """Was: accepted, then a TypeError at step 1 (after loading the model and generating)."""
    from vau_plugin.llamafactory.args import get_grpo_train_args

    with pytest.raises(ValueError, match=r"reward_funcs: 'os:system' .*\*\*kwargs.*completions"):
        get_grpo_train_args(_recipe_args(tmp_path, reward_funcs="format,accuracy,os:system"))


@pytest.mark.parametrize(
    "weights, message",
    [
        ([1, 1, "nan"], r"reward_weights: 'nan' \(weight 3\) is not a finite number"),
        ([1, 1, float("inf")], r"reward_weights: inf \(weight 3\) is not a finite number"),
        ([1, True, 1], r"reward_weights: True \(weight 2\) is not a finite number"),
        ([1, 1], "reward_weights has 2 values but reward_funcs names 3 functions"),
        (2.0, "expected a list of numbers"),
    ],
)
def test_bad_reward_weights_are_refused_when_the_recipe_is_read(tmp_path, weights, message):
    """Was: 'must be real number, not str' from torch.tensor inside the trainer (nan); inf/bool went through."""
    from vau_plugin.llamafactory.args import get_grpo_train_args

    with pytest.raises(ValueError, match=message):
        get_grpo_train_args(_recipe_args(tmp_path, reward_weights=weights))


def test_reward_weights_given_as_text_become_numbers(tmp_path):
    from vau_plugin.llamafactory.args import get_grpo_train_args

    training_args = get_grpo_train_args(_recipe_args(tmp_path, reward_weights="1, 0.5, 2"))[2]
    assert training_args.reward_weights == [1.0, 0.5, 2.0]
    training_args = get_grpo_train_args(_recipe_args(tmp_path, reward_weights=[1, "0.5", 2]))[2]
    assert training_args.reward_weights == [1.0, 0.5, 2.0]



@pytest.mark.e2e
def test_vllm_for_videos_is_refused_when_the_recipe_is_read(grpo_workspace, tmp_path):
    """Issue 25, item 5. Was: refused by the trainer, after the tokenizer, the datasets and the model had loaded
    (minutes for a 3B model)."""
    result = train(grpo_workspace.recipes / "vau_r1_grpo_tiny.yaml", grpo_workspace.overrides(tmp_path / "out", use_vllm="true"),
                   cwd=tmp_path, timeout=CLI_TIMEOUT_S)  # fmt: skip
    assert result.returncode != 0
    expected = ("use_vllm: true with videos: TRL 0.24 passes only images to vLLM / paged generation and the Liger loss, "
                f"and dataset vau_r1_mixed maps a videos column in {grpo_workspace.data}/dataset_info.json; set use_vllm: false")  # fmt: skip
    assert expected in result.stdout, result.stdout[-3000:]
    assert "Loading dataset" not in result.stdout and "loading weights" not in result.stdout.lower()


def test_image_only_switches_are_named_together_and_text_only_datasets_keep_them(tmp_path):
    from vau_plugin.llamafactory.args import get_grpo_train_args

    data = tmp_path / "data"
    data.mkdir()
    columns = {"text_only": {"messages": "messages"}, "with_videos": {"messages": "messages", "videos": "videos"}}
    info = {name: {"file_name": f"{name}.json", "formatting": "sharegpt", "columns": cols} for name, cols in columns.items()}
    (data / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    switches = {"use_liger_loss": True, "use_transformers_paged": True}
    training_args = get_grpo_train_args(_recipe_args(tmp_path, dataset_dir=str(data), dataset="text_only", **switches))[2]
    assert training_args.use_liger_loss and training_args.use_transformers_paged
    with pytest.raises(ValueError) as refused:
        get_grpo_train_args(_recipe_args(tmp_path, dataset_dir=str(data), dataset="text_only", eval_dataset="with_videos",
                                         **switches))  # fmt: skip
    assert str(refused.value) == (
        "use_transformers_paged: true, use_liger_loss: true with videos: TRL 0.24 passes only images to vLLM / paged "
        f"generation and the Liger loss, and dataset with_videos maps a videos column in {data}/dataset_info.json; "
        "set use_transformers_paged: false and use_liger_loss: false"
    )


# ------------------------------------------------------------------------------------------------ 3. value types (issue 24, item 12)


@pytest.mark.parametrize(
    "stage, key, value, message",
    [
        ("grpo", "learning_rate", "abc", "learning_rate: 'abc' is not a number (expected float; default 1e-06)"),
        ("sft", "learning_rate", "abc", "learning_rate: 'abc' is not a number (expected float; default 5e-05)"),
        ("grpo", "num_generations", 2.5, "num_generations: 2.5 is not an integer (expected int or null; default 8)"),
        ("grpo", "beta", None, "beta: None is not a number (expected float; default 0.0)"),
        ("grpo", "epsilon_high", "high", "epsilon_high: 'high' is not a number (expected float or null"),
        ("grpo", "bf16", "yes please", "bf16: 'yes please' is not true or false (expected bool; default false)"),
        ("grpo", "temperature", float("nan"), "temperature: nan is not a finite number (expected float"),
        ("sft", "per_device_train_batch_size", True, "per_device_train_batch_size: True is not an integer (expected int"),
        ("sft", "max_steps", "10", "max_steps: '10' is not an integer (expected int"),
        ("sft", "cutoff_len", 1024.0, "cutoff_len: 1024.0 is not an integer (expected int"),
        ("sft", "do_train", "false", "do_train: 'false' is not true or false (expected bool"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_key_before_anything_loads(stage, key, value, message):
    calls, wrapped = _wrapped()
    with pytest.raises(ValueError) as info:
        wrapped({"args": {"stage": stage, "model_name_or_path": "org/m", key: value}, "callbacks": []})
    assert message in str(info.value) and "before anything is loaded" in str(info.value)
    assert calls == []


def test_every_bool_int_float_key_of_the_stage_is_checked():
    """Each such key of LLaMA-Factory's argument classes (and GRPOConfig's for grpo) is named when wrong, and its
    own default passes."""
    import dataclasses

    from vau_plugin.llamafactory.workflow import scalar_fields, train_argument_classes, type_problems

    for stage, expected in (("grpo", ("num_generations", "beta", "epsilon", "max_completion_length")), ("sft", ())):
        classes = train_argument_classes(stage)
        table = scalar_fields(classes)
        assert {"learning_rate", "num_train_epochs", "bf16", "cutoff_len", "lora_rank", "temperature", *expected} <= set(table)
        problems = type_problems({key: "wrong" for key in table}, classes)
        assert sorted(p.split(":", 1)[0] for p in problems) == sorted(table)
        defaults = {key: default for key, (_, _, default) in table.items() if default is not dataclasses.MISSING}
        assert type_problems(defaults, classes) == []


@pytest.mark.parametrize("recipe", ["vau_r1_grpo_tiny.yaml", "vau_r1_sft_tiny.yaml"])
@pytest.mark.e2e
def test_a_wrong_type_through_the_cli_stops_before_the_model_loads(grpo_workspace, tmp_path, recipe):
    """Was: the run loaded the model and datasets, then "TypeError: '<=' not supported between instances of 'float'
    and 'str'" from torch's AdamW."""
    overrides = grpo_workspace.overrides(tmp_path / "out", learning_rate="abc")
    result = train(grpo_workspace.recipes / recipe, overrides, cwd=tmp_path, timeout=CLI_TIMEOUT_S)
    assert result.returncode != 0
    default = "1e-06" if "grpo" in recipe else "5e-05"  # TRL's GRPO default, LLaMA-Factory's (transformers') for SFT
    assert f"learning_rate: 'abc' is not a number (expected float; default {default})" in result.stdout, result.stdout[-3000:]
    assert "not supported between" not in result.stdout and "Loading dataset" not in result.stdout


# ------------------------------------------------------------------------------------------------ 4. template vs model family


@pytest.mark.parametrize(
    "recipe, template",
    [("vau_r1_grpo_tiny.yaml", "qwen3_vl"), ("vau_r1_grpo_tiny.yaml", "qwen3_vl_vau"), ("vau_r1_sft_tiny.yaml", "qwen3_vl_nothink")],
)
@pytest.mark.e2e
def test_a_template_of_another_family_through_the_cli(grpo_workspace, tmp_path, recipe, template):
    """Was (grpo): every row dropped while encoding, then "no usable row left; first problem: AttributeError:
    'Qwen2_5_VLProcessor' object has no attribute '_calculate_timestamps'" (qwen3_vl), after loading the tokenizer."""
    result = train(grpo_workspace.recipes / recipe, grpo_workspace.overrides(tmp_path / "out", template=template),
                   cwd=tmp_path, timeout=CLI_TIMEOUT_S)  # fmt: skip
    assert result.returncode != 0
    expected = (f"template {template} does not fit model family Qwen2-VL / Qwen2.5-VL ({grpo_workspace.model}/config.json "
                f"has model_type qwen2_5_vl): {template} is for Qwen3-VL checkpoints; use template: qwen2_vl_vau")  # fmt: skip
    assert expected in result.stdout, result.stdout[-3000:]
    assert "no usable row left" not in result.stdout and "Loading dataset" not in result.stdout


def test_run_grpo_checks_the_template_against_the_processor_before_encoding(grpo_workspace, tmp_path, monkeypatch):
    """A hub checkpoint has no local config.json to read beforehand: run_grpo compares the loaded processor with the
    template before any row is encoded (which would drop every row on the processor's error)."""
    from vau_plugin.llamafactory import dataset, workflow
    from vau_plugin.llamafactory.args import get_grpo_train_args

    def no_encoding(*args, **kwargs):
        raise AssertionError("datasets were encoded before the family check")

    monkeypatch.setattr(dataset, "load_grpo_datasets", no_encoding)
    local = {"model_name_or_path": str(grpo_workspace.model), "dataset_dir": str(grpo_workspace.data)}
    parsed = get_grpo_train_args(_recipe_args(tmp_path, template="qwen3_vl", **local))
    with pytest.raises(ValueError, match=r"template qwen3_vl does not fit model family Qwen2-VL / Qwen2.5-VL \(the "
                                         r"model's processor is Qwen2_5_VLProcessor\): qwen3_vl is for Qwen3-VL"):
        workflow.run_grpo(*parsed)


def test_templates_of_the_model_family_or_of_other_families_pass(grpo_workspace, monkeypatch):
    from vau_plugin.llamafactory.workflow import template_family_problem

    monkeypatch.chdir(grpo_workspace.root)
    for template in ("qwen2_vl", "qwen2_vl_vau", "qwen2_vl_motion", "mimo_vl", "llava", "no_such_template"):
        assert template_family_problem({"model_name_or_path": str(grpo_workspace.model), "template": template}) is None
    assert template_family_problem({"model_name_or_path": "Qwen/Qwen3-VL-2B-Instruct", "template": "qwen2_vl"}) is None

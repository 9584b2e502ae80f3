"""The start-up hook and the patches, without running LLaMA-Factory (fast); the recipes shipped with them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import sysconfig
import typing
from pathlib import Path

import pytest
import yaml
from vau_plugin.recipes import copy_recipes, recipe_names, recipe_path

from vau_plugin.cli import build_parser
from vau_plugin.commands import recipes as recipes_command
from vau_plugin.llamafactory import patch

HEAVY = ("torch", "transformers", "trl", "llamafactory", "datasets")


def test_pth_is_installed_next_to_the_package():
    pth = Path(sysconfig.get_paths()["purelib"]) / "vau_plugin.pth"
    if not pth.exists():
        pytest.skip("vau-plugin is not pip-installed in this interpreter")
    line = pth.read_text()
    assert line.startswith("import ") and line.count("\n") == 1  # one line that site.py executes
    assert "import vau_plugin.llamafactory._startup" in line and "except Exception" in line  # fails silently


def test_startup_installs_the_hook_and_imports_nothing_heavy():
    code = (
        "import sys; from vau_plugin.llamafactory import patch\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
        "print(patch.patch_status())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "[]"
    assert "'hook_installed': True" in out[1] and "'tuner_patched': False" in out[1]


@pytest.mark.parametrize("first", ["vau_plugin.llamafactory.dataset", "vau_plugin.llamafactory.args", "vau_plugin.llamafactory.trainer"])
def test_the_data_patch_applies_whichever_plugin_module_is_imported_first(first):
    """The hook patches `llamafactory.data` while it is being imported; a plugin module that imports it at its top
    must not be the one the patch needs, or the patch finds it half initialised ("could not patch llamafactory.data")."""
    code = (
        f"import {first}\n"
        "from llamafactory.data.processor import SupervisedDatasetProcessor as P\n"
        "print(getattr(P.preprocess_dataset, '__vau_drops_unusable_videos__', False))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "could not patch" not in proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "True"


def test_hook_can_be_disabled():
    code = "import sys; print(any(getattr(f, '_vau_post_import_finder', False) for f in sys.meta_path))"
    env = {"VAU_PLUGIN_NO_HOOK": "1", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize(
    "args, stage",
    [
        ({"stage": "grpo", "model_name_or_path": "x"}, "grpo"),
        ({"stage": "sft"}, "sft"),
        ({}, None),
        (["--model_name_or_path", "x", "--stage", "grpo"], "grpo"),
        (["--stage=ppo"], "ppo"),
        (["--stage"], None),
    ],
)
def test_stage_of_reads_yaml_dicts_and_argv(args, stage):
    from vau_plugin.llamafactory.workflow import stage_of

    assert stage_of(args) == stage


def test_extend_stage_choices_is_idempotent():
    @dataclasses.dataclass
    class Args:
        stage: typing.Literal["pt", "sft"] = "sft"

    patch.extend_stage_choices(Args)
    patch.extend_stage_choices(Args)
    assert typing.get_args(Args.__annotations__["stage"]) == ("pt", "sft", "grpo")
    assert Args.__dataclass_fields__["stage"].type == Args.__annotations__["stage"]


def test_training_function_wrapper_routes_only_grpo(monkeypatch):
    calls = []

    def original(config):
        calls.append(("original", config))

    from vau_plugin.llamafactory import workflow

    monkeypatch.setattr(workflow, "run_grpo_stage", lambda config: calls.append(("grpo", config)))
    wrapped = patch._wrap_training_function(original)
    assert getattr(wrapped, "__vau_plugin_grpo__")
    sft = {"args": {"stage": "sft", "model_name_or_path": "m"}, "callbacks": []}
    wrapped(sft)
    wrapped({"args": ["--stage", "grpo"], "callbacks": []})
    assert [kind for kind, _ in calls] == ["original", "grpo"]
    assert calls[0][1] == sft  # the other stages get their arguments unchanged


def test_shipped_recipes_copy_out_and_name_the_stages(tmp_path, capsys):
    names = recipe_names()
    for name in ("vau_r1_grpo.yaml", "vau_r1_sft.yaml", "vau_r1_grpo_tiny.yaml", "vau_r1_sft_tiny.yaml",
                 "vau_r1_grpo_lora_tiny.yaml", "vau_r1_grpo_qwen3_vl.yaml", "vau_r1_grpo_qwen3_vl_tiny.yaml",
                 "vau_r1_sft_qwen3_vl.yaml", "ds_z3_config.json"):
        assert name in names
    parser = build_parser("recipes")
    args = parser.parse_args(["recipes", str(tmp_path)])
    assert recipes_command.run(args) == 0 and len(capsys.readouterr().out.splitlines()) == len(names)
    assert recipes_command.run(args) == 1  # no silent overwrite
    assert "--force" in capsys.readouterr().err
    grpo = yaml.safe_load((tmp_path / "vau_r1_grpo.yaml").read_text())
    assert grpo["stage"] == "grpo" and grpo["num_generations"] == 4 and grpo["beta"] == 0.04
    assert grpo["learning_rate"] == 1e-6 and grpo["video_fps"] == 2.0 and grpo["template"] == "qwen2_vl_vau"
    sft = yaml.safe_load((tmp_path / "vau_r1_sft.yaml").read_text())
    assert sft["stage"] == "sft"
    tiny = yaml.safe_load(recipe_path("vau_r1_grpo_tiny.yaml").read_text())
    assert (tiny["model_name_or_path"], tiny["dataset_dir"]) == (".demo/tiny_model", ".demo/data")
    qwen3 = yaml.safe_load((tmp_path / "vau_r1_grpo_qwen3_vl.yaml").read_text())
    qwen3_tiny = yaml.safe_load(recipe_path("vau_r1_grpo_qwen3_vl_tiny.yaml").read_text())
    assert (qwen3["template"], qwen3_tiny["template"]) == ("qwen3_vl_vau", "qwen3_vl_vau")
    assert qwen3_tiny["model_name_or_path"] == ".demo/tiny_qwen3_vl"
    # the Qwen2.5-VL recipes' video token budget, in Qwen3-VL's 32 x 32-px tokens
    recipes = (("vau_r1_grpo_qwen3_vl.yaml", grpo), ("vau_r1_grpo_qwen3_vl_tiny.yaml", tiny), ("vau_r1_sft_qwen3_vl.yaml", sft))
    for name, base in recipes:
        recipe = yaml.safe_load(recipe_path(name).read_text())
        assert {k: v for k, v in recipe.items() if not k.startswith("video_") and k not in ("model_name_or_path",
                "template", "output_dir")} == {k: v for k, v in base.items() if not k.startswith("video_") and k not in
                ("model_name_or_path", "template", "output_dir")}  # fmt: skip
        for key in ("video_max_pixels", "video_min_pixels"):
            if key in base:
                assert recipe[key] * 28 * 28 == base[key] * 32 * 32, (name, key)
        assert (recipe["video_fps"], recipe["video_maxlen"]) == (base["video_fps"], base["video_maxlen"])
    assert copy_recipes(tmp_path, overwrite=True)

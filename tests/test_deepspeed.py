"""Scaling out: `llamafactory-cli train` in 2 processes under DeepSpeed ZeRO-2 / ZeRO-3, on CPU (gloo).

Each run is started as a user starts one: `FORCE_TORCHRUN=1 NPROC_PER_NODE=2 llamafactory-cli train RECIPE
deepspeed=recipes/ds_z{2,3}_config.json ...` (LLaMA-Factory re-launches itself under torchrun; DeepSpeed runs on CPU
with no flag). The first DeepSpeed start in a venv builds a C++ extension (about a minute), cached in the venv
(TORCH_EXTENSIONS_DIR, see conftest.py). Each test runs as few steps as shows the behaviour.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from _fixtures_grpo import GRPOWorkspace
from vau_plugin.motion import read_settings
from vau_plugin.runners import cli_env, reward_history, train

TIMEOUT_S = 400
TESTS_DIR = Path(__file__).resolve().parent
TEST_REWARDS = "format,accuracy,iou,_fixtures_grpo:diversity_reward"  # the diversity reward gives non-zero advantages
MOTION = {"vau_motion_learnable": "true", "vau_motion_m": 0.5, "vau_motion_n": 0.1}
MOTION_KEYS = ("motion_prompt.layer.m", "motion_prompt.layer.n")
# ZeRO-3 against DDP: same data, same float32 arithmetic but another reduction (reduce-scatter of flat buckets vs
# all-reduce), so weights agree to rounding. Measured: at most 3.3e-7 apart after 2 steps of lr 1e-4 (each step moves
# a weight by about 1e-4). Losses are compared as logged, rounded to 4 decimals: two equal-to-rounding losses can
# land one unit of the 4th decimal apart.
WEIGHT_ATOL = 1e-5
LOSS_ATOL = 1.5e-4


def _env() -> dict[str, str]:
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    env.update(FORCE_TORCHRUN="1", NPROC_PER_NODE="2")
    return env


def _train(ws: GRPOWorkspace, recipe: str, output_dir: Path, **overrides) -> str:
    result = train(ws.recipes / recipe, ws.overrides(output_dir, **overrides), cwd=ws.root, env=_env(), timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-5000:]
    assert "Initializing 2 distributed tasks" in result.stdout
    return result.stdout


def _state(output_dir: Path) -> dict:
    return json.loads((output_dir / "trainer_state.json").read_text(encoding="utf-8"))


def _weights(folder: Path, names=None) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    tensors = load_file(folder / "model.safetensors")
    return tensors if names is None else {name: tensors[name] for name in names}


def _motion(folder: Path) -> tuple[float, float]:
    saved = read_settings(folder)
    return saved["m"], saved["n"]


@pytest.mark.e2e
def test_grpo_zero3_two_processes_trains_the_motion_layer_saves_it_in_every_checkpoint_and_resumes(grpo_workspace, tmp_path):
    """The learnable motion layer (m, n) under ZeRO-3, with TRL's generation gathering the partitioned weights: m and n
    train, every checkpoint holds motion_prompt.json and the m / n tensors in model.safetensors (the same values), and a
    run stopped after checkpoint-2 resumes there and ends where the uninterrupted run ended."""
    ws = grpo_workspace
    out = tmp_path / "z3"
    # without gradient checkpointing every group reuse applies (vision once, prefill once, prompt once per group)
    keys = dict(deepspeed="recipes/ds_z3_config.json", reward_funcs=TEST_REWARDS, max_steps=3, learning_rate=1e-3,
                disable_gradient_checkpointing="true", **MOTION)  # fmt: skip
    _train(ws, "vau_r1_grpo_tiny.yaml", out, **keys)

    first = _state(out)
    # the first step without the reuse: the same completions (rewards), the same loss and gradient norm to rounding
    plain = tmp_path / "z3_plain"
    _train(ws, "vau_r1_grpo_tiny.yaml", plain, **dict(keys, max_steps=1, save_steps=10), vision_once_per_group="false",
           prefill_once_per_group="false", prompt_once_per_group="false")  # fmt: skip
    reused, unreused = first["log_history"][0], _state(plain)["log_history"][0]
    assert {k: v for k, v in reused.items() if k.startswith("rewards/")} == {k: v for k, v in unreused.items() if k.startswith("rewards/")}
    assert reused["loss"] == pytest.approx(unreused["loss"], abs=LOSS_ATOL)
    assert reused["grad_norm"] == pytest.approx(unreused["grad_norm"], rel=1e-4)
    assert first["global_step"] == 3
    saved = []
    for step in (1, 2, 3):
        checkpoint = out / f"checkpoint-{step}"
        m, n = _motion(checkpoint)
        tensors = _weights(checkpoint, MOTION_KEYS)
        assert [t.shape for t in tensors.values()] == [(1,), (1,)]
        assert tensors["motion_prompt.layer.m"].item() == pytest.approx(m) and tensors["motion_prompt.layer.n"].item() == pytest.approx(n)
        saved.append((m, n))
    assert len({(0.5, 0.1), *saved}) == 4, f"m and n must move at every step: start (0.5, 0.1), then {saved}"
    assert _motion(out) == saved[-1]

    shutil.rmtree(out / "checkpoint-3")  # the run "died" after checkpoint-2
    log = _train(ws, "vau_r1_grpo_tiny.yaml", out, overwrite_output_dir="false", **keys)
    assert "Resuming training from" in log and "checkpoint-2" in log
    second = _state(out)
    assert second["global_step"] == 3
    assert [e for e in second["log_history"] if e["step"] <= 2] == [e for e in first["log_history"] if e["step"] <= 2]
    assert _motion(out / "checkpoint-3") == pytest.approx(saved[-1], abs=1e-6)


@pytest.mark.e2e
def test_sft_zero3_equals_ddp_with_two_processes_also_when_m_and_n_are_partitioned(grpo_workspace, tmp_path):
    """Plain 2-process DDP against ZeRO-3 for the same 2 SFT steps, with the learnable motion layer: the same losses and
    saved weights (WEIGHT_ATOL), the same m and n. The ZeRO-3 config is the shipped one with
    stage3_param_persistence_threshold 0, which partitions even m and n: motion_prompt.json then comes from the
    consolidated weights being saved (before: a crash, blamed on stage3_gather_16bit_weights_on_model_save)."""
    ws = grpo_workspace
    config = json.loads((ws.recipes / "ds_z3_config.json").read_text(encoding="utf-8"))
    config["zero_optimization"]["stage3_param_persistence_threshold"] = 0
    partitioned = tmp_path / "ds_z3_partition_all.json"
    partitioned.write_text(json.dumps(config), encoding="utf-8")
    keys = dict(save_steps=100, **MOTION)  # the final save only
    _train(ws, "vau_r1_sft_tiny.yaml", tmp_path / "ddp", **keys)
    _train(ws, "vau_r1_sft_tiny.yaml", tmp_path / "z3", deepspeed=partitioned, **keys)

    losses = {name: [(e["step"], e["loss"]) for e in _state(tmp_path / name)["log_history"] if "loss" in e] for name in ("ddp", "z3")}
    assert [step for step, _ in losses["z3"]] == [1, 2] == [step for step, _ in losses["ddp"]]
    assert [loss for _, loss in losses["z3"]] == pytest.approx([loss for _, loss in losses["ddp"]], abs=LOSS_ATOL)

    ddp, zero3 = _weights(tmp_path / "ddp"), _weights(tmp_path / "z3")
    initial = _weights(ws.model)
    assert set(ddp) == set(zero3) and set(MOTION_KEYS) <= set(zero3)
    apart = {name: (ddp[name] - zero3[name]).abs().max().item() for name in ddp}
    assert max(apart.values()) <= WEIGHT_ATOL, sorted(apart.items(), key=lambda kv: kv[1])[-3:]
    moved = max((zero3[name] - initial[name]).abs().max().item() for name in initial)
    assert moved > 10 * WEIGHT_ATOL, "the weights must move by more than the tolerance, or the comparison shows nothing"
    assert _motion(tmp_path / "z3") == pytest.approx(_motion(tmp_path / "ddp"), abs=1e-6)
    assert _motion(tmp_path / "z3") != (0.5, 0.1)
    assert zero3["motion_prompt.layer.m"].item() == pytest.approx(_motion(tmp_path / "z3")[0])


@pytest.mark.e2e
def test_grpo_lora_zero2_two_processes_passes_the_first_scheduler_step(grpo_workspace, tmp_path):
    """LoRA under DeepSpeed: the no-decay parameter group is empty, which DeepSpeed drops after the scheduler was made
    from two groups (before: `zip() argument 2 is longer than argument 1` at the first step). One step with the
    learnable motion layer: rewards logged, the adapter and m / n trained and saved."""
    ws = grpo_workspace
    out = tmp_path / "lora_z2"
    _train(ws, "vau_r1_grpo_lora_tiny.yaml", out, deepspeed="recipes/ds_z2_config.json", reward_funcs=TEST_REWARDS,
           max_steps=1, **MOTION)  # fmt: skip

    history = reward_history(out)
    assert [row["step"] for row in history] == [1] and history[0]["reward"] > 0
    assert [e for e in _state(out)["log_history"] if "reward" in e][0]["grad_norm"] > 0
    from safetensors.torch import load_file

    adapter = load_file(out / "adapter_model.safetensors")
    lora_b = [t for name, t in adapter.items() if "lora_B" in name]
    assert lora_b and any(t.abs().max() > 0 for t in lora_b), "LoRA B starts at zero: one step must move it"
    assert _motion(out) != (0.5, 0.1) and _motion(out / "checkpoint-1") == _motion(out)


def test_the_zero2_and_zero3_configs_ship_with_the_recipes():
    from vau_plugin.recipes import recipe_names, recipe_path

    for stage in (2, 3):
        name = f"ds_z{stage}_config.json"
        assert name in recipe_names()
        config = json.loads(recipe_path(name).read_text(encoding="utf-8"))
        assert config["zero_optimization"]["stage"] == stage and config["bf16"]["enabled"] == "auto"

"""`vau-plugin gpu-check` (issue 16): on a machine without CUDA (CI) it checks what it can, says that the GPU
checks did not run and exits 1; the pieces that judge a GPU run (a training output, a broken check) are checked
on fabricated outputs. The GPU run itself is recorded in the README."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vau_plugin import gpu_check

VAU_PLUGIN = Path(sys.executable).with_name("vau-plugin")


def test_without_cuda_it_checks_what_it_can_says_so_and_exits_1(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([str(VAU_PLUGIN), "gpu-check", "--workdir", str(tmp_path), "--no-grpo-bench"],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "PASS  environment" in out and "no CUDA device" in out
    assert "PASS  set-up: patches, lmms-eval model, recipes" in out
    assert "PASS  inputs: tiny model, mini-bench datasets" in out
    # Issue 24 item 6: the summary counts the missing GPU as the failed check it is (it said "3/3 checks passed").
    assert "\n3/4 checks passed in " in out, out
    fail = next(line for line in out.splitlines() if line.startswith("FAIL"))
    assert fail.startswith("FAIL  no CUDA device") and fail.endswith("torch.cuda.is_available() is False: the GPU checks did not run")
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["passed"] is False and report["device"]["available"] is False
    assert [(c["name"], c["passed"]) for c in report["checks"]] == [
        ("environment", True), ("set-up: patches, lmms-eval model, recipes", True),
        ("inputs: tiny model, mini-bench datasets", True), ("no CUDA device", False),
    ]  # fmt: skip
    assert report["checks"][0]["data"]["versions"]["transformers"]
    assert (tmp_path / "tiny_model" / "config.json").is_file() and (tmp_path / "data" / "dataset_info.json").is_file()


def test_the_summary_counts_failed_checks_and_names_skipped_ones_apart():
    ran = [gpu_check.CheckResult("a", True, 1.0), gpu_check.CheckResult("b", False, 0.0)]
    assert gpu_check.summary(ran, []) == "1/2 checks passed"
    assert gpu_check.summary(ran, ["GRPO step against bare TRL: --no-grpo-bench"]) == "1/2 checks passed, 1 skipped"
    # --no-grpo-bench was reported as "needs bench/grpo.py": the SKIP line gives the reason that applies
    assert gpu_check.grpo_bench_skipped(asked=False) == "GRPO step against bare TRL: --no-grpo-bench"
    assert gpu_check.grpo_bench_skipped(asked=True).endswith("needs bench/grpo.py (run `make gpu-check` in a clone)")


def test_the_training_runs_cover_both_stages_finetunings_and_motion_prompts_in_bf16(tmp_path):
    assert {(r.stage, r.finetuning, r.motion) for r in gpu_check.TRAIN_RUNS} == {
        (s, f, m) for s in ("sft", "grpo") for f in ("full", "lora") for m in ("fixed", "learnable")
    }
    lora_learnable = gpu_check.train_overrides(gpu_check.TrainRun("grpo", "lora", "learnable"), tmp_path, steps=3)
    assert lora_learnable["bf16"] == "true" and lora_learnable["max_steps"] == 3 and lora_learnable["save_steps"] == 3
    assert lora_learnable["finetuning_type"] == "lora" and lora_learnable["lora_rank"] == 8
    assert lora_learnable["vau_motion_learnable"] == "true" and lora_learnable["template"] == "qwen2_vl_motion"
    assert lora_learnable["output_dir"] == tmp_path / "out" / "grpo_lora_learnable"
    full_fixed = gpu_check.train_overrides(gpu_check.TrainRun("sft", "full", "fixed"), tmp_path)
    assert "vau_motion_learnable" not in full_fixed and full_fixed["vau_motion_m"] == 0.5 and "lora_rank" not in full_fixed


def _fake_output(folder: Path, losses: list[float], rewards: list[float] | None = None, weights: str = "model.safetensors",
                 motion: dict | None = None) -> Path:  # fmt: skip
    folder.mkdir(parents=True)
    history = [{"step": i + 1, "loss": loss, **({"reward": rewards[i]} if rewards else {})} for i, loss in enumerate(losses)]
    (folder / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    (folder / weights).write_bytes(b"weights")
    if motion is not None:
        (folder / "motion_prompt.json").write_text(json.dumps(motion))
    return folder


def test_a_training_output_passes_only_with_weights_finite_losses_rewards_and_motion_prompt(tmp_path):
    grpo_learnable = gpu_check.TrainRun("grpo", "full", "learnable")
    good = _fake_output(tmp_path / "good", [0.1, 0.05], [0.2, 0.4], motion={"m": 0.5, "n": 0.01})
    passed, detail, _ = gpu_check.check_trained(grpo_learnable, good)
    assert passed, detail
    assert "loss 0.1 -> 0.05" in detail and "reward 0.20 -> 0.40" in detail and "m 0.5000 n 0.0100" in detail

    nan_loss = _fake_output(tmp_path / "nan", [0.1, math.nan], [0.2, 0.4], motion={"m": 0.5, "n": 0.0})
    assert not gpu_check.check_trained(grpo_learnable, nan_loss)[0]
    no_motion = _fake_output(tmp_path / "nomotion", [0.1], [0.2])
    assert gpu_check.check_trained(grpo_learnable, no_motion)[1] == "no motion_prompt.json"
    nan_motion = _fake_output(tmp_path / "nanmotion", [0.1], [0.2], motion={"m": math.nan, "n": 0.0})
    assert not gpu_check.check_trained(grpo_learnable, nan_motion)[0]
    no_reward = _fake_output(tmp_path / "noreward", [0.1], motion={"m": 0.5, "n": 0.0})
    assert "rewards []" in gpu_check.check_trained(grpo_learnable, no_reward)[1]
    lora_without_adapter = _fake_output(tmp_path / "lora", [0.1])
    assert gpu_check.check_trained(gpu_check.TrainRun("sft", "lora", "fixed"), lora_without_adapter)[1] == "no adapter_model.safetensors"


def test_a_check_that_raises_fails_with_its_message_and_the_run_goes_on(capsys):
    def broken():
        raise FileNotFoundError("no trainer_state.json in /x")

    result = gpu_check.run_check("broken", broken, None)
    assert not result.passed and result.detail == "FileNotFoundError: no trainer_state.json in /x"
    assert capsys.readouterr().out.startswith("FAIL  broken")


@pytest.mark.parametrize("motion_args", ["", "motion_prompt=true,motion_m=0.5,motion_n=0.0"])
def test_lmms_eval_runs_on_cuda_with_the_tiny_recipes_video_budget(tmp_path, motion_args):
    command = gpu_check.lmms_eval_args(tmp_path / "model", motion_args)
    model_args = command[command.index("--model_args") + 1]
    assert command[command.index("--model") + 1] == "vau_qwen2_5_vl"
    assert "device=cuda" in model_args and "fps=2.0" in model_args and "max_num_frames=4" in model_args
    assert model_args.endswith(motion_args)
    assert command[command.index("--tasks") + 1] == "vau_bench_qa_mini,vau_bench_tag_mini,vau_bench_cls_mini"


@pytest.mark.e2e
def test_the_grpo_step_comparison_reads_what_bench_grpo_writes(tmp_path):
    # On CPU with one short round: what matters here is that the check runs the real script and reads its JSON.
    script = Path(__file__).resolve().parents[1] / "bench" / "grpo.py"
    passed, detail, data = gpu_check.check_grpo_bench(script, tmp_path, ("--quick", "--steps", "2", "--device", "cpu"))
    assert passed, data.get("log_tail")
    assert detail.startswith("QA G=4 checkpointing on: best step: bare TRL GRPOTrainer ")
    assert "plugin stage grpo + group reuse" in detail
    assert "GRPO step vs bare TRL, QA budget, G=4, checkpointing on: " in detail and "(median " in detail
    assert "vision " in detail and "prefill " in detail and "log-prob forwards " in detail  # where the time goes
    assert len(data["overhead_ratios"]) == 1 and data["overhead_ratios"][0] > 0

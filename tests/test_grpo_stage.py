"""`stage: grpo` through the real `llamafactory-cli train`, on the tiny model and the mini bench (CPU).

Each run is a subprocess started exactly as a user starts it; the plugin reaches it only through the start-up
hook of the installed package. The recipes are the shipped `_tiny` ones, pointed at the session workspace with
LLaMA-Factory's own `key=value` overrides.
"""

from __future__ import annotations

import sys

import pytest
import torch

from _fixtures_grpo import BROKEN_DATASET, BROKEN_SFT_DATASET, logps_with_other_pixels
from _grpo_runs import TEST_REWARDS, TIMEOUT_S, assert_rewards_logged, train_env, train_ok, trainer_state
from vau_plugin.runners import train

# The hook on and off are two processes doing the same float32 arithmetic on the CPU, but nothing promises bit-equal
# results across processes (the order of a parallel reduction, the kernel a library picks), and the losses are
# compared as logged, rounded to 4 decimals, where two losses equal to rounding can land one unit of the 4th decimal
# apart: 1.5e-4, as test_deepspeed's LOSS_ATOL. A hook that changed the run (another template, prompt or video
# budget) would change the tokens or pixels the loss is computed on, not its last logged digit.
LOGGED_LOSS_ATOL = 1.5e-4


@pytest.mark.e2e
def test_grpo_full_finetuning_trains_on_video_and_saves_a_loadable_checkpoint(grpo_workspace, tmp_path):
    ws = grpo_workspace
    out = tmp_path / "full"
    train_ok(ws, "vau_r1_grpo_tiny.yaml", out, reward_funcs=TEST_REWARDS)

    history = assert_rewards_logged(out, names=("format_reward", "accuracy_reward", "tiou_reward", "diversity_reward"))
    logged = [e for e in trainer_state(out)["log_history"] if "reward" in e]
    assert logged[0]["grad_norm"] > 0, "non-zero advantages must give a gradient"
    assert all(e["skipped_samples"] == 0 for e in logged)
    assert history[0]["reward"] > 0  # the diversity reward is positive for any non-empty completion
    assert (out / "checkpoint-2" / "model.safetensors").is_file()

    from transformers import AutoModelForImageTextToText

    trained = AutoModelForImageTextToText.from_pretrained(out)
    initial = AutoModelForImageTextToText.from_pretrained(ws.model)
    changed = [n for n, p in trained.named_parameters() if not torch.equal(p, initial.get_parameter(n))]
    assert changed, "GRPO with a non-zero gradient must change the weights"
    assert not any(".visual." in n or n.startswith("visual.") or "model.visual" in n for n in changed), changed[:5]


@pytest.mark.e2e
def test_grpo_trains_qwen2_vl_the_papers_2b_family_with_the_same_recipe(grpo_workspace, tiny_qwen2_vl_dir, tmp_path):
    """Qwen2-VL through the same recipe and template (`qwen2_vl_vau`): its processor takes no rate, so the visual
    inputs are pixel_values_videos and video_grid_thw only, and a step changes the decoder's weights."""
    ws = grpo_workspace
    out = tmp_path / "qwen2_vl"
    train_ok(ws, "vau_r1_grpo_tiny.yaml", out, model_name_or_path=tiny_qwen2_vl_dir, reward_funcs=TEST_REWARDS,
             max_steps=1, save_steps=1)  # fmt: skip
    assert_rewards_logged(out)
    assert [e for e in trainer_state(out)["log_history"] if "reward" in e][0]["grad_norm"] > 0

    from transformers import AutoModelForImageTextToText

    trained = AutoModelForImageTextToText.from_pretrained(out)
    assert type(trained).__name__ == "Qwen2VLForConditionalGeneration"
    initial = AutoModelForImageTextToText.from_pretrained(tiny_qwen2_vl_dir)
    assert any(not torch.equal(p, initial.get_parameter(n)) for n, p in trained.named_parameters())


@pytest.mark.e2e
def test_grpo_lora_under_torchrun_relaunch_saves_an_adapter(grpo_workspace, tmp_path):
    """LoRA; launched with FORCE_TORCHRUN, so LLaMA-Factory re-launches itself under torchrun and the hook
    must act in the rank it starts."""
    ws = grpo_workspace
    out = tmp_path / "lora"
    result = train_ok(ws, "vau_r1_grpo_lora_tiny.yaml", out, env=train_env(FORCE_TORCHRUN="1", NPROC_PER_NODE="1"))
    assert "torchrun" in result.stdout or "Initializing 1 distributed tasks" in result.stdout
    assert_rewards_logged(out)
    assert (out / "adapter_config.json").is_file() and (out / "checkpoint-2" / "adapter_model.safetensors").is_file()

    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(ws.model), out)
    assert any("lora_A" in n for n, _ in model.named_parameters())


@pytest.mark.e2e
def test_grpo_resumes_with_step_count_and_optimizer_state(grpo_workspace, tmp_path):
    ws = grpo_workspace
    out = tmp_path / "resume"
    train_ok(ws, "vau_r1_grpo_lora_tiny.yaml", out, max_steps=3)
    first = trainer_state(out)
    # the run "dies" after checkpoint-2: its last checkpoint and final files are gone
    import shutil

    shutil.rmtree(out / "checkpoint-3")
    result = train_ok(ws, "vau_r1_grpo_lora_tiny.yaml", out, max_steps=3, overwrite_output_dir="false")
    assert "Resuming training from" in result.stdout and "checkpoint-2" in result.stdout
    assert "Continuing training from global step 2" in result.stdout
    second = trainer_state(out)
    assert second["global_step"] == 3
    assert [e["step"] for e in second["log_history"] if "reward" in e] == [1, 2, 3]
    # steps 1-2 come from the restored state, not from a new run
    assert [e for e in second["log_history"] if e["step"] <= 2] == [e for e in first["log_history"] if e["step"] <= 2]
    optimizer = torch.load(out / "checkpoint-3" / "optimizer.pt", map_location="cpu", weights_only=False)
    adam_steps = {float(s["step"]) for s in optimizer["state"].values()}
    assert adam_steps == {3.0}, f"Adam must continue from the restored state (step 3), got {adam_steps}"


@pytest.mark.e2e
def test_broken_videos_are_logged_and_skipped(grpo_workspace, tmp_path):
    ws = grpo_workspace
    out = tmp_path / "broken"
    result = train_ok(ws, "vau_r1_grpo_lora_tiny.yaml", out, dataset=BROKEN_DATASET)
    log = result.stdout
    assert "garbage.mp4" in log and "skipped" in log  # unreadable metadata: dropped while encoding the dataset
    assert "skipping sample" in log and "zeroed_middle.mp4" in log  # decodes badly: replaced during training
    logged = [e for e in trainer_state(out)["log_history"] if "reward" in e]
    assert len(logged) == 2 and sum(e["skipped_samples"] for e in logged) > 0


@pytest.mark.e2e
def test_sft_drops_an_example_whose_video_cannot_be_used_and_trains_on(grpo_workspace, tmp_path):
    """`stage: sft` with the plugin's template: one unreadable video among good ones used to end the run while
    LLaMA-Factory encoded the dataset (VideoDecodeError from its SupervisedDatasetProcessor)."""
    out = tmp_path / "sft_broken"
    result = train_ok(grpo_workspace, "vau_r1_sft_tiny.yaml", out, dataset=BROKEN_SFT_DATASET)
    log = result.stdout
    assert "dropped a training example: its video cannot be used" in log and "garbage.mp4" in log
    assert len([e for e in trainer_state(out)["log_history"] if "loss" in e]) == 2


@pytest.mark.e2e
def test_sft_stage_is_untouched_by_the_hook(grpo_workspace, tmp_path):
    """The same SFT run with and without the start-up hook (VAU_PLUGIN_NO_HOOK=1): the same losses. (LLaMA-Factory's
    own `qwen2_vl` template: the plugin's `qwen2_vl_vau` exists only with the hook.)"""
    ws = grpo_workspace
    losses = {}
    for hook, env in (("on", train_env()), ("off", train_env(VAU_PLUGIN_NO_HOOK="1"))):
        out = tmp_path / f"sft_{hook}"
        train_ok(ws, "vau_r1_sft_tiny.yaml", out, env=env, template="qwen2_vl")
        losses[hook] = [e["loss"] for e in trainer_state(out)["log_history"] if "loss" in e]
    assert len(losses["on"]) == 2 and losses["on"][0] > 0
    assert losses["on"] == pytest.approx(losses["off"], abs=LOGGED_LOSS_ATOL)


@pytest.mark.e2e
def test_grpo_without_the_hook_is_rejected_by_llamafactory(grpo_workspace, tmp_path):
    """Proves the stage comes from the hook: with it disabled, LLaMA-Factory refuses the recipe's GRPO keys."""
    ws = grpo_workspace
    result = train(ws.recipes / "vau_r1_grpo_tiny.yaml", ws.overrides(tmp_path / "nohook"), cwd=ws.root,
                   env=train_env(VAU_PLUGIN_NO_HOOK="1"), timeout=TIMEOUT_S)
    assert result.returncode != 0
    assert "num_generations" in result.stdout or "Unknown task" in result.stdout


@pytest.mark.e2e
def test_motion_prompt_template_runs_in_the_grpo_recipe(grpo_workspace, tmp_path):
    ws = grpo_workspace
    out = tmp_path / "motion"
    train_ok(ws, "vau_r1_grpo_lora_tiny.yaml", out, template="qwen2_vl_motion", max_steps=1)
    assert_rewards_logged(out)


def test_video_reaches_every_forward_as_video_inputs(grpo_workspace):
    """In-process: the trainer builds pixel_values_videos / video_grid_thw / second_per_grid_ts from the
    recipe's video settings, their token count matches the prompt, and they change the log-probs."""
    ws = grpo_workspace
    from vau_plugin.llamafactory import patch

    patch.apply()
    import yaml
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.model import load_model, load_tokenizer

    from vau_plugin.llamafactory.args import get_grpo_train_args, reward_funcs_of
    from vau_plugin.llamafactory.dataset import load_grpo_datasets
    from vau_plugin.llamafactory.trainer import VideoGRPOTrainer

    args = yaml.safe_load((ws.recipes / "vau_r1_grpo_lora_tiny.yaml").read_text())
    args.update({k: str(v) for k, v in ws.overrides(ws.root / "inproc").items()}, max_samples=4)
    model_args, data_args, training_args, finetuning_args, _ = get_grpo_train_args(args)
    assert (training_args.num_generations, training_args.beta, training_args.top_p) == (2, 0.04, 1.0)
    tok = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(tok["tokenizer"], data_args)
    data = load_grpo_datasets(template, model_args, data_args, training_args, tok["tokenizer"], tok["processor"])
    from llamafactory.data import converter

    assert converter.DATASET_CONVERTERS["sharegpt"] is converter.SharegptDatasetConverter  # swap undone
    train_ds = data["train_dataset"]
    assert {"prompt", "prompt_ids", "videos", "task", "answer", "span"} <= set(train_ds.column_names)
    assert "images" not in train_ds.column_names
    model = load_model(tok["tokenizer"], model_args, finetuning_args, True)
    trainer = VideoGRPOTrainer(model=model, reward_funcs=reward_funcs_of(training_args), args=training_args,
                               train_dataset=train_ds, processing_class=tok["processor"], template=template,
                               lf_processor=tok["processor"])
    row = train_ds[0]
    mm = trainer._build_mm_inputs(row)
    assert set(mm) == {"pixel_values_videos", "video_grid_thw", "second_per_grid_ts"}
    from vau_plugin.video import probe

    # the temporal grid spans the clip, so Qwen2.5-VL's temporal position ids count seconds
    grid_t = int(mm["video_grid_thw"][0, 0])
    assert mm["second_per_grid_ts"].item() * grid_t == pytest.approx(probe(row["videos"][0]).duration, rel=0.1)
    video_id = tok["tokenizer"].convert_tokens_to_ids("<|video_pad|>")
    assert row["prompt_ids"].count(video_id) == int(mm["video_grid_thw"].prod()) // 4
    with_video, other_video = logps_with_other_pixels(trainer, model, row["prompt_ids"], tok["tokenizer"].eos_token_id, mm)
    assert not torch.allclose(with_video, other_video), "the video content must reach the model"
    suppressed = set(trainer.generation_config.suppress_tokens)
    assert video_id in suppressed


@pytest.mark.e2e
def test_tiny_recipes_written_with_workdir_run_from_any_folder(grpo_workspace, tiny_qwen3_vl_dir, tmp_path):
    """`vau-plugin recipes DIR --workdir W` (W laid out as the demo leaves it: tiny_model/, tiny_qwen3_vl/, data/): the
    _tiny recipe trains from a working directory that has no .demo/, without path overrides."""
    from vau_plugin.recipes import copy_recipes

    ws = grpo_workspace
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    for name, target in (("tiny_model", ws.model), ("tiny_qwen3_vl", tiny_qwen3_vl_dir), ("data", ws.data)):
        (workdir / name).symlink_to(target, target_is_directory=True)
    copy_recipes(tmp_path / "recipes", workdir=workdir)
    assert f"model_name_or_path: \"{workdir.resolve() / 'tiny_qwen3_vl'}\"" in (tmp_path / "recipes" / "vau_r1_grpo_qwen3_vl_tiny.yaml").read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "moved"
    result = train(tmp_path / "recipes" / "vau_r1_grpo_lora_tiny.yaml", {"output_dir": out, "max_steps": 1},
                   cwd=elsewhere, env=train_env(), timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-4000:]
    assert_rewards_logged(out)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"reward_funcs": "format,accuracy,os:system"}, "reward_funcs: 'os:system' takes (command), without **kwargs"),
        ({"reward_weights": "[1,1,nan]"}, "reward_weights: 'nan' (weight 3) is not a finite number"),
    ],
)
@pytest.mark.e2e
def test_bad_rewards_stop_the_run_before_the_model_loads(grpo_workspace, tmp_path, overrides, message):
    """Was: os:system accepted, then a TypeError at step 1; [1, 1, nan] a 'must be real number, not str' from the
    trainer. Now the recipe is refused when it is read: no tokenizer, model or dataset has been loaded."""
    ws = grpo_workspace
    result = train(ws.recipes / "vau_r1_grpo_tiny.yaml", ws.overrides(tmp_path / "bad", **overrides), cwd=ws.root,
                   env=train_env(), timeout=TIMEOUT_S)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-4000:]
    assert "loading file" not in result.stdout and "loading configuration file" not in result.stdout
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_reward_names_resolve_to_the_plugin_rewards_or_an_import_path():
    from vau_plugin import rewards
    from vau_plugin.llamafactory.args import resolve_reward_func

    assert resolve_reward_func("iou") is rewards.tiou_reward
    assert resolve_reward_func(" format ") is rewards.format_reward
    assert resolve_reward_func("vau_plugin.rewards:accuracy_reward") is rewards.accuracy_reward
    for bad in ("bleu", "vau_plugin.rewards:nope", "no_such_module:f"):
        with pytest.raises(ValueError, match="reward_funcs"):
            resolve_reward_func(bad)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))

"""The GRPO trainer's group reuse (vau_plugin.llamafactory.group_reuse) computes what the plain path computes.

In-process trainers on the tiny models: the same batch of G copies of two prompts through
`_get_per_token_logps_and_entropies` with `vision_once_per_group` and `prompt_once_per_group` on and off (log-probs
and every gradient), and
through `_generate_single_turn` with `prefill_once_per_group` on and off (greedy and seeded sampled completions),
for Qwen2.5-VL (full with a frozen or a trainable vision tower, gradient checkpointing on and off, LoRA, fixed and
learnable motion prompts), Qwen2-VL and Qwen3-VL. The counts of vision-tower calls show the reuse happens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from vau_plugin.llamafactory.group_reuse import group_index, video_sources

G = 3


def test_group_index_and_video_sources():
    assert group_index(["a", "a", "b", "a"]) == ([0, 2], [0, 0, 1, 0])
    a = {"video_grid_thw": torch.tensor([[2, 4, 4]])}
    b = {"video_grid_thw": torch.tensor([[2, 4, 4], [2, 4, 4]])}  # a sample with two videos
    assert video_sources([a, b, a, b]) == [0, 1, 2, 0, 1, 2]
    assert video_sources([a, b]) is None  # nothing repeats: the plain path
    equal_but_not_shared = {"video_grid_thw": torch.tensor([[2, 4, 4]])}
    assert video_sources([a, equal_but_not_shared]) is None  # copies are the same dict, not equal values


def build_trainer(ws: Any, model_dir: Path, out: Path, *, recipe: str, template: str, learnable_motion: bool = False,
                  **overrides: Any):  # fmt: skip
    """An in-process VideoGRPOTrainer as `stage: grpo` builds it, on the tiny recipe with `overrides`."""
    import yaml
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.model import load_model, load_tokenizer

    from vau_plugin.llamafactory import patch
    from vau_plugin.llamafactory.args import get_grpo_train_args, reward_funcs_of
    from vau_plugin.llamafactory.dataset import load_grpo_datasets
    from vau_plugin.llamafactory.trainer import VideoGRPOTrainer

    patch.apply()
    args = yaml.safe_load((ws.recipes / recipe).read_text(encoding="utf-8"))
    args.update({k: str(v) for k, v in ws.overrides(out).items()}, model_name_or_path=str(model_dir), template=template,
                dataset="vau_r1_qa", max_samples=4, **overrides)  # fmt: skip
    model_args, data_args, training_args, finetuning_args, _ = get_grpo_train_args(args)
    tok = load_tokenizer(model_args)
    lf_template = get_template_and_fix_tokenizer(tok["tokenizer"], data_args)
    data = load_grpo_datasets(lf_template, model_args, data_args, training_args, tok["tokenizer"], tok["processor"])
    model = load_model(tok["tokenizer"], model_args, finetuning_args, True)
    if learnable_motion:
        from vau_plugin.motion_model import attach_motion_prompt

        attach_motion_prompt(model, m=0.3, n=0.05)
    trainer = VideoGRPOTrainer(model=model, reward_funcs=reward_funcs_of(training_args), args=training_args,
                               train_dataset=data["train_dataset"], processing_class=tok["processor"],
                               template=lf_template, lf_processor=tok["processor"])  # fmt: skip
    return trainer


def batch(trainer: Any, order: str) -> tuple[list[dict], list[dict]]:
    """(rows, per-row visual inputs) of G copies of two rows with different videos, as the trainer's media cache
    gives them (one dict per distinct row); `order` "grouped" (AAABBB) or "interleaved" (ABABAB)."""
    dataset = trainer.train_dataset
    first = dataset[0]
    second = next(dataset[i] for i in range(1, len(dataset)) if dataset[i]["videos"] != first["videos"])
    cache: dict = {}
    picks = [0] * G + [1] * G if order == "grouped" else [0, 1] * G
    rows = [(first, second)[p] for p in picks]
    return rows, [trainer._media_inputs(row, cache) for row in rows]


class VisionCalls:
    """Counts the videos the vision tower encodes (rows of its grid_thw) while installed."""

    def __init__(self, model: Any) -> None:
        from vau_plugin.llamafactory.group_reuse import vision_model

        self.videos = 0
        self.handle = vision_model(model).visual.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        self.videos += len(kwargs.get("grid_thw", args[1] if len(args) > 1 else []))

    def remove(self) -> None:
        self.handle.remove()


def logps_and_grads(trainer: Any, rows: list[dict], per_row: list[dict], vision: bool, prompt: bool) -> tuple:
    """Log-probs of a fixed completion after each prompt, the gradients of a weighted sum of them, and the number of
    videos the vision tower encoded, with `vision_once_per_group` = vision and `prompt_once_per_group` = prompt."""
    trainer.args.vision_once_per_group, trainer.args.prompt_once_per_group = vision, prompt
    model = trainer.model
    model.train()
    model.zero_grad(set_to_none=True)
    tokenizer = trainer._tokenizer
    completion = tokenizer("<answer>B</answer>", add_special_tokens=False)["input_ids"]
    ids = [torch.tensor(row["prompt_ids"] + completion[: len(completion) - k % 2]) for k, row in enumerate(rows)]
    from trl.trainer.utils import pad

    prompt_ids = pad([torch.tensor(row["prompt_ids"]) for row in rows], padding_value=trainer.pad_token_id,
                     padding_side="left")  # fmt: skip
    completion_ids = pad([t[len(row["prompt_ids"]) :] for t, row in zip(ids, rows)], padding_value=trainer.pad_token_id,
                         padding_side="right")  # fmt: skip  (TRL's layout: prompts left-, completions right-padded)
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_ids != -1, torch.ones_like(completion_ids, dtype=torch.bool)], dim=1).long()
    mask[:, : prompt_ids.size(1)] = pad([torch.ones(len(r["prompt_ids"]), dtype=torch.long) for r in rows],
                                        padding_value=0, padding_side="left")  # fmt: skip
    for k in range(len(rows)):
        if k % 2:
            mask[k, -1] = 0  # a shorter completion: its pad is masked, as TRL masks it
    calls = VisionCalls(model)
    try:
        logps, _ = trainer._get_per_token_logps_and_entropies(model, input_ids, mask, completion_ids.size(1),
                                                              batch_size=len(rows), mm_inputs=per_row)  # fmt: skip
    finally:
        calls.remove()
    weights = torch.linspace(-1.0, 1.0, logps.numel()).view_as(logps) * mask[:, -completion_ids.size(1) :]
    (logps * weights).sum().backward()  # the copies get different advantages; masked tokens none
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return logps.detach() * mask[:, -completion_ids.size(1) :], grads, calls.videos


def assert_close_grads(got: dict, expected: dict, rtol: float, relative_atol: float) -> None:
    assert expected and set(got) == set(expected)
    for name, grad in expected.items():
        scale = float(grad.abs().max())
        torch.testing.assert_close(got[name], grad, rtol=rtol, atol=relative_atol * scale, msg=lambda m: f"{name}: {m}")


def assert_same_logps_and_grads(trainer: Any, order: str = "grouped") -> list[str]:
    """Plain path vs vision_once_per_group (log-probs and LM gradients bit-identical, vision-side gradients to float32
    rounding) vs prompt_once_per_group as well (where it applies: log-probs and gradients to float32 rounding).
    Returns the names of the vision-side parameters that got gradients."""
    rows, per_row = batch(trainer, order)
    plain, plain_grads, plain_videos = logps_and_grads(trainer, rows, per_row, vision=False, prompt=False)
    shared, shared_grads, shared_videos = logps_and_grads(trainer, rows, per_row, vision=True, prompt=False)
    assert (plain_videos, shared_videos) == (2 * G, 2)  # each distinct video encoded once
    assert torch.equal(shared, plain), (shared - plain).abs().max()
    assert plain_grads and set(shared_grads) == set(plain_grads)
    vision_grads = [name for name in plain_grads if ".visual." in name or "motion_prompt" in name]
    for name, grad in plain_grads.items():
        if name in vision_grads:
            # one encoding's gradient sums the copies' in another order than G encodings do: float32 rounding
            assert_close_grads({name: shared_grads[name]}, {name: grad}, rtol=1e-5, relative_atol=1e-5)
        else:
            assert torch.equal(shared_grads[name], grad), f"{name}: {(shared_grads[name] - grad).abs().max()}"
    once, once_grads, once_videos = logps_and_grads(trainer, rows, per_row, vision=True, prompt=True)
    if trainer._prompt_once(trainer.model):
        assert once_videos == 2
        torch.testing.assert_close(once, plain, rtol=0, atol=1e-5)
        assert_close_grads(once_grads, plain_grads, rtol=1e-4, relative_atol=1e-4)
    else:  # gradient checkpointing in training: the plain forward with the vision reuse
        assert torch.equal(once, shared) and once_videos == 2
    return vision_grads


def completions(trainer: Any, rows: list[dict], per_row: list[dict], reuse: bool, sample: bool) -> tuple[list, int]:
    trainer.args.prefill_once_per_group = reuse
    trainer.model.eval()
    trainer._batch_rows, trainer._batch_mm_inputs = rows, per_row
    do_sample = trainer.generation_config.do_sample
    trainer.generation_config.do_sample = sample
    calls = VisionCalls(trainer.model)
    try:
        torch.manual_seed(1234)
        _, out, _, _ = trainer._generate_single_turn(None, None)
    finally:
        calls.remove()
        trainer.generation_config.do_sample = do_sample
        trainer._batch_rows = trainer._batch_mm_inputs = None
    return out, calls.videos


def assert_same_generation(trainer: Any, order: str = "grouped") -> None:
    rows, per_row = batch(trainer, order)
    for sample in (False, True):
        plain, plain_videos = completions(trainer, rows, per_row, reuse=False, sample=sample)
        shared, shared_videos = completions(trainer, rows, per_row, reuse=True, sample=sample)
        assert shared == plain, f"sample={sample}"
        assert (plain_videos, shared_videos) == (2, 2)  # the plain path deduplicates the vision tower already
        trainer.args.vision_once_per_group = False
        unshared, unshared_videos = completions(trainer, rows, per_row, reuse=False, sample=sample)
        trainer.args.vision_once_per_group = True
        assert unshared == plain and unshared_videos == 2 * G


NO_CKPT = {"disable_gradient_checkpointing": True}  # where prompt_once_per_group applies
QWEN25_CASES = {
    "full, frozen vision tower, gradient checkpointing": dict(recipe="vau_r1_grpo_tiny.yaml"),
    "full, trainable vision tower, no checkpointing": dict(recipe="vau_r1_grpo_tiny.yaml", freeze_vision_tower=False,
                                                           **NO_CKPT),  # fmt: skip
    "full, trainable vision tower, learnable motion, checkpointing": dict(
        recipe="vau_r1_grpo_tiny.yaml", freeze_vision_tower=False, learnable_motion=True),
    "lora, learnable motion, no checkpointing": dict(recipe="vau_r1_grpo_lora_tiny.yaml", learnable_motion=True, **NO_CKPT),
    "full, fixed motion template, no checkpointing": dict(recipe="vau_r1_grpo_tiny.yaml", template="qwen2_vl_motion",
                                                          **NO_CKPT),  # fmt: skip
}


@pytest.mark.parametrize("case", list(QWEN25_CASES))
def test_qwen2_5_vl_reuse_gives_the_same_logps_gradients_and_completions(grpo_workspace, tmp_path, case):
    settings = dict(QWEN25_CASES[case])
    settings.setdefault("template", "qwen2_vl_vau")
    trainer = build_trainer(grpo_workspace, grpo_workspace.model, tmp_path, **settings)
    assert trainer._prompt_once(trainer.model) == bool(settings.get("disable_gradient_checkpointing"))
    vision_grads = assert_same_logps_and_grads(trainer)
    if settings.get("freeze_vision_tower") is False or settings.get("learnable_motion"):
        assert vision_grads, "the trainable vision side must get gradients through the shared encoding"
    assert_same_generation(trainer)


def test_reuse_with_interleaved_copies(grpo_workspace, tmp_path):
    """Copies need not be neighbours (several processes split a group; TRL shuffles the batch for the loss)."""
    trainer = build_trainer(grpo_workspace, grpo_workspace.model, tmp_path, recipe="vau_r1_grpo_tiny.yaml",
                            template="qwen2_vl_vau", freeze_vision_tower=False, **NO_CKPT)  # fmt: skip
    assert_same_logps_and_grads(trainer, order="interleaved")
    assert_same_generation(trainer, order="interleaved")
    # a batch without copies takes the prefill path too (every ZeRO-3 rank makes the same calls): same completions
    rows, per_row = batch(trainer, "grouped")
    distinct = [0, G]
    rows, per_row = [rows[i] for i in distinct], [per_row[i] for i in distinct]
    for sample in (False, True):
        plain, _ = completions(trainer, rows, per_row, reuse=False, sample=sample)
        assert completions(trainer, rows, per_row, reuse=True, sample=sample)[0] == plain


@pytest.mark.parametrize("arch", ["qwen2_vl", "qwen3_vl"])
def test_other_families_reuse_gives_the_same_results(grpo_workspace, tmp_path, arch, request):
    model_dir = request.getfixturevalue(f"tiny_{arch}_dir")
    template = "qwen3_vl_vau" if arch == "qwen3_vl" else "qwen2_vl_vau"
    trainer = build_trainer(grpo_workspace, model_dir, tmp_path, recipe="vau_r1_grpo_tiny.yaml", template=template,
                            freeze_vision_tower=False, **NO_CKPT)  # fmt: skip
    assert trainer._prompt_once(trainer.model)
    assert assert_same_logps_and_grads(trainer)
    assert_same_generation(trainer)

"""Odd videos in LLaMA-Factory training, which reads videos through the same decoder (`qwen2_vl_vau`): a clip no frame
size of the training budget fits is dropped while a GRPO dataset is encoded, with a reason naming the file, its size
and the budget (it was dropped with "ValueError: frame size must be positive, got 0x4088", naming neither)."""

from __future__ import annotations

import pytest

from _odd_videos import noise_clip
from vau_plugin.budget import TRAIN, llamafactory_keys
from vau_plugin.llamafactory import patch


@pytest.fixture(scope="module")
def lf(tiny_model_dir):
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from llamafactory.model import load_tokenizer

    patch.register_templates()
    model_args = ModelArguments(model_name_or_path=str(tiny_model_dir), **llamafactory_keys(TRAIN))
    modules = load_tokenizer(model_args)
    template = get_template_and_fix_tokenizer(modules["tokenizer"], DataArguments(template="qwen2_vl_vau"))
    return template, modules["tokenizer"], modules["processor"]


def _example(video: str) -> dict:
    return {
        "_prompt": [{"role": "user", "content": "<video>What happens in the video?"}],
        "_videos": [video],
        "_images": None,
        "_audios": None,
        "_system": "",
        "_tools": "",
    }


def test_a_clip_the_training_budget_cannot_fit_is_dropped_while_the_grpo_dataset_is_encoded(lf, tmp_path):
    from vau_plugin.llamafactory.dataset import encode_prompt

    template, tokenizer, processor = lf
    good = encode_prompt(_example(str(noise_clip(tmp_path / "good.mp4", 64, 96))), template, tokenizer, processor)
    assert good["_vau_error"] == "" and good["prompt_ids"]
    wide = noise_clip(tmp_path / "wide.mp4", 40, 7680)
    encoded = encode_prompt(_example(str(wide)), template, tokenizer, processor)
    assert encoded["prompt_ids"] == []  # the row is dropped (and logged) by `_drop_unusable`
    error = encoded["_vau_error"]
    assert error.startswith("VideoBudgetError: ") and str(wide) in error and "7680x40" in error, error
    assert "its 40-px side shrinks to 0 px" in error and "multiples of 28 px" in error, error

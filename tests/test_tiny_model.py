"""The tiny Qwen2.5-VL checkpoint loads offline in transformers and LLaMA-Factory and runs on video input."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from _tiny_checkpoint import VIDEO_MESSAGE, bar_sweep_mp4, llamafactory_encode
from vau_plugin.data.schema import CLASSES
from vau_plugin.tiny_model import (
    QWEN2_VL_CHAT_TEMPLATE,
    SPECIAL_TOKENS,
    VIDEO_PAD,
    build_config,
    build_model,
    build_tokenizer,
    make_tiny_model,
)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, offline_hub) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def loaded(tiny_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    return {
        "tokenizer": AutoTokenizer.from_pretrained(tiny_dir),
        "processor": AutoProcessor.from_pretrained(tiny_dir),
        "model": AutoModelForImageTextToText.from_pretrained(tiny_dir).eval(),
    }


def test_checkpoint_has_the_files_of_a_real_one(tiny_dir):
    expected = {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "preprocessor_config.json",
        "video_preprocessor_config.json",
        "chat_template.jinja",
        "README.md",
    }
    assert expected <= {p.name for p in tiny_dir.iterdir()}
    assert "random" in (tiny_dir / "README.md").read_text().lower()


def test_auto_classes_load_it_offline(loaded):
    from transformers import (
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2TokenizerFast,
        Qwen2VLVideoProcessor,
    )

    tokenizer, processor, model = loaded["tokenizer"], loaded["processor"], loaded["model"]
    assert isinstance(tokenizer, Qwen2TokenizerFast)
    assert tokenizer.chat_template == QWEN2_VL_CHAT_TEMPLATE
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == ("<|im_end|>", "<|endoftext|>", None)
    assert isinstance(processor, Qwen2_5_VLProcessor)
    assert isinstance(processor.tokenizer, Qwen2TokenizerFast)
    assert isinstance(processor.video_processor, Qwen2VLVideoProcessor)
    assert isinstance(model, Qwen2_5_VLForConditionalGeneration)
    assert model.dtype == torch.float32
    assert model.generation_config.do_sample is False
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in model.generation_config.eos_token_id


def test_parameter_count_is_a_few_million(loaded):
    n_params = sum(p.numel() for p in loaded["model"].parameters())
    assert 1_000_000 < n_params < 20_000_000


def test_special_tokens_follow_the_qwen_layout(loaded):
    tokenizer, config = loaded["tokenizer"], loaded["model"].config
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    # Right after the regular vocabulary and in Qwen's order, as in the real tokenizer.
    assert ids == list(range(ids[0], ids[0] + len(SPECIAL_TOKENS)))
    assert ids[0] == tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=False)
    assert 1000 <= ids[0] <= 4096
    for token, token_id in zip(SPECIAL_TOKENS, ids):
        assert tokenizer(token)["input_ids"] == [token_id]
    assert config.image_token_id == tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert config.video_token_id == tokenizer.convert_tokens_to_ids(VIDEO_PAD)
    assert config.vision_start_token_id == tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert config.vision_end_token_id == tokenizer.convert_tokens_to_ids("<|vision_end|>")
    assert config.text_config.vocab_size >= len(tokenizer)


def test_tokenizer_round_trips_vau_text(loaded):
    tokenizer = loaded["tokenizer"]
    text = (
        "<think>A man falls, café naïve 日本 ✓</think><answer>B</answer><glue>[12.5, 30.0]</glue> "
        + ", ".join(CLASSES)
    )
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text
    # Trained on VAU words: common ones are single tokens, not bytes.
    assert len(tokenizer.tokenize(" anomaly")) == 1


def test_packaged_templates_and_corpus_are_unchanged_byte_for_byte():
    """vau_plugin/tiny_model_data/ holds the chat templates of the Qwen2.5-VL and Qwen3-VL Instruct checkpoints,
    verbatim, and the tokenizer's training corpus: a changed byte there (an editor's final newline, say) changes every
    tiny model's files, which two builds of the same code cannot notice. Change the hashes only with the data."""
    import hashlib

    from vau_plugin.tiny_model import QWEN3_VL_CHAT_TEMPLATE, _data_text

    def sha256(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    assert sha256(QWEN2_VL_CHAT_TEMPLATE) == "a0bc6f6fc7a29a80017a433e8f03a1cc1236e838a944a2d034295a60c4f2fddb"
    assert sha256(QWEN3_VL_CHAT_TEMPLATE) == "3636d0f0bd6bef02654cdffdc447b79cb2cef8ab02cc75267345946291a489e4"
    assert sha256(_data_text("tokenizer_corpus.txt")) == "2ce5b634b8f02d8c9789f3210be1d133639041045574c4503f17862aaffc773c"


def test_same_seed_gives_identical_files_and_other_seeds_differ(
    tiny_dir, loaded, tmp_path, offline_hub, monkeypatch, capsys
):
    from vau_plugin.cli import main

    again = tmp_path / "again"
    again.mkdir()
    (again / "config.json").write_text("{}")  # a stale checkpoint: replaced only because --force says so
    monkeypatch.setenv("VAU_PROGRESS_S", "0")  # progress lines at once, as if the build took long
    assert main(["make-tiny-model", str(again), "--seed", "0", "--force"]) == 0
    for path in sorted(tiny_dir.iterdir()):
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    out, err = capsys.readouterr()
    assert out.strip() == f"tiny Qwen2.5-VL checkpoint written to {again}"  # progress never goes to stdout
    assert "[vau-plugin] making the tiny model" in err and "initialising the model" in err, err

    reference = loaded["model"].state_dict()
    other = build_model(build_config(build_tokenizer()), seed=1).state_dict()
    assert reference.keys() == other.keys()
    assert not all(torch.equal(reference[name], other[name]) for name in reference)


def test_building_leaves_the_global_rng_alone():
    config = build_config(build_tokenizer())
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_model(config, seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_bad_arguments_are_rejected_clearly(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(NotADirectoryError, match="file.txt"):
        make_tiny_model(a_file)
    with pytest.raises(TypeError, match="seed"):
        make_tiny_model(tmp_path / "m", seed="0")


def test_chat_template_renders_a_video_part(loaded):
    prompt = loaded["processor"].apply_chat_template(VIDEO_MESSAGE, tokenize=False, add_generation_prompt=True)
    assert "<|vision_start|><|video_pad|><|vision_end|>Which anomaly class is shown?" in prompt
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n")
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_processor_forward_and_generate_on_a_video(loaded):
    tokenizer, processor, model = loaded["tokenizer"], loaded["processor"], loaded["model"]
    prompt = processor.apply_chat_template(VIDEO_MESSAGE, tokenize=False, add_generation_prompt=True)
    video = torch.randint(0, 256, (4, 3, 56, 56), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    inputs = processor(text=[prompt], videos=[video], return_tensors="pt")

    grid_t, grid_h, grid_w = inputs["video_grid_thw"][0].tolist()
    assert (grid_t, grid_h, grid_w) == (2, 4, 4)  # 4 frames / temporal patch 2, 56 px / patch 14
    merge = processor.video_processor.merge_size
    n_video_tokens = int((inputs["input_ids"] == tokenizer.convert_tokens_to_ids(VIDEO_PAD)).sum())
    assert n_video_tokens == grid_t * grid_h * grid_w // merge**2
    assert inputs["pixel_values_videos"].shape[0] == grid_t * grid_h * grid_w

    with torch.no_grad():
        logits = model(**inputs).logits
        generated = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5)
    assert logits.shape == (1, inputs["input_ids"].shape[1], model.config.text_config.vocab_size)
    assert torch.isfinite(logits).all()
    assert generated.shape == (1, inputs["input_ids"].shape[1] + 5)
    assert torch.equal(generated[:, : inputs["input_ids"].shape[1]], inputs["input_ids"])


def test_llamafactory_loads_it_and_encodes_a_video_sample(tiny_dir, tmp_path, offline_hub):
    video = str(bar_sweep_mp4(tmp_path / "clip.mp4"))
    done = llamafactory_encode(tiny_dir, video, "qwen2_vl", "<think>Flames appear.</think><answer>Fire</answer>")
    tokenizer, grid = done["tokenizer"], done["mm_inputs"]["video_grid_thw"]
    merge = done["processor"].video_processor.merge_size
    video_token_id = tokenizer.convert_tokens_to_ids(VIDEO_PAD)
    assert sum(i == video_token_id for i in done["input_ids"]) == int(grid.prod()) // merge**2 > 0
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in done["response_ids"]
    assert math.isfinite(done["loss"])


def test_help_names_every_architecture_of_the_table():
    """`vau-plugin --help` and `make-tiny-model --help` list every entry of ARCHS (issue 24, item 15: the help named
    Qwen2.5-VL and Qwen3-VL only), read from the table itself."""
    import subprocess
    import sys

    from vau_plugin.tiny_model import ARCHS, DEFAULT_ARCH

    vau_plugin = str(Path(sys.executable).parent / "vau-plugin")
    top = subprocess.run([vau_plugin, "--help"], capture_output=True, text=True, timeout=120)
    command = subprocess.run([vau_plugin, "make-tiny-model", "--help"], capture_output=True, text=True, timeout=120)
    assert top.returncode == command.returncode == 0, (top.stderr, command.stderr)
    flat = " ".join(command.stdout.split())  # argparse wraps the help text
    for name, arch in ARCHS.items():
        assert arch.title in " ".join(top.stdout.split()), (arch.title, top.stdout)
        assert f"{name} ({arch.title}" in flat, (name, command.stdout)
    assert f"{DEFAULT_ARCH} ({ARCHS[DEFAULT_ARCH].title}, the default)" in flat


def test_help_follows_a_new_architecture(monkeypatch):
    """The help is built from ARCHS, so an architecture added to the table shows up without touching the CLI."""
    from dataclasses import replace

    from vau_plugin import tiny_model
    from vau_plugin.cli import build_parser

    extra = replace(tiny_model.ARCHS["qwen2_vl"], name="qwen9_vl", title="Qwen9-VL")
    monkeypatch.setattr(tiny_model, "ARCHS", {**tiny_model.ARCHS, "qwen9_vl": extra})
    sub = next(a for a in build_parser("make-tiny-model")._actions if a.dest == "command")
    text = " ".join(sub.choices["make-tiny-model"].format_help().split())
    assert "qwen9_vl (Qwen9-VL)" in text and "Qwen9-VL)" in text and "{qwen2_5_vl,qwen2_vl,qwen3_vl,qwen9_vl}" in text

"""A tiny random-initialised Qwen2.5-VL, Qwen2-VL or Qwen3-VL checkpoint for tests and demos (`vau-plugin
make-tiny-model DIR [--arch qwen2_vl|qwen3_vl]`).

The checkpoint is laid out like a real Qwen2.5-VL-Instruct (default), Qwen2-VL-Instruct or Qwen3-VL-Instruct one
(config.json, model.safetensors, generation_config.json, tokenizer files, preprocessor/video-preprocessor configs and
the chat template), so transformers' Auto classes, LLaMA-Factory (template `qwen2_vl` / `qwen3_vl`) and lmms-eval
(`--model qwen2_5_vl` / `qwen2_vl` / `qwen3_vl`) load it offline. Its weights are random: it produces gibberish, quickly, on
a CPU. What differs between the architectures (Qwen2.5-VL, Qwen2-VL, Qwen3-VL) is in one table, `ARCHS`.

The tokenizer is a byte-level BPE trained here on a small built-in corpus and depends on nothing but
that corpus; the seed only changes the model weights. The corpus and the chat templates are package data
(vau_plugin/tiny_model_data/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from vau_plugin.data.schema import CLASSES, LETTERS

if TYPE_CHECKING:  # heavy imports stay lazy so `vau-plugin --help` is fast
    from tokenizers import Tokenizer
    from transformers import PretrainedConfig, PreTrainedModel, ProcessorMixin, Qwen2TokenizerFast

# Qwen's special tokens, in the order Qwen2.5-VL numbers them right after its regular vocabulary.
ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
VISION_PAD = "<|vision_pad|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
SPECIAL_TOKENS: tuple[str, ...] = (
    ENDOFTEXT,
    IM_START,
    IM_END,
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    VISION_START,
    VISION_END,
    VISION_PAD,
    IMAGE_PAD,
    VIDEO_PAD,
)
# Added after the special ones in Qwen2.5 tokenizers, as ordinary (non-special) added tokens.
EXTRA_ADDED_TOKENS: tuple[str, ...] = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
# Qwen3 tokenizers (Qwen3-VL's too) add these after EXTRA_ADDED_TOKENS, also as non-special added tokens.
QWEN3_ADDED_TOKENS: tuple[str, ...] = ("<tool_response>", "</tool_response>", "<think>", "</think>")

# The chat templates and the tokenizer's training corpus are package data (vau_plugin/tiny_model_data/), read verbatim:
# a template stays the file the hub's checkpoints ship (chat_template.jinja), to read and diff as such.
_DATA = files("vau_plugin") / "tiny_model_data"


def _data_text(name: str) -> str:
    """_data_text(name) -> the text of vau_plugin/tiny_model_data/<name> (UTF-8)."""
    return (_DATA / name).read_text(encoding="utf-8")


# The chat template shipped with Qwen2.5-VL-*-Instruct (chat_template.json), verbatim: it inserts the
# default system prompt and renders image/video content parts as vision placeholders.
QWEN2_VL_CHAT_TEMPLATE = _data_text("qwen2_5_vl_chat_template.jinja")
# The chat template shipped with Qwen3-VL-*-Instruct (chat_template.json), verbatim: unlike Qwen2.5-VL's, it adds no
# default system prompt and it renders tool calls; a video part is one `<|vision_start|><|video_pad|><|vision_end|>`
# that Qwen3VLProcessor expands into `<t seconds>` + one vision block per temporal patch.
QWEN3_VL_CHAT_TEMPLATE = _data_text("qwen3_vl_chat_template.jinja")

TOKENIZER_VOCAB_SIZE = 2048  # target for BPE training (regular tokens); the small corpus may stop earlier
VOCAB_MULTIPLE = 64  # the embedding is padded to a multiple of this, as Qwen pads 151,665 tokens to 151,936

PATCH_SIZE = 14  # Qwen2.5-VL's; Qwen3-VL's is QWEN3_VL_PATCH_SIZE
SPATIAL_MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
# Pixel budgets per image / video frame; multiples of (patch_size * merge_size)^2 = 28 * 28.
MIN_PIXELS = 4 * 28 * 28
MAX_PIXELS = 128 * 28 * 28

TEXT_HIDDEN_SIZE = 256
TEXT_HEADS = 4
TEXT_KV_HEADS = 2
# Multimodal RoPE splits half the head dimension (256 / 4 / 2 = 32) over time, height and width,
# in the proportions of the real model's [16, 24, 24].
MROPE_SECTION = [8, 12, 12]
VISION_DEPTH = 2

QWEN3_VL_PATCH_SIZE = 16
# Qwen3-VL's merged token covers (16 * 2)^2 = 32 * 32 px. Images: the same 4..128 merged tokens as above.
QWEN3_VL_MIN_PIXELS = 4 * 32 * 32
QWEN3_VL_MAX_PIXELS = 128 * 32 * 32
# Qwen3VLVideoProcessor's `size` bounds the whole clip (frames * height * width), not one frame: up to 16 frames
# at the per-image maximum (the real checkpoint's bounds are 4,096 and 25,165,824).
QWEN3_VL_VIDEO_MIN_PIXELS = QWEN3_VL_MIN_PIXELS
QWEN3_VL_VIDEO_MAX_PIXELS = 16 * QWEN3_VL_MAX_PIXELS
# Interleaved multimodal RoPE over half the head dimension (64 / 2 = 32), in the proportions of the real
# model's [24, 20, 20] (head_dim 128): time gets the rest of what height and width take (10 each, every third).
QWEN3_VL_MROPE_SECTION = [12, 10, 10]
# Vision blocks whose output is also merged and added to the first decoder layers (real 2B/4B: [5, 11, 17]).
QWEN3_VL_DEEPSTACK_INDEXES = [0]
# Learned absolute position embeddings of the vision tower: a 16 x 16 grid, interpolated to the frame's grid
# (the real model's is 48 x 48).
QWEN3_VL_NUM_POSITION_EMBEDDINGS = 16 * 16


def _corpus_lines() -> Iterator[str]:
    """Yield the tokenizer training corpus: the prose (tokenizer_corpus.txt: text in the style of VAU-Bench questions,
    descriptions and VAU-R1 prompts, so that common words get their own tokens), class names, options, digits and
    JSON-ish numbers."""
    yield from _data_text("tokenizer_corpus.txt").splitlines()
    for name in CLASSES:
        spaced = name.replace("_", " ")
        for form in (name, spaced, spaced.lower(), name.lower()):
            yield f"The anomaly class is {form}. <answer>{form}</answer>"
    for letter in LETTERS:
        yield f"{letter}. <answer>{letter}</answer> The correct option is {letter}. ({letter})"
    yield "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 30 40 50 60 70 80 90 100"
    yield ". , ; : ! ? ' \" ( ) [ ] { } < > / \\ - _ + = * & % $ # @ ~ ` ^ |"
    for tenth in range(0, 1200, 7):
        start = tenth / 10
        end = start + 5.5
        yield f"<glue>[{start:.1f}, {end:.1f}]</glue> [{start}, {end}]"
        yield f'{{"start": {start:.2f}, "end": {end:.2f}, "score": 0.{tenth % 100:02d}}}'


def train_tokenizer(vocab_size: int = TOKENIZER_VOCAB_SIZE, added_tokens: tuple[str, ...] = EXTRA_ADDED_TOKENS) -> Tokenizer:
    """train_tokenizer(vocab_size, added_tokens) -> tokenizers.Tokenizer: Qwen2-style byte-level BPE trained on the
    built-in corpus.

    Same normaliser, pre-tokeniser regex, decoder and post-processor as Qwen2's tokenizer.json; Qwen's
    special tokens are appended after the regular vocabulary, in Qwen's order, then `added_tokens` as
    ordinary (non-special) added tokens.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        # The corpus is small: merging pairs seen once too lets the vocabulary reach ~1.5k tokens.
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tokenizer.train_from_iterator(list(_corpus_lines()), trainer=trainer)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in added_tokens])
    return tokenizer


def _round_up(value: int, multiple: int) -> int:
    """_round_up(value, multiple) -> int: the smallest multiple of `multiple` that is >= value."""
    return -(-value // multiple) * multiple


def _token_ids(tokenizer: Qwen2TokenizerFast) -> dict:
    """_token_ids(tokenizer) -> dict: the special-token ids every architecture's config carries (top level)."""
    token_id = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": token_id(IMAGE_PAD),
        "video_token_id": token_id(VIDEO_PAD),
        "vision_start_token_id": token_id(VISION_START),
        "vision_end_token_id": token_id(VISION_END),
    }


def _text_config(tokenizer: Qwen2TokenizerFast) -> dict:
    """_text_config(tokenizer) -> dict: the tiny text-decoder fields every architecture shares."""
    token_id = tokenizer.convert_tokens_to_ids
    return {
        "vocab_size": _round_up(len(tokenizer), VOCAB_MULTIPLE),
        "hidden_size": TEXT_HIDDEN_SIZE,
        "intermediate_size": 4 * TEXT_HIDDEN_SIZE,
        "num_hidden_layers": 2,
        "num_attention_heads": TEXT_HEADS,
        "num_key_value_heads": TEXT_KV_HEADS,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_dropout": 0.0,
        "tie_word_embeddings": True,
        "bos_token_id": token_id(ENDOFTEXT),
        "eos_token_id": token_id(IM_END),
        "pad_token_id": token_id(ENDOFTEXT),
    }


def _vision_config(patch_size: int) -> dict:
    """_vision_config(patch_size) -> dict: the tiny vision-tower fields every architecture shares (Qwen2-VL renames some)."""
    return {
        "depth": VISION_DEPTH,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_heads": 4,
        "in_channels": 3,
        "patch_size": patch_size,
        "spatial_merge_size": SPATIAL_MERGE_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH_SIZE,
        "out_hidden_size": TEXT_HIDDEN_SIZE,
    }


def _qwen2_5_vl_config_kwargs(tokenizer: Qwen2TokenizerFast) -> dict:
    """_qwen2_5_vl_config_kwargs(tokenizer) -> dict: Qwen2_5_VLConfig's arguments (sequential M-RoPE, window attention)."""
    head_dim = TEXT_HIDDEN_SIZE // TEXT_HEADS
    if sum(MROPE_SECTION) * 2 != head_dim:
        raise ValueError(f"mrope_section {MROPE_SECTION} must sum to head_dim/2 = {head_dim // 2}")
    text_config = _text_config(tokenizer) | {
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rope_scaling": {"type": "mrope", "mrope_section": list(MROPE_SECTION)},
        "use_sliding_window": False,
        "sliding_window": 32768,
        "max_window_layers": 2,
    }
    vision_config = _vision_config(PATCH_SIZE) | {
        "hidden_act": "silu",
        "tokens_per_second": 2,
        # 112 px = 4 merged tokens per window side; block 0 uses window attention, the last one full attention.
        "window_size": 112,
        "fullatt_block_indexes": [VISION_DEPTH - 1],
    }
    return {"text_config": text_config, "vision_config": vision_config, "vision_token_id": tokenizer.convert_tokens_to_ids(VISION_PAD)}


def _qwen2_vl_config_kwargs(tokenizer: Qwen2TokenizerFast) -> dict:
    """_qwen2_vl_config_kwargs(tokenizer) -> dict: Qwen2VLConfig's arguments (the VAU-R1 paper's 2B family: sequential
    M-RoPE as Qwen2.5-VL, a vision tower of LayerNorm + GELU MLP blocks without window attention)."""
    text_config = {key: value for key, value in _qwen2_5_vl_config_kwargs(tokenizer)["text_config"].items()}
    vision = _vision_config(PATCH_SIZE)
    # Qwen2VLVisionConfig names the tower's width embed_dim and its output (the decoder's width) hidden_size.
    vision_config = {key: vision[key] for key in ("depth", "num_heads", "in_channels", "patch_size", "spatial_merge_size", "temporal_patch_size")} | {
        "embed_dim": vision["hidden_size"],
        "hidden_size": vision["out_hidden_size"],
        "mlp_ratio": vision["intermediate_size"] / vision["hidden_size"],
        "hidden_act": "quick_gelu",
    }
    return {"text_config": text_config, "vision_config": vision_config}


def _qwen3_vl_config_kwargs(tokenizer: Qwen2TokenizerFast) -> dict:
    """_qwen3_vl_config_kwargs(tokenizer) -> dict: Qwen3VLConfig's arguments (explicit head_dim with q/k norms,
    interleaved M-RoPE, 16-px patches, learned vision position embeddings, DeepStack)."""
    head_dim = TEXT_HIDDEN_SIZE // TEXT_HEADS
    if sum(QWEN3_VL_MROPE_SECTION) * 2 != head_dim:
        raise ValueError(f"mrope_section {QWEN3_VL_MROPE_SECTION} must sum to head_dim/2 = {head_dim // 2}")
    if max(QWEN3_VL_DEEPSTACK_INDEXES) >= VISION_DEPTH or len(QWEN3_VL_DEEPSTACK_INDEXES) > 2:
        raise ValueError(f"deepstack_visual_indexes {QWEN3_VL_DEEPSTACK_INDEXES} must name vision blocks and fit the decoder")
    text_config = _text_config(tokenizer) | {
        "head_dim": head_dim,
        "max_position_embeddings": 262144,
        "rope_theta": 5000000.0,
        "rope_scaling": {"rope_type": "default", "mrope_section": list(QWEN3_VL_MROPE_SECTION), "mrope_interleaved": True},
        "attention_bias": False,
    }
    vision_config = _vision_config(QWEN3_VL_PATCH_SIZE) | {
        "hidden_act": "gelu_pytorch_tanh",
        "num_position_embeddings": QWEN3_VL_NUM_POSITION_EMBEDDINGS,
        "deepstack_visual_indexes": list(QWEN3_VL_DEEPSTACK_INDEXES),
    }
    return {"text_config": text_config, "vision_config": vision_config}


def _qwen2_5_vl_processors() -> tuple:
    """_qwen2_5_vl_processors() -> (image processor, video processor) with the tiny per-frame pixel budgets.

    Always a fresh `size` dict: given min_pixels/max_pixels without one, Qwen2VLVideoProcessor (4.57)
    writes them into its class-level default, changing every later instance.
    """
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    def kwargs() -> dict:
        return {
            "size": {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
            "min_pixels": MIN_PIXELS,
            "max_pixels": MAX_PIXELS,
            "patch_size": PATCH_SIZE,
            "temporal_patch_size": TEMPORAL_PATCH_SIZE,
            "merge_size": SPATIAL_MERGE_SIZE,
        }

    return Qwen2VLImageProcessor(**kwargs()), Qwen2VLVideoProcessor(**kwargs())


def _qwen3_vl_processors() -> tuple:
    """_qwen3_vl_processors() -> (image processor, video processor) as a Qwen3-VL checkpoint configures them:
    16-px patches, mean/std 0.5, the fast Qwen2-VL image processor, and Qwen3VLVideoProcessor (2 fps sampling when
    it decodes a file itself; its `size` bounds the whole clip)."""
    from transformers import Qwen2VLImageProcessorFast, Qwen3VLVideoProcessor

    common = {
        "patch_size": QWEN3_VL_PATCH_SIZE,
        "temporal_patch_size": TEMPORAL_PATCH_SIZE,
        "merge_size": SPATIAL_MERGE_SIZE,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    image_processor = Qwen2VLImageProcessorFast(size={"shortest_edge": QWEN3_VL_MIN_PIXELS, "longest_edge": QWEN3_VL_MAX_PIXELS}, **common)
    video_processor = Qwen3VLVideoProcessor(size={"shortest_edge": QWEN3_VL_VIDEO_MIN_PIXELS, "longest_edge": QWEN3_VL_VIDEO_MAX_PIXELS}, **common)
    return image_processor, video_processor


@dataclass(frozen=True)
class TinyArch:
    """What differs between the tiny checkpoints of the architectures; everything else is shared."""

    name: str  # config.model_type and the `--arch` value
    title: str  # for messages and the model card
    config_class: str  # transformers class names, imported lazily
    model_class: str
    processor_class: str
    added_tokens: tuple[str, ...]  # non-special added tokens after Qwen's special ones
    chat_template: str
    model_max_length: int  # the tokenizer's, as in the real checkpoint
    patch_size: int
    config_kwargs: Callable[[Qwen2TokenizerFast], dict]
    processors: Callable[[], tuple]
    llamafactory_template: str
    lmms_model: str


_QWEN2_5_VL = TinyArch(
    name="qwen2_5_vl",
    title="Qwen2.5-VL",
    config_class="Qwen2_5_VLConfig",
    model_class="Qwen2_5_VLForConditionalGeneration",
    processor_class="Qwen2_5_VLProcessor",
    added_tokens=EXTRA_ADDED_TOKENS,
    chat_template=QWEN2_VL_CHAT_TEMPLATE,
    model_max_length=32768,
    patch_size=PATCH_SIZE,
    config_kwargs=_qwen2_5_vl_config_kwargs,
    processors=_qwen2_5_vl_processors,
    llamafactory_template="qwen2_vl",
    lmms_model="qwen2_5_vl",
)
ARCHS: dict[str, TinyArch] = {
    arch.name: arch
    for arch in (
        _QWEN2_5_VL,
        # the same tokenizer, template, processors and text decoder; another vision tower and no rate input
        replace(
            _QWEN2_5_VL,
            name="qwen2_vl",
            title="Qwen2-VL",
            config_class="Qwen2VLConfig",
            model_class="Qwen2VLForConditionalGeneration",
            processor_class="Qwen2VLProcessor",
            config_kwargs=_qwen2_vl_config_kwargs,
            lmms_model="qwen2_vl",
        ),
        TinyArch(
            name="qwen3_vl",
            title="Qwen3-VL",
            config_class="Qwen3VLConfig",
            model_class="Qwen3VLForConditionalGeneration",
            processor_class="Qwen3VLProcessor",
            added_tokens=EXTRA_ADDED_TOKENS + QWEN3_ADDED_TOKENS,
            chat_template=QWEN3_VL_CHAT_TEMPLATE,
            model_max_length=262144,
            patch_size=QWEN3_VL_PATCH_SIZE,
            config_kwargs=_qwen3_vl_config_kwargs,
            processors=_qwen3_vl_processors,
            llamafactory_template="qwen3_vl",
            lmms_model="qwen3_vl",
        ),
    )
}
DEFAULT_ARCH = "qwen2_5_vl"


def get_arch(arch: str) -> TinyArch:
    """get_arch(arch) -> TinyArch; a ValueError naming the known architectures for any other name."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    return ARCHS[arch]


def _transformers_class(name: str) -> type:
    import transformers

    return getattr(transformers, name)


def build_tokenizer(arch: str = DEFAULT_ARCH) -> Qwen2TokenizerFast:
    """build_tokenizer(arch) -> Qwen2TokenizerFast with Qwen's special tokens, eos/pad and the architecture's chat
    template (Qwen3-VL's also adds <tool_response>, </tool_response>, <think>, </think>)."""
    from transformers import Qwen2TokenizerFast

    spec = get_arch(arch)
    return Qwen2TokenizerFast(
        tokenizer_object=train_tokenizer(added_tokens=spec.added_tokens),
        unk_token=None,
        bos_token=None,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        chat_template=spec.chat_template,
        model_max_length=spec.model_max_length,
        errors="replace",
        split_special_tokens=False,
        clean_up_tokenization_spaces=False,
    )


def build_config(tokenizer: Qwen2TokenizerFast, arch: str = DEFAULT_ARCH) -> PretrainedConfig:
    """build_config(tokenizer, arch) -> Qwen2_5_VLConfig | Qwen2VLConfig | Qwen3VLConfig: tiny sizes, token ids taken from `tokenizer`."""
    spec = get_arch(arch)
    token_id = tokenizer.convert_tokens_to_ids
    return _transformers_class(spec.config_class)(
        **spec.config_kwargs(tokenizer),
        **_token_ids(tokenizer),
        bos_token_id=token_id(ENDOFTEXT),
        eos_token_id=token_id(IM_END),
        pad_token_id=token_id(ENDOFTEXT),
        tie_word_embeddings=True,
        dtype="float32",
    )


def build_processor(tokenizer: Qwen2TokenizerFast, arch: str = DEFAULT_ARCH) -> ProcessorMixin:
    """build_processor(tokenizer, arch) -> Qwen2_5_VLProcessor | Qwen2VLProcessor | Qwen3VLProcessor with small pixel budgets."""
    spec = get_arch(arch)
    image_processor, video_processor = spec.processors()
    return _transformers_class(spec.processor_class)(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=spec.chat_template,
    )


def build_model(config: PretrainedConfig, seed: int = 0) -> PreTrainedModel:
    """build_model(config, seed) -> Qwen2_5_VL / Qwen2VL / Qwen3VLForConditionalGeneration (by
    `config.model_type`), randomly initialised from `seed`.

    The global torch RNG state is restored afterwards, so callers' randomness is untouched.
    """
    import torch
    from transformers import GenerationConfig

    model_class = _transformers_class(get_arch(config.model_type).model_class)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=config.text_config.bos_token_id,
        pad_token_id=config.text_config.pad_token_id,
        eos_token_id=[config.text_config.eos_token_id, config.text_config.bos_token_id],
        do_sample=False,
    )
    return model


def _model_card(n_params: int, seed: int, spec: TinyArch) -> str:
    """_model_card(n_params, seed, spec) -> str: README.md text saying what this checkpoint is (and is not)."""
    arch_flag = "" if spec.name == DEFAULT_ARCH else f" --arch {spec.name}"
    return f"""---
library_name: transformers
pipeline_tag: image-text-to-text
tags: [test, random-weights, {spec.name}]
---
# Tiny random {spec.title} (for tests only)

Written by `vau-plugin make-tiny-model{arch_flag}` (seed {seed}). It has the {spec.title} architecture
(`{spec.model_class}`, {n_params:,} parameters) with **random weights** and a small
byte-level BPE tokenizer trained on a built-in corpus, carrying Qwen's special tokens and the
{spec.title}-Instruct chat template. Its output is meaningless. Use it to exercise loading, data
processing, training and evaluation pipelines (LLaMA-Factory template `{spec.llamafactory_template}`, lmms-eval model
`{spec.lmms_model}`) on a CPU, never to measure anything.
"""


def make_tiny_model(out: str | Path, seed: int = 0, *, overwrite: bool = False, arch: str = DEFAULT_ARCH) -> Path:
    """make_tiny_model(out, seed=0, *, overwrite=False, arch="qwen2_5_vl") -> Path: write a tiny random checkpoint
    of architecture `arch` ("qwen2_5_vl", "qwen2_vl" or "qwen3_vl") into directory `out`.

    Writes config.json, model.safetensors, generation_config.json, the tokenizer files, the image and
    video processor configs, the chat template and README.md; the same seed gives identical weights. A folder
    `out` that already holds files (another checkpoint, say) raises FileExistsError before anything is built,
    unless `overwrite`; an unknown `arch` raises ValueError. Callers that reuse a tiny model check for
    `out / "config.json"` first. The ~10-20 s of building report progress on stderr (see
    `vau_plugin.progress.Progress`).
    """
    from vau_plugin.benches.writer import check_output_dir
    from vau_plugin.progress import Progress

    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    spec = get_arch(arch)
    out = check_output_dir(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)  # an empty folder left by a failed build is accepted next time

    progress = Progress(f"making the tiny model ({spec.title}) in {out}")
    with progress.ticking():
        progress.step("loading transformers and training the tokenizer")
        tokenizer = build_tokenizer(arch)
        config = build_config(tokenizer, arch)
        progress.step("initialising the model's random weights")
        model = build_model(config, seed)
        progress.step("writing the files")
        model.save_pretrained(out, safe_serialization=True)
        build_processor(tokenizer, arch).save_pretrained(out)
        n_params = sum(p.numel() for p in model.parameters())
        (out / "README.md").write_text(_model_card(n_params, seed, spec), encoding="utf-8")
    progress.done(f"{n_params:,} parameters written")
    return out

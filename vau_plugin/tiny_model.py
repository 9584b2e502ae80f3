"""A tiny random-initialised Qwen2.5-VL, Qwen2-VL or Qwen3-VL checkpoint for tests and demos (`vau-plugin
make-tiny-model DIR [--arch qwen2_vl|qwen3_vl]`).

The checkpoint is laid out like a real Qwen2.5-VL-Instruct (default), Qwen2-VL-Instruct or Qwen3-VL-Instruct one
(config.json, model.safetensors, generation_config.json, tokenizer files, preprocessor/video-preprocessor configs and
the chat template), so transformers' Auto classes, LLaMA-Factory (template `qwen2_vl` / `qwen3_vl`) and lmms-eval
(`--model qwen2_5_vl` / `qwen2_vl` / `qwen3_vl`) load it offline. Its weights are random: it produces gibberish, quickly, on
a CPU. What differs between the architectures (Qwen2.5-VL, Qwen2-VL, Qwen3-VL) is in one table, `ARCHS`.

The tokenizer is a byte-level BPE trained here on a small built-in corpus and depends on nothing but
that corpus; the seed only changes the model weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
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

# The chat template shipped with Qwen2.5-VL-*-Instruct (chat_template.json), verbatim: it inserts the
# default system prompt and renders image/video content parts as vision placeholders.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# The chat template shipped with Qwen3-VL-*-Instruct (chat_template.json), verbatim: unlike Qwen2.5-VL's, it adds no
# default system prompt and it renders tool calls; a video part is one `<|vision_start|><|video_pad|><|vision_end|>`
# that Qwen3VLProcessor expands into `<t seconds>` + one vision block per temporal patch.
QWEN3_VL_CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' }}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set image_count = namespace(value=0) %}
{%- set video_count = namespace(value=0) %}
{%- for message in messages %}
    {%- if message.role == "user" %}
        {{- '<|im_start|>' + message.role + '\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role + '\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content_item in message.content %}
                {%- if 'text' in content_item %}
                    {{- content_item.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and message.content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

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

# Prose in the style of VAU-Bench questions, descriptions and VAU-R1 prompts, so that common words
# get their own tokens.
_CORPUS_PROSE = """\
You are a helpful assistant.
Watch the video carefully and answer the question about the anomaly in the video.
Select the best answer to the following multiple-choice question based on the video.
Respond with only the letter (A, B, C, or D) of the correct option.
Answer with the option's letter from the given choices directly.
What is the primary evidence of an anomaly in the video?
What is the primary anomaly observed in the video?
What type of anomaly occurs in this video? Choose one class from the list.
Is there an anomaly in the video? If so, when does it start and end, in seconds?
Give the start time and the end time of the anomalous event as [start, end] in seconds.
If the video is normal, answer with [-1.0, -1.0].
Describe what happens in the video and explain why it is abnormal.
Output the thinking process in <think> </think> and the final answer in <answer> </answer> tags.
Put the time span of the anomaly in <glue> </glue> tags, for example <glue>[3.5, 12.0]</glue>.
<think>The man in the blue shirt runs towards another person and starts a fight.</think><answer>A</answer>
<think>The video shows a quiet street with people walking calmly; nothing unusual happens.</think><answer>Normal</answer>
<think>Smoke and flames appear near the car at about 4 seconds.</think><answer>Fire</answer><glue>[4.0, 9.5]</glue>
The video depicts a street scene with several individuals. A man in a blue shirt and jeans is seen
running towards another person and engages in a physical altercation. The person in darker clothing
falls to the ground. A police car is in the background. The individual in a striped shirt grabs and
drags another person. No sign of anomaly. A fire breaking out in the background. A car accident causing
traffic congestion. A group of people calmly walking down the street. The vehicle crashes into the
barrier on the road at night. Water floods the parking lot. A worker falls from a ladder in the factory.
An object falls from the shelf in the store. The suspect steals a bag and runs away from the shop.
The officer arrests the suspect. Someone sets fire to the building. An explosion happens near the gas
station. Shots are fired in the corridor. The crowd panics. A patient collapses in the hospital room.
The kitchen staff handles food in an unsafe way. A landslide blocks the road after the storm.
Key object: the man, the woman, the car, the truck, the bicycle, the door, the window, the camera.
Description: Reasoning: Question: Options: Answer: Correct option: Anomaly class: Start time: End time:
The anomaly starts at 12.5 seconds and ends at 30.0 seconds. The video is 60 seconds long at 2 fps.
Abuse: a caregiver hits a child in the living room while another adult watches without helping.
Agriculture: a tractor overturns in the field and the farmer is thrown from the seat onto the soil.
Arrest: police officers stop a man, push him against the wall and put handcuffs on his wrists.
Arson: a person pours liquid from a bottle near the entrance, lights it and quickly walks away.
Assault: two young men attack a pedestrian on the sidewalk, kicking and punching him repeatedly.
Explosion: a loud blast destroys the front of the building and debris flies across the street.
Fighting: several students fight in the school yard; a teacher runs over to separate them.
Fire: thick black smoke rises from the roof of the warehouse and flames spread to the next house.
Food Safety: a cook drops raw meat on the floor, picks it up and puts it back on the plate.
Medical Abnormality: an elderly woman suddenly faints at the bus stop and people call for help.
Natural Hazard: strong wind and heavy rain knock down trees; mud slides down the hill onto cars.
Normal: customers enter the supermarket, choose products, pay at the counter and leave the store.
Object falling: a large box slips from the forklift and crashes onto the floor of the warehouse.
People falling: a cyclist loses balance on the wet road and falls next to the parked motorcycle.
Robbery: a masked man threatens the cashier with a knife and takes money from the register.
Shooting: a gunman opens fire in the parking garage and people run to hide behind vehicles.
Stealing: a thief quietly takes a wallet from the jacket of a passenger on the crowded train.
Traffic accident: a white van runs a red light at the intersection and hits a motorcyclist.
Vandalism: teenagers break the glass of the bus shelter and spray paint on the walls at midnight.
Water incident: a boy slips into the river near the bridge and a lifeguard jumps in to rescue him.
Scenes: street, road, highway, intersection, parking lot, shop, store, office, hospital, school,
train station, subway, airport, kitchen, restaurant, factory, farm, park, beach, river, bridge,
elevator, staircase, corridor, garage, gas station, bank, market, house, apartment, building.
People and things: man, woman, child, boy, girl, person, people, crowd, driver, worker, officer,
police, suspect, victim, customer, cashier, security guard, car, van, bus, truck, motorcycle,
bicycle, knife, gun, bag, box, phone, door, wall, window, table, chair, shelf, smoke, flame, water.
Actions: walk, run, stand, sit, fall, push, pull, hit, kick, punch, grab, throw, steal, break,
drive, crash, burn, explode, shoot, escape, chase, fight, argue, collapse, help, call, watch, wait.
Words for time and position: before, after, during, while, suddenly, then, finally, at first,
later, left, right, front, back, top, bottom, near, far, inside, outside, behind, above, below.
The frames show the event clearly; the camera is fixed and the lighting is poor at night.
This behaviour is unusual, dangerous and could cause injury, damage or loss of property.
The evidence supports option B because the man is holding a weapon and the others are afraid.
Therefore the answer is C. Therefore the video is normal. Therefore the anomaly class is Robbery.
"""


def _corpus_lines() -> Iterator[str]:
    """Yield the tokenizer training corpus: the prose, class names, options, digits and JSON-ish numbers."""
    yield from _CORPUS_PROSE.splitlines()
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

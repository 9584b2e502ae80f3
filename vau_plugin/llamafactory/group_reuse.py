"""Work a GRPO group shares, done once: the video through the vision tower, the prompt's prefill in generation, the
prompt's forward in the log-prob passes.

GRPO repeats each prompt (a video and a question) `num_generations` times. The trainer's per-sample visual
inputs are one dict object per distinct prompt (the G copies of a row share the dict its media cache built), so
identity says which samples are copies. Three reuses, each exact where it is on (tests/test_group_reuse.py):

- `shared_video_features(model, sources)`: during one forward, the model's `get_video_features` runs the vision
  tower on each distinct video once and hands the same embeddings to every copy (the embeddings are repeated, so
  gradients from all copies add up in the one encoding). Everything else in the forward is the model's own code:
  position ids, the placeholder checks, the learnable motion prompt's pre-hook (which still sees every copy's
  pixels, so its regulariser is the same), Qwen3-VL's deepstack features (repeated per copy too).
- `prefill_once`: generation prefills the distinct prompts (all but their last token), copies the KV cache and the
  rope offsets to every row of the batch, and lets `generate` decode from there: the first step processes each row's
  last prompt token, as a full prefill would have, and the rest of decoding is unchanged.
- `prompt_once_logits`: a log-prob forward runs the distinct prompts with a KV cache (gradients flow through it) and
  the completions of every row on the copied cache.

Each keeps the number of vision-tower calls per forward at one, so DeepSpeed ZeRO-3 ranks stay in step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Optional

import torch
from torch import nn

from vau_plugin.motion_model import base_model, inner_vl_model

VIDEO_GRID = "video_grid_thw"


def group_index(keys: Sequence[Any]) -> tuple[list[int], list[int]]:
    """group_index(keys) -> (firsts, index): `firsts` the positions of each distinct key's first occurrence (in
    order), `index[i]` the position in `firsts` of keys[i]'s key. E.g. ["a", "a", "b", "a"] -> ([0, 2], [0, 0, 1, 0])."""
    where: dict[Any, int] = {}
    firsts: list[int] = []
    index: list[int] = []
    for i, key in enumerate(keys):
        if key not in where:
            where[key] = len(firsts)
            firsts.append(i)
        index.append(where[key])
    return firsts, index


def video_sources(per_sample: Sequence[dict[str, torch.Tensor]]) -> Optional[list[int]]:
    """video_sources(per-sample visual inputs) -> for each video of the collated batch (samples in order, each
    sample's videos in order), the position of the first video with the same inputs; None when no video repeats.

    Samples are copies when they hold the same dict object (the trainer's media cache gives the G copies of a
    prompt one dict)."""
    firsts, index = group_index([id(sample) for sample in per_sample])
    if len(firsts) == len(per_sample):
        return None
    counts = [len(sample[VIDEO_GRID]) if VIDEO_GRID in sample else 0 for sample in per_sample]
    starts = [sum(counts[:i]) for i in range(len(counts))]
    sources: list[int] = []
    for i, count in enumerate(counts):
        first = firsts[index[i]]
        sources.extend(starts[first] + k for k in range(count))
    return sources if sources and len(set(sources)) < len(sources) else None


def vision_model(model: nn.Module) -> Optional[nn.Module]:
    """The module whose forward calls `self.get_video_features` (Qwen2/2.5/3-VL's inner model, found as the motion
    prompt finds it), under PEFT too; None for a model without one."""
    try:
        return inner_vl_model(base_model(model))
    except TypeError:
        return None


def _deduplicated(original: Any, sources: list[int]):
    """A `get_video_features(pixel_values_videos, video_grid_thw)` that encodes each distinct video once."""

    def get_video_features(pixel_values_videos: torch.Tensor, video_grid_thw: Optional[torch.Tensor] = None):
        if video_grid_thw is None or len(sources) != len(video_grid_thw):  # not the batch this plan is for
            return original(pixel_values_videos, video_grid_thw)
        rows = video_grid_thw.prod(-1).tolist()  # patch rows of each video in pixel_values_videos
        starts = [sum(rows[:i]) for i in range(len(rows))]
        keep = sorted(set(sources))
        pixels = torch.cat([pixel_values_videos[starts[v] : starts[v] + rows[v]] for v in keep])
        encoded = original(pixels, video_grid_thw[keep])
        position = {video: k for k, video in enumerate(keep)}
        pick = [position[source] for source in sources]
        if isinstance(encoded[0], (tuple, list)):  # Qwen3-VL: (per-video embeddings, deepstack layers)
            embeds, deepstack = encoded
            sizes = [e.shape[0] for e in embeds]
            deepstack = [torch.cat([layer.split(sizes)[p] for p in pick]) for layer in deepstack]
            return tuple(embeds[p] for p in pick), deepstack
        return tuple(encoded[p] for p in pick)

    return get_video_features


@contextlib.contextmanager
def shared_video_features(model: nn.Module, sources: Optional[list[int]]) -> Iterator[None]:
    """Within the block, forwards of `model` encode each distinct video of `sources` (see `video_sources`) once.
    A no-op for None or a model without a vision tower."""
    inner = vision_model(model) if sources else None
    if inner is None:
        yield
        return
    inner.get_video_features = _deduplicated(inner.get_video_features, sources)
    try:
        yield
    finally:
        del inner.get_video_features  # the class's method again


def _distinct_prompt_cache(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, index: list[int],
                           firsts: list[int], mm_inputs: dict[str, torch.Tensor], accepts_logits_to_keep: bool):
    """Forward the distinct prompts (rows `firsts` of `ids` / `mask`) with a KV cache and the last position's logits,
    then index the cache and the inner model's rope offsets (Qwen's multimodal positions) out to every row (`index[i]`
    is row i's prompt). -> (the forward's output, the row index tensor, the rows' rope offsets or None)."""
    rows = torch.tensor(firsts, device=ids.device)
    expand = torch.tensor(index, device=ids.device)
    kwargs = {"logits_to_keep": 1} if accepts_logits_to_keep else {}
    output = model(input_ids=ids[rows], attention_mask=mask[rows], use_cache=True, **mm_inputs, **kwargs)
    output.past_key_values.reorder_cache(expand)  # index_select on the batch dimension of every layer
    inner = vision_model(model)
    deltas = getattr(inner, "rope_deltas", None) if inner is not None else None
    if deltas is not None:
        deltas = inner.rope_deltas = deltas.index_select(0, expand.to(deltas.device))
    return output, expand, deltas


def prefill_once(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    index: list[int],
    firsts: list[int],
    mm_inputs: dict[str, torch.Tensor],
    accepts_logits_to_keep: bool,
) -> dict[str, Any]:
    """prefill_once(model, prompt_ids, prompt_mask, index, firsts, distinct rows' visual inputs, ...) -> the
    keyword arguments that make `model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, **them)` decode
    from a KV cache built once per distinct prompt.

    `firsts` are the rows to prefill (one per distinct prompt), `index[i]` the distinct prompt of row i. The prefill
    covers all but the last prompt token, so that generate's first step computes every row's first logits itself;
    the cache and the rope offsets (kept on the inner model between decoding steps) are then indexed out to all rows.
    The prompts are left-padded, so the last token is always a real one."""
    output, _, _ = _distinct_prompt_cache(model, prompt_ids[:, :-1], prompt_mask[:, :-1], index, firsts, mm_inputs,
                                          accepts_logits_to_keep)  # fmt: skip
    return {"past_key_values": output.past_key_values}


def prompt_once_logits(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    logits_to_keep: int,
    index: list[int],
    firsts: list[int],
    mm_inputs: dict[str, torch.Tensor],
    accepts_logits_to_keep: bool,
) -> torch.Tensor:
    """prompt_once_logits(model, input_ids, attention_mask, logits_to_keep, index, firsts, distinct rows' visual
    inputs, ...) -> the logits that predict the last `logits_to_keep` tokens of each row, [rows, logits_to_keep,
    vocab], as `model(input_ids, attention_mask, **visual).logits[:, :-1][:, -logits_to_keep:]` gives them, with each
    distinct prompt (`firsts`; `index[i]` is row i's) forwarded once.

    The prompt forward builds a KV cache (with gradients) for the distinct prompts; the cache is indexed out to every
    row and the completions are forwarded on it with explicit positions (a Qwen-VL row's text positions continue
    from its prompt's multimodal rope offset). Gradients reach the prompt's tokens, the video and the vision tower
    through the cache. Needs the cache inside the decoder layers: not with gradient checkpointing in training mode
    (transformers turns the cache off there); the caller checks."""
    prompt_length = input_ids.size(1) - logits_to_keep
    prompt, expand, deltas = _distinct_prompt_cache(model, input_ids[:, :prompt_length], attention_mask[:, :prompt_length],
                                                    index, firsts, mm_inputs, accepts_logits_to_keep)  # fmt: skip
    first_logits = prompt.logits[:, -1:, :].index_select(0, expand)  # predicts each row's first completion token
    cache_positions = torch.arange(prompt_length, input_ids.size(1), device=input_ids.device)
    positions = cache_positions.expand(input_ids.size(0), -1)
    if deltas is not None:  # Qwen-VL: text positions after the prompt = cache position + the row's rope offset
        positions = (positions + deltas.to(positions.device)).unsqueeze(0).expand(3, -1, -1)
    completion = model(input_ids=input_ids[:, prompt_length:], attention_mask=attention_mask, position_ids=positions,
                       past_key_values=prompt.past_key_values, use_cache=True, cache_position=cache_positions)  # fmt: skip
    return torch.cat([first_logits, completion.logits[:, :-1, :]], dim=1)

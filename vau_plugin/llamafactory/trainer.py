"""TRL 0.24's GRPOTrainer extended for video prompts encoded by LLaMA-Factory's template and mm_plugin.

What differs from TRL (everything else — loss types, KL/beta, clipping, reward scaling and weighting, logging of
`rewards/<name>/mean`, checkpointing — is TRL's own code):

- Prompts arrive pre-tokenized (`prompt_ids`, built by `dataset.load_grpo_datasets` with the recipe's template),
  and their videos become model inputs through the same mm_plugin that expanded the `<video>` placeholder, so
  video_fps / video_maxlen / video_max_pixels mean what they mean in SFT. For Qwen2-VL/Qwen2.5-VL these are
  `pixel_values_videos`, `video_grid_thw` and (Qwen2.5-VL) `second_per_grid_ts`, which the model's rope index
  uses for the temporal position ids; whatever else the mm_plugin returns and the model's forward does not name
  (Qwen3-VL's `video_metadata`, whose frame times are already in the prompt) stays out.
- Those visual inputs travel per sample in `mm_inputs` (a list with one dict of tensors per completion); TRL's
  shuffle/split of the generation batch permutes and slices lists like any per-sample column, and every forward
  (sampling, old/reference log-probs, loss) concatenates the dicts of its chunk.
- A sample whose video cannot be decoded, or decodes to a different number of visual tokens than its prompt
  holds, is logged once and replaced by another training sample (chosen deterministically from the broken one,
  so all ranks agree): the run goes on with the same step count. `skipped_samples` is logged per step.
- Generation never emits visual placeholder tokens (a sampled `<|video_pad|>` would break the next forward).
- Work a group shares is done once (`group_reuse`; recipe keys `vision_once_per_group`, `prefill_once_per_group`,
  `prompt_once_per_group`, all on by default): the vision tower encodes each distinct video once per forward,
  generation prefills each distinct prompt once and copies its KV cache to the group's rows, and without gradient
  checkpointing the log-prob forwards run each distinct prompt once and the completions on its cache. Completions are
  unchanged; log-probs are bit-identical with the vision reuse (vision-side gradients equal to float32 rounding,
  summed in another order) and equal to float32 rounding with the prompt reuse.
- Under DeepSpeed the optimizer loses its empty parameter groups before the scheduler is made from it
  (`drop_empty_param_groups`): LoRA's empty no-decay group otherwise stops the run at its first step.

Not available for video: TRL's vLLM and paged-transformers generation (TRL 0.24 forwards only images there;
text-only datasets still use them) and the Liger loss (its hidden-state pass takes no video inputs).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Optional

import torch
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation
from trl.trainer.utils import entropy_from_logits, pad, selective_log_softmax

from vau_plugin.llamafactory.args import IMAGE_ONLY_SWITCHES
from vau_plugin.llamafactory.group_reuse import (
    group_index,
    prefill_once,
    prompt_once_logits,
    shared_video_features,
    video_sources,
)

logger = logging.getLogger(__name__)

MM_INPUTS = "mm_inputs"


class BrokenSampleError(RuntimeError):
    """A sample's media could not be turned into model inputs that match its prompt."""


def _has_media(row: dict[str, Any]) -> bool:
    return bool(row.get("videos"))


class VideoGRPOTrainer(GRPOTrainer):
    """GRPOTrainer for LLaMA-Factory-encoded prompts with videos.

    VideoGRPOTrainer(model, reward_funcs, args, train_dataset, eval_dataset, processing_class, callbacks, *,
    template, lf_processor): `template` is LLaMA-Factory's Template (its mm_plugin builds the visual inputs),
    `lf_processor` the processor LLaMA-Factory patched with the video settings (None for text-only models).
    Dataset rows need `prompt` (messages), `prompt_ids` and `videos` (list of paths, may be empty).
    """

    def __init__(self, *args: Any, template: Any, lf_processor: Optional[Any], **kwargs: Any) -> None:
        self.template = template
        self.lf_processor = lf_processor
        self._batch_mm_inputs: Optional[list[dict[str, torch.Tensor]]] = None
        self._loss_mm_inputs: Optional[list[dict[str, torch.Tensor]]] = None
        self._broken_media: dict[tuple, str] = {}
        grpo_args = kwargs["args"]
        has_video = any(_dataset_has_videos(kwargs.get(name)) for name in ("train_dataset", "eval_dataset"))
        unsupported = [f for f in IMAGE_ONLY_SWITCHES if getattr(grpo_args, f)]
        # the recipe check (args.image_only_switches_problem) stops most such runs before anything loads; this one
        # covers a remote dataset_info.json and direct use from Python, before TRL starts vLLM in super().__init__
        if has_video and unsupported:
            raise NotImplementedError(
                f"stage grpo with videos: {', '.join(unsupported)} is not supported (TRL 0.24 passes only images to "
                "vLLM/paged generation and the Liger loss); set it to false"
            )
        super().__init__(*args, **kwargs)
        suppressed = list(self.generation_config.suppress_tokens or []) + self._placeholder_token_ids()
        self.generation_config.suppress_tokens = sorted(set(suppressed)) or None

    # ---------------------------------------------------------------------------------------------- set-up

    @property
    def _tokenizer(self) -> Any:
        return getattr(self.processing_class, "tokenizer", self.processing_class)

    def _placeholder_token_ids(self) -> list[int]:
        """Ids of the mm_plugin's placeholder tokens (image/video/audio pads, vision start/end)."""
        plugin = self.template.mm_plugin
        attrs = ("image_token", "video_token", "audio_token", "vision_bos_token", "vision_eos_token")
        names = [getattr(plugin, attr, None) for attr in attrs]
        tokenizer = self._tokenizer
        ids = {tokenizer.convert_tokens_to_ids(name) for name in names if isinstance(name, str)}
        return sorted(i for i in ids if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id)

    def _video_token_id(self) -> Optional[int]:
        token = getattr(self.template.mm_plugin, "video_token", None)
        return self._tokenizer.convert_tokens_to_ids(token) if isinstance(token, str) else None

    def create_optimizer(self):
        """Transformers' optimizer, less its empty parameter groups under DeepSpeed (see `drop_empty_param_groups`)."""
        optimizer = super().create_optimizer()
        if self.is_deepspeed_enabled:
            drop_empty_param_groups(optimizer)
        return optimizer

    # ---------------------------------------------------------------------------------------------- media

    def _build_mm_inputs(self, row: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The model's visual inputs for one row (empty without media); raises BrokenSampleError."""
        videos = list(row.get("videos") or [])
        if not videos:
            return {}
        try:
            mm = self.template.mm_plugin.get_mm_inputs(
                [], videos, [], [0], [len(videos)], [0], [row["prompt_ids"]], self.lf_processor
            )
        except Exception as err:  # decoding errors of any backend
            raise BrokenSampleError(f"{type(err).__name__}: {err}") from err
        # only what the model's forward names, before making tensors: an mm_plugin may also return values that are
        # no model input and no tensor (Qwen3-VL's `video_metadata`, the frame times already written into the prompt)
        mm = {k: (v if torch.is_tensor(v) else torch.tensor(v)) for k, v in mm.items() if k in self.model_kwarg_keys}
        self._check_video_tokens(row["prompt_ids"], mm)
        return mm

    def _check_video_tokens(self, prompt_ids: list[int], mm: dict[str, torch.Tensor]) -> None:
        """Raise BrokenSampleError when the decoded video yields another number of visual tokens than the
        prompt holds (e.g. a file whose metadata promises more frames than it decodes)."""
        grid = mm.get("video_grid_thw")
        merge_size = getattr(getattr(self.lf_processor, "image_processor", None), "merge_size", None)
        token_id = self._video_token_id()
        if grid is None or not merge_size or token_id is None:
            return
        expected = int(grid.prod(dim=-1).sum().item()) // (merge_size**2)
        found = sum(1 for t in prompt_ids if t == token_id)
        if expected != found:
            raise BrokenSampleError(f"decoded video gives {expected} visual tokens but the prompt holds {found}")

    def _replacement_dataset(self) -> Any:
        dataset = self.train_dataset if self.model.training else self.eval_dataset
        return dataset if hasattr(dataset, "__getitem__") and not isinstance(dataset, dict) else self.train_dataset

    def _replacement_for(self, row: dict[str, Any], cache: dict) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """A healthy row to train on instead of `row`: the first one, from a position derived from the broken
        row's prompt, whose media decode (the same on every rank)."""
        dataset = self._replacement_dataset()
        n = len(dataset)
        start = int(hashlib.sha256(repr(row["prompt_ids"]).encode()).hexdigest(), 16) % n
        for offset in range(n):
            candidate = dataset[(start + offset) % n]
            try:
                return candidate, self._media_inputs(candidate, cache)
            except BrokenSampleError:
                continue
        raise RuntimeError("stage grpo: no sample in the dataset has readable media; check the videos")

    def _media_inputs(self, row: dict[str, Any], cache: dict) -> dict[str, torch.Tensor]:
        """_build_mm_inputs with a per-batch cache (the G copies of a prompt share one decode) and a run-long
        record of broken media (reported once)."""
        key = (tuple(row.get("videos") or ()), len(row["prompt_ids"]))
        if key in self._broken_media:
            raise BrokenSampleError(self._broken_media[key])
        if key not in cache:
            try:
                cache[key] = self._build_mm_inputs(row)
            except BrokenSampleError as err:
                self._broken_media[key] = str(err)
                logger.warning("[vau-plugin] GRPO: skipping sample with videos %s: %s", list(key[0]), err)
                raise
        return cache[key]

    def _resolve_media(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict], int]:
        """(rows with broken samples replaced, per-row visual inputs, number of replaced rows)."""
        cache: dict = {}
        out_rows, per_row, replaced = [], [], 0
        for row in rows:
            try:
                mm = self._media_inputs(row, cache)
            except BrokenSampleError:
                row, mm = self._replacement_for(row, cache)
                replaced += 1
            out_rows.append(row)
            per_row.append(mm)
        return out_rows, per_row, replaced

    def _collate_mm_inputs(self, per_sample: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Concatenate per-sample visual tensors along dim 0, on the training device."""
        keys = [k for k in dict.fromkeys(k for sample in per_sample for k in sample)]
        device = self.accelerator.device
        return {k: torch.cat([s[k] for s in per_sample if k in s]).to(device) for k in keys}

    # ---------------------------------------------------------------------------------------------- generation

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        if not any(_has_media(row) for row in inputs) and self._delegate_text_generation():
            return super()._generate_and_score_completions(inputs)
        inputs, per_row, replaced = self._resolve_media(inputs)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["skipped_samples"].append(float(replaced))
        self._batch_mm_inputs = per_row
        self._batch_rows = inputs
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self._batch_mm_inputs = None
            self._batch_rows = None
        output[MM_INPUTS] = per_row
        return output

    def _delegate_text_generation(self) -> bool:
        """Text-only batches keep TRL's own generation when vLLM or paged generation is asked for."""
        return bool(self.use_vllm or self.use_transformers_paged)

    def _generate_single_turn(self, prompts: list, images: Optional[list]):
        rows = getattr(self, "_batch_rows", None)
        if rows is None:  # a text-only batch delegated to TRL
            return super()._generate_single_turn(prompts, images)
        per_row = self._batch_mm_inputs
        device = self.accelerator.device
        ids = [torch.tensor(row["prompt_ids"], device=device) for row in rows]
        prompt_ids = pad(ids, padding_value=self.pad_token_id, padding_side="left")
        prompt_mask = pad([torch.ones_like(t) for t in ids], padding_value=0, padding_side="left")
        with (
            unwrap_model_for_generation(
                self.model_wrapped, self.accelerator, gather_deepspeed3_params=self.args.ds3_gather_for_generation
            ) as unwrapped_model,
            torch.no_grad(),
        ):
            if self._prefill_once():
                # the distinct prompts' KV cache, copied to their rows; generate decodes from there. Taken whether or
                # not this batch repeats a prompt, so that every ZeRO-3 rank makes the same forward calls.
                firsts, index = group_index([(id(mm), tuple(row["prompt_ids"])) for mm, row in zip(per_row, rows)])
                inputs = prefill_once(unwrapped_model, prompt_ids, prompt_mask, index, firsts,
                                      self._collate_mm_inputs([per_row[i] for i in firsts]),
                                      "logits_to_keep" in self.model_kwarg_keys)  # fmt: skip
                sources = None
            else:
                inputs = self._collate_mm_inputs(per_row)
                sources = video_sources(per_row) if self.args.vision_once_per_group else None
            with shared_video_features(unwrapped_model, sources):
                sequences = unwrapped_model.generate(
                    input_ids=prompt_ids,
                    attention_mask=prompt_mask,
                    generation_config=self.generation_config,
                    disable_compile=True,
                    **inputs,
                )
        completion_ids = sequences[:, prompt_ids.size(1) :]
        is_eos = completion_ids == self.eos_token_id
        eos_idx = torch.full((is_eos.size(0),), is_eos.size(1), dtype=torch.long, device=device)
        eos_idx[is_eos.any(dim=1)] = is_eos.int().argmax(dim=1)[is_eos.any(dim=1)]
        positions = torch.arange(is_eos.size(1), device=device).expand(is_eos.size(0), -1)
        keep = positions <= eos_idx.unsqueeze(1)
        completions = [c[m].tolist() for c, m in zip(completion_ids, keep)]
        return [list(row["prompt_ids"]) for row in rows], completions, None, {MM_INPUTS: per_row}

    def _prefill_once(self) -> bool:
        """prefill_once_per_group applies: asked for, and generate keeps its default dynamic KV cache."""
        return bool(self.args.prefill_once_per_group) and not getattr(self.generation_config, "cache_implementation", None)

    def _prompt_once(self, unwrapped_model) -> bool:
        """prompt_once_per_group applies to a forward of this model: asked for, and no gradient checkpointing in
        training mode (its layers drop the KV cache the completions are forwarded on). Taken whether or not the chunk
        repeats a prompt, so that every ZeRO-3 rank makes the same forward calls."""
        if not self.args.prompt_once_per_group:
            return False
        checkpointing = getattr(unwrapped_model, "is_gradient_checkpointing", False)
        return not (checkpointing and unwrapped_model.training)

    # ---------------------------------------------------------------------------------------------- log-probs

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        # TRL's _compute_loss forwards only image kwargs; the batch's visual inputs are handed over here.
        self._loss_mm_inputs = inputs.get(MM_INPUTS)
        try:
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self._loss_mm_inputs = None
        return loss + self._motion_regulariser(model)

    def _motion_regulariser(self, model) -> Any:
        """The learnable motion prompt's regulariser of the last forward (0 when none is attached): the model
        adds it to a loss only when it computes one itself, which GRPO's forward does not."""
        try:
            from vau_plugin.motion_model import take_regulariser
        except ImportError:
            return 0.0
        reg = take_regulariser(self.accelerator.unwrap_model(model))
        if reg is None:
            return 0.0
        return reg / self.current_gradient_accumulation_steps

    def _chunk_logits(self, model, chunk_ids, chunk_mask, chunk_mm, logits_to_keep: int) -> torch.Tensor:
        """The temperature-scaled logits that predict a chunk's last `logits_to_keep` tokens: each distinct prompt
        forwarded once (`prompt_once_per_group`, where it applies), else one forward of every row with each distinct
        video encoded once (`vision_once_per_group`)."""
        accepts_logits_to_keep = "logits_to_keep" in self.model_kwarg_keys
        unwrapped = self.accelerator.unwrap_model(model)
        if self._prompt_once(unwrapped):
            prompts = chunk_ids[:, : chunk_ids.size(1) - logits_to_keep]
            firsts, index = group_index([(id(mm), tuple(p.tolist())) for mm, p in zip(chunk_mm, prompts)])
            logits = prompt_once_logits(model, chunk_ids, chunk_mask, logits_to_keep, index, firsts,
                                        self._collate_mm_inputs([chunk_mm[i] for i in firsts]), accepts_logits_to_keep)  # fmt: skip
            return logits / self.temperature
        model_inputs = {"input_ids": chunk_ids, "attention_mask": chunk_mask, "use_cache": False,
                        **self._collate_mm_inputs(chunk_mm)}  # fmt: skip
        if accepts_logits_to_keep:
            model_inputs["logits_to_keep"] = logits_to_keep + 1  # the last logit is dropped below
        sources = video_sources(chunk_mm) if self.args.vision_once_per_group else None
        with shared_video_features(unwrapped, sources):
            return model(**model_inputs).logits[:, :-1, :][:, -logits_to_keep:, :] / self.temperature

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        mm_inputs=None,
        **image_kwargs,
    ):
        mm_inputs = mm_inputs if mm_inputs is not None else self._loss_mm_inputs
        if not mm_inputs or not any(mm_inputs):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, **image_kwargs
            )
        batch_size = batch_size or input_ids.size(0)
        all_logps, all_entropies = [], []
        for start in range(0, input_ids.size(0), batch_size):
            end = start + batch_size
            chunk_ids = input_ids[start:end]
            logits = self._chunk_logits(model, chunk_ids, attention_mask[start:end], mm_inputs[start:end], logits_to_keep)
            all_logps.append(selective_log_softmax(logits, chunk_ids[:, -logits_to_keep:]))
            if compute_entropy:
                with torch.no_grad():
                    all_entropies.append(entropy_from_logits(logits))
        return torch.cat(all_logps), (torch.cat(all_entropies) if compute_entropy else None)


def drop_empty_param_groups(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """drop_empty_param_groups(optimizer) -> the same optimizer without its parameter groups that hold no parameter
    (kept when every group is empty, for the trainer's own error).

    Why, under DeepSpeed with LoRA: transformers 4.57's Trainer builds two groups (weight decay / none) and, in
    `deepspeed_init`, the learning-rate scheduler from them before `accelerator.prepare`; with LoRA the no-decay
    group is empty, DeepSpeed's engine then removes it from the same optimizer, and torch >= 2.10's strict zip in
    `LRScheduler._update_lr` fails at the first step ("zip() argument 2 is longer than argument 1"), at ZeRO-2 and 3
    (LLaMA-Factory's SFT too: hiyouga/LlamaFactory#10144). transformers makes the scheduler after `prepare` since
    huggingface/transformers#43711 (its main branch, Feb 2026; not in the 4.57 line pinned here); dropping the empty
    group first, as DeepSpeed would, keeps the
    scheduler's groups and the optimizer's the same. Only under DeepSpeed: elsewhere the empty group is harmless,
    and an older checkpoint's optimizer state holds it."""
    groups = [group for group in optimizer.param_groups if group["params"]]
    if groups and len(groups) != len(optimizer.param_groups):
        optimizer.param_groups[:] = groups
    return optimizer


def _dataset_has_videos(dataset: Any) -> bool:
    """True when a (dict of) dataset(s) has a row with videos."""
    if dataset is None:
        return False
    if isinstance(dataset, dict):
        return any(_dataset_has_videos(d) for d in dataset.values())
    column_names = getattr(dataset, "column_names", None) or []
    return "videos" in column_names and any(bool(v) for v in dataset["videos"])

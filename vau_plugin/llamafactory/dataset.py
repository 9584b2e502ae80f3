"""GRPO datasets through LLaMA-Factory's own loader and dataset_info.json, keeping the reward columns.

LLaMA-Factory's `align_dataset` keeps only its standard columns (_prompt, _response, _videos, ...). For a GRPO run,
and only while its datasets load, the "sharegpt" converter is swapped for `ColumnKeepingSharegptConverter`
(`scoped_patches.sharegpt_converter`), which also passes on every extra top-level column of a row (`task`, `answer`,
`span`, `video_id` from `vau-plugin prepare`, or your own): TRL hands the columns to the reward functions as keyword
lists.
SFT and other stages never see the swap. Datasets mixed in one GRPO run must therefore have the same extra columns.

For every stage, LLaMA-Factory's own dataset processors (SFT, PPO, DPO, KTO) drop an example whose video the
plugin's templates cannot use (`example_filter.drop_examples_with_unusable_videos`, applied by `patch.patch_data`).

Each prompt is then encoded as LLaMA-Factory's UnsupervisedDatasetProcessor (the PPO stage) encodes it: the
template's chat format, `<video>` expanded by the template's mm_plugin from the video's metadata (video_fps,
video_maxlen, video_max_pixels), ending with the assistant header. A row whose video cannot be read is logged
and dropped; so is a prompt longer than `cutoff_len` (truncating it would cut through the video tokens).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Optional

from llamafactory.data import converter as lf_converter
from llamafactory.data import loader as lf_loader
from llamafactory.data import split_dataset

from vau_plugin.llamafactory.scoped_patches import sharegpt_converter

logger = logging.getLogger(__name__)

ALIGNED_COLUMNS: tuple[str, ...] = ("_prompt", "_response", "_system", "_tools", "_images", "_videos", "_audios")
# Column names TRL's GRPOTrainer gives a meaning of its own (an "images" column switches on its image path).
RESERVED_COLUMNS = frozenset({"prompt", "prompt_ids", "completion", "completion_ids", "images", "image", "videos"})
_ERROR_COLUMN = "_vau_error"
def _consumed_columns(dataset_attr: Any) -> set[str]:
    """Columns of a row that the sharegpt converter reads itself."""
    names = ("messages", "system", "tools", "images", "videos", "audios", "chosen", "rejected", "kto_tag")
    return {getattr(dataset_attr, name) for name in names if getattr(dataset_attr, name, None)}


@dataclasses.dataclass
class ColumnKeepingSharegptConverter(lf_converter.SharegptDatasetConverter):
    """LLaMA-Factory's sharegpt converter that also keeps the row's extra columns (see the module docstring)."""

    def __call__(self, example: dict[str, Any]) -> dict[str, Any]:
        output = super().__call__(example)
        consumed = _consumed_columns(self.dataset_attr)
        for name, value in example.items():
            if name in consumed or name in output:
                continue
            if name in RESERVED_COLUMNS:
                raise ValueError(
                    f"dataset column {name!r} is reserved by TRL's GRPOTrainer; rename it in your dataset "
                    f"(reserved: {', '.join(sorted(RESERVED_COLUMNS))})"
                )
            output[name] = value
        return output


def encode_prompt(example: dict[str, Any], template: Any, tokenizer: Any, processor: Any) -> dict[str, Any]:
    """encode_prompt(aligned example, template, tokenizer, processor) -> {"prompt", "prompt_ids", "videos",
    "_vau_error"}: the prompt's token ids ending with the assistant header, media placeholders expanded.
    A failure (e.g. an unreadable video) gives empty prompt_ids and the error text."""
    videos = example["_videos"] or []
    images = example["_images"] or []
    audios = example["_audios"] or []
    try:
        if not example["_prompt"]:
            raise ValueError("the conversation is malformed (LLaMA-Factory's converter dropped it)")
        messages = example["_prompt"] + [{"role": "assistant", "content": ""}]
        messages = template.mm_plugin.process_messages(messages, images, videos, audios, processor)
        prompt_ids, _ = template.encode_oneturn(tokenizer, messages, example["_system"], example["_tools"])
        prompt_ids, _ = template.mm_plugin.process_token_ids(prompt_ids, None, images, videos, audios, tokenizer, processor)
        error = ""
    except Exception as err:  # one bad sample must not stop the run; reported after the map
        prompt_ids, error = [], f"{type(err).__name__}: {err}"
    return {"prompt": example["_prompt"], "prompt_ids": prompt_ids, "videos": videos, _ERROR_COLUMN: error}


def _drop_unusable(dataset: Any, cutoff_len: int, name: str) -> Any:
    """Log and drop rows that failed to encode or exceed cutoff_len; raise when nothing is left."""
    errors = dataset[_ERROR_COLUMN]
    lengths = [len(ids) for ids in dataset["prompt_ids"]]
    keep = []
    for index, (error, length) in enumerate(zip(errors, lengths)):
        if error:
            videos = dataset[index]["videos"]
            logger.warning("[vau-plugin] GRPO %s row %d skipped (videos %s): %s", name, index, videos, error)
        elif length > cutoff_len:
            logger.warning(
                "[vau-plugin] GRPO %s row %d skipped: prompt of %d tokens exceeds cutoff_len %d "
                "(raise cutoff_len or lower video_max_pixels/video_maxlen)", name, index, length, cutoff_len
            )
        else:
            keep.append(index)
    if not keep:
        first = next((e for e in errors if e), f"every prompt exceeds cutoff_len {cutoff_len}")
        raise ValueError(f"GRPO {name} dataset: no usable row left; first problem: {first}")
    if len(keep) < len(dataset):
        logger.warning("[vau-plugin] GRPO %s dataset: %d of %d rows kept", name, len(keep), len(dataset))
        dataset = dataset.select(keep)
    return dataset.remove_columns([_ERROR_COLUMN])


def load_grpo_datasets(
    template: Any, model_args: Any, data_args: Any, training_args: Any, tokenizer: Any, processor: Optional[Any]
) -> dict[str, Any]:
    """load_grpo_datasets(template, model_args, data_args, training_args, tokenizer, processor) ->
    {"train_dataset", "eval_dataset"} with columns prompt, prompt_ids, videos and the datasets' extra columns."""
    if data_args.streaming:
        raise ValueError("stage grpo: streaming datasets are not supported; set streaming: false")
    with training_args.main_process_first(desc="load dataset"), sharegpt_converter(ColumnKeepingSharegptConverter):
        train = lf_loader._get_merged_dataset(data_args.dataset, model_args, data_args, training_args, stage="ppo")
        evals = lf_loader._get_merged_dataset(
            data_args.eval_dataset, model_args, data_args, training_args, stage="ppo",
            return_dict=data_args.eval_on_each_dataset,
        )
    train_dict, eval_dict = split_dataset(train, evals, data_args, seed=training_args.seed)
    map_kwargs = dict(
        fn_kwargs=dict(template=template, tokenizer=tokenizer, processor=processor),
        remove_columns=list(ALIGNED_COLUMNS),
        num_proc=data_args.preprocessing_num_workers,
        load_from_cache_file=(not data_args.overwrite_cache) or (training_args.local_process_index != 0),
        desc="Encoding GRPO prompts",
    )
    encoded = {}
    with training_args.main_process_first(desc="pre-process dataset"):
        for key, dataset in {**train_dict, **eval_dict}.items():
            encoded[key] = _drop_unusable(dataset.map(encode_prompt, **map_kwargs), data_args.cutoff_len, key)
    evals_encoded = {k: v for k, v in encoded.items() if k.startswith("validation")}
    if len(evals_encoded) == 1:
        eval_dataset = next(iter(evals_encoded.values()))
    else:
        eval_dataset = {k.removeprefix("validation_"): v for k, v in evals_encoded.items()} or None
    return {"train_dataset": encoded.get("train"), "eval_dataset": eval_dataset}

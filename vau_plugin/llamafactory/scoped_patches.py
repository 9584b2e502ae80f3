"""The changes to LLaMA-Factory that hold only while a `stage: grpo` run reads its arguments and datasets: context
managers that swap one entry of an upstream table and restore it on exit (listed with every other patch in
`vau_plugin.llamafactory.patch`).

They live apart from `patch` because `args` and `dataset` enter them while `patch` reaches those modules through
`workflow`: here they import nothing of the plugin, so the modules' imports stay one-way. Importing this module
imports no third-party package; LLaMA-Factory's modules are imported when a block is entered.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def training_arguments_class(cls: type) -> Iterator[None]:
    """Within the block, LLaMA-Factory's `get_train_args` builds `cls` (a subclass of its TrainingArguments) in
    place of its TrainingArguments: `parser._TRAIN_ARGS` holds the classes it parses into."""
    from llamafactory.hparams import parser
    from llamafactory.hparams.training_args import TrainingArguments

    if cls in parser._TRAIN_ARGS:  # already swapped by an enclosing block
        yield
        return
    index = parser._TRAIN_ARGS.index(TrainingArguments)
    parser._TRAIN_ARGS[index] = cls
    try:
        yield
    finally:
        parser._TRAIN_ARGS[index] = TrainingArguments


@contextlib.contextmanager
def sharegpt_converter(converter_cls: type) -> Iterator[None]:
    """Within the block, LLaMA-Factory formats "sharegpt" datasets with `converter_cls` (a subclass of its
    SharegptDatasetConverter): `converter.DATASET_CONVERTERS` is the table `get_dataset_converter` reads."""
    from llamafactory.data import converter

    original = converter.DATASET_CONVERTERS["sharegpt"]
    converter.DATASET_CONVERTERS["sharegpt"] = converter_cls
    try:
        yield
    finally:
        converter.DATASET_CONVERTERS["sharegpt"] = original

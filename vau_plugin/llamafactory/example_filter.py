"""An example whose video the plugin's templates cannot use is dropped from LLaMA-Factory's own dataset processors
(SFT, PPO, DPO, KTO), with a warning naming the file and why, where one such video used to end the run while the
dataset was encoded. `patch.patch_dataset_processors` applies it when `llamafactory.data` is imported.

This module imports nothing of LLaMA-Factory: the start-up hook runs that patch while `llamafactory.data` is being
imported, so a module of the patch that imported `llamafactory.data` itself (as `dataset.py` must, to subclass its
converter) would be only half initialised then whenever it was imported first.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable

logger = logging.getLogger(__name__)

# Set on a processor's wrapped preprocess_dataset (`drop_examples_with_unusable_videos`): applied once.
DROPS_UNUSABLE_VIDEOS = "__vau_drops_unusable_videos__"
# LLaMA-Factory's processors that encode each example on its own (the packed SFT processor packs a batch together,
# so an example cannot be dropped from it alone; the pretraining one reads no media).
EXAMPLE_PROCESSORS: tuple[str, ...] = (
    "SupervisedDatasetProcessor",
    "UnsupervisedDatasetProcessor",
    "PairwiseDatasetProcessor",
    "FeedbackDatasetProcessor",
)


def drop_examples_with_unusable_videos(preprocess: Callable) -> Callable:
    """drop_examples_with_unusable_videos(a processor's preprocess_dataset) -> the same, except that a batch in which
    a video cannot be used (`vau_plugin.sampling.VideoError`: missing, corrupt, no frame size of the budget fits it) is
    encoded again one example at a time, and the examples whose video fails are dropped, each with a warning naming
    the file and why, instead of ending the run. Only the plugin's templates decode through `vau_plugin.video`, so
    only their runs meet it; every other example is encoded exactly as before."""
    from vau_plugin.sampling import VideoError

    if getattr(preprocess, DROPS_UNUSABLE_VIDEOS, False):
        return preprocess

    @functools.wraps(preprocess)
    def preprocess_dataset(self: Any, examples: dict[str, list[Any]]) -> dict[str, list[Any]]:
        try:
            return preprocess(self, examples)
        except VideoError:
            pass
        merged: dict[str, list[Any]] = {}
        for i in range(len(next(iter(examples.values()), []))):
            try:
                encoded = preprocess(self, {column: values[i : i + 1] for column, values in examples.items()})
            except VideoError as error:
                logger.warning("dropped a training example: its video cannot be used: %s", error)
                continue
            for column, values in encoded.items():
                merged.setdefault(column, []).extend(values)
        return merged

    setattr(preprocess_dataset, DROPS_UNUSABLE_VIDEOS, True)
    return preprocess_dataset



"""Where a VAU-Bench row comes from: the source a video name or a split names, and the published test splits.

- A row's source (the dataset it comes from: msad, ucf or ecva): the video name's prefix (`source_from_name`),
  else the split it was read from (`source_from_split`), e.g. the published test split `test_ucf_crime`.
  `TEST_SPLIT_SOURCE` maps those test splits to their source, `SOURCE_TEST_SPLIT` the other way.
"""

from __future__ import annotations

import re
from typing import Optional

from vau_plugin.data.schema import SOURCES

# ------------------------------------------------------------------------------------------- where a row is from

# File-name stems of the published test splits and the source each one holds.
TEST_SPLIT_SOURCE: dict[str, str] = {
    "test_msad": "msad",
    "test_ucf_crime": "ucf",
    "test_ecva": "ecva",
}
# The same map read the other way: source -> the published test split holding it.
SOURCE_TEST_SPLIT: dict[str, str] = {source: split for split, source in TEST_SPLIT_SOURCE.items()}


def source_from_name(video: str) -> Optional[str]:
    """`source_from_name(video) -> source | None`: the source named by a `msad_` / `ucf_` / `ecva_` prefix."""
    prefix = video.split("_", 1)[0].lower() if "_" in video else ""
    return prefix if prefix in SOURCES else None


def source_from_split(split: str) -> Optional[str]:
    """`source_from_split(stem) -> source | None`: test_msad -> msad, test_ucf_crime -> ucf, test_ecva -> ecva."""
    if split in TEST_SPLIT_SOURCE:
        return TEST_SPLIT_SOURCE[split]
    named = {token for token in re.split(r"[_\-.\s]+", split.lower()) if token in SOURCES}
    return named.pop() if len(named) == 1 else None


def infer_source(video: str, split: str) -> Optional[str]:
    """`infer_source(video, split) -> source | None`: from the video name prefix, else from the split name."""
    return source_from_name(video) or source_from_split(split)

"""`--video-search source|anywhere`, shared by `vau-plugin validate` and `vau-plugin prepare`."""

from __future__ import annotations

import argparse


def add_video_search_argument(parser: argparse.ArgumentParser) -> None:
    """`--video-search source|anywhere`: where a row's video may be taken from (`vau_plugin.data.videos`)."""
    from vau_plugin.data.videos import VIDEO_SEARCH_SOURCE, VIDEO_SEARCHES

    parser.add_argument(
        "--video-search", choices=VIDEO_SEARCHES, default=VIDEO_SEARCH_SOURCE,
        help="source (default): a row's video is taken from the video root itself or the row's own source folder "
        "(msad/, ucf/, ecva/, at any depth); anywhere: also by file name from any folder below the root, each such "
        "file named in a warning",
    )  # fmt: skip

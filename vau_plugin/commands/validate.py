"""`vau-plugin validate PATH [--json] [--videos DIR] [--video-search source|anywhere]`: the rows of VAU-Bench
annotations (`vau_plugin.data.validate`) and, with --videos, what evaluation's decoder makes of the videos they
name (`vau_plugin.video_checks`, imported only then: the rows alone need no tensor library)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from vau_plugin.commands._video_search import add_video_search_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="a VAU-Bench annotation CSV or a directory of CSVs")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    parser.add_argument("--videos", default=None, help="video root: also report which videos are found / missing")
    add_video_search_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Exit status 0 when the annotations could be read (row-level errors included, they are in the report): for a
    directory, when at least one of its CSVs could be read (each one that cannot is an error in the report, naming
    it and why); 2 with one message on stderr when they cannot (missing file, not a CSV, missing columns, no file
    of a directory readable, bad video root). Progress lines of long steps go to stderr, never to stdout."""
    from vau_plugin.data.reader import AnnotationError
    from vau_plugin.data.validate import format_report, validate_path

    if args.videos is not None:
        from vau_plugin.video_checks import check_videos  # the decoder: torch comes in with --videos only
    else:
        check_videos = None
    try:
        report = validate_path(args.path, video_root=args.videos, video_search=args.video_search, check_videos=check_videos)
    except (AnnotationError, OSError) as exc:
        print(f"vau-plugin validate: error: {exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(report, indent=2) if args.json else format_report(report), flush=True)
    except BrokenPipeError:
        # The reader (e.g. `| head`) left early; silence the interpreter's own flush at exit too.
        sys.stdout = open(os.devnull, "w")
    return 0

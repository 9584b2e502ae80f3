"""`vau-plugin prepare`: see `vau_plugin.llamafactory.prepare` (its docstring is the command's description)."""

from __future__ import annotations

import argparse
import sys

from vau_plugin.commands._video_search import add_video_search_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vau_plugin.llamafactory import prepare

    parser.description = prepare.__doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--annotations", required=True, help="a VAU-Bench CSV, a directory of CSVs, or a hub dataset id")
    parser.add_argument("--videos", required=True, help="the video root (flat, or msad/ ucf/ ecva/ sub-folders)")
    parser.add_argument("--out", required=True, help="output dataset folder (dataset_info.json is merged; files of the "
                        "same names that `prepare` did not write there are refused unless --force)")
    parser.add_argument("--force", action="store_true", help="replace same-named files in --out even when `prepare` did "
                        "not write them (and same-named dataset_info.json entries)")
    parser.add_argument("--tasks", default=",".join(prepare.TRAIN_TASKS), help="comma-separated subset of qa,tag,cls")
    parser.add_argument("--split", default=None, help="CSV stem to read from a directory, e.g. train")
    parser.add_argument("--no-sft", action="store_true", help="write only the GRPO files")
    parser.add_argument(
        "--prompt-style",
        choices=prepare.PROMPT_STYLES,
        default="train",
        help="train: VAU-R1's training prompts, text before the video (default); eval: the lmms-eval _think task "
        "prompts, video first (train on exactly what vau_bench_*_think evaluates); answer: the answer alone in <answer> "
        "tags, no reasoning, video first (what vau_bench_qa_answer and vau_bench_cls evaluate; --tasks qa,cls)",
    )
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=prepare.FORMATS,
        default=prepare.FORMATS[0],
        help="llamafactory: dataset_info.json + sharegpt files (default); easyr1: EasyR1 JSONL (prompt, videos, JSON "
        "ground truth in 'answer'), GRPO only; swift: ms-swift JSONL (messages, videos, task/answer/span columns)",
    )
    add_video_search_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Exit status 0 when written, 1 with one message on stderr otherwise."""
    from vau_plugin.data.reader import AnnotationError
    from vau_plugin.llamafactory.prepare import prepare_dataset

    try:
        summary = prepare_dataset(
            args.annotations, args.videos, args.out, tasks=args.tasks, split=args.split, sft=not args.no_sft,
            prompt_style=args.prompt_style, fmt=args.fmt, overwrite=args.force, video_search=args.video_search,
        )
    except (AnnotationError, ValueError, OSError) as err:
        print(f"vau-plugin prepare: {err}", file=sys.stderr)
        return 1
    print(summary.describe())
    return 0

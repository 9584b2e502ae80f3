"""`vau-plugin motion-preview VIDEO OUT`: see `vau_plugin.motion_preview` (its docstring is the command's description)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vau_plugin import motion_preview  # light: torch is imported when a preview is made

    parser.description = motion_preview.__doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("video", help="a video file")
    parser.add_argument("out", help=f"output image path ({', '.join(sorted(motion_preview.FORMATS))})")
    parser.add_argument("--frames", type=int, default=8, help="number of prompted frames to show")
    parser.add_argument("--m", type=float, default=0.0, help="the layer's slope parameter m")
    parser.add_argument("--n", type=float, default=0.0, help="the layer's shift parameter n")
    parser.add_argument("--fill", choices=motion_preview.FILL_CHOICES, default="mean", help="what zero attention shows")


def run(args: argparse.Namespace) -> int:
    """Exit status 0 when the image is written, 1 with one message on stderr otherwise."""
    from vau_plugin.motion_preview import run_motion_preview
    from vau_plugin.sampling import VideoError

    try:
        path = run_motion_preview(args.video, args.out, frames=args.frames, m=args.m, n=args.n, fill=args.fill)
    except (VideoError, ValueError, OSError) as err:
        print(f"vau-plugin motion-preview: {err}", file=sys.stderr)
        return 1
    print(f"motion preview written to {path}")
    return 0

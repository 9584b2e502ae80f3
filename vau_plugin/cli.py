"""`vau-plugin` command line. Each sub-command lives beside the code it drives; this file only wires them."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence


def add_video_search_argument(parser: argparse.ArgumentParser) -> None:
    """`--video-search source|anywhere`: where a row's video may be taken from (`vau_plugin.data.videos`)."""
    from vau_plugin.data.videos import VIDEO_SEARCH_SOURCE, VIDEO_SEARCHES

    parser.add_argument(
        "--video-search", choices=VIDEO_SEARCHES, default=VIDEO_SEARCH_SOURCE,
        help="source (default): a row's video is taken from the video root itself or the row's own source folder "
        "(msad/, ucf/, ecva/, at any depth); anywhere: also by file name from any folder below the root, each such "
        "file named in a warning",
    )  # fmt: skip


def _cmd_validate(args: argparse.Namespace) -> int:
    from vau_plugin.data.validate import run_validate

    return run_validate(args.path, as_json=args.json, video_root=args.videos, video_search=args.video_search)


FORCE_HELP = "write into OUT even when it already holds files (those of the same names are replaced)"


def _refused(command: str, error: Exception) -> int:
    """One line on stderr for a refused or impossible output folder; exit status 1 (as `vau-plugin recipes`)."""
    print(f"vau-plugin {command}: {error}", file=sys.stderr)
    return 1


# What a `make-*` command turns into one line on stderr and exit 1: a folder it must not write into, bad arguments.
REFUSALS = (FileExistsError, NotADirectoryError, ValueError)


def _make(command: str, build: Callable[[], str], refusals: tuple[type[Exception], ...] = REFUSALS) -> int:
    """Run `build` (it writes the output and returns what to print); `refusals` become `_refused(command, error)`."""
    try:
        report = build()
    except refusals as error:
        return _refused(command, error)
    print(report)
    return 0


def _cmd_make_mini_bench(args: argparse.Namespace) -> int:
    from vau_plugin.benches.mini import make_mini_bench

    return _make("make-mini-bench", lambda: make_mini_bench(
        args.out, seed=args.seed, n_train=args.train, n_test=args.test, overwrite=args.force).describe())  # fmt: skip


def _cmd_make_motion_bench(args: argparse.Namespace) -> int:
    from vau_plugin.benches.motion import make_motion_bench

    return _make("make-motion-bench", lambda: make_motion_bench(
        args.out, seed=args.seed, n_train=args.train, n_test=args.test, overwrite=args.force).describe())  # fmt: skip


def _cmd_make_colour_bench(args: argparse.Namespace) -> int:
    from vau_plugin.benches.colour import make_colour_bench

    def build() -> str:
        bench = make_colour_bench(args.out, n_train=args.train, n_test=args.test, seed=args.seed, overwrite=args.force)
        return f"colour bench written to {bench.root}: {args.train} train / {args.test} test clips, control labels in {bench.control}"

    return _make("make-colour-bench", build)


def _cmd_make_order_bench(args: argparse.Namespace) -> int:
    from vau_plugin.benches.order import make_order_bench

    return _make("make-order-bench", lambda: make_order_bench(
        args.out, tier=args.tier, n_train=args.train, n_val=args.val, n_test=args.test, seed=args.seed,
        overwrite=args.force).describe())  # fmt: skip


def _cmd_make_tiny_model(args: argparse.Namespace) -> int:
    from vau_plugin.tiny_model import get_arch, make_tiny_model

    return _make("make-tiny-model", lambda: f"tiny {get_arch(args.arch).title} checkpoint written to "
                 f"{make_tiny_model(args.out, seed=args.seed, overwrite=args.force, arch=args.arch)}",
                 refusals=(FileExistsError, NotADirectoryError))  # fmt: skip


def _cmd_demo(args: argparse.Namespace) -> int:
    from vau_plugin.demo import run_demo

    return run_demo(args.workdir)


def tiny_model_help(archs: dict) -> str:
    """The one-line help of `make-tiny-model`, naming every architecture of `archs` (tiny_model.ARCHS)."""
    *others, last = [arch.title for arch in archs.values()]
    return f"write a tiny random-initialised checkpoint ({', '.join(others) + ' or ' if others else ''}{last})"


def arch_help(archs: dict, default: str) -> str:
    """The help of `--arch`: each name of `archs` (tiny_model.ARCHS) with its family, the default marked; read
    from the table so a new architecture cannot be left out."""
    names = [f"{name} ({arch.title}{', the default' if name == default else ''})" for name, arch in archs.items()]
    return "architecture: " + ", ".join(names)


def _add_output_parser(sub: argparse._SubParsersAction, name: str, help_text: str,
                       handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:  # fmt: skip
    """A `make-*` sub-command: OUT, --seed, --force."""
    p = sub.add_parser(name, help=help_text, description=help_text)
    p.add_argument("out", help="output directory (new or empty, unless --force)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.set_defaults(func=handler)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vau-plugin",
        description="Video anomaly understanding (VAU-R1, VAU-Bench) and video motion prompts for lmms-eval and LLaMA-Factory.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a VAU-Bench CSV (or a directory of them) and count usable rows per task")
    p.add_argument("path", help="a VAU-Bench annotation CSV or a directory of CSVs")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    p.add_argument("--videos", default=None, help="video root: also report which videos are found / missing")
    add_video_search_argument(p)
    p.set_defaults(func=_cmd_validate)

    benches = (  # name, help, default train / test clips, handler
        ("make-mini-bench", "write the synthetic mini bench (mp4 clips + VAU-Bench CSVs)", 16, 12, _cmd_make_mini_bench),
        ("make-motion-bench", "write the synthetic motion-dependent bench (timing / event-kind questions)", 400, 200,
         _cmd_make_motion_bench),
        ("make-colour-bench", "write the colour bench (red -> A, blue -> B): does training use the video?", 64, 40,
         _cmd_make_colour_bench),
        ("make-order-bench", "write the order bench (direction / moves / start of a square; needs the frame order)", 300, 200,
         _cmd_make_order_bench),
    )  # fmt: skip
    bench_parsers = {}
    for name, help_text, n_train, n_test, handler in benches:
        p = bench_parsers[name] = _add_output_parser(sub, name, help_text, handler)
        p.add_argument("--train", type=int, default=n_train, help="number of training clips")
        p.add_argument("--test", type=int, default=n_test, help="number of held-out clips")
    # No `choices` for --tier: make_order_bench's ValueError names the tiers, and the refusal exits 1 like the others.
    bench_parsers["make-order-bench"].add_argument("--tier", default="large", help="large (28-px square, one video token) or small (14 px)")
    bench_parsers["make-order-bench"].add_argument("--val", type=int, default=100, help="number of validation clips (for sweeps)")
    from vau_plugin.tiny_model import ARCHS, DEFAULT_ARCH  # light: transformers is imported only when building

    p = _add_output_parser(sub, "make-tiny-model", tiny_model_help(ARCHS), _cmd_make_tiny_model)
    p.add_argument("--arch", choices=tuple(ARCHS), default=DEFAULT_ARCH, help=arch_help(ARCHS, DEFAULT_ARCH))

    from vau_plugin.motion_preview import add_motion_preview_parser

    add_motion_preview_parser(sub)

    from vau_plugin.llamafactory.prepare import add_prepare_parser
    from vau_plugin.recipes import add_recipes_parser
    from vau_plugin.score import add_score_parser

    add_prepare_parser(sub)
    add_recipes_parser(sub)
    add_score_parser(sub)

    p = sub.add_parser("demo", help="a tiny model learns a video-dependent answer: SFT + GRPO through llamafactory-cli, lmms-eval before and after (~3 min on CPU)")
    p.add_argument("--workdir", default=".demo")
    p.set_defaults(func=_cmd_demo)

    from vau_plugin.gpu_check import add_gpu_check_parser

    add_gpu_check_parser(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    from vau_plugin._env import SettingError

    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args) or 0)
    except SettingError as error:  # an environment variable the command read holds a value it does not accept
        print(f"vau-plugin {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`vau-plugin` command line: the table of sub-commands and main().

Each sub-command is a module of `vau_plugin.commands` (`add_arguments(parser)`, `run(args) -> int`), imported only
when that command is run: `vau-plugin --help` reads the table alone, and a command pays for no other's imports.
"""

from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Optional, Sequence

# name -> (the module that builds its arguments and runs it, its line in `vau-plugin --help`), in the help's order.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("vau_plugin.commands.validate",
                 "check a VAU-Bench CSV (or a directory of them) and count usable rows per task"),
    "make-mini-bench": ("vau_plugin.commands.make_mini_bench", "write the synthetic mini bench (mp4 clips + VAU-Bench CSVs)"),
    "make-motion-bench": ("vau_plugin.commands.make_motion_bench",
                          "write the synthetic motion-dependent bench (timing / event-kind questions)"),
    "make-colour-bench": ("vau_plugin.commands.make_colour_bench",
                          "write the colour bench (red -> A, blue -> B): does training use the video?"),
    "make-order-bench": ("vau_plugin.commands.make_order_bench",
                         "write the order bench (direction / moves / start of a square; needs the frame order)"),
    # Every architecture of vau_plugin.tiny_model.ARCHS (the command's own --help is built from the table; a test
    # holds this line to it).
    "make-tiny-model": ("vau_plugin.commands.make_tiny_model",
                        "write a tiny random-initialised checkpoint (Qwen2.5-VL, Qwen2-VL or Qwen3-VL)"),
    "motion-preview": ("vau_plugin.commands.motion_preview",
                       "write an image strip: sampled frames / motion attention maps / prompted frames"),
    "prepare": ("vau_plugin.commands.prepare", "turn VAU-Bench annotations + videos into a LLaMA-Factory dataset dir "
                "(GRPO and SFT, per task), or EasyR1 / ms-swift files"),
    "recipes": ("vau_plugin.commands.recipes", "copy the shipped LLaMA-Factory recipes (VAU-R1 GRPO/SFT) into DIR"),
    "score": ("vau_plugin.commands.score", "score existing predictions (VAU-R1 CSV or lmms-eval --log_samples jsonl) "
              "with the plugin's parser and metrics"),
    "demo": ("vau_plugin.commands.demo", "a tiny model learns a video-dependent answer: SFT + GRPO through "
             "llamafactory-cli, lmms-eval before and after (~3 min on CPU)"),
    "gpu-check": ("vau_plugin.commands.gpu_check",
                  "run the GPU path on the tiny model (bf16 training and lmms-eval); pass/fail per check"),
}  # fmt: skip


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """build_parser(command=None) -> the `vau-plugin` parser: every command of COMMANDS with its help line, and the
    arguments of `command` (when it names one) from its module; the other commands' modules are not imported."""
    parser = argparse.ArgumentParser(
        prog="vau-plugin",
        description="Video anomaly understanding (VAU-R1, VAU-Bench) and video motion prompts for lmms-eval and LLaMA-Factory.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text)
        if name == command:
            import_module(module).add_arguments(command_parser)
    return parser


def _named_command(argv: Sequence[str]) -> Optional[str]:
    """The command argv runs: its first word that is no option (the top level has no option but --help, which
    takes no value), or None."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from vau_plugin._env import SettingError

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_named_command(argv)).parse_args(argv)
    run = import_module(COMMANDS[args.command][0]).run
    try:
        return int(run(args) or 0)
    except SettingError as error:  # an environment variable the command read holds a value it does not accept
        print(f"vau-plugin {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

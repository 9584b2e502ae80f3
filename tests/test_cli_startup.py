"""`vau-plugin` starts without torch: the sub-parsers and the CSV checks import no tensor library (it costs about a
second per command, and the suite runs the CLI dozens of times); torch comes in where frames are made. The CLI
imports the module of the command it runs and no other (`vau_plugin.cli.COMMANDS`); `--help` imports none."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.cli import COMMANDS

HEAVY = ("torch", "torchvision", "transformers", "numpy", "lmms_eval", "llamafactory", "trl")


def _run_cli(*argv: str) -> dict:
    """Run `vau-plugin ARGV` in a fresh interpreter: {"status", "stdout", "heavy": the HEAVY modules imported,
    "commands": the vau_plugin.commands modules imported}."""
    code = (
        "import contextlib, io, json, sys\n"
        "from vau_plugin.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        "        status = main(sys.argv[1:])\n"
        "    except SystemExit as stop:\n"
        "        status = stop.code\n"
        f"heavy = [name for name in {HEAVY!r} if name in sys.modules]\n"
        "commands = sorted(name for name in sys.modules if name.startswith('vau_plugin.commands.'))\n"
        "print(json.dumps({'status': status, 'stdout': out.getvalue(), 'heavy': heavy, 'commands': commands}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_validate_and_help_do_not_import_torch(shared_vau_bench):
    code = (
        "import sys, contextlib, io\n"
        "from vau_plugin.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['validate', {str(shared_vau_bench / 'test_msad.csv')!r}]) == 0\n"
        "print(sorted(name for name in ('torch', 'torchvision', 'transformers') if name in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_help_lists_every_command_from_the_table_and_imports_no_command_module():
    run = _run_cli("--help")
    assert run["status"] == 0
    assert run["commands"] == [] and run["heavy"] == []
    text = "".join(run["stdout"].split())  # argparse wraps the help lines, also at hyphens
    for name, (_, help_text) in COMMANDS.items():
        assert name + "".join(help_text.split()) in text, name


def test_validate_of_a_bundled_csv_imports_its_own_command_module_and_no_torch():
    csv = bundled_mini_bench() / "test.csv"
    run = _run_cli("validate", str(csv))
    assert run["status"] == 0 and run["stdout"].startswith(f"{csv}: ")
    assert run["heavy"] == []
    own = COMMANDS["validate"][0]
    assert own in run["commands"]
    others = {module for name, (module, _) in COMMANDS.items() if name != "validate"}
    assert not others & set(run["commands"]), run["commands"]


def test_every_command_module_builds_its_arguments_and_runs():
    """Each table entry names a module with add_arguments(parser) and run(args), and `CMD --help` builds it."""
    from importlib import import_module

    from vau_plugin.cli import build_parser

    for name, (module, _) in COMMANDS.items():
        command = import_module(module)
        assert callable(command.add_arguments) and callable(command.run), module
        sub = next(a for a in build_parser(name)._actions if a.dest == "command").choices[name]
        assert sub.format_usage().startswith(f"usage: vau-plugin {name}"), name


def test_the_tiny_model_line_of_the_table_names_every_architecture():
    """`vau-plugin --help` reads the table without importing the command; its make-tiny-model line is the one the
    command builds from tiny_model.ARCHS (its own --help), so a new architecture must be added there too."""
    from vau_plugin.commands.make_tiny_model import tiny_model_help
    from vau_plugin.tiny_model import ARCHS

    assert COMMANDS["make-tiny-model"][1] == tiny_model_help(ARCHS)


def test_the_commands_are_shipped_in_the_wheel():
    """pyproject's package list names vau_plugin.commands (setuptools ships only the packages it lists)."""
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"vau_plugin.commands"' in pyproject

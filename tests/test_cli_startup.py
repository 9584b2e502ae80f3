"""`vau-plugin` starts without torch: the sub-parsers and the CSV checks import no tensor library (it costs about a
second per command, and the suite runs the CLI dozens of times); torch comes in where frames are made."""

from __future__ import annotations

import subprocess
import sys


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

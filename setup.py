"""Build hook: ship `vau_plugin.pth` at the top of site-packages, in wheels and in editable installs.

All metadata lives in pyproject.toml; this file only adds the start-up hook. The .pth holds one line that imports
`vau_plugin.llamafactory._startup` (silently skipped when that fails), which installs a lazy post-import hook: LLaMA-Factory gets
`stage: grpo` when (and only when) it is imported, in every process, torchrun ranks included. The file is
generated (not copied), so sdists need no MANIFEST entry. Its name sorts after `__editable__.*.pth`, so in an
editable install the package is importable when site.py runs the line.
"""

import os

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "vau_plugin.pth"
# site.py runs a .pth line that starts with "import"; a failing line prints a traceback at every Python start. So the
# hook is imported inside try/except: an unimportable vau_plugin (a moved editable checkout, a shadowing folder)
# costs nothing but the hook, and the error is kept as sys.vau_plugin_startup_error for `patch_status()`.
PTH_LINE = (
    'import sys; exec("try:\\n import vau_plugin.llamafactory._startup\\n'
    'except Exception as error:\\n sys.vau_plugin_startup_error = repr(error)")\n'
)


class build_py_with_pth(build_py):
    """build_py that also writes the start-up .pth at the root of the (possibly editable) wheel."""

    def run(self):
        super().run()
        target_dir = self.build_lib
        if getattr(self, "editable_mode", False):  # setuptools>=64: install_lib is the unpacked editable wheel
            target_dir = self.distribution.get_command_obj("install").install_lib
        os.makedirs(target_dir, exist_ok=True)
        with open(os.path.join(target_dir, PTH_NAME), "w", encoding="utf-8") as handle:
            handle.write(PTH_LINE)

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH_NAME)]


setup(cmdclass={"build_py": build_py_with_pth})

"""Run at interpreter start by ``vau_plugin.pth``: install a post-import hook for LLaMA-Factory.

The hook is a meta-path finder that wraps the loader of a few LLaMA-Factory modules; once such a module has been
executed, the matching function of `vau_plugin.llamafactory.patch` (where every patch of LLaMA-Factory lives) is
called on it. Nothing else happens at start-up (no third-party import), so the cost is one small class and one
list insertion. Because every Python process runs the .pth, the hook is also active in the ranks LLaMA-Factory
re-launches under torchrun and in Ray workers. Set VAU_PLUGIN_NO_HOOK=1 to turn it off (a flag as `vau_plugin._env`
reads flags: `false` or `0` keeps it on; a value that is no flag keeps it on and says so on stderr).

The .pth line imports this module inside try/except (see setup.py): when vau_plugin cannot be imported (a moved
editable checkout, a shadowing folder) Python starts as if the plugin were not installed, with no traceback, and
the error is kept as `sys.vau_plugin_startup_error` (reported by `patch.patch_status()`).
"""

import sys

from vau_plugin._env import SettingError, env_flag

DISABLE_ENV = "VAU_PLUGIN_NO_HOOK"
# module name -> function of vau_plugin.llamafactory.patch called with the freshly executed module
POST_IMPORT_HOOKS = {
    "llamafactory.train.tuner": "patch_tuner",
    "llamafactory.data": "patch_data",  # after the package (templates, mm_plugins) is complete
}
_PATCH_MODULE = "vau_plugin.llamafactory.patch"


def _run_hook(function_name, module):
    """Call patch.<function_name>(module); a failure is reported, never raised, so upstream keeps working."""
    try:
        __import__(_PATCH_MODULE)
        getattr(sys.modules[_PATCH_MODULE], function_name)(module)
    except Exception as err:  # a broken plugin must not break LLaMA-Factory's own stages
        print(f"[vau-plugin] could not patch {module.__name__}: {err!r}", file=sys.stderr)


class _PatchingLoader:
    """Delegates to the real loader, runs the hook after the module executed, and hands the module back its
    real loader so nothing downstream sees this wrapper."""

    def __init__(self, loader, function_name):
        self._loader = loader
        self._function_name = function_name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _run_hook(self._function_name, module)

    def __getattr__(self, name):  # get_source, get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class PostImportFinder:
    """Meta-path finder: finds the hooked modules through the other finders and wraps their loader."""

    _vau_post_import_finder = True

    def find_spec(self, fullname, path=None, target=None):
        function_name = POST_IMPORT_HOOKS.get(fullname)
        if function_name is None:
            return None
        for finder in sys.meta_path:
            if getattr(finder, "_vau_post_import_finder", False) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = _PatchingLoader(spec.loader, function_name)
            return spec
        return None


def hook_disabled():
    """True when VAU_PLUGIN_NO_HOOK is a flag that is on (1, true, yes, on). A value that is no flag leaves the hook
    on, with one line on stderr naming it: this runs at every Python start, where an exception would be swallowed
    by the .pth line and take the hook away without a word."""
    try:
        return env_flag(DISABLE_ENV)
    except SettingError as error:
        print(f"[vau-plugin] {error}; the LLaMA-Factory hook stays on", file=sys.stderr)
        return False


def install():
    """Install the finder once (idempotent) and patch hooked modules that are already imported."""
    if hook_disabled():
        return
    if not any(getattr(finder, "_vau_post_import_finder", False) for finder in sys.meta_path):
        sys.meta_path.insert(0, PostImportFinder())
    for name, function_name in POST_IMPORT_HOOKS.items():
        if name in sys.modules:
            _run_hook(function_name, sys.modules[name])


install()

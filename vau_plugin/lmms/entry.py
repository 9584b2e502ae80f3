"""The `lmms_eval.models` entry point: registers the plugin's models and its task folder.

lmms-eval 0.7.3 has no entry point for tasks, and its `LMMS_EVAL_PLUGINS` task path is applied after the task
index is built. It does load the `lmms_eval.models` entry-point group when `lmms_eval.models` is imported,
which every evaluation does before it builds a `TaskManager`. So this entry point also adds the plugin's task
folder to every `TaskManager`'s search path. That is the plugin's one monkeypatch of lmms-eval (those of
LLaMA-Factory are in `vau_plugin.llamafactory.patch`): idempotent, and checked by `task_dir_registered()`.

lmms-eval is imported inside the functions: importing it at module level would make `import
vau_plugin.lmms.entry` re-enter this entry point while the module is half initialised.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Optional, Sequence, Union

MODEL_ID = "vau_qwen2_5_vl"
MODEL_CLASS_PATH = "vau_plugin.lmms.model.VAUQwen2_5_VL"
# model id -> chat class (lmms-eval imports the class only when the model is used)
MODELS = {
    MODEL_ID: MODEL_CLASS_PATH,
    "vau_qwen2_vl": "vau_plugin.lmms.model.VAUQwen2_VL",
    "vau_qwen3_vl": "vau_plugin.lmms.model.VAUQwen3_VL",
}
_PATCH_MARK = "_vau_plugin_task_dir"


def task_dir() -> Path:
    """The folder of the plugin's lmms-eval task YAMLs (the `tasks/` folder, shipped as `vau_plugin.tasks`)."""
    spec = importlib.util.find_spec("vau_plugin.tasks")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("vau_plugin.tasks is not installed; reinstall vau-plugin")
    return Path(list(spec.submodule_search_locations)[0])


def _with_task_dir(include_path: Union[None, str, Sequence[str]], extra: str) -> list[str]:
    if include_path is None:
        paths: list[str] = []
    elif isinstance(include_path, (str, Path)):
        paths = [str(include_path)]
    else:
        paths = [str(p) for p in include_path]
    return paths if extra in paths else [*paths, extra]


def register_task_dir() -> None:
    """Make every lmms-eval `TaskManager` also index the plugin's tasks. Safe to call many times."""
    from lmms_eval.tasks import TaskManager

    original = TaskManager.initialize_tasks
    if getattr(original, _PATCH_MARK, None):
        return
    extra = str(task_dir())

    @functools.wraps(original)
    def initialize_tasks(self: Any, include_path: Optional[Union[str, Sequence[str]]] = None, include_defaults: bool = True):
        return original(self, include_path=_with_task_dir(include_path, extra), include_defaults=include_defaults)

    setattr(initialize_tasks, _PATCH_MARK, extra)
    TaskManager.initialize_tasks = initialize_tasks


def task_dir_registered() -> bool:
    from lmms_eval.tasks import TaskManager

    return bool(getattr(TaskManager.initialize_tasks, _PATCH_MARK, None))


def model_manifests() -> list:
    """Entry-point payload: the plugin's lmms-eval models (and, as a side effect, its task folder)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    register_task_dir()
    return [ModelManifest(model_id=model_id, chat_class_path=path) for model_id, path in MODELS.items()]

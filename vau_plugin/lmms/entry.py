"""The `lmms_eval.models` entry point: registers the plugin's models and its task folder, and makes a failed run
of a plugin task or model exit non-zero.

lmms-eval 0.7.3 has no entry point for tasks, and its `LMMS_EVAL_PLUGINS` task path is applied after the task
index is built. It does load the `lmms_eval.models` entry-point group when `lmms_eval.models` is imported,
which every evaluation does before it builds a `TaskManager`. So this entry point also adds the plugin's task
folder to every `TaskManager`'s search path (checked by `task_dir_registered()`).

lmms-eval's `cli_evaluate` catches every `Exception` of a run, logs it and exits 0 (unless `--verbosity DEBUG`),
so a run that failed looks like a success to scripts and CI. The entry point is loaded while `lmms_eval.__main__`
is still being imported (before `cli_evaluate` exists), so the exit status is guarded when the CLI builds its
`TaskManager`, after every module is loaded (`guard_exit_status()`, checked by `exit_status_guarded()`): for a run
of a `vau_*` task or model, a failure becomes `RunStopped`, a `SystemExit` that passes through that `except
Exception` and exits 1 with the plugin's message as the last line. Runs of other tasks and models are left as
upstream runs them. A process that runs many evaluations can also reuse its task index (`memoize_task_index()`,
opt-in). These are the plugin's monkeypatches of lmms-eval (those of LLaMA-Factory are in
`vau_plugin.llamafactory.patch`); each is idempotent and named in tests/test_upstream_contract.py.

lmms-eval is imported inside the functions: importing it at module level would make `import
vau_plugin.lmms.entry` re-enter this entry point while the module is half initialised.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import gc
import importlib.util
import inspect
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any, NoReturn, Optional, Sequence, Union

import vau_plugin
from vau_plugin.lmms import RunStopped

MODEL_ID = "vau_qwen2_5_vl"
MODEL_CLASS_PATH = "vau_plugin.lmms.model.VAUQwen2_5_VL"
# model id -> chat class (lmms-eval imports the class only when the model is used)
MODELS = {
    MODEL_ID: MODEL_CLASS_PATH,
    "vau_qwen2_vl": "vau_plugin.lmms.model.VAUQwen2_VL",
    "vau_qwen3_vl": "vau_plugin.lmms.model.VAUQwen3_VL",
}
_PATCH_MARK = "_vau_plugin_task_dir"
_INDEX_MEMO_MARK = "_vau_plugin_index_memo"  # set on the memoised TaskManager._get_task_and_group
# The prefix of the plugin's task and model names: a run naming one is the plugin's, and its failures exit non-zero.
PLUGIN_PREFIX = "vau_"
_GUARD_MARK = "_vau_plugin_exit_guard"
_PLUGIN_RUN_MARK = "_vau_plugin_run"  # set on the EvaluationTracker of a plugin run
_PACKAGE_DIR = Path(vau_plugin.__file__).resolve().parent


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
        guard_exit_status()  # the CLI builds its TaskManager once everything is imported: the moment to guard it
        return original(self, include_path=_with_task_dir(include_path, extra), include_defaults=include_defaults)

    setattr(initialize_tasks, _PATCH_MARK, extra)
    TaskManager.initialize_tasks = initialize_tasks


def task_dir_registered() -> bool:
    from lmms_eval.tasks import TaskManager

    return bool(getattr(TaskManager.initialize_tasks, _PATCH_MARK, None))


def memoize_task_index() -> None:
    """Make every later `TaskManager` of this process reuse the index of a task folder it already read (the CLI
    builds a new one per run, and indexing lmms-eval's ~3,300 task YAMLs takes ~3.5 s on 2 cores). For a process
    that runs many evaluations (`vau_plugin.runners.run_lmms_eval_in_process`); a task YAML added or edited
    afterwards is not seen by this process. Each call gets its own copy of the index. Safe to call many times."""
    import copy

    from lmms_eval.tasks import TaskManager

    original = TaskManager._get_task_and_group
    if getattr(original, _INDEX_MEMO_MARK, False):
        return
    indexed: dict[str, Any] = {}

    @functools.wraps(original)
    def _get_task_and_group(self: Any, task_dir: str) -> Any:
        if task_dir not in indexed:
            indexed[task_dir] = original(self, task_dir)
        return copy.deepcopy(indexed[task_dir])

    setattr(_get_task_and_group, _INDEX_MEMO_MARK, True)
    TaskManager._get_task_and_group = _get_task_and_group


def cli_in_process(argv: list[str]) -> int:
    """cli_in_process(argv) -> the exit status of lmms-eval's CLI (`cli_evaluate`) run in this process with sys.argv
    = argv (restored afterwards) and the task index read once per process (`memoize_task_index`): 0, or the status
    the run ended with (a failed plugin run: 1, the guard's message printed last, as the CLI would). For
    `vau_plugin.runners.run_lmms_eval_in_process`, which sets the environment and the log."""
    from lmms_eval.__main__ import cli_evaluate

    memoize_task_index()
    saved = sys.argv
    sys.argv = list(argv)
    try:
        cli_evaluate()
    except SystemExit as stopped:  # how the plugin's guard ends a failed run
        if isinstance(stopped.code, str):
            print(stopped.code, flush=True)
        return 0 if stopped.code is None else stopped.code if isinstance(stopped.code, int) else 1
    finally:
        sys.argv = saved
    return 0


# ----------------------------------------------------------------------------------------------- exit status


def plugin_run(model: Any, tasks: Any) -> bool:
    """plugin_run(model, tasks) -> whether an lmms-eval run involves the plugin: a model name or a task name (tasks:
    one name, or a list of names and task configs) starting with PLUGIN_PREFIX."""
    names = [tasks] if isinstance(tasks, str) else list(tasks or [])
    return any(isinstance(name, str) and name.startswith(PLUGIN_PREFIX) for name in [model, *names])


def _wrapped_errors(error: BaseException) -> list[BaseException]:
    """`error` and every exception it wraps, outermost first: tenacity's RetryError (lmms-eval retries dataset
    loading) gives its last attempt's exception; `raise ... from` and `during handling` chains are followed."""
    found: list[BaseException] = []
    pending: list[Optional[BaseException]] = [error]
    while pending:
        current = pending.pop(0)
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        attempt = getattr(current, "last_attempt", None)
        if attempt is not None and callable(getattr(attempt, "exception", None)):
            pending.append(attempt.exception())
        pending += [current.__cause__, current.__context__]
    return found


def _raised_in_plugin(error: BaseException) -> bool:
    """Whether `error` was raised by the plugin's own code: a plugin exception class (AnnotationError,
    MissingVideosError, ...) or a ValueError raised in a vau_plugin module (how the model wrappers refuse a
    checkpoint); a KeyError or TypeError there is a bug, reported as unexpected."""
    if type(error).__module__.split(".")[0] == "vau_plugin":
        return True
    innermost = error.__traceback__
    while innermost is not None and innermost.tb_next is not None:
        innermost = innermost.tb_next
    if innermost is None or not isinstance(error, ValueError):
        return False
    return _PACKAGE_DIR in Path(innermost.tb_frame.f_code.co_filename).resolve().parents


def plugin_error(error: BaseException) -> Optional[BaseException]:
    """plugin_error(error) -> the plugin's own exception that `error` is or wraps, None when there is none."""
    return next((wrapped for wrapped in _wrapped_errors(error) if _raised_in_plugin(wrapped)), None)


def failure_message(error: BaseException) -> str:
    """failure_message(error) -> the line that ends a failed plugin run: the plugin's own message when `error` is
    or wraps one (it says what is wrong and what to do), else `lmms-eval stopped: <type>: <message>` of the error
    (a RetryError unwrapped), on one line."""
    own = plugin_error(error)
    if own is not None:
        return str(own).strip()
    wrapped = _wrapped_errors(error)
    cause = next((e for e in wrapped if getattr(e, "last_attempt", None) is None), error)
    return f"lmms-eval stopped: {type(cause).__name__}: {' '.join(str(cause).split())}"


def stop_run(message: str) -> NoReturn:
    """End the run with exit status 1 and `message` as the last thing printed: Python prints a SystemExit's message
    on stderr at exit, so what could still print after it is printed first (progress bars left open in frames of
    the failed evaluation that only reference cycles keep alive close when collected; stdout is flushed)."""
    gc.collect()
    _flush()
    raise RunStopped(message)


def _flush() -> None:
    sys.stdout.flush()
    sys.stderr.flush()


def _output_path_problem(output_path: Any) -> Optional[str]:
    """What stops lmms-eval from writing results under `output_path` (it creates the folder), None when nothing
    does. Checked before the model is loaded: lmms-eval finds out only after the whole evaluation."""
    if not output_path:
        return None
    folder = Path(output_path)  # as lmms-eval takes it (no ~ expansion)
    if folder.exists() and not folder.is_dir():
        return f"--output_path {output_path} is a file; lmms-eval writes its results into a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return f"--output_path {output_path} cannot be written: {error.strerror or error}"
    return None


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    """" (did you mean X?)" with the known name closest to `name`, "" for a wildcard pattern or when none is close."""
    close = [] if any(c in name for c in "*?[") else difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_model_message(model: str) -> Optional[str]:
    """unknown_model_message(model) -> the message for a `vau_*` model name the plugin does not register, else None."""
    if not model.startswith(PLUGIN_PREFIX) or model in MODELS:
        return None
    return f"--model {model} is not a model of vau-plugin{_did_you_mean(model, list(MODELS))}; its models are {', '.join(MODELS)}"


def unknown_tasks_message(requested: Sequence[str], matched: Sequence[str], known: Sequence[str]) -> Optional[str]:
    """unknown_tasks_message(requested, matched, known) -> the message naming each requested task name (or
    wildcard pattern) that matched no task and is no task file, with the closest known names; None when all did."""
    unknown = [name for name in requested if not fnmatch.filter(matched, name) and not os.path.isfile(name)]
    if not unknown:
        return None
    listed = ", ".join(f"{name!r}{_did_you_mean(name, known)}" for name in unknown)
    return f"--tasks: no task {listed}; `lmms-eval --tasks list` lists every task"


def _guard_simple_evaluate(evaluator: Any) -> None:
    """`lmms_eval.evaluator.simple_evaluate` (which `cli_evaluate_single` looks up at call time), for a CLI run
    (`cli_args` given) of the plugin: refuses an unknown `vau_*` model and an unwritable --output_path before
    anything is loaded, and turns any exception of the evaluation into `stop_run(failure_message(...))`, with the
    traceback first for an unexpected error or under --verbosity DEBUG. Every rank of a multi-process run checks
    the same things; an error on one rank only (rank 0 loads the data first) ends that rank with status 1, and
    the launcher (torchrun, accelerate launch) then stops the others."""
    original = evaluator.simple_evaluate
    if getattr(original, _GUARD_MARK, False):
        return
    signature = inspect.signature(original)

    @functools.wraps(original)
    def simple_evaluate(*args: Any, **kwargs: Any) -> Any:
        call = signature.bind_partial(*args, **kwargs).arguments
        model = call.get("model")
        if call.get("cli_args") is None or not plugin_run(model, call.get("tasks")):
            return original(*args, **kwargs)
        problem = unknown_model_message(model) if isinstance(model, str) else None
        tracker = call.get("evaluation_tracker")
        if tracker is not None:
            problem = problem or _output_path_problem(tracker.output_path)
            setattr(tracker, _PLUGIN_RUN_MARK, True)
        if problem:
            stop_run(problem)
        try:
            return original(*args, **kwargs)
        except SystemExit as stopped:  # RunStopped of the model wrapper or the judge: it already says what happened
            if not isinstance(stopped.code, str):
                raise
            problem = stopped.code
        except Exception as error:  # noqa: BLE001 - every failure of a plugin run must end it with exit status 1
            if plugin_error(error) is None or call.get("verbosity") == "DEBUG":
                traceback.print_exception(error)  # unexpected, or asked for: the traceback, as lmms-eval prints it
            problem = failure_message(error)
        # Raised here, once the failed evaluation's frames are released: a progress bar left open in them prints
        # its last state when it is closed, which would otherwise come after the message.
        stop_run(problem)

    setattr(simple_evaluate, _GUARD_MARK, True)
    evaluator.simple_evaluate = simple_evaluate


def _guard_match_tasks(task_manager_class: Any) -> None:
    """`TaskManager.match_tasks`, which `cli_evaluate_single` calls on the --tasks names before it raises its own
    "Tasks not found" (caught, exit 0): in a plugin run, a name or pattern that matches no task stops the run
    with the closest task names."""
    original = task_manager_class.match_tasks
    if getattr(original, _GUARD_MARK, False):
        return

    @functools.wraps(original)
    def match_tasks(self: Any, task_list: Any) -> list:
        matched = original(self, task_list)
        requested = [task_list] if isinstance(task_list, str) else list(task_list)
        if plugin_run(getattr(self, "model_name", None), requested):
            problem = unknown_tasks_message(requested, matched, self.all_tasks)
            if problem:
                stop_run(problem)
        return matched

    setattr(match_tasks, _GUARD_MARK, True)
    task_manager_class.match_tasks = match_tasks


def _written_file(tracker: Any, name: str) -> Path:
    """The file the tracker's save method just wrote (lmms-eval's layout: OUTPUT/<model>/<date>_<name>)."""
    model_folder = tracker.general_config_tracker.model_name_sanitized
    return Path(tracker.output_path) / model_folder / f"{getattr(tracker, 'date_id', None)}_{name}"


def _guarded_save(original: Any, file_name: Any) -> Any:
    """`original` (a save method of EvaluationTracker), then, for a plugin run, a check that the file it writes
    (`file_name(call arguments)`) is there: the method logs "Could not save ..." and returns when writing fails."""
    signature = inspect.signature(original)

    @functools.wraps(original)
    def save(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        if getattr(self, _PLUGIN_RUN_MARK, False) and self.output_path:
            path = _written_file(self, file_name(signature.bind(self, *args, **kwargs).arguments))
            if not path.is_file():
                stop_run(f"lmms-eval could not write {path} (its warning above says why); the scores were not saved")
        return result

    setattr(save, _GUARD_MARK, True)
    return save


# EvaluationTracker method -> the name (after "<date>_") of the file it writes, from its call's arguments
_SAVES = {
    "save_results_aggregated": lambda call: "results.json",
    "save_results_samples": lambda call: f"samples_{call['task_name']}.jsonl",
}


def _guard_saves(tracker_class: Any) -> None:
    for method, file_name in _SAVES.items():
        if not getattr(getattr(tracker_class, method), _GUARD_MARK, False):
            setattr(tracker_class, method, _guarded_save(getattr(tracker_class, method), file_name))


def guard_exit_status() -> None:
    """Make a failed plugin run of the lmms-eval CLI exit non-zero (see the module docstring). Safe to call many
    times; does nothing until `lmms_eval.evaluator` is fully imported (the CLI imports it before any TaskManager)."""
    evaluator = sys.modules.get("lmms_eval.evaluator")
    if evaluator is None or not hasattr(evaluator, "simple_evaluate"):
        return
    from lmms_eval.loggers.evaluation_tracker import EvaluationTracker
    from lmms_eval.tasks import TaskManager

    _guard_simple_evaluate(evaluator)
    _guard_match_tasks(TaskManager)
    _guard_saves(EvaluationTracker)


def exit_status_guarded() -> bool:
    """Whether every patch of `guard_exit_status()` is in place."""
    from lmms_eval import evaluator
    from lmms_eval.loggers.evaluation_tracker import EvaluationTracker
    from lmms_eval.tasks import TaskManager

    patched = (evaluator.simple_evaluate, TaskManager.match_tasks, EvaluationTracker.save_results_aggregated,
               EvaluationTracker.save_results_samples)  # fmt: skip
    return all(getattr(function, _GUARD_MARK, False) for function in patched)


def model_manifests() -> list:
    """Entry-point payload: the plugin's lmms-eval models (and, as a side effect, its task folder)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    register_task_dir()
    return [ModelManifest(model_id=model_id, chat_class_path=path) for model_id, path in MODELS.items()]

"""Running `llamafactory-cli train` and `lmms-eval` as subprocesses, as a user would, and reading what they wrote.

The demo and the colour check (`vau_plugin.demo`, `vau_plugin.learning`), the experiment
(`experiments/motion_vau/run.py`), `vau-plugin gpu-check` and the training tests all train and score checkpoints
this way.

Training: `train` runs a recipe with `key=value` overrides, `train_once` runs it once (a finished output folder is
kept); `log_history` / `reward_history` read a run's logged steps. The CLI is the one beside this interpreter, with
its bin/ folder first on PATH (`cli_env`).

Evaluation: `run_lmms_eval` runs the `lmms-eval` CLI; `run_lmms_eval_in_process` runs the same CLI in this
process, for a loop over many checkpoints (no start-up each time). A failed run of the plugin's tasks or models
exits 1 with the plugin's message as its last line (`vau_plugin.lmms.entry.guard_exit_status`; lmms-eval 0.7.3
itself logs an error and exits 0), and a run counts as done only when its results file exists too (`_results`); a
mean over fewer clips than the split holds must not pass as the split's, so callers compare the samples scored with
the rows expected (`check_scored`). Every lmms-eval run is offline (no hub) with quiet tokenizers, whoever calls it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, Optional, Union

LOG_NAME = "lmms_eval.log"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _beside_this_interpreter(tool: str) -> Optional[str]:
    """The path of `tool` in this interpreter's bin/ folder (a virtual environment's own copy), None when not there."""
    beside = Path(sys.executable).with_name(tool)
    return str(beside) if beside.is_file() else None


# ------------------------------------------------------------------------------------- llamafactory-cli train


def llamafactory_cli() -> str:
    """llamafactory_cli() -> path of the `llamafactory-cli` next to this interpreter (else the one on PATH)."""
    found = _beside_this_interpreter("llamafactory-cli") or shutil.which("llamafactory-cli")
    if not found:
        raise FileNotFoundError("llamafactory-cli not found; install LLaMA-Factory (pip install llamafactory)")
    return found


def cli_env() -> dict[str, str]:
    """cli_env() -> os.environ with this interpreter's bin folder first on PATH (LLaMA-Factory finds `torchrun`
    by name when it re-launches itself) and the offline/quiet settings a local run wants."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("DISABLE_VERSION_CHECK", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def train(recipe: Union[str, Path], overrides: Optional[dict[str, Any]] = None, *, cwd: Optional[Union[str, Path]] = None,
          env: Optional[dict[str, str]] = None, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """train(recipe, overrides, *, cwd, env, timeout) -> CompletedProcess of `llamafactory-cli train recipe k=v ...`
    (stdout and stderr captured together as text)."""
    args = [llamafactory_cli(), "train", str(recipe)] + [f"{k}={v}" for k, v in (overrides or {}).items()]
    return subprocess.run(
        args, cwd=cwd, env=env or cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )


def train_once(recipe: Union[str, Path], output_dir: Union[str, Path], overrides: Optional[dict[str, Any]] = None, *,
               cwd: Optional[Union[str, Path]] = None) -> Path:  # fmt: skip
    """train_once(recipe, output_dir, overrides, *, cwd) -> output_dir, after `llamafactory-cli train recipe k=v ...`
    succeeded; skipped when output_dir already holds a finished model (trainer_state.json and model.safetensors),
    so a stopped pipeline resumes. The log goes to output_dir/train.log; a failure raises RuntimeError with its
    tail. `overrides` should name output_dir when the recipe does not."""
    output_dir = Path(output_dir)
    if (output_dir / "trainer_state.json").is_file() and (output_dir / "model.safetensors").is_file():
        return output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    result = train(recipe, overrides, cwd=cwd)
    (output_dir / "train.log").write_text(result.stdout, encoding="utf-8")
    if result.returncode != 0:
        raise RuntimeError(f"llamafactory-cli train {recipe} failed (exit {result.returncode}); "
                           f"log: {output_dir / 'train.log'}\n{result.stdout[-3000:]}")  # fmt: skip
    return output_dir


def log_history(output_dir: Union[str, Path]) -> list[dict[str, Any]]:
    """log_history(output_dir) -> every logged step of a finished run (trainer_state.json's log_history)."""
    state = json.loads((Path(output_dir) / "trainer_state.json").read_text(encoding="utf-8"))
    return state.get("log_history", [])


def reward_history(output_dir: Union[str, Path]) -> list[dict[str, float]]:
    """reward_history(output_dir) -> per logged step {"step", "reward", "rewards/<fn>/mean", ...} from
    trainer_state.json."""
    rows = []
    for entry in log_history(output_dir):
        if "reward" in entry:
            rows.append({k: v for k, v in entry.items() if k == "step" or k == "reward" or k.startswith("rewards/")})
    return rows


# -------------------------------------------------------------------------------------------------- lmms-eval


def lmms_eval_tool() -> str:
    """lmms_eval_tool() -> path of the `lmms-eval` next to this interpreter (else the name, found on PATH)."""
    return _beside_this_interpreter("lmms-eval") or "lmms-eval"


def _last_line(log: Path, containing: str = "") -> str:
    """The log's last non-empty line that holds `containing` (colour codes and loguru's prefix removed, at most
    300 characters); "" when there is none."""
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip() and containing in line]
    return re.sub(r"\x1b\[[0-9;]*m", "", lines[-1]).split(" - ", 1)[-1][:300] if lines else ""


def _failure(log: Path, returncode: int) -> str:
    """What went wrong: after a non-zero exit, the last line (the plugin's message for its own tasks and models);
    after exit 0 with no results file, the last line that names an error."""
    if returncode != 0:
        return _last_line(log) or "no output"
    return _last_line(log, "Error") or "no results file written"


def run_lmms_eval(args: list[str], out: Path, extra_env: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """run_lmms_eval(args, out, extra_env) -> lmms-eval's results JSON (its "results" holds each task's metrics).

    Runs `lmms-eval ARGS --output_path OUT` in this process's environment with OFFLINE_ENV and `extra_env` (e.g.
    `lmms.docs.bench_environment`) on top, the output in OUT/lmms_eval.log. Raises RuntimeError naming the exit
    code, what went wrong (`_failure`) and the log's path when lmms-eval failed or wrote no results."""
    env = {**os.environ, **OFFLINE_ENV, **(extra_env or {})}
    out.mkdir(parents=True, exist_ok=True)
    log = out / LOG_NAME
    with open(log, "w", encoding="utf-8") as stream:
        proc = subprocess.run([lmms_eval_tool(), *args, "--output_path", str(out)], stdout=stream, stderr=subprocess.STDOUT,
                              env=env, check=False)  # fmt: skip
    return _results(out, log, proc.returncode)


def _results(out: Path, log: Path, returncode: int) -> dict[str, Any]:
    """The results JSON of a finished lmms-eval run under `out`; a RuntimeError naming the exit code, what went wrong
    (`_failure`) and the log when the run exited non-zero or wrote no results file (lmms-eval exits 0 on its own
    errors)."""
    found = sorted(out.rglob("*_results.json"))
    if returncode != 0 or not found:
        raise RuntimeError(f"lmms-eval failed (exit {returncode}: {_failure(log, returncode)}); see {log}")
    return json.loads(found[-1].read_text(encoding="utf-8"))


@contextlib.contextmanager
def environment(updates: Optional[dict[str, str]] = None) -> Iterator[None]:
    """os.environ with `updates` on top meanwhile, and exactly as before afterwards (whatever the code inside set,
    changed or removed): for work run in this process that reads or sets variables a subprocess would keep to itself."""
    saved = dict(os.environ)
    os.environ.update(updates or {})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_lmms_eval_in_process(args: list[str], out: Path, extra_env: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """run_lmms_eval_in_process(args, out, extra_env) -> what `run_lmms_eval` returns, with the same arguments,
    environment, log (OUT/lmms_eval.log: this process's stdout and stderr, file descriptors 1 and 2, during the
    call) and errors, but lmms-eval's CLI (`cli_evaluate`) run in this process: for a loop over many checkpoints,
    where each subprocess would spend ~10 s of 2 cores importing lmms-eval and indexing its task YAMLs
    (`vau_plugin.lmms.entry.memoize_task_index`). os.environ and sys.argv are restored afterwards; the torch
    thread count is this process's (set it as the subprocesses' would be, e.g. `torch.set_num_threads`)."""
    from vau_plugin.lmms.entry import cli_in_process

    out.mkdir(parents=True, exist_ok=True)
    log = out / LOG_NAME
    with environment({**OFFLINE_ENV, **(extra_env or {})}), open(log, "w", encoding="utf-8", buffering=1) as stream, _output_to(stream):
        returncode = cli_in_process([lmms_eval_tool(), *args, "--output_path", str(out)])
    return _results(out, log, returncode)


@contextlib.contextmanager
def _output_to(stream: Any) -> Iterator[None]:
    """Point sys.stdout, sys.stderr and file descriptors 1 and 2 (print, logging, loguru, tqdm, C libraries) at
    `stream` (opened line-buffered, so its lines and the descriptors' keep their order) meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(stream.fileno(), 1)
        os.dup2(stream.fileno(), 2)
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def task_samples(out: Path, task: str) -> list[dict[str, Any]]:
    """task_samples(out, task) -> the per-sample records lmms-eval logged for `task` (`--log_samples`) under
    out, [] when it logged none."""
    found = sorted(out.rglob(f"*samples_{task}.jsonl"))
    if not found:
        return []
    return [json.loads(line) for line in found[-1].read_text(encoding="utf-8").splitlines() if line.strip()]


def check_scored(scored: int, expected: int, what: str, out: Path) -> None:
    """check_scored(scored, expected, what, out) -> None, or RuntimeError when lmms-eval scored another number
    of clips than `what` holds (a mean over a smaller base must not pass as the split's)."""
    if scored != expected:
        raise RuntimeError(f"lmms-eval scored {scored} clips of {what}, which holds {expected}; see {out / LOG_NAME}")

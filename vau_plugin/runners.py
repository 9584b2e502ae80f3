"""Running `lmms-eval` as a subprocess, as a user would, and reading what it wrote.

The demo and the learning test (`vau_plugin.learning`), the experiment (`experiments/motion_vau/run.py`) and
`vau-plugin gpu-check` all score checkpoints this way. A failed run of the plugin's tasks or models exits 1 with the
plugin's message as its last line (`vau_plugin.lmms.entry.guard_exit_status`; lmms-eval 0.7.3 itself logs an error
and exits 0), and a run counts as done only when its results file exists too; a mean over fewer clips than the
split holds must not pass as the split's, so callers compare the samples scored with the rows expected
(`check_scored`). Every run is offline (no hub) with quiet tokenizers, whoever calls it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

LOG_NAME = "lmms_eval.log"
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def lmms_eval_tool() -> str:
    """lmms_eval_tool() -> path of the `lmms-eval` next to this interpreter (else the name, found on PATH)."""
    beside = Path(sys.executable).with_name("lmms-eval")
    return str(beside) if beside.is_file() else "lmms-eval"


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
    found = sorted(out.rglob("*_results.json"))
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"lmms-eval failed (exit {proc.returncode}: {_failure(log, proc.returncode)}); see {log}")
    return json.loads(found[-1].read_text(encoding="utf-8"))


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

"""Running `lmms-eval` as a subprocess, as a user would, and reading what it wrote.

The demo and the learning test (`vau_plugin.learning`), the experiment (`experiments/motion_vau/run.py`) and
`vau-plugin gpu-check` all score checkpoints this way. lmms-eval 0.7.3 logs an error during evaluation and still
exits 0, so a run counts as done only when its results file exists; and a mean over fewer clips than the split
holds must not pass as the split's, so callers compare the samples scored with the rows expected
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


def _last_error(log: Path) -> str:
    """The message of the log's last line that names an error (colour codes and loguru's prefix removed)."""
    lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if "Error" in line]
    if not lines:
        return "no results file written"
    message = re.sub(r"\x1b\[[0-9;]*m", "", lines[-1])
    return message.split(" - ", 1)[-1][:200]


def run_lmms_eval(args: list[str], out: Path, extra_env: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """run_lmms_eval(args, out, extra_env) -> lmms-eval's results JSON (its "results" holds each task's metrics).

    Runs `lmms-eval ARGS --output_path OUT` in this process's environment with OFFLINE_ENV and `extra_env` (e.g.
    `lmms.docs.bench_environment`) on top, the output in OUT/lmms_eval.log. Raises RuntimeError naming the exit
    code, the last error line of the log and the log's path when lmms-eval failed or wrote no results."""
    env = {**os.environ, **OFFLINE_ENV, **(extra_env or {})}
    out.mkdir(parents=True, exist_ok=True)
    log = out / LOG_NAME
    with open(log, "w", encoding="utf-8") as stream:
        proc = subprocess.run([lmms_eval_tool(), *args, "--output_path", str(out)], stdout=stream, stderr=subprocess.STDOUT,
                              env=env, check=False)  # fmt: skip
    found = sorted(out.rglob("*_results.json"))
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"lmms-eval failed (exit {proc.returncode}: {_last_error(log)}); see {log}")
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

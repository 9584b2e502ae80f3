"""The VAU-Eval LLM judge for the `vau_bench_reason` task.

The reference (VAU-R1 `src/evaluation/evaluate_reasoning_deepseek.py`) sends the VAU-Eval prompt
(`vau_plugin.prompts.judge_prompt`) to `deepseek-chat` through the OpenAI client and reads five 0-10 scores
and a 0-50 total from a ```json fenced block. The judge does the same, through the same `openai` client (the
transport: HTTP, TLS, proxies, timeouts, errors by kind), for any OpenAI-compatible chat-completions server, with
what a long evaluation needs, one job a module:

- configuration in one place (`JudgeConfig`, `JudgeConfig.from_env()`; variables listed on `ENV_*`):
  `vau_plugin.lmms.judge_config`;
- per-request timeouts; retries with exponential backoff and bounded jitter, per kind of failure; a circuit
  breaker that stops calling an endpoint that is down; thread safety (lmms-eval calls `process_results` from
  several threads) and counters of what happened: `vau_plugin.lmms.judge_client` (`Judge`);
- reading the reply (`parse_judge_reply`): `vau_plugin.lmms.judge_reply`;
- an on-disk cache of successful scores, so a rerun makes no request for what it already scored:
  `vau_plugin.lmms.judge_cache`;
- the API key never leaves the `Authorization` header: not in repr, logs, errors, cache files or results.
This module is the task's glue: `judge_sample`, called by `tasks/vau_bench/utils.py`.

Coverage (the `vau_bench_reason` tasks): the five scores and `total_score` are means over the samples the judge
scored, as VAU-Eval averages over the videos it evaluated; `judge_coverage` (percent of samples scored) and
`judge_failures` (samples not scored) stand beside them in the table and the results JSON. There is no floor
below which the means turn NaN (only none scored gives NaN): any threshold would be arbitrary, the coverage
column already qualifies the means, and a judge that is down, the one cause of a collapse, stops the run.

In lmms-eval (`judge_sample`), an open breaker ends the run with `JudgeTaskFailed`, a `SystemExit`: lmms-eval
0.7.3 catches every `Exception` raised during evaluation, prints it and exits 0 (unless `--verbosity DEBUG`),
which would hide the failure; a `SystemExit` passes through, prints the message and exits 1.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vau_plugin.lmms import RunStopped
from vau_plugin.lmms.judge_client import Judge, JudgeResult, JudgeUnavailableError
from vau_plugin.lmms.judge_config import JudgeConfig, not_configured_message
from vau_plugin.prompts import JUDGE_SCORE_KEYS

__all__ = ["JudgeTaskFailed", "judge_sample"]

logger = logging.getLogger(__name__)


class JudgeTaskFailed(RunStopped):
    """`JudgeUnavailableError` as lmms-eval's `vau_bench_reason` tasks raise it: a `SystemExit` carrying the
    message, so that lmms-eval (which catches `Exception`, prints it and exits 0) ends with status 1."""


# ------------------------------------------------------------------ the judge of the vau_bench_reason task
_SHARED_LOCK = threading.Lock()
_SHARED: dict[str, Any] = {}


def _unjudged(reason: str) -> JudgeResult:
    return JudgeResult(
        scores={key: None for key in JUDGE_SCORE_KEYS},
        total=None,
        reported_total=None,
        ok=False,
        error=reason,
        cached=False,
        attempts=0,
    )


def judge_sample(gt_description: str, gt_analysis: str, description: str, analysis: str) -> JudgeResult:
    """Score one reasoning sample with the judge configured in the environment (one `Judge` per process).

    A missing configuration is not an exception here: every sample is recorded as a failure
    ("judge not configured") so that the other tasks of a run keep their results. An empty prediction is a
    failure too ("empty output"), as VAU-Eval skips incomplete outputs. An open circuit breaker raises
    `JudgeTaskFailed` (a `SystemExit`, see the module docstring): the run stops with the breaker's message and
    exit status 1.
    """
    with _SHARED_LOCK:
        if "judge" not in _SHARED:
            config = JudgeConfig.from_env()
            _SHARED["judge"] = Judge(config) if config.is_configured else None
            if _SHARED["judge"] is None:
                logger.warning("vau_bench_reason: %s; every sample is counted in judge_failures", not_configured_message())
        judge = _SHARED["judge"]
    if judge is None:
        return _unjudged("judge not configured")
    if not description.strip() and not analysis.strip():
        return _unjudged("empty output")
    try:
        return judge.score(gt_description, gt_analysis, description, analysis)
    except JudgeUnavailableError as err:
        raise JudgeTaskFailed(f"vau_bench_reason failed: {err}") from None

"""Run the `lmms-eval` or `llamafactory-cli` command line in this process with timers around the video path.

Usage: python bench/_timed_cli.py TIMINGS.json {lmms-eval,llamafactory-cli} [the CLI's arguments ...]

This calls the same entry point as the console script in .venv/bin (`lmms_eval.cli.dispatch:main`,
`llamafactory.cli:main`) with the same arguments, after wrapping, without changing what they do:
- `vau_plugin.video.load_video` (every decode or cache hit, both paths) and `vau_plugin.video.sample_plan` (the
  probe-only token count of LLaMA-Factory's mm_plugin);
- lmms-eval: `VAUQwen2_5_VL.encode_video` (the wrapper's video decoding), `VAUQwen2_5_VL._generate` (processor and
  `generate`), `VAUQwen2_5_VL.generate_until` (the model's whole loop) and `lmms_eval.evaluator.evaluate` (the
  evaluation after the model is loaded and the tasks are built);
- LLaMA-Factory GRPO: `VideoGRPOTrainer._build_mm_inputs` (decode + video processor of one row),
  `VideoGRPOTrainer._generate_and_score_completions` (one generation round), and the Trainer's train / epoch / step
  events (timestamps, with the decode counters at each epoch boundary).
On exit it writes TIMINGS.json: seconds and calls per timer, the events, the peak resident memory of the process,
and the hits and misses of the frame cache `VAU_FRAME_CACHE` names (None when unset). bench/cache_paths.py uses it.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

START = time.perf_counter()
SECONDS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
EVENTS: list[dict] = []
STEP_TIMERS = ("load_video", "media (_build_mm_inputs)", "generation rounds", "generate", "rewards", "loss forward")
STEPS: list[dict] = []  # GRPO: time and cumulative decode / media seconds at the end of every optimizer step
_ACTIVE: set[str] = set()


def wrap(owner, attribute: str, name: str) -> None:
    """Time calls of owner.attribute under `name` (a call nested in another of the same name counts once)."""
    original = getattr(owner, attribute)

    def timed(*args, **kwargs):
        if name in _ACTIVE:
            return original(*args, **kwargs)
        _ACTIVE.add(name)
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SECONDS[name] += time.perf_counter() - start
            CALLS[name] += 1
            _ACTIVE.discard(name)

    timed.__wrapped__ = original
    setattr(owner, attribute, timed)


def _cache_counters() -> dict | None:
    from vau_plugin import video
    from vau_plugin.cache import ENV_DIR, ENV_MAX_BYTES

    cache = video._env_cache(os.environ.get(ENV_DIR, ""), os.environ.get(ENV_MAX_BYTES, ""))
    return None if cache is None else {"hits": cache.hits, "misses": cache.misses}


def _event(name: str, **extra) -> None:
    EVENTS.append({"event": name, "t": time.perf_counter() - START, "load_video_calls": CALLS["load_video"],
                   "load_video_s": SECONDS["load_video"], "cache": _cache_counters(), **extra})  # fmt: skip


def _instrument_video() -> None:
    from vau_plugin import video

    # Callers import these at call time (the lmms wrapper) or when the mm_plugin class is built (after this).
    wrap(video, "load_video", "load_video")
    wrap(video, "sample_plan", "sample_plan")


def _instrument_lmms() -> None:
    from lmms_eval import evaluator

    from vau_plugin.lmms.model import VAUQwen2_5_VL

    wrap(VAUQwen2_5_VL, "encode_video", "encode_video")
    wrap(VAUQwen2_5_VL, "_generate", "model _generate")
    wrap(VAUQwen2_5_VL, "generate_until", "model generate_until")
    wrap(evaluator, "evaluate", "evaluate")


def _instrument_llamafactory() -> None:
    from transformers.trainer_callback import CallbackHandler

    from vau_plugin.llamafactory.trainer import VideoGRPOTrainer

    wrap(VideoGRPOTrainer, "_build_mm_inputs", "media (_build_mm_inputs)")
    wrap(VideoGRPOTrainer, "_generate_and_score_completions", "generation rounds")
    wrap(VideoGRPOTrainer, "_generate_single_turn", "generate")
    wrap(VideoGRPOTrainer, "_calculate_rewards", "rewards")
    wrap(VideoGRPOTrainer, "compute_loss", "loss forward")
    for hook in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_step_end"):
        original = getattr(CallbackHandler, hook)

        def handler(self, args, state, control, *rest, _original=original, _hook=hook, **kwargs):
            if _hook != "on_step_end":
                _event(_hook, epoch=state.epoch, step=state.global_step)
            else:
                CALLS["optimizer steps"] += 1
                STEPS.append({"t": time.perf_counter() - START, **{k: SECONDS[k] for k in STEP_TIMERS}})
            return _original(self, args, state, control, *rest, **kwargs)

        setattr(CallbackHandler, hook, handler)


def _write(out: Path, tool: str) -> None:
    if getattr(_write, "done", False):
        return
    _write.done = True
    import resource

    record = {"tool": tool, "argv": sys.argv[3:], "process_s": time.perf_counter() - START,
              "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "seconds": dict(SECONDS), "calls": dict(CALLS), "events": EVENTS, "steps": STEPS, "cache": _cache_counters()}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[2] not in ("lmms-eval", "llamafactory-cli"):
        print(__doc__, file=sys.stderr)
        return 2
    out, tool = Path(sys.argv[1]), sys.argv[2]
    atexit.register(_write, out, tool)
    _instrument_video()
    if tool == "lmms-eval":
        _instrument_lmms()
        from lmms_eval.cli.dispatch import main as cli_main
    else:
        _instrument_llamafactory()
        from llamafactory.cli import main as cli_main
    sys.argv = [tool, *sys.argv[3:]]
    try:
        return cli_main() or 0
    finally:
        _write(out, tool)


if __name__ == "__main__":
    sys.exit(main())

"""Where the mini bench shipped in the wheel lives: package data beside this module (`vau_plugin/data/mini`: videos/,
train.csv, test.csv, manifest.json). The lmms-eval `_mini` tasks, the demo, the checks and the tests read it;
`vau_plugin.benches.mini` is what writes it (`make_mini_bench` with the defaults, seed 0), and
tests/test_mini_bench.py checks that it is byte for byte what make_mini_bench writes."""

from __future__ import annotations

from pathlib import Path

__all__ = ["MINI_BENCH_DIR", "bundled_mini_bench"]

MINI_BENCH_DIR = Path(__file__).resolve().parent / "mini"


def bundled_mini_bench() -> Path:
    """The folder of the shipped mini bench (videos/, train.csv, test.csv, manifest.json)."""
    if not (MINI_BENCH_DIR / "test.csv").is_file():
        raise FileNotFoundError(
            f"the bundled mini bench is missing at {MINI_BENCH_DIR}; reinstall vau-plugin or run "
            f"`vau-plugin make-mini-bench DIR`"
        )
    return MINI_BENCH_DIR

"""Run every bench script (each in its own process, as `make bench` does), print a summary, write JSON.

Each script prints its own table and writes bench/results/<name>.json; this adds bench/results/run_all.json with the
wall time and exit status of each. The full set runs in under 10 minutes on 2 CPU cores (see README "Performance";
cache_paths, the frame cache on real lmms-eval and llamafactory-cli runs, takes about 3.5 of them);
`--quick` runs the CI-sized variants (cache_paths about 1.5 minutes).

Usage: python bench/run_all.py [--quick] [--only video cache ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _common import RESULTS, environment, write_result

BENCH_DIR = Path(__file__).resolve().parent
# Fast first, so a broken set-up shows early. motion.py has no --quick (it is quick).
BENCHES = ["rewards", "cache", "video", "motion", "lmms", "grpo", "cache_paths"]
NO_QUICK_FLAG = {"motion"}


def command(name: str, quick: bool) -> list[str]:
    """The command line that runs bench `name` with this interpreter."""
    cmd = [sys.executable, str(BENCH_DIR / f"{name}.py")]
    if quick and name not in NO_QUICK_FLAG:
        cmd.append("--quick")
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI-sized runs")
    parser.add_argument("--only", nargs="+", choices=BENCHES, help="run only these benches")
    parser.add_argument("--out", type=Path, default=RESULTS / "run_all.json")
    args = parser.parse_args(argv)

    rows = []
    for name in args.only or BENCHES:
        script = BENCH_DIR / f"{name}.py"
        if not script.is_file():
            rows.append({"bench": name, "status": "missing", "seconds": 0.0})
            continue
        print(f"\n=== bench/{name}.py ===", flush=True)
        start = time.perf_counter()
        proc = subprocess.run(command(name, args.quick), cwd=BENCH_DIR.parent)
        rows.append({"bench": name, "status": "ok" if proc.returncode == 0 else f"exit {proc.returncode}",
                     "seconds": time.perf_counter() - start, "result": str(RESULTS / f"{name}.json")})  # fmt: skip
    total = sum(row["seconds"] for row in rows)
    print(f"\n{'bench':<10}{'status':>10}{'seconds':>10}")
    print("-" * 30)
    for row in rows:
        print(f"{row['bench']:<10}{row['status']:>10}{row['seconds']:>10.1f}")
    print(f"{'total':<10}{'':>10}{total:>10.1f}")
    write_result(args.out, {"benchmark": "run_all", "quick": args.quick, "total_s": total, **environment(), "rows": rows})
    return 0 if all(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

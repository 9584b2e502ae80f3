"""Running the real `lmms-eval` CLI in a subprocess, offline, and reading what it wrote: shared by the tests that
do (test_lmms_cli, test_lmms_exit_status, test_api_models, test_faults, test_judge, test_score)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from vau_plugin.benches.mini import bundled_mini_bench

LMMS_EVAL = str(Path(sys.executable).parent / "lmms-eval")
# Model args that keep the tiny model's runs small and on the CPU.
CPU_ARGS = "device=cpu,device_map=cpu,max_num_frames=4,min_pixels=3136,max_pixels=12544"
# lmms-eval's dummy model gives this same non-empty reply for every video (the tiny model's are empty).
DUMMY_REASONING = "Description: a person walks and then falls down. Analysis: the fall is an anomaly."


def lmms_env(tmp_path: Path, **extra: str) -> dict:
    """This process's environment, offline, with the Hugging Face and lmms-eval caches under `tmp_path`."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HOME=str(tmp_path / "hf"),
        LMMS_EVAL_DATASETS_CACHE=str(tmp_path / "datasets"),
        TOKENIZERS_PARALLELISM="false",
    )
    env.update(extra)
    return env


def run_offline(cmd: list, tmp_path: Path, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    """Run `cmd` in `tmp_path` with `lmms_env(tmp_path, **env)`, capturing its output as text."""
    return subprocess.run(cmd, cwd=tmp_path, env=lmms_env(tmp_path, **env), capture_output=True, text=True, timeout=timeout)


def run_as_seen(cmd: list, tmp_path: Path, timeout: int = 300, **env: str) -> tuple[int, list[str]]:
    """Run `cmd` as `run_offline` does, stdout and stderr in one stream as a terminal shows them: (exit status,
    the non-empty lines of that output, stripped)."""
    proc = subprocess.run(cmd, cwd=tmp_path, env=lmms_env(tmp_path, **env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)  # fmt: skip
    return proc.returncode, [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def results_json(out: Path) -> dict:
    """The one `*_results.json` lmms-eval wrote under `out`."""
    found = sorted(out.rglob("*_results.json"))
    assert len(found) == 1, f"expected one results file under {out}, found {found}"
    return json.loads(found[0].read_text())


def samples_jsonl(out: Path, task: str) -> list[dict]:
    """The `--log_samples` records of `task` under `out`."""
    (path,) = out.rglob(f"*_samples_{task}.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def custom_bench(tmp_path: Path, shared_vau_bench: Path, rows: int, corrupt: int) -> tuple[Path, Path]:
    """A VAU_BENCH_ROOT with the first `rows` MSAD test rows; the first `corrupt` videos are garbage."""
    annotations, videos = tmp_path / "annotations", tmp_path / "videos"
    annotations.mkdir()
    videos.mkdir()
    with open(shared_vau_bench / "test_msad.csv", newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        kept = [next(reader) for _ in range(rows)]
    with open(annotations / "test_msad.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *kept])
    clip = bundled_mini_bench() / "videos" / "mini_test_0001.mp4"
    for index, row in enumerate(kept):
        target = videos / row[0]
        if index < corrupt:
            target.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2048))
        else:
            shutil.copy(clip, target)
    return annotations, videos

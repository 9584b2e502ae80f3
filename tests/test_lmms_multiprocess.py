"""Issue 25, item 4: lmms-eval on several processes with the plugin's models, for real, on the CPU (gloo).

Upstream's Qwen classes put every process of a multi-process run on `cuda:<local rank>` whatever `device` says
("Found no NVIDIA driver" on a CPU machine), refuse MULTI_CPU and take the rank within the node as the rank. The
wrappers load where they are told and take the global rank. Checked through the launchers users run: two
`torchrun` "nodes" of one process each on this machine (each process is local rank 0 there, as on two real nodes),
and `accelerate launch --multi_gpu --num_processes 2` on one node (on a machine without GPUs accelerate then runs
the processes on the CPU)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from _chat_server import ScriptedServer, Step, running
from _lmms_cli import CPU_ARGS, lmms_env, results_json, run_as_seen, samples_jsonl
from vau_plugin.benches.mini import bundled_mini_bench

BIN = Path(sys.executable).parent
SCORES = {"classification_score": 5, "key_matching_score": 6, "fluency_score": 7, "informativeness_score": 8, "factual_score": 9}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _model_args(model_dir: Path, device: bool = True) -> list[str]:
    """The tiny model's small budget; without `device=cpu`, each process takes the accelerator's device (the CPU on
    this machine, over gloo), as the README's commands do."""
    args = CPU_ARGS if device else ",".join(arg for arg in CPU_ARGS.split(",") if not arg.startswith("device"))
    return ["--model", "vau_qwen2_5_vl", "--model_args", f"pretrained={model_dir},{args}"]


@pytest.mark.e2e
def test_two_nodes_score_every_doc_once_and_the_judge_gets_each_sample_once(tmp_path, tiny_model_dir):
    # Five docs a task: three for process 0, two for process 1, which lmms-eval pads with a copy of its last request.
    mini = list(csv.DictReader(open(bundled_mini_bench() / "test.csv", newline="", encoding="utf-8")))[:5]
    port, out, cache = _free_port(), tmp_path / "out", tmp_path / "judge_cache"
    # Sampling: the tiny model's greedy replies to the reasoning prompt can be empty, and an empty reply is not judged.
    args = [*_model_args(tiny_model_dir), "--tasks", "vau_bench_qa_mini,vau_bench_reason_mini", "--limit", "5",
            "--gen_kwargs", "max_new_tokens=6,temperature=1.0", "--log_samples", "--output_path", str(out)]  # fmt: skip
    with running(ScriptedServer()) as judge:
        judge.script = [Step.reply("```json\n" + json.dumps({**SCORES, "total_score": 35}) + "\n```")]
        env = lmms_env(tmp_path, VAU_JUDGE_BASE_URL=f"{judge.base_url}/v1", VAU_JUDGE_CACHE=str(cache),
                       no_proxy="127.0.0.1", NO_PROXY="127.0.0.1")  # fmt: skip
        nodes = []
        try:
            for node in (0, 1):  # what the README's two-node commands run, NODE_RANK 0 and 1, on one machine
                cmd = [BIN / "torchrun", "--nnodes", "2", "--node_rank", str(node), "--nproc_per_node", "1",
                       "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "lmms_eval", *args]  # fmt: skip
                with open(tmp_path / f"node{node}.log", "w") as log:
                    nodes.append(subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                  start_new_session=True))  # fmt: skip
            statuses = [proc.wait(timeout=300) for proc in nodes]
        finally:  # a node left waiting for its peer would otherwise outlive the test, with its worker
            for proc in nodes:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
        prompts = [request["body"]["messages"][-1]["content"] for request in judge.requests]
    logs = [(tmp_path / f"node{node}.log").read_text() for node in (0, 1)]
    assert statuses == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    for node, log in enumerate(logs):  # the global rank (upstream: 0 on both nodes)
        assert f"vau_qwen2_5_vl: process {node} of 2, a full copy of the model on cpu (MULTI_CPU, data parallel)" in log

    for task in ("vau_bench_qa_mini", "vau_bench_reason_mini"):  # every doc scored once, from the row it came from
        samples = samples_jsonl(out, task)
        assert sorted(s["doc_id"] for s in samples) == list(range(len(mini))), task
        assert sorted(s["video_errors"]["row"] for s in samples) == list(range(1, len(mini) + 1)), task
    reason = results_json(out)["results"]["vau_bench_reason_mini"]
    assert reason["judge_coverage,none"] == 100.0 and reason["total_score,none"] == 35.0
    # each sample sent to the judge once (found by its ground truth), and cached once by the rank that scored it
    asked = Counter(row["Video Name"] for row in mini for prompt in prompts if row["Description"] in prompt)
    assert len(prompts) == len(mini) and asked == Counter(row["Video Name"] for row in mini)
    assert len(list(cache.glob("*.json"))) == len(mini) and not list(cache.glob(".tmp-*"))


@pytest.mark.e2e
def test_a_rank_that_cannot_run_any_sample_stops_the_accelerate_run_with_exit_1(tmp_path, tiny_model_dir, shared_vau_bench):
    # No `device` in model_args: on a machine without GPUs every process runs on the CPU (accelerate says `cpu:0`).
    # Four MSAD rows; the videos of docs 1 and 3 (the second process's share) are garbage, those of 0 and 2 play.
    annotations, videos = tmp_path / "annotations", tmp_path / "videos"
    annotations.mkdir()
    videos.mkdir()
    with open(shared_vau_bench / "test_msad.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[:5]
    with open(annotations / "test_msad.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    for index, row in enumerate(rows[1:]):
        if index % 2:
            (videos / row[0]).write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2048))
        else:
            shutil.copy(bundled_mini_bench() / "videos" / "mini_test_0001.mp4", videos / row[0])
    cmd = [BIN / "accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--main_process_port", str(_free_port()),
           "-m", "lmms_eval", *_model_args(tiny_model_dir, device=False), "--tasks", "vau_bench_qa_msad", "--batch_size", "2",
           "--gen_kwargs", "max_new_tokens=2", "--output_path", str(tmp_path / "out")]  # fmt: skip
    status, lines = run_as_seen(cmd, tmp_path, VAU_BENCH_ROOT=str(annotations), VAU_BENCH_VIDEO_ROOT=str(videos))
    assert status == 1, "\n".join(lines[-40:])
    assert any(line.startswith("vau_qwen2_5_vl: none of the 2 samples given to process 1 of 2 could be run") for line in lines)
    assert not list((tmp_path / "out").rglob("*_results.json"))


@pytest.mark.parametrize(
    "device, device_map, processes, expected",
    [
        (None, None, 1, ("cpu", "cpu")),  # no GPU on this machine
        ("cuda:1", None, 1, ("cuda:1", "auto")),
        ("cuda", "cuda:0", 1, ("cuda", "cuda:0")),
        ("cpu", "cpu", 2, ("cpu", "cpu")),
        (None, None, 2, ("cpu", "cpu")),  # the accelerator's device: gloo, on the CPU
        ("cuda", "auto", 2, ("cuda:1", "cuda:1")),  # this process's GPU, the whole copy on it
        ("cuda:0", None, 2, ("cuda:1", "cuda:1")),
    ],
)
def test_each_process_loads_where_it_is_told_or_on_its_own_device(device, device_map, processes, expected):
    from types import SimpleNamespace

    import torch

    from vau_plugin.lmms.model import _placement

    # under gloo accelerate's device is `cpu:0`, which transformers' loader takes for GPU 0
    accelerator = SimpleNamespace(num_processes=processes, local_process_index=1, device=torch.device("cpu", 0))
    assert _placement(device, device_map, accelerator) == expected

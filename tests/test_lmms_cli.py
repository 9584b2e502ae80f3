"""The real `lmms-eval` CLI, in subprocesses: task discovery with no flag, runs on the tiny model and the mini
bench, the plugin's model wrapper, and a plain (non-editable) wheel install in a fresh virtual environment."""

import csv
import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from _lmms_cli import CPU_ARGS, DUMMY_REASONING, LMMS_EVAL, custom_bench, lmms_env, results_json, run_offline, samples_jsonl
from vau_plugin.benches.mini import bundled_mini_bench

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TASKS = [
    f"vau_bench_{task}{source}{mode}"
    for task in ("qa", "tag", "cls")
    for source in ("", "_msad", "_ucf", "_ecva", "_mini")
    for mode in ("", "_think")
] + [f"vau_bench_reason{source}" for source in ("", "_msad", "_ucf", "_ecva", "_mini")]
TINY_MODEL_DATA = ("qwen2_5_vl_chat_template.jinja", "qwen3_vl_chat_template.jinja", "tokenizer_corpus.txt")
GROUPS = ["vau_bench", "vau_bench_think", "vau_bench_mini", "vau_bench_msad", "vau_bench_ucf", "vau_bench_ecva"]

# Every test here starts a real `lmms-eval` process (conftest.py: the e2e tier).
pytestmark = pytest.mark.e2e


def _listed(stdout: str) -> set:
    return {line.strip()[2:] for line in stdout.splitlines() if line.strip().startswith("- ")}


def test_tasks_are_listed_without_include_path(tmp_path):
    proc = run_offline([LMMS_EVAL, "--tasks", "list"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed = _listed(proc.stdout)
    missing = [name for name in TASKS + GROUPS if name not in listed]
    assert not missing, f"not listed by lmms-eval: {missing}"


def test_mini_group_runs_on_the_tiny_model_and_reports_paper_metrics(tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    cmd = [
        LMMS_EVAL, "--model", "qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir},{CPU_ARGS}",
        "--tasks", "vau_bench_mini", "--gen_kwargs", "max_new_tokens=12",
        "--output_path", str(out), "--log_samples", "--verbosity", "DEBUG",
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_json(out)
    expected = {
        "vau_bench_qa_mini": ["accuracy", "unparsed"],
        "vau_bench_tag_mini": ["mIoU", "R@0.3", "R@0.5", "R@0.7", "normal_accuracy"],
        "vau_bench_cls_mini": ["binary_accuracy", "multiclass_accuracy"],
    }
    for task, names in expected.items():
        assert results["n-samples"][task]["effective"] == 12
        for name in names:
            value = results["results"][task][f"{name},none"]
            assert isinstance(value, float) and 0.0 <= value <= 100.0, (task, name, value)
    # Per-sample logs carry the raw output, the parsed answer and the score inputs.
    tag = samples_jsonl(out, "vau_bench_tag_mini")
    assert len(tag) == 12
    assert {"raw", "pred", "gt", "iou", "video"} <= set(tag[0]["mIoU"])
    qa = samples_jsonl(out, "vau_bench_qa_mini")
    assert {"raw", "pred", "gt", "score"} <= set(qa[0]["accuracy"])
    # The table is printed.
    assert "vau_bench_tag_mini" in proc.stdout and "mIoU" in proc.stdout


def test_wrapper_applies_motion_prompts_and_survives_a_broken_video(tmp_path, tiny_model_dir, shared_vau_bench):
    annotations, videos = custom_bench(tmp_path, shared_vau_bench, rows=3, corrupt=1)
    out = tmp_path / "out"
    cmd = [
        LMMS_EVAL, "--model", "vau_qwen2_5_vl",
        "--model_args", f"pretrained={tiny_model_dir},{CPU_ARGS},fps=2,motion_prompt=true,motion_m=0.5,motion_n=0.1",
        "--tasks", "vau_bench_qa_msad", "--gen_kwargs", "max_new_tokens=8",
        "--output_path", str(out), "--log_samples", "--verbosity", "DEBUG",
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path, VAU_BENCH_ROOT=str(annotations), VAU_BENCH_VIDEO_ROOT=str(videos))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "motion prompts on (m=0.5, n=0.1, fill=mean)" in proc.stdout + proc.stderr
    results = results_json(out)
    assert results["n-samples"]["vau_bench_qa_msad"]["effective"] == 3
    samples = sorted(samples_jsonl(out, "vau_bench_qa_msad"), key=lambda s: s["doc_id"])
    assert [s["accuracy"]["video_error"] for s in samples] == [True, False, False]
    assert samples[0]["accuracy"]["video"] == "Assault_2.mp4" and samples[0]["accuracy"]["score"] == 0.0


def test_missing_videos_stop_the_task_with_one_clear_message(tmp_path, tiny_model_dir, shared_vau_bench):
    annotations, videos = custom_bench(tmp_path, shared_vau_bench, rows=4, corrupt=0)
    (videos / "Assault_7.mp4").unlink()
    cmd = [
        LMMS_EVAL, "--model", "qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir},{CPU_ARGS}",
        "--tasks", "vau_bench_cls_msad", "--output_path", str(tmp_path / "out"), "--verbosity", "DEBUG",
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path, VAU_BENCH_ROOT=str(annotations), VAU_BENCH_VIDEO_ROOT=str(videos))
    assert proc.returncode != 0
    log = proc.stdout + proc.stderr
    assert "1 of 4 videos not found" in log and "Assault_7.mp4" in log
    assert not list((tmp_path / "out").rglob("*_results.json"))


def test_plain_wheel_install_in_a_fresh_venv_finds_tasks_and_runs(tmp_path, tiny_model_dir):
    """Not only editable: a wheel, installed in a new venv, ships the tasks, the mini bench and the tiny model's data."""
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("vau_plugin-*.whl")
    with zipfile.ZipFile(wheel) as archive:  # the tiny model's package data (make-tiny-model reads it)
        shipped = set(archive.namelist())
    assert {f"vau_plugin/tiny_model_data/{name}" for name in TINY_MODEL_DATA} <= shipped, sorted(shipped)
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=120)
    fresh_python = fresh / "bin" / "python"
    site = subprocess.run(
        [str(fresh_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", site, str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    # The dependencies come from the test venv, appended after the fresh site-packages (a .pth line adds the
    # folder to sys.path without running the editable install's own .pth files there).
    Path(site, "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = subprocess.run(
        [str(fresh_python), "-c", "import lmms_eval.models, vau_plugin.lmms.entry as e; print(e.task_dir(), e.task_dir_registered())"],
        capture_output=True, text=True, timeout=120, env=lmms_env(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr[-3000:]
    assert where.stdout.split() == [str(Path(site) / "vau_plugin" / "tasks"), "True"]
    out = tmp_path / "out"
    cmd = [
        str(fresh_python), "-m", "lmms_eval", "--model", "qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir},{CPU_ARGS}",
        "--tasks", "vau_bench_qa_mini", "--limit", "2", "--gen_kwargs", "max_new_tokens=4",
        "--output_path", str(out), "--verbosity", "DEBUG",
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_json(out)
    assert results["n-samples"]["vau_bench_qa_mini"] == {"original": 12, "effective": 2}
    assert 0.0 <= results["results"]["vau_bench_qa_mini"]["accuracy,none"] <= 100.0


class _JudgeServer:
    """A chat-completions server on 127.0.0.1: fixed scores, a malformed reply for one ground truth."""

    SCORES = {"classification_score": 5, "key_matching_score": 6, "fluency_score": 7, "informativeness_score": 8, "factual_score": 9}

    def __init__(self, malformed_for: str):
        import http.server
        import threading

        server = self
        self.prompts: list[str] = []
        self.malformed_for = malformed_for

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                server.prompts.append(prompt)
                if server.malformed_for in prompt:
                    content = "I would rate this highly: {classification: 9"
                else:
                    content = "```json\n" + json.dumps({**server.SCORES, "total_score": 35}) + "\n```"
                reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()



def test_reason_task_is_judged_through_a_local_endpoint_and_cached(tmp_path):
    docs = list(csv.DictReader(open(bundled_mini_bench() / "test.csv", newline="", encoding="utf-8")))
    server = _JudgeServer(malformed_for=docs[0]["Description"])
    judge_env = dict(
        VAU_JUDGE_BASE_URL=server.url, VAU_JUDGE_MODEL="local-judge", VAU_JUDGE_API_KEY="sk-test-secret-123",
        VAU_JUDGE_CACHE=str(tmp_path / "judge_cache"), VAU_JUDGE_TIMEOUT="10", VAU_JUDGE_RETRIES="1",
        no_proxy="127.0.0.1", NO_PROXY="127.0.0.1",
    )  # fmt: skip
    try:
        runs = []
        for attempt in ("first", "rerun"):
            out = tmp_path / attempt
            # lmms-eval's dummy model gives the same non-empty reply for every video (the tiny model's are empty).
            cmd = [
                LMMS_EVAL, "--model", "dummy", "--model_args", f"response={DUMMY_REASONING}",
                "--tasks", "vau_bench_reason_mini",
                "--output_path", str(out), "--log_samples", "--verbosity", "DEBUG",
            ]  # fmt: skip
            proc = run_offline(cmd, tmp_path, **judge_env)
            assert proc.returncode == 0, proc.stderr[-3000:]
            assert "sk-test-secret-123" not in proc.stdout + proc.stderr
            runs.append((out, len(server.prompts)))
    finally:
        server.close()
    (first, requests_first), (rerun, requests_after_rerun) = runs
    results = results_json(first)["results"]["vau_bench_reason_mini"]
    assert results["judge_failures,none"] == 1.0
    assert results["total_score,none"] == pytest.approx(35.0)
    assert results["classification_score,none"] == pytest.approx(5.0)
    assert results["factual_score,none"] == pytest.approx(9.0)
    assert requests_first == 12
    # The rerun asks only for the sample whose reply was malformed (failures are not cached).
    assert requests_after_rerun == requests_first + 1
    assert results_json(rerun)["results"]["vau_bench_reason_mini"]["total_score,none"] == pytest.approx(35.0)
    assert any(docs[0]["Reasoning"][:60] in p and "the fall is an anomaly." in p for p in server.prompts)
    samples = samples_jsonl(first, "vau_bench_reason_mini")
    by_video = {s["total_score"]["video"]: s["total_score"] for s in samples}
    assert by_video[docs[0]["Video Name"]]["judge_error"] == "malformed json"
    assert by_video[docs[1]["Video Name"]]["total"] == pytest.approx(35.0)
    for path in (tmp_path / "judge_cache").rglob("*"):
        if path.is_file():
            assert "sk-test-secret-123" not in path.read_text()
    for path in first.rglob("*"):
        if path.is_file():
            assert "sk-test-secret-123" not in path.read_text()

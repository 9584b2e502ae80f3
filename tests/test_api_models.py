"""API-served models on the VAU-Bench tasks through lmms-eval's own backends, in subprocesses of the real CLI.

`--model openai` (lmms-eval's chat `OpenAICompatible`) talks to a chat-completions stub on 127.0.0.1 that
records every request and answers with a fixed text, so the metrics the run reports are known in advance and the
requests show exactly what a served model (e.g. `vllm serve Qwen/Qwen2.5-VL-3B-Instruct`) would receive:
- by default the client decodes each video with qwen-vl-utils' `fetch_video` ({"fps": video_fps} when
  `video_fps` is given, else {"nframes": max_frames_num}) and sends the frames as PNG `image_url` data URLs,
  before the prompt, in one user message (the frames reach the server as separate images, not as a video);
- with `pass_video_url=true` it sends one `video_url` (file://<absolute path>) and
  `media_io_kwargs={"video": {"num_frames": max_frames_num}}`, and the server decodes the video itself.
`--model vllm` (in-process vLLM) needs the `vllm` package; without it the run fails with an unhelpful message.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import os
from pathlib import Path

import decord
import pytest
from PIL import Image

from _chat_server import ScriptedServer, Step, running
from _lmms_cli import LMMS_EVAL, results_json, run_offline, samples_jsonl
from vau_plugin import prompts
from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.data.sources import load_records

# Every test here starts a real `lmms-eval` process (conftest.py: the e2e tier).
pytestmark = pytest.mark.e2e

QA_REPLY = "<answer>A</answer>"
TAG_REPLY = "<glue>[1.0, 3.0]</glue>"
TAG_SPAN = (1.0, 3.0)
TASKS = "vau_bench_qa_mini,vau_bench_tag_mini"
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
# qwen-vl-utils' video defaults (vision_process.py): frames come in pairs, at least 4 with `fps`, and each frame
# holds 128·28² to 768·28² pixels, in multiples of 28.
FRAME_FACTOR, FPS_MIN_FRAMES, PATCH = 2, 4, 28
VIDEO_MIN_PIXELS, VIDEO_MAX_PIXELS = 128 * PATCH * PATCH, 768 * PATCH * PATCH


class ChatStub(ScriptedServer):
    """The scripted chat server (_chat_server), answering each request from its prompt: a span for TAG, a letter otherwise."""

    def next_step(self, record: dict) -> Step:
        with self.lock:
            self.requests.append(record)
        return Step.reply(TAG_REPLY if "<glue>" in _prompt_text(record) else QA_REPLY)


@pytest.fixture
def stub(monkeypatch):
    for name in PROXY_VARS:  # the subprocess inherits os.environ: 127.0.0.1 must not go through a proxy
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # api_key= in model_args is enough
    with running(ChatStub()) as srv:
        yield srv


def _parts(record: dict) -> list[dict]:
    (message,) = record["body"]["messages"]
    assert message["role"] == "user"
    return message["content"]


def _prompt_text(record: dict) -> str:
    return "".join(part["text"] for part in _parts(record) if part.get("type") == "text")


def _openai_cmd(stub: ChatStub, out: Path, tasks: str, **model_args: object) -> list[str]:
    args = {"model": "stub", "base_url": f"{stub.base_url}/v1", "api_key": "EMPTY", "max_retries": 1, **model_args}
    return [
        LMMS_EVAL, "--model", "openai", "--model_args", ",".join(f"{k}={v}" for k, v in args.items()),
        "--tasks", tasks, "--output_path", str(out), "--log_samples", "--verbosity", "DEBUG",
    ]  # fmt: skip


def _mini_records():
    records = load_records(bundled_mini_bench() / "test.csv")
    assert len(records) == 12
    return records


def _is_anomalous(span) -> bool:
    return span is not None and 0 <= span[0] < span[1]


def _iou(a, b) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union


def _expected_metrics(records) -> dict:
    """The scores the fixed replies earn, from the bundled CSV alone."""
    qa = 100.0 * sum(r.answer == "A" for r in records) / len(records)
    ious = [_iou(TAG_SPAN, r.span) for r in records if _is_anomalous(r.span)]
    tag = {"mIoU": 100.0 * sum(ious) / len(ious), "normal_accuracy": 0.0}  # [1, 3] is never the "no anomaly" span
    for threshold in (0.3, 0.5, 0.7):
        tag[f"R@{threshold}"] = 100.0 * sum(iou >= threshold for iou in ious) / len(ious)
    return {
        "vau_bench_qa_mini": {"accuracy": qa, "unparsed": 0.0, "video_errors": 0.0},
        "vau_bench_tag_mini": {**tag, "video_errors": 0.0},
    }


def _expected_frames_at(fps: float, video: Path) -> int:
    """qwen-vl-utils' `smart_nframes` for {"fps": fps}: duration x fps, at least 4, an even count."""
    reader = decord.VideoReader(str(video))
    total, source_fps = len(reader), reader.get_avg_fps()
    n = min(max(total / source_fps * fps, FPS_MIN_FRAMES), total)
    return int(n // FRAME_FACTOR * FRAME_FACTOR)


def _check_request_envelope(record: dict) -> None:
    assert record["path"] == "/v1/chat/completions"
    headers = {name.lower(): value for name, value in record["headers"].items()}
    assert headers["authorization"] == "Bearer EMPTY"
    body = record["body"]
    assert body["model"] == "stub"
    assert body["temperature"] == 0 and body["max_tokens"] == 1024  # the tasks' greedy 1024-token generation
    parts = _parts(record)
    assert parts[-1]["type"] == "text" and all(p["type"] != "text" for p in parts[:-1])  # media first, then prompt


def _check_metrics(results: dict, expected: dict) -> None:
    for task, metrics in expected.items():
        assert results["n-samples"][task]["effective"] == 12
        for name, value in metrics.items():
            assert results["results"][task][f"{name},none"] == pytest.approx(value), (task, name)


def test_openai_backend_sends_sampled_frames_and_scores_the_answers(tmp_path, stub):
    records = _mini_records()
    videos = bundled_mini_bench() / "videos"
    out = tmp_path / "out"
    proc = run_offline(_openai_cmd(stub, out, TASKS, video_fps=1), tmp_path, NO_PROXY="127.0.0.1,localhost")
    assert proc.returncode == 0, proc.stderr[-3000:]

    expected = _expected_metrics(records)
    assert expected["vau_bench_tag_mini"]["R@0.7"] == 12.5  # the mini bench gives every metric a non-trivial value
    _check_metrics(results_json(out), expected)
    for task, reply in (("vau_bench_qa_mini", QA_REPLY), ("vau_bench_tag_mini", TAG_REPLY)):
        samples = samples_jsonl(out, task)
        assert len(samples) == 12 and {s["filtered_resps"] for s in samples} == {reply}

    # One request per sample: the task prompt, after the video's frames sampled at video_fps (6 s at 1 fps: 6).
    assert len(stub.requests) == 24
    frames_per_video = {_expected_frames_at(1.0, videos / r.video) for r in records}
    assert frames_per_video == {6}
    qa_texts, tag_texts = [], []
    for record in stub.requests:
        _check_request_envelope(record)
        parts = _parts(record)
        frames = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
        assert len(frames) == len(parts) - 1 == 6
        assert len(set(frames)) > 1  # distinct frames of a moving scene, not one frame repeated
        for url in frames:
            head, data = url.split(",", 1)
            assert head == "data:image/png;base64"
            width, height = Image.open(io.BytesIO(base64.b64decode(data))).size
            # the 128x96 clips are enlarged to qwen-vl-utils' floor of 128·28² pixels a frame
            assert (width, height) == (392, 280)
            assert width % PATCH == height % PATCH == 0 and VIDEO_MIN_PIXELS <= width * height <= VIDEO_MAX_PIXELS
        (tag_texts if "<glue>" in _prompt_text(record) else qa_texts).append(_prompt_text(record))
    assert sorted(qa_texts) == sorted(prompts.qa_prompt(r.question, r.options) for r in records)
    assert tag_texts == [prompts.tag_prompt()] * 12


def test_openai_backend_with_pass_video_url_lets_the_server_decode(tmp_path, stub):
    records = _mini_records()
    videos = bundled_mini_bench() / "videos"
    out = tmp_path / "out"
    cmd = _openai_cmd(stub, out, "vau_bench_qa_mini", pass_video_url="true", max_frames_num=12)
    proc = run_offline(cmd, tmp_path, NO_PROXY="127.0.0.1,localhost")
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_metrics(results_json(out), {"vau_bench_qa_mini": _expected_metrics(records)["vau_bench_qa_mini"]})

    assert len(stub.requests) == 12
    sent = {}
    for record in stub.requests:
        _check_request_envelope(record)
        # vLLM's per-request frame count (uniform); video_fps is not sent in this mode
        assert record["body"]["media_io_kwargs"] == {"video": {"num_frames": 12}}
        video_part, _ = _parts(record)  # the prompt follows (checked above)
        assert video_part["type"] == "video_url"
        sent[_prompt_text(record)] = video_part["video_url"]["url"]
    # each prompt goes with its own video, as an absolute file:// URL the server must be allowed to read
    assert sent == {prompts.qa_prompt(r.question, r.options): f"file://{os.path.abspath(videos / r.video)}" for r in records}


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_backend_without_vllm_fails_with_an_unhelpful_message_and_exit_1(tmp_path):
    out = tmp_path / "out"
    cmd = [
        LMMS_EVAL, "--model", "vllm", "--model_args", "model=Qwen/Qwen2.5-VL-3B-Instruct,fps=1",
        "--tasks", "vau_bench_qa_mini", "--output_path", str(out),
    ]  # fmt: skip
    proc = run_offline(cmd, tmp_path)
    log = proc.stdout + proc.stderr
    assert "self.client = LLM(" in log, log[-3000:]  # vllm.LLM was imported optionally, as None
    # lmms-eval itself logs the error and exits 0; a run of the plugin's tasks exits 1 with the error last (issue 24)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "lmms-eval stopped: TypeError: 'NoneType' object is not callable"
    assert not list(out.rglob("*_results.json"))

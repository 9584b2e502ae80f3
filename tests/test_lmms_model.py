"""`vau_qwen2_5_vl.generate_until` in process, on the tiny model and real mini-bench clips: videos are decoded a batch
at a time (memory stays that of one batch, not of the task), and a broken video loses only its own sample."""

from __future__ import annotations

import pytest
from lmms_eval.api.instance import Instance

from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.lmms import VIDEO_ERROR_PREFIX, RunStopped

TASK, SPLIT = "vau_bench_qa_mini", "test"


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from vau_plugin.lmms.model import VAUQwen2_5_VL

    return VAUQwen2_5_VL(pretrained=str(tiny_model_dir), device="cpu", batch_size=2, max_num_frames=4,
                         min_pixels=3136, max_pixels=12544)  # fmt: skip


def _requests(model, paths: list[str]) -> list[Instance]:
    docs = [{"task": "qa", "video": f"v{i}.mp4", "video_path": p} for i, p in enumerate(paths)]
    model.task_dict = {TASK: {SPLIT: docs}}

    def doc_to_messages(doc):
        return [{"role": "user", "content": [{"type": "video", "url": doc["video_path"]}, {"type": "text", "text": "Which?"}]}]

    gen = {"max_new_tokens": 2, "temperature": 0}
    return [
        Instance("generate_until", ("ctx", doc_to_messages, gen, i, TASK, SPLIT), idx=0,
                 metadata={"task": TASK, "doc_id": i, "repeats": 1})  # fmt: skip
        for i in range(len(docs))
    ]


def test_videos_are_decoded_one_batch_at_a_time(model, monkeypatch):
    clips = sorted(str(p) for p in (bundled_mini_bench() / "videos").glob("mini_test_*.mp4"))[:6]
    decoded_before_each_generate = []
    decoded = []
    encode, generate = model.encode_video, model._generate
    monkeypatch.setattr(model, "encode_video", lambda path, budget: decoded.append(path) or encode(path, budget))
    monkeypatch.setattr(model, "_generate", lambda *a: decoded_before_each_generate.append(len(decoded)) or generate(*a))
    outputs = model.generate_until(_requests(model, clips))
    assert len(outputs) == 6 and not any(o.text.startswith(VIDEO_ERROR_PREFIX) for o in outputs)
    assert decoded_before_each_generate == [2, 4, 6]  # batch_size 2: never more than one batch decoded ahead


def test_a_broken_video_loses_only_its_sample_and_all_broken_stops_the_run(model, tmp_path):
    clips = sorted(str(p) for p in (bundled_mini_bench() / "videos").glob("mini_test_*.mp4"))[:3]
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    outputs = model.generate_until(_requests(model, [clips[0], str(empty), clips[1], clips[2]]))
    assert [o.text.startswith(VIDEO_ERROR_PREFIX) for o in outputs] == [False, True, False, False]
    assert "video file is empty" in outputs[1].text
    with pytest.raises(RunStopped, match="none of the 2 samples could be run"):
        model.generate_until(_requests(model, [str(empty), str(empty)]))

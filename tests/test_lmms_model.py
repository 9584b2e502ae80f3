"""`vau_qwen2_5_vl.generate_until` in process, on the tiny model and real mini-bench clips: videos are decoded a batch
at a time (memory stays that of one batch, not of the task), and a broken video loses only its own sample."""

from __future__ import annotations

import pytest
from lmms_eval.api.instance import Instance

from _odd_videos import noise_clip, one_frame_gif, one_pixel_clip, same_pts_clip
from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.benches.writer import write_mp4
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


def test_one_broken_document_asked_twice_does_not_stop_the_run(model, tmp_path):
    # lmms-eval asks a document more than once (`repeats`; with several processes it pads the shorter shares with
    # copies of their last request): "none of the samples could be run" counts documents. Was: counted requests.
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    requests = _requests(model, [str(empty)])
    outputs = model.generate_until(requests * 2)
    assert [o.text.startswith(VIDEO_ERROR_PREFIX) for o in outputs] == [True, True]


@pytest.fixture(scope="module")
def motion_model(tiny_model_dir):
    from vau_plugin.lmms.model import VAUQwen2_5_VL

    return VAUQwen2_5_VL(pretrained=str(tiny_model_dir), device="cpu", batch_size=2, max_num_frames=4, min_pixels=3136,
                         max_pixels=12544, motion_prompt=True, motion_m=0.5, motion_n=0.1)  # fmt: skip


@pytest.fixture(scope="module")
def odd_clips(tmp_path_factory) -> dict[str, str]:
    """Clips that decode but are odd; `unfit_*` are those no frame size of the model's budget (12544 px at most,
    multiples of 28) fits."""
    import numpy as np

    root = tmp_path_factory.mktemp("odd")
    frames = np.zeros((2, 32, 32, 3), np.uint8)
    made = {
        "one_frame": write_mp4(root / "one_frame.mp4", frames[:1], 2.0),
        "two_frames": write_mp4(root / "two_frames.mp4", frames, 2.0),
        "one_pixel": one_pixel_clip(root / "one_pixel.mp4"),
        "same_pts": same_pts_clip(root / "same_pts.mkv"),
        "one_frame_gif": one_frame_gif(root / "one.gif"),
        "unfit_7680x40": noise_clip(root / "wide.mp4", 40, 7680),
        "unfit_40x7680": noise_clip(root / "tall.mp4", 7680, 40),
        "unfit_3840x64": noise_clip(root / "w3840x64.mp4", 64, 3840),
    }
    return {name: str(path) for name, path in made.items()}


@pytest.mark.parametrize("which", ["model", "motion_model"])
def test_odd_videos_lose_only_their_own_sample(which, odd_clips, request):
    """7680x40 (aspect ratio 274 once rounded) and 3840x64 (its 64-px side shrinks to 0 px under 12544 px) once
    raised a plain ValueError, and a clip whose PTS are all 0 a ZeroDivisionError, out of generate_until: the whole
    run ended. Each is now its sample's video error (or decodes), with and without motion prompts."""
    model = request.getfixturevalue(which)
    good = sorted(str(p) for p in (bundled_mini_bench() / "videos").glob("mini_test_*.mp4"))[0]
    names = list(odd_clips)
    outputs = model.generate_until(_requests(model, [good, *odd_clips.values()]))
    failed = {name: o.text for name, o in zip(names, outputs[1:]) if o.text.startswith(VIDEO_ERROR_PREFIX)}
    assert not outputs[0].text.startswith(VIDEO_ERROR_PREFIX)
    assert sorted(failed) == ["unfit_3840x64", "unfit_40x7680", "unfit_7680x40"], failed
    assert odd_clips["unfit_7680x40"] in failed["unfit_7680x40"] and "7680x40" in failed["unfit_7680x40"]
    assert "aspect ratio" in failed["unfit_7680x40"] and "shrinks to 0 px" in failed["unfit_3840x64"]
    assert "multiples of 28 px" in failed["unfit_3840x64"] and "12,544 px" in failed["unfit_3840x64"]


def test_a_bad_video_budget_in_model_args_stops_at_load_not_per_sample(tiny_model_dir):
    """A setting that makes no valid budget is the caller's mistake (a ValueError), found before any video."""
    from vau_plugin.lmms.model import VAUQwen2_5_VL

    with pytest.raises(ValueError, match="video_backend.*backend must be one of"):
        VAUQwen2_5_VL(pretrained=str(tiny_model_dir), device="cpu", video_backend="ffmpeg")

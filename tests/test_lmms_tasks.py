"""lmms-eval task code in-process: documents, prompts, per-sample scoring and exact aggregate values."""

import importlib.util
import math
import shutil
from pathlib import Path

import pytest

from vau_plugin import prompts
from vau_plugin.data.mini_bench import bundled_mini_bench
from vau_plugin.lmms import VIDEO_ERROR_PREFIX
from vau_plugin.lmms.docs import MissingVideosError, load_task_docs
from vau_plugin.lmms.entry import task_dir


@pytest.fixture(scope="module")
def utils():
    path = task_dir() / "vau_bench" / "utils.py"
    spec = importlib.util.spec_from_file_location("vau_bench_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _aggregate(utils, task, docs, outputs):
    per_metric: dict[str, list] = {}
    process = getattr(utils, f"{task}_process_results")
    for doc, out in zip(docs, outputs):
        for name, value in process(doc, [out]).items():
            per_metric.setdefault(name, []).append(value)
    return per_metric


def test_mini_docs_cover_the_bundled_test_split():
    qa = load_task_docs("qa", "mini")
    tag = load_task_docs("tag", "mini")
    assert len(qa) == 12 and len(tag) == 12
    assert all(Path(d["video_path"]).is_file() for d in qa)
    assert all(Path(d["video_path"]).parent == bundled_mini_bench() / "videos" for d in qa)
    assert {d["answer"] for d in qa} <= set("ABCD") and len({d["answer"] for d in qa}) > 1
    normal = [d for d in tag if d["is_normal"]]
    assert normal and all(d["span"] == [-1.0, -1.0] for d in normal)
    assert all(0 <= d["span"][0] < d["span"][1] for d in tag if not d["is_normal"])


def test_qa_scores_known_outputs_exactly(utils):
    docs = load_task_docs("qa", "mini")[:4]
    outputs = [
        docs[0]["answer"],  # bare letter, right
        f"<think>hmm</think><answer>{docs[1]['answer']}</answer>",  # think format, right
        "I cannot tell",  # unparsed
        "E",  # not an option
    ]
    items = _aggregate(utils, "qa", docs, outputs)
    assert utils.aggregate_accuracy(items["accuracy"]) == pytest.approx(50.0)
    assert utils.aggregate_unparsed(items["unparsed"]) == pytest.approx(50.0)
    first = items["accuracy"][0]
    assert first["video"] == docs[0]["video"] and first["pred"] == docs[0]["answer"] and first["raw"] == outputs[0]


def test_tag_scores_known_spans_exactly(utils):
    docs = load_task_docs("tag", "mini")
    anomalous = [d for d in docs if not d["is_normal"]][:3]
    normal = [d for d in docs if d["is_normal"]][:2]
    s0, e0 = anomalous[0]["span"]
    s1, e1 = anomalous[1]["span"]
    length = e1 - s1
    outputs = [
        f"<glue>[{s0}, {e0}]</glue>",  # exact: IoU 1
        f"<glue>[{s1}, {s1 + 0.6 * length}]</glue>",  # 60% of the span: IoU 0.6
        "no idea",  # missing: IoU 0
        "<glue>[-1.0, -1.0]</glue>",  # normal, right
        "<glue>[1.0, 2.0]</glue>",  # normal, false alarm
    ]
    items = _aggregate(utils, "tag", anomalous + normal, outputs)
    assert utils.aggregate_miou(items["mIoU"]) == pytest.approx(100 * 1.6 / 3)
    assert utils.aggregate_r03(items["R@0.3"]) == pytest.approx(200 / 3)
    assert utils.aggregate_r05(items["R@0.5"]) == pytest.approx(200 / 3)
    assert utils.aggregate_r07(items["R@0.7"]) == pytest.approx(100 / 3)
    assert utils.aggregate_normal_accuracy(items["normal_accuracy"]) == pytest.approx(50.0)
    assert items["mIoU"][1]["iou"] == pytest.approx(0.6)


def test_tag_normal_accuracy_is_nan_without_normal_videos(utils):
    docs = [d for d in load_task_docs("tag", "mini") if not d["is_normal"]][:2]
    items = _aggregate(utils, "tag", docs, ["x", "y"])
    assert math.isnan(utils.aggregate_normal_accuracy(items["normal_accuracy"]))


def test_cls_scores_binary_and_multiclass(utils):
    docs = load_task_docs("cls", "mini")
    anomalous = [d for d in docs if not d["is_normal"]][:2]
    normal = [d for d in docs if d["is_normal"]][:2]
    wrong_class = next(c for c in ("Fire", "Robbery") if c != anomalous[1]["anomaly_class"])
    outputs = [
        f"<answer> {anomalous[0]['anomaly_class'].replace('_', ' ').lower()} </answer>",  # right class
        f"<answer>{wrong_class}</answer>",  # anomaly, wrong class
        "<answer>Normal</answer>",  # right
        "Absence_of_anomaly",  # unparsed
    ]
    items = _aggregate(utils, "cls", anomalous + normal, outputs)
    assert utils.aggregate_multiclass_accuracy(items["multiclass_accuracy"]) == pytest.approx(50.0)
    assert utils.aggregate_binary_accuracy(items["binary_accuracy"]) == pytest.approx(75.0)


def test_video_errors_are_flagged_and_scored_wrong(utils):
    doc = load_task_docs("qa", "mini")[0]
    items = _aggregate(utils, "qa", [doc], [f"{VIDEO_ERROR_PREFIX} broken.mp4: moov atom not found"])
    assert items["accuracy"][0]["video_error"] is True
    assert utils.aggregate_accuracy(items["accuracy"]) == 0.0


def test_prompts_follow_the_think_switch(utils):
    doc = load_task_docs("qa", "mini")[0]
    no_think = utils.qa_doc_to_text(doc, {"think": False})
    think = utils.qa_doc_to_text(doc, {"think": True})
    assert doc["question"] in no_think and doc["options"][0] in no_think
    assert "<think>" in think and "<think>" not in no_think
    assert utils.tag_doc_to_text(doc, {"think": False}) == prompts.tag_prompt(think=False)
    assert "<glue>[-1.0, -1.0]</glue>" in prompts.tag_prompt(think=True)
    assert all(name in utils.cls_doc_to_text(doc, None) for name in ("Traffic_accident", "Water_incident"))


def test_missing_videos_fail_up_front_with_counts(tmp_path, monkeypatch, shared_vau_bench):
    annotations = tmp_path / "ann"
    videos = tmp_path / "videos"
    annotations.mkdir()
    videos.mkdir()
    shutil.copy(shared_vau_bench / "test_msad.csv", annotations / "test_msad.csv")
    shutil.copy(bundled_mini_bench() / "videos" / "mini_test_0000.mp4", videos / "Assault_2.mp4")
    monkeypatch.setenv("VAU_BENCH_ROOT", str(annotations))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(videos))
    with pytest.raises(MissingVideosError) as error:
        load_task_docs("qa", "msad")
    message = str(error.value)
    assert "239 of 240 videos not found" in message
    assert str(videos) in message and "VAU_BENCH_VIDEO_ROOT" in message


def test_real_csv_rows_become_docs_when_videos_exist(tmp_path, monkeypatch, shared_vau_bench):
    import csv

    annotations = tmp_path / "ann"
    videos = tmp_path / "videos" / "msad"  # per-source sub-folder layout
    annotations.mkdir()
    videos.mkdir(parents=True)
    shutil.copy(shared_vau_bench / "test_msad.csv", annotations / "test_msad.csv")
    sample = bundled_mini_bench() / "videos" / "mini_test_0000.mp4"
    with open(shared_vau_bench / "test_msad.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            (videos / row["Video Name"]).symlink_to(sample)
    monkeypatch.setenv("VAU_BENCH_ROOT", str(annotations))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(tmp_path / "videos"))
    assert len(load_task_docs("qa", "msad")) == 240
    tag = load_task_docs("tag", "msad")
    assert len(tag) == 240 and sum(not d["is_normal"] for d in tag) == 120  # normal videos asked, not scored
    assert {d["source"] for d in tag} == {"msad"}
    with pytest.raises(Exception, match="no split 'test_ucf_crime'"):
        load_task_docs("qa", "ucf")  # test_ucf_crime.csv is not in the folder


def test_default_hub_source_fails_clearly_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("VAU_BENCH_ROOT", raising=False)
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(Exception, match="7xiang/VAU-Bench") as error:
        load_task_docs("qa", "msad")
    assert "VAU_BENCH_ROOT is unset" in str(error.value)


def test_all_source_tasks_read_the_splits_named_in_vau_bench_splits(tmp_path, monkeypatch):
    bench = bundled_mini_bench()
    monkeypatch.setenv("VAU_BENCH_ROOT", str(bench))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(bench / "videos"))
    monkeypatch.setenv("VAU_BENCH_SPLITS", "train, test")
    docs = load_task_docs("cls", "all")
    assert len(docs) == 16 + 12
    assert {d["split"] for d in docs} == {"train", "test"}
    monkeypatch.setenv("VAU_BENCH_SPLITS", "test")
    assert len(load_task_docs("cls", "all")) == 12

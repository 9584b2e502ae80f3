"""lmms-eval task code in-process: documents, prompts, per-sample scoring and exact aggregate values."""

import importlib.util
import math
import shutil
from pathlib import Path

import pytest

from vau_plugin import prompts
from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.data.reader import AnnotationError
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
    with pytest.raises(Exception, match="reads split.s. test_ucf_crime, but .* holds test_msad only"):
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


def _videos_for(csv_files, root):
    """Empty stand-ins named as the videos of `csv_files` (documents only need them to exist)."""
    import csv

    root.mkdir(parents=True, exist_ok=True)
    for path in csv_files:
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                (root / row["Video Name"]).touch()
    return root


def test_single_csv_root_serves_only_its_own_split(tmp_path, monkeypatch, shared_vau_bench):
    """A single CSV as VAU_BENCH_ROOT used to become 720 QA samples labelled as all three splits, and the UCF task
    scored MSAD rows as UCF. Each document comes from one row, with its true source; other tasks stop."""
    csv_file = shared_vau_bench / "test_msad.csv"
    monkeypatch.setenv("VAU_BENCH_ROOT", str(csv_file))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(_videos_for([csv_file], tmp_path / "videos")))
    docs = load_task_docs("qa", "msad")
    assert len(docs) == 240 == len({(d["file"], d["row"]) for d in docs})
    assert {(d["source"], d["split"]) for d in docs} == {("msad", "test_msad")}
    for subset in ("all", "ucf", "ecva"):
        with pytest.raises(AnnotationError, match="holds test_msad only") as error:
            load_task_docs("qa", subset)
        assert "vau_bench_qa_msad" in str(error.value) and "VAU_BENCH_ROOT" in str(error.value)
    monkeypatch.setenv("VAU_BENCH_SPLITS", "test_msad")  # asked for explicitly: the all-source task reads it once
    assert len(load_task_docs("qa", "all")) == 240


def test_a_split_named_twice_is_refused(tmp_path, monkeypatch, shared_vau_bench):
    monkeypatch.setenv("VAU_BENCH_ROOT", str(shared_vau_bench))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(_videos_for([shared_vau_bench / "test_msad.csv"], tmp_path / "v")))
    monkeypatch.setenv("VAU_BENCH_SPLITS", "test_msad,test_msad")
    with pytest.raises(AnnotationError, match="names test_msad more than once"):
        load_task_docs("qa", "all")


def test_two_files_for_one_split_are_refused(tmp_path, monkeypatch, shared_vau_bench):
    root = tmp_path / "snapshot"
    for sub in ("annotations", "old"):
        (root / sub).mkdir(parents=True)
        shutil.copy(shared_vau_bench / "test_msad.csv", root / sub / "test_msad.csv")
    monkeypatch.setenv("VAU_BENCH_ROOT", str(root))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(_videos_for([shared_vau_bench / "test_msad.csv"], tmp_path / "v")))
    with pytest.raises(AnnotationError, match="two annotation files for split 'test_msad'"):
        load_task_docs("qa", "msad")


def test_all_sources_keep_each_row_and_its_source(tmp_path, monkeypatch, shared_vau_bench):
    files = [shared_vau_bench / f"{split}.csv" for split in ("test_msad", "test_ucf_crime", "test_ecva")]
    monkeypatch.setenv("VAU_BENCH_ROOT", str(shared_vau_bench))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(_videos_for(files, tmp_path / "videos")))
    docs = load_task_docs("tag", "all")
    assert len(docs) == len({(d["file"], d["row"]) for d in docs})
    # TAG scores anomalous rows with a span (class -1 with a span included: UCF-Crime has 12) and asks normal rows
    scored = {s: sum(d["source"] == s and not d["is_normal"] for d in docs) for s in ("msad", "ucf", "ecva")}
    assert scored == {"msad": 120, "ucf": 124, "ecva": 400}
    assert {(d["source"], d["split"]) for d in docs} == {
        ("msad", "test_msad"), ("ucf", "test_ucf_crime"), ("ecva", "test_ecva")}


def test_a_per_source_task_refuses_rows_of_another_source(tmp_path, monkeypatch, shared_vau_bench):
    root = tmp_path / "ann"
    root.mkdir()
    text = (shared_vau_bench / "test_msad.csv").read_text(encoding="utf-8")
    (root / "test_msad.csv").write_text(text.replace("\nAssault_2.mp4,", "\nucf_Assault_2.mp4,", 1), encoding="utf-8")
    monkeypatch.setenv("VAU_BENCH_ROOT", str(root))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(_videos_for([root / "test_msad.csv"], tmp_path / "v")))
    with pytest.raises(AnnotationError, match="name a video of another source than their file.*ucf_Assault_2.mp4"):
        load_task_docs("qa", "msad")


def _joined_into_msad(shared_vau_bench, root, extra_rows: list[str]):
    """test_msad.csv with rows of other sources pasted in, as a user who concatenates split files gets it."""
    root.mkdir(parents=True, exist_ok=True)
    text = (shared_vau_bench / "test_msad.csv").read_text(encoding="utf-8").rstrip("\n") + "\n"
    (root / "test_msad.csv").write_text(text + "".join(row + "\n" for row in extra_rows), encoding="utf-8")
    return root / "test_msad.csv"


def _row_of(path, video: str) -> str:
    return next(line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith(video + ","))


def test_rows_of_other_sources_inside_test_msad_are_refused_not_scored_as_msad(tmp_path, monkeypatch, shared_vau_bench):
    """A UCF-Crime (`*_x264.mp4`) and an ECVA (`14.mp4`) row inside test_msad.csv were counted and scored as MSAD."""
    ucf_row = _row_of(shared_vau_bench / "test_ucf_crime.csv", "Abuse028_x264.mp4")
    ecva_row = _row_of(shared_vau_bench / "test_ecva.csv", "14.mp4")
    joined = _joined_into_msad(shared_vau_bench, tmp_path / "ann", [ucf_row, ecva_row])
    for split in ("test_ucf_crime", "test_ecva"):
        (tmp_path / "ann" / f"{split}.csv").write_text((shared_vau_bench / f"{split}.csv").read_text(encoding="utf-8"))
    monkeypatch.setenv("VAU_BENCH_ROOT", str(tmp_path / "ann"))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(_videos_for([joined], tmp_path / "v")))
    for task, subset in [("qa", "all"), ("tag", "msad"), ("cls", "all")]:
        with pytest.raises(AnnotationError) as raised:
            load_task_docs(task, subset)
        message = str(raised.value)
        assert "2 row(s) name a video of another source than their file" in message
        assert "test_msad.csv row 241 ('Abuse028_x264.mp4')" in message and "test_msad.csv row 242 ('14.mp4')" in message
        assert "belongs to UCF-Crime" in message


def test_rows_of_one_video_that_disagree_stop_the_task_unless_kept(tmp_path, monkeypatch, shared_vau_bench):
    first = _row_of(shared_vau_bench / "test_msad.csv", "Assault_2.mp4")
    cells = first.split(",")
    letter = cells[6]
    other = "B" if letter != "B" else "C"
    changed = ",".join(cells[:6] + [other] + cells[7:])
    joined = _joined_into_msad(shared_vau_bench, tmp_path / "ann", [changed])
    monkeypatch.setenv("VAU_BENCH_ROOT", str(joined))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(_videos_for([joined], tmp_path / "v")))
    with pytest.raises(AnnotationError) as raised:
        load_task_docs("qa", "msad")
    message = str(raised.value)
    assert "1 row(s) repeat a video with another qa answer than an earlier row" in message
    assert f"test_msad.csv row 241 and test_msad.csv row 1 ('Assault_2.mp4'): Correct Option '{other}' vs '{letter}'" in message
    assert "VAU_BENCH_DUPLICATES=keep" in message
    # the class and times agree: TAG and CLS evaluate the (repeated) row as before
    assert len(load_task_docs("cls", "msad")) == 241
    monkeypatch.setenv("VAU_BENCH_DUPLICATES", "keep")
    docs = load_task_docs("qa", "msad")
    assert len(docs) == 241 and {d["row"] for d in docs if d["video"] == "Assault_2.mp4"} == {1, 241}
    monkeypatch.setenv("VAU_BENCH_DUPLICATES", "yes")
    with pytest.raises(ValueError, match="VAU_BENCH_DUPLICATES='yes': expected one of error, keep"):
        load_task_docs("qa", "msad")


def test_tasks_take_no_video_from_outside_its_source_folder_unless_asked(tmp_path, monkeypatch, shared_vau_bench):
    csv_file = shared_vau_bench / "test_ecva.csv"
    videos = _videos_for([csv_file], tmp_path / "v" / "ecva")
    (videos / "14.mp4").unlink()
    (tmp_path / "v" / "xd_violence").mkdir()
    (tmp_path / "v" / "xd_violence" / "14.mp4").touch()
    monkeypatch.setenv("VAU_BENCH_ROOT", str(csv_file))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(tmp_path / "v"))
    with pytest.raises(MissingVideosError) as raised:
        load_task_docs("qa", "ecva")
    assert "1 missing" in str(raised.value) and "14.mp4 -> " in str(raised.value)
    monkeypatch.setenv("VAU_BENCH_VIDEO_SEARCH", "anywhere")
    docs = load_task_docs("qa", "ecva")
    assert next(d for d in docs if d["video"] == "14.mp4")["video_path"] == str(tmp_path / "v" / "xd_violence" / "14.mp4")


def test_tasks_stop_at_a_name_that_matches_two_different_files(tmp_path, monkeypatch, shared_vau_bench):
    csv_file = tmp_path / "test.csv"  # a benchmark of one's own: no source in its name
    csv_file.write_text(
        (shared_vau_bench / "test_msad.csv").read_text(encoding="utf-8").split("\n", 1)[0] + "\n"
        + _row_of(shared_vau_bench / "test_msad.csv", "Assault_2.mp4") + "\n", encoding="utf-8")  # fmt: skip
    for folder, content in (("msad", b"one"), ("ucf", b"two")):
        (tmp_path / "v" / folder).mkdir(parents=True)
        (tmp_path / "v" / folder / "Assault_2.mp4").write_bytes(content)
    monkeypatch.setenv("VAU_BENCH_ROOT", str(tmp_path))
    monkeypatch.setenv("VAU_BENCH_SPLITS", "test")
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(tmp_path / "v"))
    with pytest.raises(MissingVideosError, match=r"test.csv row 1: 'Assault_2.mp4' matches 2 different files"):
        load_task_docs("qa", "all")

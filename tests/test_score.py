"""`vau-plugin score`: the real CLI, in subprocesses, on VAU-R1's published prediction files, on lmms-eval
`--log_samples` jsonl (from a real run on the tiny model, and hand-written in the same format), and on broken
inputs (unknown videos, duplicates, missing rows, wrong columns, unreadable files)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _lmms_cli import CPU_ARGS, LMMS_EVAL, run_offline
from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.data.sources import load_records
from vau_plugin.data.targets import serves
from vau_plugin.task_metrics import TASK_METRICS

BIN = Path(sys.executable).parent
VAU_PLUGIN = str(BIN / "vau-plugin")
MINI_CSV = bundled_mini_bench() / "test.csv"


def score(*args, cwd=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [VAU_PLUGIN, "score", *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def score_json(*args) -> dict:
    proc = score(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def failure(*args) -> str:
    """The one error message of a run that must fail (exit 2, nothing on stdout; the reader may log before it)."""
    proc = score(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines and lines[-1].startswith("vau-plugin score: error: "), proc.stderr
    assert sum(line.startswith("vau-plugin score: error") for line in lines) == 1, proc.stderr
    return lines[-1]


def write_predictions(path: Path, column: str, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Video Name", column])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def predictions(shared_vau_bench) -> Path:
    return shared_vau_bench / "predictions"


@pytest.fixture(scope="module")
def msad(shared_vau_bench) -> Path:
    return shared_vau_bench / "test_msad.csv"


# ------------------------------------------------------------------------------------ the published files


def test_qa_file_scores_11_of_13(predictions, msad):
    report = score_json(predictions / "qa_qwen2.5-vl-3b_msad_no_think.csv", "--annotations", msad, "--task", "qa", "--missing", "skip")
    assert report["accuracy"] == pytest.approx(100 * 11 / 13)  # 84.615...%
    assert report["unparsed"] == 0.0
    assert report["counts"] == {"correct": 11, "unparsed": 0}
    assert (report["rows"], report["predicted"], report["scored"], report["missing"]) == (240, 13, 13, 227)
    assert report["format"] == "vau-r1-csv" and report["missing_policy"] == "skip"
    table = score(predictions / "qa_qwen2.5-vl-3b_msad_no_think.csv", "--annotations", msad, "--task", "qa", "--missing", "skip")
    assert table.returncode == 0, table.stderr
    assert re.search(r"^accuracy\s+84\.62\s+11 correct of 13$", table.stdout, re.M), table.stdout
    for name, value in (("rows", 240), ("predicted", 13), ("scored", 13), ("missing", 227)):
        assert re.search(rf"^{name}\s+{value}\b", table.stdout, re.M), table.stdout


def test_tag_file_scores_miou_29_71(predictions, msad):
    report = score_json(predictions / "tag_qwen2.5-vl-3b_msad_no_think.csv", "--annotations", msad, "--task", "tag", "--missing", "skip")
    assert round(report["mIoU"], 2) == 29.71
    assert set(TASK_METRICS["tag"]) <= set(report)
    assert (report["R@0.3"], report["R@0.5"], report["R@0.7"]) == (40.0, 0.0, 0.0)
    # The five predicted videos are all anomalous: no normal video scored, so normal_accuracy has no base.
    assert report["normal_accuracy"] is None
    assert report["counts"]["anomalous"] == 5 and report["counts"]["normal"] == 0
    # 120 anomalous rows with a span + 120 Normal rows: the rows vau_bench_tag_msad evaluates.
    assert (report["rows"], report["predicted"], report["scored"], report["missing"]) == (240, 5, 5, 235)


# The classes of VAU-R1's evaluation_cls.py (FIXED_OPTION) and its answer extraction, re-implemented here so the
# expected numbers do not come from the plugin: take the <answer> content when there is one (they use
# BeautifulSoup; a regex gives the same on these files), then the first of the 20 classes mentioned (word-bounded,
# case-insensitive, any run of spaces/underscores between words). No class found -> wrong for both accuracies.
AUTHORS_CLASSES = [
    "Abuse", "Agriculture", "Arrest", "Arson", "Assault", "Explosion", "Fighting", "Fire", "Food Safety",
    "Medical Abnormality", "Natural Hazard", "Normal", "Object_falling", "People_falling", "Robbery", "Shooting",
    "Stealing", "Traffic_accident", "Vandalism", "Water_incident",
]  # fmt: skip
AUTHORS_PATTERN = re.compile(
    r"\b(" + "|".join("(?:%s)" % r"[_\s]*".join(map(re.escape, re.split(r"[_\s]+", c))) for c in AUTHORS_CLASSES) + r")\b",
    re.IGNORECASE,
)
AUTHORS_CANONICAL = {re.sub(r"[\s_]+", "_", c.lower()): c for c in AUTHORS_CLASSES}


def authors_cls(predictions_csv: Path, annotations_csv: Path) -> tuple[float, float, int]:
    """VAU-R1's evaluation_cls.py, restricted to the ground-truth rows that have a prediction."""
    preds = {}
    for row in csv.DictReader(open(predictions_csv, newline="", encoding="utf-8")):
        preds.setdefault(row["Video Name"], row["CLS answer"])  # drop_duplicates(keep="first")
    binary, multiclass = [], []
    for row in csv.DictReader(open(annotations_csv, newline="", encoding="utf-8")):
        name = row["Video Name"] if ".mp4" in row["Video Name"] else row["Video Name"] + ".mp4"
        if name not in preds:
            continue  # the restriction to predicted rows (VAU-R1 itself counts these as wrong)
        response = preds[name]
        answer = re.search(r"<answer>(.*?)</answer>", response, re.S)
        found = AUTHORS_PATTERN.search(answer.group(1) if answer else response)
        gt = row["Anomaly Class"]
        if found is None:
            binary.append(False)
            multiclass.append(False)
            continue
        pred = AUTHORS_CANONICAL[re.sub(r"[\s_]+", "_", found.group(1).strip().lower())]
        binary.append(pred.lower() == "normal" if gt.lower() == "normal" else pred.lower() != "normal")
        multiclass.append(pred.lower() == gt.lower())
    return 100 * sum(binary) / len(binary), 100 * sum(multiclass) / len(multiclass), len(binary)


@pytest.mark.parametrize(
    "name, fractions",
    [
        ("cls_qwen2-vl-2b_msad_no_think.csv", ((9, 15), (4, 15))),
        ("cls_qwen2.5-vl-3b_msad_no_think.csv", ((12, 21), (7, 21))),  # "Absence_of_anomaly" is no class: wrong
    ],
)
def test_cls_files_match_the_authors_evaluation_on_predicted_rows(predictions, msad, name, fractions):
    binary, multiclass, n = authors_cls(predictions / name, msad)
    report = score_json(predictions / name, "--annotations", msad, "--task", "cls", "--missing", "skip")
    assert report["binary_accuracy"] == pytest.approx(binary)
    assert report["multiclass_accuracy"] == pytest.approx(multiclass)
    assert report["scored"] == report["predicted"] == n
    # The same numbers, counted by hand from the files once.
    (b_hits, b_n), (m_hits, m_n) = fractions
    assert (report["counts"]["binary_correct"], report["counts"]["multiclass_correct"], n) == (b_hits, m_hits, b_n)
    assert binary == pytest.approx(100 * b_hits / b_n) and multiclass == pytest.approx(100 * m_hits / m_n)


# ------------------------------------------------------------------------------------ coverage and matching


def test_partial_predictions_stop_unless_a_missing_policy_is_chosen(predictions, msad):
    qa = predictions / "qa_qwen2.5-vl-3b_msad_no_think.csv"
    message = failure(qa, "--annotations", msad, "--task", "qa")
    assert "cover 13 of the 240 qa rows in test_msad.csv" in message and "227 missing" in message
    assert "--missing skip" in message and "--missing wrong" in message
    # --missing wrong: VAU-R1's QA evaluator divides by every ground-truth row.
    report = score_json(qa, "--annotations", msad, "--task", "qa", "--missing", "wrong")
    assert report["accuracy"] == pytest.approx(100 * 11 / 240)
    assert (report["rows"], report["predicted"], report["scored"], report["missing"]) == (240, 13, 240, 227)
    assert report["unparsed"] == pytest.approx(100 * 227 / 240)  # a missing answer is no answer


def test_predictions_for_another_split_name_the_videos_and_the_annotations(predictions, shared_vau_bench):
    ucf = shared_vau_bench / "test_ucf_crime.csv"
    message = failure(predictions / "tag_qwen2.5-vl-3b_msad_no_think.csv", "--annotations", ucf, "--task", "tag", "--missing", "skip")
    assert "5 predicted video(s) are not in the annotations" in message and str(ucf) in message
    assert "Assault_2.mp4" in message and "Assault_11.mp4" in message


def test_many_unknown_videos_list_the_first_few_and_the_count(tmp_path, msad):
    rows = [(f"Abuse{i:03d}_x264.mp4", "A") for i in range(1, 31)]
    message = failure(write_predictions(tmp_path / "p.csv", "QA answer", rows), "--annotations", msad, "--task", "qa")
    assert "30 predicted video(s)" in message and "Abuse001_x264.mp4" in message and "... and 25 more" in message
    assert "Abuse030_x264.mp4" not in message


def test_duplicates_that_disagree_stop_unless_a_policy_picks_one(tmp_path, msad):
    """Issue 24, item 7: a duplicate with another parsed answer made the score depend on which copy was kept (the
    first, silently but for a warning); now it stops naming both unless --duplicates first|last says which."""
    answers = {r.video: r.answer for r in load_records(msad)}
    wrong = next(letter for letter in "ABCD" if letter != answers["Assault_2.mp4"])
    rows = [
        ("Assault_2", answers["Assault_2.mp4"]),  # no ".mp4": matched as VAU-R1 matches it
        ("Assault_4.mp4", answers["Assault_4.mp4"]),
        ("Assault_2.mp4", wrong),  # disagrees with row 1
        ("Assault_4.mp4", answers["Assault_4.mp4"]),  # repeats row 2
    ]
    path = write_predictions(tmp_path / "dup.csv", "QA answer", rows)
    message = failure(path, "--annotations", msad, "--task", "qa", "--missing", "skip")
    assert "1 duplicate prediction(s) give a video a different answer" in message
    assert f"'Assault_2.mp4': dup.csv row 1 {answers['Assault_2.mp4']!r}" in message and f"dup.csv row 3 {wrong!r}" in message
    assert "--duplicates first" in message and "--duplicates last" in message
    first = score_json(path, "--annotations", msad, "--task", "qa", "--missing", "skip", "--duplicates", "first")
    assert first["accuracy"] == 100.0 and first["counts"]["correct"] == 2
    assert (first["entries"], first["duplicates"], first["duplicates_differing"], first["predicted"]) == (4, 2, 1, 2)
    assert first["duplicates_policy"] == "first"
    (differs, same) = [w for w in first["warnings"] if "duplicate" in w]
    assert differs.startswith("dup.csv row 3:") and "first at dup.csv row 1" in differs and "DIFFERENT" in differs
    assert same.startswith("dup.csv row 4:") and "first at dup.csv row 2" in same and "the same answer" in same
    last = score_json(path, "--annotations", msad, "--task", "qa", "--missing", "skip", "--duplicates", "last")
    assert last["accuracy"] == 50.0 and last["counts"]["correct"] == 1 and last["duplicates_policy"] == "last"
    assert any(w.startswith("dup.csv row 1:") and "last at dup.csv row 3" in w for w in last["warnings"])
    table = score(path, "--annotations", msad, "--task", "qa", "--missing", "skip", "--duplicates", "last")
    assert re.search(r"^duplicates\s+2\s+.*last kept: --duplicates last; 1 with a different answer", table.stdout, re.M), table.stdout


def test_duplicates_that_parse_the_same_are_kept_once_and_said(tmp_path, msad):
    """The same parsed answer in other words scores the same whichever copy is kept: no error, but said."""
    answers = {r.video: r.answer for r in load_records(msad)}
    right = answers["Assault_2.mp4"]
    rows = [("Assault_2.mp4", right), ("Assault_2.mp4", f"<answer>{right}</answer>"), ("Assault_2.mp4", right)]
    path = write_predictions(tmp_path / "same.csv", "QA answer", rows)
    report = score_json(path, "--annotations", msad, "--task", "qa", "--missing", "skip")
    assert (report["accuracy"], report["duplicates"], report["duplicates_differing"]) == (100.0, 2, 0)
    assert report["duplicates_policy"] == "error"
    reworded, repeated = [w for w in report["warnings"] if "duplicate" in w]
    assert reworded.startswith("same.csv row 2:") and "the same parsed answer in other words" in reworded
    assert "the same score whichever is kept" in reworded
    assert repeated.startswith("same.csv row 3:") and "the same answer;" in repeated
    table = score(path, "--annotations", msad, "--task", "qa", "--missing", "skip")
    assert re.search(r"^duplicates\s+2\s+.*all score the same, first kept: --duplicates error\)", table.stdout, re.M)


def test_tag_scores_normal_videos_apart_and_missing_wrong_keeps_both_bases(tmp_path):
    # Mini bench: 8 anomalous rows (spans below) and 4 Normal ones (0000, 0001, 0007, 0009).
    rows = [
        ("mini_test_0000.mp4", "<answer>Normal</answer><glue>[-1.0, -1.0]</glue>"),  # normal, right
        ("mini_test_0001.mp4", "<glue>[0.0, 1.0]</glue>"),  # normal, wrong
        ("mini_test_0002.mp4", "<answer>Anomaly</answer><glue>[2.7, 4.9]</glue>"),  # exact: IoU 1
        ("mini_test_0003.mp4", "[3.6, 5.0]"),  # gt [3.6, 5.9]: IoU 1.4 / 2.3 = 0.61
        ("mini_test_0004.mp4", "no idea"),  # no span: IoU 0
        ("mini_test_0007.mp4", "<glue>[-1, -1]</glue>"),  # normal, right
    ]
    path = write_predictions(tmp_path / "tag.csv", "Temporal Grounding", rows)
    assert "cover 6 of the 12 tag rows" in failure(path, "--annotations", MINI_CSV, "--task", "tag")
    skip = score_json(path, "--annotations", MINI_CSV, "--task", "tag", "--missing", "skip")
    partial = (5.0 - 3.6) / (5.9 - 3.6)
    assert skip["mIoU"] == pytest.approx(100 * (1 + partial) / 3)
    assert (skip["R@0.3"], skip["R@0.5"], skip["R@0.7"]) == pytest.approx((200 / 3, 200 / 3, 100 / 3))
    assert skip["normal_accuracy"] == pytest.approx(100 * 2 / 3)
    assert (skip["counts"]["anomalous"], skip["counts"]["normal"], skip["scored"]) == (3, 3, 6)
    wrong = score_json(path, "--annotations", MINI_CSV, "--task", "tag", "--missing", "wrong")
    assert wrong["mIoU"] == pytest.approx(100 * (1 + partial) / 8)  # 5 missing anomalous videos: IoU 0 each
    assert wrong["normal_accuracy"] == pytest.approx(100 * 2 / 4)  # 1 missing normal video: wrong
    assert (wrong["rows"], wrong["predicted"], wrong["scored"], wrong["missing"]) == (12, 6, 12, 6)


def test_rows_a_task_does_not_evaluate_are_ignored_with_a_warning(tmp_path, shared_vau_bench):
    # UCF-Crime test: 39 rows are all -1 (no class, no span): vau_bench_tag_ucf does not evaluate them.
    records = load_records(shared_vau_bench / "test_ucf_crime.csv")
    unused = next(r for r in records if not serves(r, "tag"))
    used = next(r for r in records if serves(r, "tag"))
    path = write_predictions(tmp_path / "ucf.csv", "Temporal Grounding", [(unused.video, "[1, 2]"), (used.video, "[1, 2]")])
    report = score_json(path, "--annotations", shared_vau_bench / "test_ucf_crime.csv", "--task", "tag", "--missing", "skip")
    assert (report["ignored"], report["predicted"], report["scored"]) == (1, 1, 1)
    assert any(unused.video in w and "does not evaluate" in w for w in report["warnings"])


# ------------------------------------------------------------------------------------ broken inputs


def test_wrong_columns_name_what_was_expected_and_found(tmp_path, predictions, msad):
    path = tmp_path / "p.csv"
    path.write_text("Video,Answer\nAssault_2.mp4,A\n")
    message = failure(path, "--annotations", msad, "--task", "qa")
    assert "'Video Name', 'QA answer'" in message and "found: 'Video', 'Answer'" in message
    message = failure(predictions / "tag_qwen2.5-vl-3b_msad_no_think.csv", "--annotations", msad, "--task", "cls")
    assert "'CLS answer'" in message and "'Temporal Grounding'" in message and "--task tag" in message


def test_empty_prediction_is_an_error_naming_the_row_or_missing_when_chosen(tmp_path, msad):
    path = write_predictions(tmp_path / "p.csv", "QA answer", [("Assault_2.mp4", "A"), ("Assault_4.mp4", "  ")])
    message = failure(path, "--annotations", msad, "--task", "qa")
    assert "empty prediction: p.csv row 2 ('Assault_4.mp4')" in message
    report = score_json(path, "--annotations", msad, "--task", "qa", "--missing", "skip")
    assert (report["predicted"], report["scored"], report["empty"]) == (1, 1, 1)
    assert any("p.csv row 2" in w and "empty" in w for w in report["warnings"])


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty file"),
        (b"\x00\x01\x02binary", "binary data"),
        (b"Video Name,QA answer\n", "no prediction rows"),
        (b'Video Name,QA answer\nAssault_2.mp4,"A\n', "unclosed quote"),
        (b"Video Name,QA answer\n,A\n", "p.bin row 1: no video name"),
        (b"Video Name,QA answer\nAssault_2.mp4,\xff\xfe A\n", "not UTF-8"),
        (b'{"doc_id": 0, "filtered_resps": "A"\n', "line 1: not valid JSON"),
        (b'{"doc_id": 0, "filtered_resps": "A"}\n', "neither a 'doc' nor a per-sample entry"),
        (b'{"results": {}, "configs": {}}', "results file, not a samples file"),
    ],
)
def test_unreadable_predictions_give_one_clear_message(tmp_path, msad, content, expected):
    path = tmp_path / "p.bin"
    path.write_bytes(content)
    assert expected in failure(path, "--annotations", msad, "--task", "qa")


def test_missing_files_and_folders(tmp_path, predictions, msad):
    qa = predictions / "qa_qwen2.5-vl-3b_msad_no_think.csv"
    assert "no such file" in failure(tmp_path / "absent.csv", "--annotations", msad, "--task", "qa")
    assert "is a directory" in failure(tmp_path, "--annotations", msad, "--task", "qa")
    assert "annotations" in failure(qa, "--annotations", tmp_path / "absent.csv", "--task", "qa")
    # A prediction file passed as the annotations: the reader names the columns it expected.
    message = failure(qa, "--annotations", qa, "--task", "qa")
    assert "missing required column(s) 'Question'" in message and "found: 'Video Name', 'QA answer'" in message


# ------------------------------------------------------------------------------------ lmms-eval samples


def _sample_line(doc_id: int, video: str, raw: str, gt, metrics: tuple[str, ...], **extra) -> str:
    """One line as lmms-eval 0.7 writes it with --log_samples (observed on a real run): no `doc`; `filtered_resps`
    a string (the response process_results saw), `resps` only when it differs; one entry per metric holding
    the plugin's per-sample dict. Stored scores here are deliberately wrong: score must re-parse `filtered_resps`."""
    entry = {"video": video, "source": "mini", "raw": raw, "video_error": False, "pred": None, "gt": gt, "score": 1.0, **extra}
    sample = {"doc_id": doc_id, "target": str(gt), "filtered_resps": raw, "token_counts": [{"output_tokens": 3}],
              "doc_hash": "0" * 64, **{name: entry for name in metrics}, "input": "prompt"}  # fmt: skip
    return json.dumps(sample)


def test_hand_written_samples_in_the_observed_format(tmp_path):
    records = [r for r in load_records(MINI_CSV)]
    responses = []
    for index, record in enumerate(records):
        if index < 5:
            responses.append(f"<answer>{record.answer}</answer>")  # right
        elif index < 9:
            responses.append(next(letter for letter in "ABCD" if letter != record.answer))  # wrong
        else:
            responses.append("I cannot tell")  # unparsed
    lines = [_sample_line(i, r.video, raw, r.answer, TASK_METRICS["qa"]) for i, (r, raw) in enumerate(zip(records, responses))]
    path = tmp_path / "20260101_samples_vau_bench_qa_mini.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = score_json(path, "--annotations", MINI_CSV, "--task", "qa")
    assert report["format"] == "lmms-eval-samples"
    assert report["accuracy"] == pytest.approx(100 * 5 / 12) and report["unparsed"] == pytest.approx(100 * 3 / 12)
    assert (report["rows"], report["predicted"], report["scored"], report["missing"]) == (12, 12, 12, 0)
    # The wrong task, and samples scored against other ground truth, are refused.
    assert "a sample of the vau_bench qa task, not tag (pass --task qa)" in failure(path, "--annotations", MINI_CSV, "--task", "tag")
    changed = lines[:]
    changed[3] = _sample_line(3, records[3].video, "A", "A" if records[3].answer != "A" else "B", TASK_METRICS["qa"])
    path.write_text("\n".join(changed) + "\n")
    message = failure(path, "--annotations", MINI_CSV, "--task", "qa")
    assert "1 sample(s) were evaluated against a different qa ground truth" in message and "line 4" in message
    # A duplicated sample: the first kept, and said.
    path.write_text("\n".join(lines + [lines[0]]) + "\n")
    report = score_json(path, "--annotations", MINI_CSV, "--task", "qa")
    assert report["duplicates"] == 1 and report["accuracy"] == pytest.approx(100 * 5 / 12)
    assert any("line 13: duplicate prediction" in w and "first at" in w and "line 1)" in w for w in report["warnings"])


def test_samples_that_keep_the_doc_older_lmms_eval(tmp_path):
    records = [r for r in load_records(MINI_CSV)]
    lines = []
    for i, r in enumerate(records):
        doc = {"video": r.video, "task": "cls", "anomaly_class": r.anomaly_class, "answer": r.answer}
        raw = f"<answer> {r.anomaly_class} </answer>" if i % 2 == 0 else "Normal"
        lines.append(json.dumps({"doc_id": i, "doc": doc, "resps": [[raw]], "filtered_resps": [raw]}))
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = score_json(path, "--annotations", MINI_CSV, "--task", "cls")
    # Even rows name the true class (right for both); odd rows say Normal (right only for a Normal video).
    expected = sum(1 for i, r in enumerate(records) if i % 2 == 0 or r.anomaly_class == "Normal")
    assert report["multiclass_accuracy"] == pytest.approx(100 * expected / 12)
    assert report["binary_accuracy"] == pytest.approx(100 * expected / 12)
    assert "not 'qa'" in failure(path, "--annotations", MINI_CSV, "--task", "qa")


@pytest.fixture(scope="module")
def lmms_run(tmp_path_factory, tiny_model_dir) -> Path:
    """One real lmms-eval run (tiny model, CPU, the three mini tasks; ~15 s) with --log_samples."""
    work = tmp_path_factory.mktemp("lmms_score")
    cmd = [
        LMMS_EVAL, "--model", "qwen2_5_vl", "--model_args", f"pretrained={tiny_model_dir},{CPU_ARGS}",
        "--tasks", "vau_bench_qa_mini,vau_bench_tag_mini,vau_bench_cls_mini", "--gen_kwargs", "max_new_tokens=12",
        "--batch_size", "1", "--output_path", str(work / "out"), "--log_samples",
    ]  # fmt: skip
    proc = run_offline(cmd, work, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work / "out"


@pytest.mark.parametrize("task", ["qa", "tag", "cls"])
@pytest.mark.e2e
def test_real_lmms_eval_samples_reproduce_the_run_metrics(lmms_run, task):
    (results_file,) = lmms_run.rglob("*_results.json")
    results = json.loads(results_file.read_text())["results"][f"vau_bench_{task}_mini"]
    (samples,) = lmms_run.rglob(f"*_samples_vau_bench_{task}_mini.jsonl")
    report = score_json(samples, "--annotations", MINI_CSV, "--task", task)
    assert (report["rows"], report["predicted"], report["scored"], report["missing"]) == (12, 12, 12, 0)
    for name in TASK_METRICS[task]:
        assert report[name] == pytest.approx(results[f"{name},none"]), (name, report[name], results[f"{name},none"])
    # The results file itself is not a samples file.
    assert "results file, not a samples file" in failure(results_file, "--annotations", MINI_CSV, "--task", task)


@pytest.mark.e2e
def test_real_lmms_eval_samples_are_parsed_again(lmms_run, tmp_path):
    """The stored scores are not trusted: a response changed in the file changes the score."""
    (samples,) = lmms_run.rglob("*_samples_vau_bench_qa_mini.jsonl")
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    assert not any("doc" in s for s in lines)  # lmms-eval 0.7 drops the doc; the plugin's entry names the video
    assert {(s["accuracy"]["split"], s["accuracy"]["file"]) for s in lines} == {("test", "test.csv")}  # and its row
    assert sorted(s["accuracy"]["row"] for s in lines) == list(range(1, 13))
    for sample in lines[:7]:
        sample["filtered_resps"] = f"The answer is {sample['accuracy']['gt']}."
        sample.pop("resps", None)
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(s) + "\n" for s in lines))
    report = score_json(edited, "--annotations", MINI_CSV, "--task", "qa")
    assert report["accuracy"] == pytest.approx(100 * 7 / 12)
    assert all(s["accuracy"]["score"] == 0.0 for s in lines[:7])  # what the file claims
    # A run cut short (--limit): the coverage rule applies to samples too.
    short = tmp_path / "short.jsonl"
    short.write_text("".join(json.dumps(s) + "\n" for s in lines[:4]))
    assert "cover 4 of the 12 qa rows" in failure(short, "--annotations", MINI_CSV, "--task", "qa")


@pytest.mark.e2e
def test_real_samples_are_matched_to_the_row_they_came_from(lmms_run, tmp_path):
    """Two annotation files of unknown source naming the same videos: a sample names its file and row, so it is
    scored against that row (without them, every prediction was ambiguous between the two files)."""
    folder = tmp_path / "ann"
    folder.mkdir()
    shutil.copyfile(MINI_CSV, folder / "test.csv")
    shutil.copyfile(MINI_CSV, folder / "copy.csv")
    (samples,) = lmms_run.rglob("*_samples_vau_bench_qa_mini.jsonl")
    report = score_json(samples, "--annotations", folder, "--task", "qa", "--missing", "skip")
    assert (report["rows"], report["predicted"], report["scored"]) == (24, 12, 12)


def test_annotations_that_repeat_a_video(tmp_path):
    from _csv_rows import write_csv

    # "v1" and "v1.mp4" are one video to VAU-R1's matching: with the same answer it is scored once, with a warning.
    same = write_csv(tmp_path / "same.csv", [{"Video Name": "v1.mp4"}, {"Video Name": "v1"}, {"Video Name": "v2.mp4", "Correct Option": "B"}])
    preds = write_predictions(tmp_path / "p.csv", "QA answer", [("v1", "A"), ("v2.mp4", "<answer>C</answer>")])
    report = score_json(preds, "--annotations", same, "--task", "qa")
    assert (report["rows"], report["scored"], report["accuracy"]) == (2, 2, 50.0)
    assert any("same.csv row 2" in w and "repeats same.csv row 1" in w for w in report["warnings"])
    # With different answers no prediction can be matched to one row.
    clash = write_csv(tmp_path / "clash.csv", [{"Video Name": "v1.mp4"}, {"Video Name": "v1.mp4", "Correct Option": "C"}])
    message = failure(preds, "--annotations", clash, "--task", "qa")
    assert "appear twice with different qa ground truth" in message and "clash.csv row 1 vs clash.csv row 2" in message


def test_concatenated_sample_logs_of_two_runs_need_a_duplicates_policy(tmp_path):
    """Issue 24, item 7: two runs' --log_samples files concatenated; the second answers half the videos otherwise."""
    records = load_records(MINI_CSV)
    wrong = {r.video: next(letter for letter in "ABCD" if letter != r.answer) for r in records}
    old = [_sample_line(i, r.video, f"<answer>{r.answer}</answer>", r.answer, TASK_METRICS["qa"]) for i, r in enumerate(records)]
    new = [_sample_line(i, r.video, wrong[r.video] if i < 6 else r.answer, r.answer, TASK_METRICS["qa"]) for i, r in enumerate(records)]
    path = tmp_path / "both_runs.jsonl"
    path.write_text("\n".join(old + new) + "\n")
    message = failure(path, "--annotations", MINI_CSV, "--task", "qa")
    assert "6 duplicate prediction(s) give a video a different answer" in message
    assert f"{records[0].video!r}: both_runs.jsonl line 1 " in message and "both_runs.jsonl line 13 " in message
    first = score_json(path, "--annotations", MINI_CSV, "--task", "qa", "--duplicates", "first")
    last = score_json(path, "--annotations", MINI_CSV, "--task", "qa", "--duplicates", "last")
    assert (first["accuracy"], last["accuracy"]) == (100.0, 50.0)
    for report, policy in ((first, "first"), (last, "last")):
        assert (report["entries"], report["duplicates"], report["duplicates_differing"], report["scored"]) == (24, 12, 6, 12)
        assert report["duplicates_policy"] == policy


# ------------------------------------------------------------------------------------ one name, several sources (item 2)


def _two_source_annotations(tmp_path) -> Path:
    """A folder of CSVs where two videos have the same name in two sources: test_msad.csv (source msad, from the
    split) and custom.csv (source unknown). Assault_2 has another answer in each, Assault_4 the same."""
    from _csv_rows import write_csv

    folder = tmp_path / "annotations"
    folder.mkdir()
    write_csv(folder / "test_msad.csv", [{"Video Name": "Assault_2.mp4", "Correct Option": "A"},
                                         {"Video Name": "Assault_4.mp4", "Correct Option": "B"},
                                         {"Video Name": "Fighting_3.mp4", "Correct Option": "C"}])  # fmt: skip
    write_csv(folder / "custom.csv", [{"Video Name": "Assault_2.mp4", "Correct Option": "C"},
                                      {"Video Name": "Assault_4.mp4", "Correct Option": "B"},
                                      {"Video Name": "Robbery_1.mp4", "Correct Option": "D"}])  # fmt: skip
    return folder


# (file, row, source as the lmms-eval doc names it, video, answer) of every row of _two_source_annotations
TWO_SOURCE_ROWS = [
    ("custom.csv", 1, "unknown", "Assault_2.mp4", "C"),
    ("custom.csv", 2, "unknown", "Assault_4.mp4", "B"),
    ("custom.csv", 3, "unknown", "Robbery_1.mp4", "D"),
    ("test_msad.csv", 1, "msad", "Assault_2.mp4", "A"),
    ("test_msad.csv", 2, "msad", "Assault_4.mp4", "B"),
    ("test_msad.csv", 3, "msad", "Fighting_3.mp4", "C"),
]


def test_a_csv_prediction_for_a_name_of_two_sources_is_ambiguous(tmp_path):
    """Issue 24, item 2: the first annotation row of a name won silently (and two videos of one name counted as one
    row); now each is its own row, and a prediction that cannot say which is an error naming both rows."""
    annotations = _two_source_annotations(tmp_path)
    preds = write_predictions(tmp_path / "p.csv", "QA answer", [("Assault_2.mp4", "A"), ("Assault_4.mp4", "B")])
    message = failure(preds, "--annotations", annotations, "--task", "qa", "--missing", "skip")
    assert "2 prediction(s) name a video that the annotations" in message and "rows of different sources or files" in message
    assert "'Assault_2.mp4' (p.csv row 1) matches custom.csv row 1 (source unknown) and test_msad.csv row 1 (msad)" in message
    assert "'Assault_4.mp4' (p.csv row 2) matches custom.csv row 2 (source unknown) and test_msad.csv row 2 (msad)" in message
    # Names of one source only are matched as before; the six rows are six rows.
    only = write_predictions(tmp_path / "only.csv", "QA answer", [("Fighting_3", "C"), ("Robbery_1.mp4", "A")])
    report = score_json(only, "--annotations", annotations, "--task", "qa", "--missing", "skip")
    assert (report["rows"], report["predicted"], report["counts"]["correct"]) == (6, 2, 1)


@pytest.mark.parametrize("with_doc", [True, False], ids=["doc", "entry-only"])
def test_samples_that_name_their_row_are_matched_to_it(tmp_path, with_doc):
    """An lmms-eval sample says which row it answered: its doc (older lmms-eval) names source, split, file and row;
    lmms-eval 0.7 keeps only the plugin's per-sample entry, which names the source."""
    annotations = _two_source_annotations(tmp_path)
    lines = []
    for i, (file, row, source, video, answer) in enumerate(TWO_SOURCE_ROWS):
        if with_doc:
            doc = {"video": video, "task": "qa", "answer": answer, "source": source, "split": Path(file).stem,
                   "file": file, "row": row}  # fmt: skip
            lines.append(json.dumps({"doc_id": i, "doc": doc, "filtered_resps": [f"<answer>{answer}</answer>"]}))
        else:
            line = json.loads(_sample_line(i, video, f"<answer>{answer}</answer>", answer, TASK_METRICS["qa"]))
            for name in TASK_METRICS["qa"]:
                line[name]["source"] = source
            lines.append(json.dumps(line))
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = score_json(path, "--annotations", annotations, "--task", "qa")
    assert (report["rows"], report["predicted"], report["scored"], report["accuracy"]) == (6, 6, 6, 100.0)
    assert report["duplicates"] == 0


def test_a_sample_of_another_source_than_its_only_row_is_refused(tmp_path):
    annotations = _two_source_annotations(tmp_path) / "test_msad.csv"
    line = json.loads(_sample_line(0, "Fighting_3.mp4", "C", "C", TASK_METRICS["qa"]))
    for name in TASK_METRICS["qa"]:
        line[name]["source"] = "ucf"
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps(line) + "\n")
    message = failure(path, "--annotations", annotations, "--task", "qa", "--missing", "skip")
    assert "1 sample(s) were evaluated on a row of another source" in message
    assert "samples.jsonl line 1 ('Fighting_3.mp4', source ucf; the annotations hold it as test_msad.csv row 3 (msad))" in message


def test_annotations_with_a_row_of_another_source_than_their_file_are_refused(tmp_path, shared_vau_bench):
    """A UCF-Crime row pasted into test_msad.csv would be scored as an MSAD row (issue 24, item 3)."""
    ucf_row = next(line for line in (shared_vau_bench / "test_ucf_crime.csv").read_text(encoding="utf-8").splitlines()
                   if line.startswith("Abuse028_x264.mp4,"))  # fmt: skip
    joined = tmp_path / "test_msad.csv"
    joined.write_text((shared_vau_bench / "test_msad.csv").read_text(encoding="utf-8").rstrip("\n") + "\n" + ucf_row + "\n")
    predictions = write_predictions(tmp_path / "p.csv", "QA answer", [("Assault_2.mp4", "A"), ("Abuse028_x264.mp4", "A")])
    message = failure(predictions, "--annotations", joined, "--task", "qa", "--missing", "skip")
    assert "1 row(s) name a video of another source than their file: test_msad.csv row 241 ('Abuse028_x264.mp4')" in message
    assert "belongs to UCF-Crime" in message

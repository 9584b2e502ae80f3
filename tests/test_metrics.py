"""vau_plugin.metrics: temporal IoU, TAG mIoU/recall, QA accuracy and CLS accuracies."""

import csv
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vau_plugin.metrics import IOU_THRESHOLDS, cls_accuracy, qa_accuracy, temporal_grounding, temporal_iou
from vau_plugin.parsing import NORMAL_SPAN

# --------------------------------------------------------------------------------------------- IoU


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((0, 10), (0, 10), 1.0),
        ((0, 10), (5, 15), 5 / 15),
        ((0, 4), (0, 10), 0.4),
        ((2, 3), (0, 10), 0.1),
        ((0, 5), (5, 10), 0.0),  # touching, no overlap
        ((0, 1), (2, 3), 0.0),
        ((3, 3), (0, 10), 0.0),  # zero length
        ((3, 3), (3, 3), 0.0),
        (NORMAL_SPAN, NORMAL_SPAN, 1.0),
        ([-1, -1], (-1.0, -1.0), 1.0),
        (NORMAL_SPAN, (0, 10), 0.0),
        ((0, 10), NORMAL_SPAN, 0.0),
        (None, (0, 10), 0.0),
        (None, None, 0.0),
        ((10, 0), (0, 10), 0.0),  # reversed is invalid
        ((float("nan"), 1), (0, 1), 0.0),
        ((0, float("inf")), (0, 1), 0.0),
        ("<glue>[0, 4]</glue>", (0, 10), 0.4),
        ("[0, 4]", "[0, 10]", 0.4),
        ((0, 1.7e308), (0, 1.7e308), 1.0),  # no overflow
    ],
)
def test_temporal_iou(a, b, expected):
    assert temporal_iou(a, b) == pytest.approx(expected)


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True)),
    st.tuples(st.floats(-5, 1e9), st.floats(-5, 1e9)),
)
def test_temporal_iou_is_bounded_and_symmetric(a, b):
    value = temporal_iou(a, b)
    assert 0.0 <= value <= 1.0
    assert value == temporal_iou(b, a)


# ---------------------------------------------------------------------------------------- grounding


def test_temporal_grounding_hand_computed():
    preds = [(0, 10), (5, 15), None, "<glue>[0, 4]</glue>", NORMAL_SPAN, (1, 2), (1, 2), (1, 2)]
    gts = [(0, 10), (0, 10), (0, 10), (0, 10), (0, 10), None, [-1, -1], [0.0, 0.0]]
    # IoUs over the 5 anomalous videos: 1, 1/3, 0, 0.4, 0; the 3 normal ones are excluded.
    result = temporal_grounding(preds, gts)
    assert result["mIoU"] == pytest.approx(100 * (1 + 1 / 3 + 0.4) / 5)
    assert result["R@0.3"] == pytest.approx(60.0)
    assert result["R@0.5"] == pytest.approx(20.0)
    assert result["R@0.7"] == pytest.approx(20.0)
    assert (result["n"], result["n_excluded"]) == (5, 3)


def test_recall_counts_iou_equal_to_the_threshold():
    result = temporal_grounding([(0, 5), (0, 3), (0, 7)], [(0, 10)] * 3)  # IoU 0.5, 0.3, 0.7
    assert result == {
        "mIoU": pytest.approx(50.0),
        "R@0.3": 100.0,
        "R@0.5": pytest.approx(200 / 3),
        "R@0.7": pytest.approx(100 / 3),
        "n": 3,
        "n_excluded": 0,
    }
    assert IOU_THRESHOLDS == (0.3, 0.5, 0.7)


def test_temporal_grounding_empty_and_all_normal():
    empty = temporal_grounding([], [])
    assert empty == {"mIoU": 0.0, "R@0.3": 0.0, "R@0.5": 0.0, "R@0.7": 0.0, "n": 0, "n_excluded": 0}
    normal = temporal_grounding([NORMAL_SPAN], [None])
    assert normal["n"] == 0 and normal["n_excluded"] == 1 and normal["mIoU"] == 0.0


def test_temporal_grounding_length_mismatch():
    with pytest.raises(ValueError, match="differ in length: 1 vs 2"):
        temporal_grounding([(0, 1)], [(0, 1), (0, 2)])


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_real_tag_predictions(shared_vau_bench):
    truth = {r["Video Name"]: r for r in _csv_rows(shared_vau_bench / "test_msad.csv")}
    rows = _csv_rows(shared_vau_bench / "predictions" / "tag_qwen2.5-vl-3b_msad_no_think.csv")
    gts = [(float(truth[r["Video Name"]]["Start Time"]), float(truth[r["Video Name"]]["End Time"])) for r in rows]
    result = temporal_grounding([r["Temporal Grounding"] for r in rows], gts)
    # pred vs truth: [0, 3.8] vs [0.67, 6.67]; [0, 3.9] vs [0.03, 17.18]; [0, 13.8] vs [7.01, 8.34];
    # [3.6, 7.8] vs [4.5, 16.01]; [0, 3.6] vs [0.03, 8.33]
    ious = [3.13 / 6.67, 3.87 / 17.18, 1.33 / 13.8, 3.3 / 12.41, 3.57 / 8.33]
    assert result["mIoU"] == pytest.approx(100 * sum(ious) / 5)
    assert (result["R@0.3"], result["R@0.5"], result["R@0.7"]) == (40.0, 0.0, 0.0)
    assert result["n"] == 5


def test_real_ground_truth_normal_rows_are_excluded(shared_vau_bench):
    rows = _csv_rows(shared_vau_bench / "test_msad.csv")
    gts = [(float(r["Start Time"]), float(r["End Time"])) for r in rows]
    result = temporal_grounding(gts, gts)  # a perfect model
    normal = sum(r["Anomaly Class"] == "Normal" for r in rows)
    assert normal == 120
    assert result["n_excluded"] >= normal and result["n"] == len(rows) - result["n_excluded"]
    assert result["mIoU"] == pytest.approx(100.0) and result["R@0.7"] == 100.0


# -------------------------------------------------------------------------------------------- QA


def test_qa_accuracy_hand_computed():
    preds = ["A", "<answer>(B)</answer>", "The answer is C.", None, "A and B", "D"]
    gts = ["A", "B", "D", "A", "A", "D. Green trash bin"]
    assert qa_accuracy(preds, gts) == pytest.approx(100 * 3 / 6)


def test_qa_accuracy_with_option_text():
    options = [["cat", "dog", "bird", "fish"], ["red", "green", "blue", "black"]]
    assert qa_accuracy(["Dog.", "black"], ["B", "C"], options=options) == 50.0
    assert qa_accuracy(["Dog.", "black"], ["B", "C"]) == 0.0


def test_qa_accuracy_edges():
    assert qa_accuracy([], []) == 0.0
    with pytest.raises(ValueError, match=r"qa ground truth \[1\]: expected a letter A-D, got 'maybe'"):
        qa_accuracy(["A", "B"], ["A", "maybe"])
    with pytest.raises(ValueError, match="differ in length"):
        qa_accuracy(["A"], [])


def test_real_qa_predictions(shared_vau_bench):
    truth = {r["Video Name"]: r["Correct Option"] for r in _csv_rows(shared_vau_bench / "test_msad.csv")}
    rows = _csv_rows(shared_vau_bench / "predictions" / "qa_qwen2.5-vl-3b_msad_no_think.csv")
    accuracy = qa_accuracy([r["QA answer"] for r in rows], [truth[r["Video Name"]] for r in rows])
    assert accuracy == pytest.approx(100 * 11 / 13)  # wrong on Explosion_1 (C) and Explosion_9 (D)


def test_qa_accuracy_on_all_msad_ground_truth(shared_vau_bench):
    rows = _csv_rows(shared_vau_bench / "test_msad.csv")
    gts = [r["Correct Option"] for r in rows]
    assert qa_accuracy(gts, gts) == 100.0  # option-text cells resolve on both sides
    always_a = qa_accuracy(["A"] * len(rows), gts)
    # The skew the README documents: 163 cells are "A", and one more is the option text "A. No sign of anomaly".
    assert always_a == pytest.approx(100 * 164 / 240)


# ------------------------------------------------------------------------------------------- CLS


def test_cls_accuracy_hand_computed():
    preds = ["Normal", "<answer> Fighting </answer>", "Robbery", "Absence_of_anomaly", "normal", None]
    gts = ["Normal", "Fighting", "Fighting", "Fighting", "Arson", "Normal"]
    # multiclass: Normal, Fighting → 2; binary: Normal, Fighting, Robbery (anomaly for an anomaly) → 3
    assert cls_accuracy(preds, gts) == {"binary": 50.0, "multiclass": pytest.approx(100 / 3), "n": 6}


def test_cls_accuracy_edges():
    assert cls_accuracy([], []) == {"binary": 0.0, "multiclass": 0.0, "n": 0}
    with pytest.raises(ValueError, match=r"cls ground truth \[0\]: expected one of the 20"):
        cls_accuracy(["Normal"], ["Absence_of_anomaly"])


@pytest.mark.parametrize(
    "file, binary, multiclass",
    [
        # qwen2-vl-2b: 9 of 15 name an anomaly class, 4 the right one (Assault_14, Explosion_5/7/13)
        ("cls_qwen2-vl-2b_msad_no_think.csv", 100 * 9 / 15, 100 * 4 / 15),
        # qwen2.5-vl-3b: 12 of 21 name an anomaly class ("Absence_of_anomaly" is none), 7 the right one
        ("cls_qwen2.5-vl-3b_msad_no_think.csv", 100 * 12 / 21, 100 * 7 / 21),
    ],
)
def test_real_cls_predictions(shared_vau_bench, file, binary, multiclass):
    truth = {r["Video Name"]: r["Anomaly Class"] for r in _csv_rows(shared_vau_bench / "test_msad.csv")}
    rows = _csv_rows(shared_vau_bench / "predictions" / file)
    result = cls_accuracy([r["CLS answer"] for r in rows], [truth[r["Video Name"]] for r in rows])
    assert result["binary"] == pytest.approx(binary)
    assert result["multiclass"] == pytest.approx(multiclass)
    assert result["n"] == len(rows)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.none(), st.sampled_from(["Normal", "Fire", "B"])), max_size=6))
def test_metrics_are_total_in_predictions(preds):
    n = len(preds)
    cls = cls_accuracy(preds, ["Fire"] * n)
    assert cls["n"] == n
    for value in (qa_accuracy(preds, ["A"] * n), cls["binary"], cls["multiclass"]):
        assert 0.0 <= value <= 100.0
    result = temporal_grounding(preds, [(0.0, 1.0)] * n)
    assert all(0.0 <= result[k] <= 100.0 and not math.isnan(result[k]) for k in ("mIoU", "R@0.3", "R@0.5", "R@0.7"))

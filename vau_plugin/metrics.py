"""VAU-Bench evaluation metrics (VAU-R1 paper): QA accuracy, CLS binary and 20-class accuracy, and
temporal grounding (mIoU, R@0.3/0.5/0.7).

Predictions may be raw model outputs (parsed here with `vau_plugin.parsing`, the same rules the
training rewards use) or already parsed values. Results are percentages (0-100) as floats, unrounded.
An empty input gives 0.0 for every metric with ``n`` = 0 (not NaN, so tables and JSON stay plain).
Ground truth that cannot be read raises ValueError naming the index, except for temporal grounding,
where ground truth without an anomaly span is excluded, as the paper excludes normal videos.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from vau_plugin.data.schema import NORMAL_CLASS
from vau_plugin.parsing import NORMAL_SPAN, coerce_span, parse_choice, parse_class

__all__ = ["IOU_THRESHOLDS", "temporal_iou", "temporal_grounding", "qa_accuracy", "cls_accuracy"]

IOU_THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7)


def _span_iou(a: Optional[tuple[float, float]], b: Optional[tuple[float, float]]) -> float:
    """IoU of two spans already checked by `parsing` (valid, or NORMAL_SPAN, or None).

    None (no span) → 0.0; both NORMAL_SPAN → 1.0; exactly one → 0.0 (VAU-R1's reward rule); else
    intersection over union, 0.0 without overlap (also for zero-length spans).
    """
    if a is None or b is None:
        return 0.0
    a_normal, b_normal = a == NORMAL_SPAN, b == NORMAL_SPAN
    if a_normal or b_normal:
        return 1.0 if a_normal and b_normal else 0.0
    intersection = min(a[1], b[1]) - max(a[0], b[0])
    if intersection <= 0.0:
        return 0.0
    # The spans overlap, so their union is their hull (which cannot overflow, unlike len_a + len_b).
    return intersection / (max(a[1], b[1]) - min(a[0], b[0]))


def temporal_iou(a: Any, b: Any) -> float:
    """temporal_iou(a, b) -> float in [0, 1]: temporal IoU of two spans.

    Each span is a pair (start, end) in seconds, a text holding one (parsed by `parse_span`), or None.
    None or an invalid span (NaN/inf, negative, reversed) → 0.0; [-1, -1] is the "normal" span: both
    normal → 1.0, exactly one → 0.0.
    """
    return _span_iou(coerce_span(a), coerce_span(b))


def _percent(hits: float, n: int) -> float:
    return 100.0 * hits / n if n else 0.0


def _same_length(preds: Sequence[Any], gts: Sequence[Any]) -> None:
    if len(preds) != len(gts):
        raise ValueError(f"predictions and ground truth differ in length: {len(preds)} vs {len(gts)}")


def temporal_grounding(pred_spans: Sequence[Any], gt_spans: Sequence[Any]) -> dict:
    """temporal_grounding(pred_spans, gt_spans) -> {"mIoU", "R@0.3", "R@0.5", "R@0.7", "n", "n_excluded"}.

    Percentages over the videos whose ground truth is an anomaly span (0 <= start < end). Ground truth
    that is None, [-1, -1], zero-length (VAU-Bench's 0.0/0.0 for normal videos) or invalid is excluded
    (`n_excluded`), as in the paper. A prediction (pair, text or None) that is missing or invalid counts
    as IoU 0; R@t counts IoU >= t, as the reference evaluation does.
    """
    _same_length(pred_spans, gt_spans)
    ious = []
    excluded = 0
    for pred, gt in zip(pred_spans, gt_spans):
        truth = coerce_span(gt)
        if truth is None or truth == NORMAL_SPAN or truth[0] >= truth[1]:
            excluded += 1
            continue
        ious.append(_span_iou(coerce_span(pred), truth))
    n = len(ious)
    result = {"mIoU": _percent(sum(ious), n)}
    for threshold in IOU_THRESHOLDS:
        result[f"R@{threshold}"] = _percent(sum(1 for iou in ious if iou >= threshold), n)
    result["n"] = n
    result["n_excluded"] = excluded
    return result


def qa_accuracy(
    preds: Sequence[Any], gts: Sequence[Any], options: Optional[Sequence[Optional[Sequence[str]]]] = None
) -> float:
    """qa_accuracy(preds, gts, options=None) -> float: percent of predictions whose letter is correct.

    Predictions are raw outputs or letters (parsed by `parse_choice`; None or unparseable counts as
    wrong); `options`, one list of four option texts per question, lets an answer given as option text
    count. Ground truth: letters A-D, or option text such as "D. Green trash bin …". Empty → 0.0.
    """
    _same_length(preds, gts)
    if options is not None:
        _same_length(preds, options)
    correct = 0
    for index, (pred, gt) in enumerate(zip(preds, gts)):
        truth = parse_choice(gt)
        if truth is None:
            raise ValueError(f"qa ground truth [{index}]: expected a letter A-D, got {gt!r}")
        question_options = options[index] if options is not None else None
        correct += parse_choice(pred, question_options) == truth
    return _percent(correct, len(gts))


def cls_accuracy(preds: Sequence[Any], gts: Sequence[Any]) -> dict:
    """cls_accuracy(preds, gts) -> {"binary", "multiclass", "n"}: CLS accuracies in percent.

    Predictions are raw outputs or class names (parsed by `parse_class`); a missing or unknown class
    is wrong for both. `binary`: normal vs anomaly (an anomalous video is right with any anomaly
    class); `multiclass`: the exact one of the 20 classes. Ground truth: class names. Empty → 0.0.
    """
    _same_length(preds, gts)
    binary = multiclass = 0
    for index, (pred, gt) in enumerate(zip(preds, gts)):
        truth = parse_class(gt)
        if truth is None:
            raise ValueError(f"cls ground truth [{index}]: expected one of the 20 VAU-Bench classes, got {gt!r}")
        guess = parse_class(pred)
        if guess is None:
            continue
        multiclass += guess == truth
        binary += (guess == NORMAL_CLASS) == (truth == NORMAL_CLASS)
    n = len(gts)
    return {"binary": _percent(binary, n), "multiclass": _percent(multiclass, n), "n": n}

"""Each VAU-Bench task's metrics over scored annotation rows, named and computed as the lmms-eval tasks
(tasks/vau_bench) report them: an answer is parsed as the task's process_results parses it (`vau_plugin.parsing`)
and scored with `vau_plugin.metrics`. `vau-plugin score` (`vau_plugin.score`) uses them for predictions made
elsewhere.
"""

from __future__ import annotations

from typing import Any, Optional

from vau_plugin import metrics, parsing
from vau_plugin.data.schema import NORMAL_CLASS, VAURecord

__all__ = ["TASKS", "TASK_METRICS", "parse_answer", "compute_task_metrics"]

TASKS: tuple[str, ...] = ("qa", "tag", "cls")
# Metric names as the lmms-eval tasks name them (tasks/vau_bench/_*.yaml).
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "qa": ("accuracy", "unparsed"),
    "tag": ("mIoU", "R@0.3", "R@0.5", "R@0.7", "normal_accuracy"),
    "cls": ("binary_accuracy", "multiclass_accuracy"),
}


def parse_answer(task: str, raw: Optional[str], record: VAURecord) -> Any:
    """The parsed answer, as the lmms-eval task's process_results parses it (None: missing or unparseable)."""
    if raw is None:
        return None
    if task == "qa":
        return parsing.parse_choice(raw, list(record.options) if record.options else ["", "", "", ""])
    if task == "tag":
        return parsing.parse_span(raw)
    return parsing.parse_class(raw)


def _percent(hits: float, n: int) -> Optional[float]:
    return 100.0 * hits / n if n else None


def compute_task_metrics(task: str, scored: list[tuple[VAURecord, Any]]) -> tuple[dict, dict]:
    """(metric values in percent, counts behind them) over the scored rows, each a row and its parsed answer (None:
    missing); None where a base is empty."""
    if task == "qa":
        preds = [pred for _, pred in scored]
        truths = [record.answer for record, _ in scored]
        correct = sum(p is not None and p == t for p, t in zip(preds, truths))
        unparsed = sum(p is None for p in preds)
        values = {
            "accuracy": metrics.qa_accuracy(preds, truths) if scored else None,
            "unparsed": _percent(unparsed, len(preds)),
        }
        return values, {"correct": correct, "unparsed": unparsed}
    if task == "tag":
        anomalous = [(r, p) for r, p in scored if r.anomaly_class != NORMAL_CLASS]
        normal = [(r, p) for r, p in scored if r.anomaly_class == NORMAL_CLASS]
        grounding = metrics.temporal_grounding([p for _, p in anomalous], [r.span for r, _ in anomalous])
        n = grounding["n"]
        tag_values: dict = {name: (grounding[name] if n else None) for name in ("mIoU", "R@0.3", "R@0.5", "R@0.7")}
        normal_correct = sum(parsing.is_normal_span(p) for _, p in normal)
        tag_values["normal_accuracy"] = _percent(normal_correct, len(normal))
        ious = [metrics.temporal_iou(p, r.span) for r, p in anomalous]
        counts = {
            "anomalous": n,
            "normal": len(normal),
            "excluded": grounding["n_excluded"],
            "no_span": sum(p is None for _, p in anomalous),
            **{f"R@{t}": sum(iou >= t for iou in ious) for t in metrics.IOU_THRESHOLDS},
            "normal_correct": normal_correct,
        }
        return tag_values, counts
    preds = [pred for _, pred in scored]
    truths = [record.anomaly_class for record, _ in scored]
    accuracy = metrics.cls_accuracy(preds, truths)
    binary = sum(p is not None and (p == NORMAL_CLASS) == (t == NORMAL_CLASS) for p, t in zip(preds, truths))
    multiclass = sum(p is not None and p == t for p, t in zip(preds, truths))
    values = {
        "binary_accuracy": accuracy["binary"] if scored else None,
        "multiclass_accuracy": accuracy["multiclass"] if scored else None,
    }
    return values, {"binary_correct": binary, "multiclass_correct": multiclass, "unparsed": sum(p is None for p in preds)}

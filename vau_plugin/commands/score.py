"""`vau-plugin score PREDICTIONS --annotations CSV --task qa|tag|cls [--missing ...] [--duplicates ...] [--json]`:
score predictions made elsewhere (`vau_plugin.score`), printed as a table or one JSON object."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Optional

from vau_plugin import metrics
from vau_plugin.predictions import CSV_FORMAT, ScoreError
from vau_plugin.score import DUPLICATE_POLICIES, MISSING_POLICIES, REPORT_WARNINGS, score_predictions
from vau_plugin.task_metrics import TASK_METRICS, TASKS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Score a prediction file on the rows the lmms-eval vau_bench task evaluates. PREDICTIONS is a VAU-R1 "
        "prediction CSV ('Video Name' + 'QA answer' / 'Temporal Grounding' / 'CLS answer') or an lmms-eval "
        "--log_samples jsonl of a vau_bench task."
    )
    parser.add_argument("predictions", help="VAU-R1 prediction CSV or lmms-eval samples jsonl")
    parser.add_argument("--annotations", required=True, help="the VAU-Bench annotation CSV the predictions answer (or a "
                        "folder of CSVs; a video named in rows of different sources or files is then ambiguous for a "
                        "prediction that does not say which row it answers)")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument(
        "--missing",
        choices=MISSING_POLICIES,
        default="error",
        help="task rows without a prediction: error (default: stop), skip (score only the predicted rows, as "
        "VAU-R1's TAG evaluator), wrong (count them as wrong / IoU 0, as VAU-R1's QA and CLS evaluators)",
    )
    parser.add_argument(
        "--duplicates",
        choices=DUPLICATE_POLICIES,
        default="error",
        help="several predictions for one row (e.g. concatenated sample logs): error (default: the first is kept "
        "when they all parse to the same answer, else stop naming both), first (keep the first, as VAU-R1's "
        "evaluators), last (keep the last, e.g. the newer run)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object (metrics in percent, counts)")


def run(args: argparse.Namespace) -> int:
    return run_score(args.predictions, args.annotations, args.task, missing=args.missing,
                     duplicates=args.duplicates, as_json=args.json)  # fmt: skip


def run_score(predictions: Any, annotations: Any, task: str, missing: str = "error", as_json: bool = False,
              duplicates: str = "error") -> int:  # fmt: skip
    """Exit code of `vau-plugin score`: 0 with the report on stdout, 2 with one message on stderr."""
    try:
        report = score_predictions(predictions, annotations, task, missing=missing, duplicates=duplicates)
    except ScoreError as exc:
        print(f"vau-plugin score: error: {exc}", file=sys.stderr)
        return 2
    try:
        print(json.dumps(_json_safe(report), indent=2, allow_nan=False) if as_json else format_table(report), flush=True)
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")
    return 0


# ------------------------------------------------------------------------------------------------ output


def _value(value: Optional[float]) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def _bases(report: dict) -> dict[str, str]:
    counts, task, scored = report["counts"], report["task"], report["scored"]
    if task == "qa":
        return {
            "accuracy": f"{counts['correct']} correct of {scored}",
            "unparsed": f"{counts['unparsed']} of {scored}",
        }
    if task == "tag":
        n = counts["anomalous"]
        bases = {"mIoU": f"mean IoU over {n} anomalous videos ({counts['no_span']} without a span)"}
        for t in metrics.IOU_THRESHOLDS:
            bases[f"R@{t}"] = f"{counts[f'R@{t}']} of {n} with IoU >= {t}"
        bases["normal_accuracy"] = f"{counts['normal_correct']} of {counts['normal']} normal videos answered [-1, -1]"
        return bases
    return {
        "binary_accuracy": f"{counts['binary_correct']} correct of {scored} (normal vs anomaly)",
        "multiclass_accuracy": f"{counts['multiclass_correct']} correct of {scored} ({counts['unparsed']} unparsed)",
    }


_POLICY_NOTE = {
    "error": "every task row has a prediction",
    "skip": "--missing skip: only the predicted rows",
    "wrong": "--missing wrong: missing rows count as wrong / IoU 0",
}


def _duplicates_note(report: dict) -> str:
    """What the `duplicates` line says: which copy was kept, under which --duplicates policy, and how many differ."""
    policy = report["duplicates_policy"]
    kept = "last" if policy == "last" else "first"
    why = "all score the same, " if policy == "error" else ""
    differing = f"; {report['duplicates_differing']} with a different answer" if report["duplicates_differing"] else ""
    return f"duplicate predictions ignored ({why}{kept} kept: --duplicates {policy}{differing})"


def format_table(report: dict) -> str:
    """The human-readable report: counts, then one line per metric (percent, 2 decimals) with its base."""
    fmt = "VAU-R1 CSV" if report["format"] == CSV_FORMAT else "lmms-eval samples"
    lines = [
        f"vau-plugin score: task {report['task']}",
        f"  predictions  {report['predictions']} ({fmt}, {report['entries']} entries)",
        f"  annotations  {report['annotations']}",
        "",
        f"{'rows':<20}{report['rows']:>8}  {report['task']} rows in the annotations",
        f"{'predicted':<20}{report['predicted']:>8}  rows with a prediction",
        f"{'scored':<20}{report['scored']:>8}  {_POLICY_NOTE[report['missing_policy']]}",
        f"{'missing':<20}{report['missing']:>8}  rows without a prediction",
    ]
    extras = [
        ("duplicates", _duplicates_note(report)),
        ("ignored", "predictions for videos the task does not evaluate"),
        ("empty", "empty predictions (counted as missing)"),
        ("video_errors", "responses that are video errors (scored wrong)"),
    ]
    lines += [f"{key:<20}{report[key]:>8}  {note}" for key, note in extras if report[key]]
    lines += ["", f"{'metric':<20}{'value':>8}  over"]
    bases = _bases(report)
    for name in TASK_METRICS[report["task"]]:
        lines.append(f"{name:<20}{_value(report[name]):>8}  {bases[name]}")
    warnings = report["warnings"]
    if warnings:
        lines += ["", f"warnings: {len(warnings)}"]
        lines += [f"  {w}" for w in warnings[:REPORT_WARNINGS]]
        if len(warnings) > REPORT_WARNINGS:
            lines.append(f"  ... and {len(warnings) - REPORT_WARNINGS} more (--json lists all)")
    return "\n".join(lines)


def _json_safe(report: dict) -> dict:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in report.items()}

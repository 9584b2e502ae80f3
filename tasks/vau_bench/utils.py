"""VAU-Bench tasks for lmms-eval: documents, prompts, per-sample scoring and aggregation.

Prompts come from vau_plugin.prompts, parsing from vau_plugin.parsing and metrics from vau_plugin.metrics, so an
answer is scored here exactly as the GRPO rewards score it. lmms-eval runs `process_results` in threads: every
function here is pure (the judge's cache is thread-safe).
"""

import logging
import math
import os
from collections import Counter
from functools import partial

from vau_plugin import metrics, parsing, prompts

# Set by the plugin's model wrapper when a video cannot be decoded (the sample is kept and scored as wrong).
from vau_plugin.lmms import VIDEO_ERROR_PREFIX
from vau_plugin.lmms.docs import task_dataset
from vau_plugin.lmms.judge import judge_sample

# ------------------------------------------------------------------ documents (one per task and subset)
# `process_docs: !function utils.qa_docs` calls these with lmms-eval's stand-in split, which task_dataset ignores.
qa_docs = partial(task_dataset, "qa", "all")
qa_msad_docs = partial(task_dataset, "qa", "msad")
qa_ucf_docs = partial(task_dataset, "qa", "ucf")
qa_ecva_docs = partial(task_dataset, "qa", "ecva")
qa_mini_docs = partial(task_dataset, "qa", "mini")
tag_docs = partial(task_dataset, "tag", "all")
tag_msad_docs = partial(task_dataset, "tag", "msad")
tag_ucf_docs = partial(task_dataset, "tag", "ucf")
tag_ecva_docs = partial(task_dataset, "tag", "ecva")
tag_mini_docs = partial(task_dataset, "tag", "mini")
cls_docs = partial(task_dataset, "cls", "all")
cls_msad_docs = partial(task_dataset, "cls", "msad")
cls_ucf_docs = partial(task_dataset, "cls", "ucf")
cls_ecva_docs = partial(task_dataset, "cls", "ecva")
cls_mini_docs = partial(task_dataset, "cls", "mini")
reason_docs = partial(task_dataset, "reason", "all")
reason_msad_docs = partial(task_dataset, "reason", "msad")
reason_ucf_docs = partial(task_dataset, "reason", "ucf")
reason_ecva_docs = partial(task_dataset, "reason", "ecva")
reason_mini_docs = partial(task_dataset, "reason", "mini")


# ------------------------------------------------------------------ model inputs
def doc_to_visual(doc):
    path = doc["video_path"]
    if not os.path.isfile(path):
        raise FileNotFoundError(f"VAU-Bench video {doc['video']!r} not found at {path}")
    return [path]


def _think(lmms_eval_specific_kwargs):
    return bool((lmms_eval_specific_kwargs or {}).get("think", False))


def _answer_only(lmms_eval_specific_kwargs):
    return bool((lmms_eval_specific_kwargs or {}).get("answer_only", False))


def qa_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    kwargs = lmms_eval_specific_kwargs
    return prompts.qa_prompt(doc["question"], doc["options"], think=_think(kwargs), answer_only=_answer_only(kwargs))


def tag_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return prompts.tag_prompt(think=_think(lmms_eval_specific_kwargs))


def cls_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return prompts.cls_prompt(think=_think(lmms_eval_specific_kwargs))


def reason_doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return prompts.reason_prompt()


def qa_doc_to_target(doc):
    return doc["answer"]


def tag_doc_to_target(doc):
    return str(doc["span"])


def cls_doc_to_target(doc):
    return doc["anomaly_class"]


def reason_doc_to_target(doc):
    return doc["description"]


# ------------------------------------------------------------------ per-sample scoring
def _sample(doc, raw, **fields):
    # lmms-eval 0.7 logs these entries, not the doc: the row it came from goes in too (`vau-plugin score` matches by it)
    video_error = raw.startswith(VIDEO_ERROR_PREFIX)
    where = {key: doc[key] for key in ("split", "file", "row") if key in doc}
    return {"video": doc["video"], "source": doc["source"], **where, "raw": raw, "video_error": video_error, **fields}


def qa_process_results(doc, results):
    raw = results[0] if results else ""
    pred = parsing.parse_choice(raw, doc["options"])
    sample = _sample(doc, raw, pred=pred, gt=doc["answer"], score=float(pred == doc["answer"]))
    return {"accuracy": sample, "unparsed": sample, "video_errors": sample}


def tag_process_results(doc, results):
    raw = results[0] if results else ""
    pred = parsing.parse_span(raw)
    gt = None if doc["is_normal"] else doc["span"]
    sample = _sample(
        doc,
        raw,
        pred=list(pred) if pred else None,
        gt=gt,
        iou=metrics.temporal_iou(pred, gt) if gt is not None else None,
        normal=doc["is_normal"],
    )
    return {name: sample for name in ("mIoU", "R@0.3", "R@0.5", "R@0.7", "normal_accuracy", "video_errors")}


def cls_process_results(doc, results):
    raw = results[0] if results else ""
    pred = parsing.parse_class(raw)
    sample = _sample(doc, raw, pred=pred, gt=doc["anomaly_class"])
    return {"binary_accuracy": sample, "multiclass_accuracy": sample, "video_errors": sample}


def reason_process_results(doc, results):
    raw = results[0] if results else ""
    description, analysis = parsing.split_reasoning(raw)
    if raw.startswith(VIDEO_ERROR_PREFIX):
        description = analysis = ""
    verdict = judge_sample(doc["description"], doc["reasoning"], description, analysis)
    sample = _sample(doc, raw, scores=verdict.scores, total=verdict.total, judge_ok=verdict.ok, judge_error=verdict.error)
    names = [*prompts.JUDGE_SCORE_KEYS, prompts.JUDGE_TOTAL_KEY, "judge_coverage", "judge_failures", "video_errors"]
    return {name: sample for name in names}


# ------------------------------------------------------------------ aggregation (percent, as in the paper)
def aggregate_video_errors(items):
    """Samples whose video could not be decoded (scored as wrong answers): a count, beside every task's metrics."""
    return float(sum(bool(i["video_error"]) for i in items))


def aggregate_accuracy(items):
    return metrics.qa_accuracy([i["pred"] for i in items], [i["gt"] for i in items])


def aggregate_unparsed(items):
    return 100.0 * sum(i["pred"] is None for i in items) / len(items) if items else 0.0


def _grounding(items):
    anomalous = [i for i in items if not i["normal"]]
    return metrics.temporal_grounding([i["pred"] for i in anomalous], [i["gt"] for i in anomalous])


def aggregate_miou(items):
    return _grounding(items)["mIoU"]


def aggregate_r03(items):
    return _grounding(items)["R@0.3"]


def aggregate_r05(items):
    return _grounding(items)["R@0.5"]


def aggregate_r07(items):
    return _grounding(items)["R@0.7"]


def aggregate_normal_accuracy(items):
    """Share of normal videos answered with no anomaly span ([-1, -1]); NaN when the split has none."""
    normal = [i for i in items if i["normal"]]
    if not normal:
        return math.nan
    return 100.0 * sum(parsing.is_normal_span(tuple(i["pred"]) if i["pred"] else None) for i in normal) / len(normal)


def aggregate_binary_accuracy(items):
    return metrics.cls_accuracy([i["pred"] for i in items], [i["gt"] for i in items])["binary"]


def aggregate_multiclass_accuracy(items):
    return metrics.cls_accuracy([i["pred"] for i in items], [i["gt"] for i in items])["multiclass"]


def _judged_mean(items, key):
    """Mean judge score over the samples the judge scored (VAU-Eval averages over evaluated videos only).

    No floor on the coverage: the reference averages over whatever it evaluated, and `judge_coverage` (the
    percent judged) stands beside these means in the table and the results JSON; NaN only when none was judged.
    A judge endpoint that is down no longer lowers the coverage: its circuit breaker fails the run instead.
    """
    values = [i["total"] if key == prompts.JUDGE_TOTAL_KEY else i["scores"][key] for i in items if i["judge_ok"]]
    return sum(values) / len(values) if values else math.nan


def aggregate_classification_score(items):
    return _judged_mean(items, "classification_score")


def aggregate_key_matching_score(items):
    return _judged_mean(items, "key_matching_score")


def aggregate_fluency_score(items):
    return _judged_mean(items, "fluency_score")


def aggregate_informativeness_score(items):
    return _judged_mean(items, "informativeness_score")


def aggregate_factual_score(items):
    return _judged_mean(items, "factual_score")


def aggregate_total_score(items):
    return _judged_mean(items, prompts.JUDGE_TOTAL_KEY)


def aggregate_judge_failures(items):
    return float(sum(not i["judge_ok"] for i in items))


def aggregate_judge_coverage(items):
    """Percent of the samples the judge scored: the share of the task the score means stand for."""
    if not items:
        return math.nan
    judged = sum(bool(i["judge_ok"]) for i in items)
    if judged < len(items):
        kinds = Counter((i["judge_error"] or "unknown").split(": ", 1)[0] for i in items if not i["judge_ok"])
        logging.getLogger("vau_plugin.lmms.judge").warning(
            "vau_bench_reason: the judge scored %d of %d samples (%.1f%%); the scores are means over those only; "
            "not scored: %s", judged, len(items), 100.0 * judged / len(items),
            ", ".join(f"{kind} ×{n}" for kind, n in sorted(kinds.items())))
    return 100.0 * judged / len(items)

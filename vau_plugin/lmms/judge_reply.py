"""Reading the VAU-Eval judge's reply: `parse_judge_reply` (the five 0-10 scores, the judge's own total, its
comments) and `validate_scores` (also what the cache reads back).

The reference (VAU-R1 `src/evaluation/evaluate_reasoning_deepseek.py`) reads five 0-10 scores and a 0-50 total
from a ```json fenced block. Decisions that differ from the reference, and why:
- besides the ```json fence, a bare ``` fence or the first JSON object in the text is accepted; the reply is
  untrusted text and only `json.loads` ever reads it;
- a malformed reply (no JSON, missing keys, a score outside 0-10) is a failure (`JudgeReplyError`, whose text is
  the sample's `JudgeResult.error`).
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Optional

from vau_plugin.prompts import JUDGE_SCORE_KEYS, JUDGE_TOTAL_KEY

__all__ = [
    "JudgeReplyError",
    "parse_judge_reply",
    "validate_scores",
    "optional_number",
    "string_comments",
    "reject_json_constant",
]

SCORE_MIN, SCORE_MAX = 0.0, 10.0
# Bound on untrusted input: the reply text parsed for JSON.
MAX_REPLY_CHARS = 200_000
MAX_JSON_STARTS = 200  # `{` positions tried when looking for the first JSON object in free text


class JudgeReplyError(ValueError):
    """The judge's reply could not be read as VAU-Eval scores; `str()` is the `JudgeResult.error` text."""


def _json_objects(text: str) -> list[dict]:
    """The top-level JSON objects that decode at `{` positions of `text`, in order.

    At most `MAX_JSON_STARTS` positions are tried, and scanning resumes after each decoded object, so cost
    stays bounded on hostile text.
    """
    decoder = json.JSONDecoder(parse_constant=reject_json_constant)
    found = []
    start = text.find("{")
    tried = 0
    while start != -1 and tried < MAX_JSON_STARTS:
        tried += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            value, end = None, start + 1
        if isinstance(value, dict):
            found.append(value)
        start = text.find("{", max(end, start + 1))
    return found


def reject_json_constant(name: str) -> Any:
    """`json` parse_constant hook: NaN and Infinity are never a score (in a reply or a cache entry)."""
    raise ValueError(f"{name} is not a valid score")


def _fenced_blocks(text: str, opener: str) -> list[str]:
    """Contents of the ``` blocks opened by `opener` (e.g. "```json"), found with str.find (linear)."""
    blocks = []
    position = text.find(opener)
    while position != -1:
        body_start = position + len(opener)
        if opener == "```" and text[body_start : body_start + 4].lower() == "json":
            body_start += 4
        end = text.find("```", body_start)
        if end == -1:
            blocks.append(text[body_start:])
            break
        blocks.append(text[body_start:end])
        position = text.find(opener, end + 3)
    return blocks


def _score_value(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise JudgeReplyError(f"score not a number: {key}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise JudgeReplyError(f"score not a number: {key}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JudgeReplyError(f"score not a number: {key}")
    if not SCORE_MIN <= value <= SCORE_MAX:
        raise JudgeReplyError(f"score out of range: {key}={value:g} (expected {SCORE_MIN:g}-{SCORE_MAX:g})")
    return float(value)


def validate_scores(mapping: Mapping[str, Any]) -> dict[str, float]:
    """`validate_scores(mapping) -> {key: float}` for the five `JUDGE_SCORE_KEYS`; raises `JudgeReplyError`."""
    missing = [key for key in JUDGE_SCORE_KEYS if key not in mapping]
    if missing:
        raise JudgeReplyError("missing keys: " + ", ".join(missing))
    return {key: _score_value(key, mapping[key]) for key in JUDGE_SCORE_KEYS}


def optional_number(value: Any) -> Optional[float]:
    """A finite number (or numeric string) as a float, else None: the judge's own total, which is informational."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def string_comments(value: Any) -> Optional[dict[str, str]]:
    """The string values of a comments object, or None when there are none."""
    if not isinstance(value, dict):
        return None
    comments = {str(k): v for k, v in value.items() if isinstance(v, str)}
    return comments or None


def parse_judge_reply(text: str) -> tuple[dict[str, float], Optional[float], Optional[dict[str, str]]]:
    """`parse_judge_reply(text) -> (scores, reported_total, comments)` from a judge reply.

    Looks for the JSON object in a ```json fence (the reference), then in a bare ``` fence, then anywhere in
    the text (at the `{` positions where a JSON object decodes); the first object holding any of the score
    keys wins (else the first object, which then fails as "missing keys"). Only `json.loads` reads the text; NaN and
    Infinity are rejected. Scores may be ints, floats or numeric strings within [0, 10]. Raises
    `JudgeReplyError` ("malformed json", "missing keys: …", "score not a number: …", "score out of range: …").
    """
    if not isinstance(text, str):
        raise JudgeReplyError("malformed json")
    text = text[:MAX_REPLY_CHARS]
    candidates = _fenced_blocks(text, "```json") + _fenced_blocks(text, "```") + [text]
    first: Optional[dict] = None
    for candidate in candidates:
        for obj in _json_objects(candidate):
            if any(key in obj for key in JUDGE_SCORE_KEYS):
                return _read_scores(obj)
            first = first if first is not None else obj
    if first is not None:
        return _read_scores(first)  # an object without any score: reported as "missing keys: ..."
    raise JudgeReplyError("malformed json")


def _read_scores(obj: Mapping[str, Any]) -> tuple[dict[str, float], Optional[float], Optional[dict[str, str]]]:
    return validate_scores(obj), optional_number(obj.get(JUDGE_TOTAL_KEY)), string_comments(obj.get("comments"))


"""Parsing of model outputs: the one place that turns generated text into answers.

Training rewards (`vau_plugin.rewards`) and evaluation metrics (`vau_plugin.metrics`) both call these
functions, so one answer is scored the same way in both places.

Answer layout (VAU-R1): ``<think>…</think><answer>…</answer>``, grounding adds ``<glue>[s, e]</glue>``
after the answer; a normal video is ``<glue>[-1.0, -1.0]</glue>``.

Rules shared by all parsers:

- Every function is total: any input (also ``None`` or a non-string) gives a result, never an exception.
- The answer is the content of the last complete ``<answer>…</answer>``; without one, the text after an
  ``<answer>`` that opens after the last ``</think>`` (anywhere when there is none) and is never closed
  (a generation cut short); without that, the text after the last ``</think>`` (so that reasoning is not
  mistaken for the answer); without that, the whole text. ``<glue>…</glue>`` is read by the same rule.
- Ambiguous text (two different answers stated with equal weight) parses to ``None``.
- Tags are found in any ASCII case (``<ANSWER>``, ``</Think>``), as VAU-R1's own QA evaluator reads them
  (``re.I``); only ASCII letters fold, so look-alikes such as the Kelvin sign do not make a tag. The one
  exception is the format check `is_well_formatted`, whose layout tags must be lower case, exactly as
  VAU-R1's case-sensitive format reward demands (see there).
- Cost is bounded: tags are located by anchored regexes over literal tag text (``(?s:.*)`` then the tag,
  matched once from the start: one backward scan, linear, in C), never on a lower-cased copy (whose
  positions can differ from the text's); other regexes scan at most ``MAX_SCAN_CHARS`` characters (the
  head and the tail of a longer text). No pattern has nested or adjacent unbounded quantifiers over the
  same characters, so none can backtrack catastrophically.
"""

from __future__ import annotations

import math
import re
from typing import Optional, Sequence

from vau_plugin.data.schema import CLASSES, LETTERS, NORMAL_CLASS, canonical_class

# The TAG answers ("Is there any anomaly in the video?") and the span a model gives for a normal video, as in the
# VAU-R1 training prompts: defined with the training targets that carry them (vau_plugin.data.targets).
from vau_plugin.data.targets import ANOMALY, NORMAL, NORMAL_SPAN
from vau_plugin.prompts import REASON_ANALYSIS_HEADING, REASON_DESCRIPTION_HEADING

__all__ = [
    "ANOMALY",
    "NORMAL",
    "NORMAL_SPAN",
    "MAX_SCAN_CHARS",
    "extract_answer",
    "parse_choice",
    "parse_span",
    "parse_class",
    "parse_anomaly",
    "is_well_formatted",
    "coerce_span",
    "is_normal_span",
    "split_reasoning",
]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
GLUE_OPEN, GLUE_CLOSE = "<glue>", "</glue>"

# Longer texts are scanned only at their head and tail (half each): answers sit at one end or the other.
MAX_SCAN_CHARS = 16_384
_HALF_SCAN = MAX_SCAN_CHARS // 2

_LETTER_SET = frozenset(LETTERS)


def _clip(text: str) -> str:
    """`text`, or its head and tail (MAX_SCAN_CHARS / 2 each) when it is longer than MAX_SCAN_CHARS."""
    if len(text) <= MAX_SCAN_CHARS:
        return text
    # NUL matches no token pattern, so nothing can be parsed across the cut.
    return text[:_HALF_SCAN] + "\n\x00\n" + text[-_HALF_SCAN:]


class _Tag:
    """A tag matched in any ASCII case. ASCII-only folding maps each character to one character, so a
    match is exactly len(tag) characters long and its positions are positions in the original text."""

    __slots__ = ("tag", "_last")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        # Matched once, at `pos`: `.*` runs to `endpos` and backs off to the last occurrence; one linear
        # backward scan (never `search`, which would retry the scan from every start: quadratic).
        self._last = re.compile(r"(?s:.*)" + re.escape(tag), re.IGNORECASE | re.ASCII)

    def rfind(self, text: str, start: int = 0, end: Optional[int] = None) -> int:
        """Like `str.rfind`: the start of the last occurrence inside text[start:end], or -1."""
        match = self._last.match(text, start, len(text) if end is None else end)
        return match.end() - len(self.tag) if match else -1


_THINK_CLOSE_TAG = _Tag(THINK_CLOSE)
_ANSWER_TAGS = (_Tag(ANSWER_OPEN), _Tag(ANSWER_CLOSE))
_GLUE_TAGS_ANY_CASE = (_Tag(GLUE_OPEN), _Tag(GLUE_CLOSE))


def _tag_content(text: str, tags: tuple[_Tag, _Tag], think_end: int) -> Optional[str]:
    """The content of the last complete `open…close` pair in `text`; else, when the last `open` tag
    starts after `think_end` (the position of the last ``</think>``, -1 for none) and is never closed,
    the text after it; else None. Tags in any ASCII case."""
    open_tag, close_tag = tags
    close = close_tag.rfind(text)
    if close >= 0:
        start = open_tag.rfind(text, 0, close)
        if start >= 0:
            return text[start + len(open_tag.tag) : close]
    # No complete pair: every close comes before every open, so the last open is never closed.
    start = open_tag.rfind(text)
    if start > think_end:  # also rules out start == -1
        return text[start + len(open_tag.tag) :]
    return None


def extract_answer(text: object) -> str:
    """extract_answer(text) -> str: the model's answer, stripped.

    The content of the last complete ``<answer>…</answer>``; else, when an ``<answer>`` opens after the
    last ``</think>`` (anywhere without one) and is never closed, the text after the last such
    ``<answer>``; else the text after the last ``</think>``; else the whole text. Tags in any ASCII case.
    A non-string gives "".
    """
    if not isinstance(text, str):
        return ""
    think_end = _THINK_CLOSE_TAG.rfind(text)
    content = _tag_content(text, _ANSWER_TAGS, think_end)
    if content is not None:
        return content.strip()
    if think_end >= 0:
        return text[think_end + len(THINK_CLOSE) :].strip()
    return text.strip()


# ---------------------------------------------------------------------------------------------------
# Multiple choice (QA): a letter A-D
# ---------------------------------------------------------------------------------------------------

# The whole answer is one letter, maybe bracketed, quoted, bold or followed by punctuation: "B", "(c)", "D."
_LETTER_ONLY = re.compile(r"[\s\"'*_`(\[{<]*([A-Da-d])[\s\"'*_`)\]}>.:,;!]*")
# An explicit statement: "Answer: D", "The answer is B.", "the correct option is (C)", "choice A".
_EXPLICIT_LETTER = re.compile(
    r"\b(?i:answer|option|choice)"
    r"(?:\s+(?i:is|would\s+be|should\s+be|will\s+be|must\s+be))?"
    r"\s*(?:[:：=]\s*)?[\"'*(\[]{0,3}([A-D]|[a-d](?=[)\]*\"'.!]*\s*$))(?![\w'’-])"
)
# A letter marked as an option label: "(B)", "[C]", "D.", "A)", "C:".
_MARKED_LETTER = re.compile(r"(?<![\w.'’-])(?:[(\[]([A-D])[)\]]|([A-D])[.):](?!\w))")
# A marked letter that starts a line: an option list ("A. …\nB. …") rather than an answer.
_LINE_START_MARKED = re.compile(r"(?m)^[ \t*_`\"'-]*(?:[(\[]([A-D])[)\]]|([A-D])[.):](?!\w))")
# A standalone capital letter; "A" followed by a lower-case word is the article ("A man runs"),
# unless that word is one that follows a letter ("A and B", "A is correct").
_STANDALONE_LETTER = re.compile(
    r"(?<![\w'’-])(?:(A)(?!\s+(?!(?:and|or|nor|but|vs|is|was|seems|fits|matches|because|since|as|then"
    r"|would|should|could|might|must|will)\b)[a-z])|([B-D]))(?![\w'’-])"
)
_NON_WORD_PREFIX = re.compile(r"[\W_]*")
_OPTION_NORMALISE = re.compile(r"[\W_]+")
_OPTION_LABEL = re.compile(r"\s*[(\[]?[A-Da-d][.):\]]\s+")


def _letters(pattern: re.Pattern, text: str) -> list[tuple[int, str]]:
    """(position, letter) for every match of `pattern` (the letter is whichever group matched)."""
    return [(m.start(), m[m.lastindex].upper()) for m in pattern.finditer(text)]


def _normalise_option(text: str) -> str:
    return _OPTION_NORMALISE.sub(" ", text).strip().lower()


def _choice_from_options(answer: str, options: Sequence[object]) -> Optional[str]:
    """The letter of the option whose text equals the answer (case and punctuation ignored), or None."""
    wanted = _normalise_option(_OPTION_LABEL.sub("", answer, count=1))
    if not wanted:
        return None
    if not isinstance(options, (list, tuple)):
        return None
    hits = {
        letter
        for letter, option in zip(LETTERS, options)
        if isinstance(option, str) and _normalise_option(_OPTION_LABEL.sub("", option, count=1)) == wanted
    }
    return hits.pop() if len(hits) == 1 else None


def parse_choice(text: object, options: Optional[Sequence[object]] = None) -> Optional[str]:
    """parse_choice(text, options=None) -> "A" | "B" | "C" | "D" | None: the option letter answered.

    Tried in order on the answer (see `extract_answer`), the first rule that finds letters decides:
    1. the whole answer is one letter ("A", "(b)", "C.", "**D**"; any case);
    2. explicit statements ("Answer: D", "The answer is B. …", "option (C)"; a lower-case letter
       only where it ends the answer, "answer: b", since "the answer is a man…" uses the article);
    3. marked option labels ("(B)", "C. Green trash bin …"); several different ones count only when
       the answer starts with one and no other starts a line (a list of options is ambiguous);
    4. standalone capitals B-D, and A unless it is the article before a lower-case word.
    A rule that finds two different letters gives None (ambiguous). With `options` (the four option
    texts), an answer that repeats exactly one option's text gives that option's letter.
    """
    answer = extract_answer(text)
    if not answer:
        return None
    if len(answer) == 1:
        upper = answer.upper()
        return upper if upper in _LETTER_SET else None
    answer = _clip(answer)
    whole = _LETTER_ONLY.fullmatch(answer)
    if whole:
        return whole.group(1).upper()

    explicit = {letter for _, letter in _letters(_EXPLICIT_LETTER, answer)}
    if explicit:
        return explicit.pop() if len(explicit) == 1 else None

    marked = _letters(_MARKED_LETTER, answer)
    if marked:
        distinct = {letter for _, letter in marked}
        if len(distinct) == 1:
            return distinct.pop()
        first_pos, first_letter = marked[0]
        if first_pos <= _NON_WORD_PREFIX.match(answer).end():  # the answer starts with this label
            line_starts = {letter for _, letter in _letters(_LINE_START_MARKED, answer)}
            if line_starts <= {first_letter}:
                return first_letter
        return None

    standalone = {letter for _, letter in _letters(_STANDALONE_LETTER, answer)}
    if len(standalone) == 1:
        return standalone.pop()
    if not standalone and options is not None:
        return _choice_from_options(answer, options)
    return None


# ---------------------------------------------------------------------------------------------------
# Temporal spans (TAG): [start, end] in seconds
# ---------------------------------------------------------------------------------------------------

# A number: plain or scientific decimal, or a clock time "mm:ss(.f)" / "hh:mm:ss(.f)".
_NUMBER = r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|\d{1,9}(?::\d{1,2}){1,2}(?:\.\d+)?)"
_UNIT = r"(?:(?:seconds|second|secs|sec|s)\b\s*)?"
# One whitespace run between tokens, never two adjacent ones (that would backtrack quadratically).
_SPAN_PATTERN = r"\[\s*(" + _NUMBER + r")\s*" + _UNIT + r",\s*(" + _NUMBER + r")\s*" + _UNIT + r"\]"
_SPAN = re.compile(_SPAN_PATTERN)


def _to_seconds(token: str) -> float:
    """A number token of `_NUMBER` in seconds (clock times are converted); inf for overflowing values."""
    if ":" not in token:
        return float(token)
    sign = -1.0 if token.startswith("-") else 1.0
    seconds = 0.0
    for part in token.lstrip("+-").split(":"):
        seconds = seconds * 60.0 + float(part)
    return sign * seconds


def _checked(start: float, end: float) -> Optional[tuple[float, float]]:
    """(start, end) when it is a valid predicted span, else None.

    Valid: both finite and 0 <= start <= end, or exactly NORMAL_SPAN (-1, -1). A reversed span is
    invalid, as in VAU-R1's `is_valid_single_interval_format` (start > end gets no IoU reward there) and
    in its TAG evaluation (a reversed span has no overlap, IoU 0). start == end is valid (it scores IoU 0).
    """
    if not (math.isfinite(start) and math.isfinite(end)):
        return None
    if 0.0 <= start <= end:
        return (float(start) + 0.0, float(end) + 0.0)  # + 0.0 turns -0.0 into 0.0
    if start == -1.0 and end == -1.0:
        return NORMAL_SPAN
    return None


def _unique_span(text: str) -> Optional[tuple[float, float]]:
    """The one `[s, e]` written in `text` (repeats of the same values allowed), checked; else None."""
    if "[" not in text:
        return None
    match = _SPAN.search(text)
    if match is None:
        return None
    start, end = _to_seconds(match.group(1)), _to_seconds(match.group(2))
    if text.find("[", match.end()) < 0:  # the usual glue: nothing after the one span
        return _checked(start, end)
    for other in _SPAN.finditer(text, match.end()):
        if _to_seconds(other.group(1)) != start or _to_seconds(other.group(2)) != end:
            return None
    return _checked(start, end)


def parse_span(text: object) -> Optional[tuple[float, float]]:
    """parse_span(text) -> (start, end) | None: the predicted anomaly span in seconds.

    From the last complete ``<glue>…</glue>`` when there is one, else from the text after a ``<glue>``
    that opens after the last ``</think>`` (anywhere without one) and is never closed (a glue that holds
    no span, or two different ones, gives None: no fallback to other text); else from a bare ``[s, e]``
    in the answer (see `extract_answer`), which must be the only span written there. Tags in any ASCII
    case. Numbers may be decimals, scientific, or clock times ("01:05.5"), optionally followed by
    "s"/"sec"/"seconds".
    Returns NORMAL_SPAN for ``[-1, -1]`` (a "normal video" answer); None for NaN/inf, negative or
    reversed spans ([e, s] with e > s is invalid, as in VAU-R1), and text without a span.
    """
    if not isinstance(text, str):
        return None
    glue = _tag_content(text, _GLUE_TAGS_ANY_CASE, _THINK_CLOSE_TAG.rfind(text))
    if glue is not None:
        return _unique_span(_clip(glue))
    return _unique_span(_clip(extract_answer(text)))


def _number(value: object) -> Optional[float]:
    """`value` as a float when it is a real number (bool excluded), else None."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def coerce_span(value: object) -> Optional[tuple[float, float]]:
    """coerce_span(value) -> (start, end) | None: a span given as text, a pair of numbers, or None.

    Text goes through `parse_span`; a pair (list, tuple, array) of two numbers is checked by the same
    rules (NORMAL_SPAN kept, NaN/inf, negative and reversed rejected). Anything else gives None.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return parse_span(value)
    try:
        if len(value) != 2:  # type: ignore[arg-type]
            return None
        start, end = _number(value[0]), _number(value[1])  # type: ignore[index]
    except Exception:  # odd containers (a failing __len__/__getitem__) are simply not spans
        return None
    if start is None or end is None:
        return None
    return _checked(start, end)


def is_normal_span(span: Optional[tuple[float, float]]) -> bool:
    """True for NORMAL_SPAN, the span that says "no anomaly"."""
    return span == NORMAL_SPAN


# ---------------------------------------------------------------------------------------------------
# Classification (CLS): one of the 20 VAU-Bench classes
# ---------------------------------------------------------------------------------------------------

_CLASS_BY_SPELLING = {c: c for c in CLASSES}
_DECORATION = " \t\r\n.,;:!?\"'*`()[]{}"


def _class_alternative(name: str) -> str:
    # "Traffic_accident" also matches "traffic accident", "Traffic-Accident", "TrafficAccident".
    return r"[\s_-]*".join(re.escape(word) for word in re.split(r"[\s_-]+", name))


_CLASS_MENTION = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    + "|".join(_class_alternative(c) for c in sorted(CLASSES, key=len, reverse=True))
    + r")(?![A-Za-z0-9])",
    re.IGNORECASE,
)
# What ends a class given as a heading ("Arson. A man sets fire …", "**Fighting**:"); a comma or a
# quote and comma do not, so an echoed option list ("['Abuse', 'Agriculture', …]") stays ambiguous.
_CLASS_HEADING_END = re.compile(r"[ \t*`]*(?:[.:!\n]|$)")
# Enough mentions to see whether an answer names more than one class; more adds nothing.
_MAX_CLASS_MENTIONS = 64


def parse_class(text: object) -> Optional[str]:
    """parse_class(text) -> class | None: one of the 20 VAU-Bench classes (schema.CLASSES spelling).

    The answer (see `extract_answer`) is compared case-, `_`/space- and hyphen-insensitively
    ("<answer> Normal </answer>" and "traffic accident" parse). When it is not exactly a class name,
    the class names mentioned in it (whole words) decide: one class → that class; several → the one
    the answer starts with as a heading ("Arson. A man sets fire …"), else None (also for an echoed
    list of options). Names outside the list ("Absence_of_anomaly") give None.
    """
    answer = extract_answer(text)
    if not answer:
        return None
    exact = _CLASS_BY_SPELLING.get(answer)
    if exact is not None:
        return exact
    if len(answer) <= 64:
        bare = answer.strip(_DECORATION)
        exact = canonical_class(bare)
        if exact is not None:
            return exact
    answer = _clip(answer)
    first: Optional[re.Match] = None
    distinct: set[str] = set()
    for count, match in enumerate(_CLASS_MENTION.finditer(answer)):
        name = canonical_class(match.group())
        if name is None:  # cannot happen: the pattern only matches class names
            continue
        if first is None:
            first = match
        distinct.add(name)
        if count >= _MAX_CLASS_MENTIONS:
            break
    if first is None:
        return None
    name = canonical_class(first.group())
    if len(distinct) == 1:
        return name
    leads = first.start() == _NON_WORD_PREFIX.match(answer).end()
    return name if leads and _CLASS_HEADING_END.match(answer, first.end()) else None


# ---------------------------------------------------------------------------------------------------
# Anomaly yes/no (TAG answer): "Anomaly" or "Normal"
# ---------------------------------------------------------------------------------------------------

_ANOMALY_WORDS = {
    "anomaly": ANOMALY,
    "anomalous": ANOMALY,
    "abnormal": ANOMALY,
    "abnormality": ANOMALY,
    "anomaly detected": ANOMALY,
    "yes": ANOMALY,
    "normal": NORMAL,
    "no": NORMAL,
    "no anomaly": NORMAL,
    "none": NORMAL,
}
_LEADING_YES_NO = re.compile(r"[\W_]*(yes|no)\b", re.IGNORECASE)
# "no anomaly", "not an anomaly", "isn't anomalous", "without any abnormal …": a normal verdict.
_NEGATED_ANOMALY = re.compile(
    r"(?:\b(?:no|not|never|without|nothing|absence\s+of|free\s+of|lack\s+of)|n't)"
    r"\s+(?:(?:an?|any|the|be|is|are|was|seem|appear|obvious|visible|apparent)\s+){0,3}"
    r"(?:anomal|abnormal|unusual)\w*",
    re.IGNORECASE,
)
# "not normal", "isn't normal": an anomaly verdict.
_NEGATED_NORMAL = re.compile(r"(?:\bnot|n't)\s+(?:(?:be|is|was|seem|appear)\s+)?normal\b", re.IGNORECASE)
_ANOMALY_MENTION = re.compile(r"\b(?:anomal|abnormal)\w*", re.IGNORECASE)
_NORMAL_MENTION = re.compile(r"\bnormal\b", re.IGNORECASE)


def parse_anomaly(text: object) -> Optional[str]:
    """parse_anomaly(text) -> "Anomaly" | "Normal" | None: the yes/no verdict of a TAG answer.

    Accepts "Anomaly"/"Normal" (any case), "abnormal", "yes"/"no", a class name (Normal → "Normal",
    any other class → "Anomaly"), and sentences: a leading "Yes"/"No", negations ("no anomaly",
    "not normal") and mentions of "anomaly"/"abnormal"/"normal". Contradicting cues give None.
    """
    answer = extract_answer(text)
    if not answer:
        return None
    if len(answer) <= 64:
        bare = answer.strip(_DECORATION)
        verdict = _ANOMALY_WORDS.get(bare.lower())
        if verdict is not None:
            return verdict
        cls = canonical_class(bare)
        if cls is not None:
            return NORMAL if cls == NORMAL_CLASS else ANOMALY
    answer = _clip(answer).replace("_", " ")  # "Absence_of_anomaly" reads as words
    votes: set[str] = set()
    leading = _LEADING_YES_NO.match(answer)
    if leading:
        votes.add(ANOMALY if leading.group(1).lower() == "yes" else NORMAL)
    answer, negated_anomaly = _NEGATED_ANOMALY.subn(" ", answer)
    if negated_anomaly:
        votes.add(NORMAL)
    answer, negated_normal = _NEGATED_NORMAL.subn(" ", answer)
    if negated_normal:
        votes.add(ANOMALY)
    if _ANOMALY_MENTION.search(answer):
        votes.add(ANOMALY)
    if _NORMAL_MENTION.search(answer):
        votes.add(NORMAL)
    return votes.pop() if len(votes) == 1 else None


# ---------------------------------------------------------------------------------------------------
# Format (VAU-R1 format reward)
# ---------------------------------------------------------------------------------------------------

_FORMAT_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
_GLUE_TAGS = (GLUE_OPEN, GLUE_CLOSE)


def _any_case(name: str) -> str:
    """A pattern for `name` (ASCII letters) in any ASCII case: "think" -> "[tT][hH][iI][nN][kK]"."""
    return "".join(f"[{c.lower()}{c.upper()}]" for c in name)


def _tag_free(*names: str) -> str:
    """A pattern for text holding none of the tags `names` (opening or closing, in any ASCII case): the
    unrolled loop [^<]*(?:<(?!tag)[^<]*)* whose two branches never overlap, so it runs in linear time."""
    tags = "|".join(_any_case(name) for name in names)
    return r"[^<]*(?:<(?!/?(?:" + tags + r")>)[^<]*)*"


_PLAIN_CONTENT = _tag_free("think", "answer")
_GROUNDED_CONTENT = _tag_free("think", "answer", "glue")
_FORMAT = re.compile(r"\s*<think>" + _PLAIN_CONTENT + r"</think>\s*<answer>" + _PLAIN_CONTENT + r"</answer>\s*")
_GROUNDED_FORMAT = re.compile(
    r"\s*<think>" + _GROUNDED_CONTENT + r"</think>\s*<answer>" + _GROUNDED_CONTENT + r"</answer>"
    r"\s*<glue>\s*" + _SPAN_PATTERN + r"\s*</glue>\s*"
)


def _blank(text: str, start: int, end: int) -> bool:
    """True when text[start:end] is empty or whitespace only."""
    return start == end or (start < end and text[start:end].isspace())


# Any of the layout tags in any ASCII case, for counting them in long texts.
_ANY_FORMAT_TAG = re.compile(r"</?(?:think|answer|glue)>", re.IGNORECASE | re.ASCII)


def _well_formatted_long(text: str, require_glue: bool) -> bool:
    """`is_well_formatted` by counting and locating tags: the same rule as the regexes, in time linear
    with a small constant for texts too long for a regex scan."""
    s = text.strip()
    if not s.startswith(THINK_OPEN) or not s.endswith(GLUE_CLOSE if require_glue else ANSWER_CLOSE):
        return False
    counts: dict[str, int] = {}
    for match in _ANY_FORMAT_TAG.finditer(s):
        tag = match.group().lower()
        counts[tag] = counts.get(tag, 0) + 1
        if counts[tag] > 1 and (require_glue or tag not in _GLUE_TAGS):
            return False  # a layout tag twice, in any case
    # Each layout tag exactly once in any case, and that once in lower case (as VAU-R1's regex spells it).
    for tag in _FORMAT_TAGS + _GLUE_TAGS if require_glue else _FORMAT_TAGS:
        if counts.get(tag) != 1 or s.find(tag) < 0:
            return False
    think_close = s.find(THINK_CLOSE)
    answer_open = s.find(ANSWER_OPEN)
    answer_close = s.find(ANSWER_CLOSE)
    if not _blank(s, think_close + len(THINK_CLOSE), answer_open) or answer_close < answer_open:
        return False
    if not require_glue:
        return answer_close + len(ANSWER_CLOSE) == len(s)
    glue_open = s.find(GLUE_OPEN)
    if not _blank(s, answer_close + len(ANSWER_CLOSE), glue_open):
        return False
    content = s[glue_open + len(GLUE_OPEN) : len(s) - len(GLUE_CLOSE)].strip()
    if len(content) > MAX_SCAN_CHARS:
        return False
    match = _SPAN.fullmatch(content)
    return match is not None and _checked(_to_seconds(match.group(1)), _to_seconds(match.group(2))) is not None


def is_well_formatted(text: object, *, require_glue: bool = False) -> bool:
    """is_well_formatted(text, *, require_glue=False) -> bool: the VAU-R1 answer layout.

    The stripped text must be exactly ``<think>…</think>`` then ``<answer>…</answer>`` (whitespace
    allowed between), and with `require_glue` then ``<glue>[s, e]</glue>`` whose content is one valid
    span (as `parse_span` checks it; [-1, -1] allowed, reversed not), as in VAU-R1's grounding format
    reward. Contents may be empty.

    Case: the layout tags must be lower case, as in VAU-R1's format reward (``re.fullmatch`` of
    ``<think>.*?</think>\\s*<answer>.*?</answer>`` without ``re.I`` in src/open_r1/grpo_{qa,cls,gqa}.py):
    the prompts spell them so, and this reward is what teaches that spelling. The parsers read tags in any
    case (so ``<ANSWER>B</ANSWER>`` earns the accuracy reward but not the format reward).

    Stricter than VAU-R1's lazy regex in one way: each of these tags must occur exactly once, counted in
    any case (the case the parsers read them in), so a second answer hidden inside the reasoning or the
    answer does not pass. (Without `require_glue`, glue tags inside the think or answer content are
    allowed, as in VAU-R1.)
    """
    if not isinstance(text, str):
        return False
    if len(text) > MAX_SCAN_CHARS:
        return _well_formatted_long(text, require_glue)
    if not require_glue:
        return _FORMAT.fullmatch(text) is not None
    match = _GROUNDED_FORMAT.fullmatch(text)
    return match is not None and _checked(_to_seconds(match.group(1)), _to_seconds(match.group(2))) is not None


_ANSWER_ONLY_FORMAT = re.compile(r"\s*<answer>" + _PLAIN_CONTENT + r"</answer>\s*")


def is_answer_only(text: object) -> bool:
    """is_answer_only(text) -> bool: the answer-only layout of `vau-plugin prepare --prompt-style answer`.

    The stripped text must be exactly ``<answer>…</answer>``, lower-case tags as in `is_well_formatted`, with no
    think or answer tag (in any case) inside; the content may be empty (the accuracy parsers judge it).

    Example:
        >>> is_answer_only("<answer>B</answer>"), is_answer_only("<think>.</think><answer>B</answer>")
        (True, False)
    """
    if not isinstance(text, str) or len(text) > MAX_SCAN_CHARS:
        return False  # an answer-only completion is a few tokens; a longer text is not one
    return _ANSWER_ONLY_FORMAT.fullmatch(text) is not None


# ---------------------------------------------------------------------------------------------------
# Reasoning (description + analysis in one reply)
# ---------------------------------------------------------------------------------------------------
_REASON_HEADING = re.compile(
    r"(?im)^[ \t#*_>-]*(" + re.escape(REASON_DESCRIPTION_HEADING[:-1]) + "|" + re.escape(REASON_ANALYSIS_HEADING[:-1])
    + r")[ \t*_]*:[ \t*_]*"
)


def _split_on_headings(text: str) -> Optional[tuple[str, str]]:
    """(description, analysis) from the first "Description:" and "Analysis:" headings in `text`; None
    unless both are there."""
    marks: dict[str, int] = {}
    ends: dict[str, int] = {}
    for match in _REASON_HEADING.finditer(text):
        key = match.group(1).lower()
        if key not in marks:
            marks[key] = match.start()
            ends[key] = match.end()
    description_key = REASON_DESCRIPTION_HEADING[:-1].lower()
    analysis_key = REASON_ANALYSIS_HEADING[:-1].lower()
    if description_key not in marks or analysis_key not in marks:
        return None
    if marks[description_key] < marks[analysis_key]:
        description = text[ends[description_key] : marks[analysis_key]]
        analysis = text[ends[analysis_key] :]
    else:
        analysis = text[ends[analysis_key] : marks[description_key]]
        description = text[ends[description_key] :]
    return description.strip(), analysis.strip()


def split_reasoning(text: object) -> tuple[str, str]:
    """split_reasoning(text) -> (description, analysis), from a reply to prompts.REASON_SINGLE_TURN_PROMPT.

    Sections start at lines headed "Description:" / "Analysis:" (any case, markdown decoration allowed);
    the first heading of each kind counts. They are looked for in the answer first (see `extract_answer`:
    a reply that reasons in ``<think>…</think>`` or wraps its parts in ``<answer>…</answer>`` is split on
    the headings of its answer, not on drafts in its reasoning), then in the whole reply. Without the
    headings the whole reply stands for both, so the judge still sees everything the model said. A
    non-string gives ("", "").
    """
    if not isinstance(text, str):
        return "", ""
    for region in (extract_answer(text), text):
        parts = _split_on_headings(_clip(region))
        if parts is not None:
            return parts
    whole = _clip(text).strip()
    return whole, whole

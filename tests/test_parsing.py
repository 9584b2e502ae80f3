"""vau_plugin.parsing: answers, letters, spans, classes, yes/no verdicts and the VAU-R1 layout."""

import csv
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _tag_fragments import TAG_FRAGMENTS
from vau_plugin.data.schema import CLASSES, LETTERS
from vau_plugin.parsing import (
    MAX_SCAN_CHARS,
    NORMAL_SPAN,
    _well_formatted_long,
    coerce_span,
    extract_answer,
    is_normal_span,
    is_well_formatted,
    parse_anomaly,
    parse_choice,
    parse_class,
    parse_span,
    split_reasoning,
)

# ----------------------------------------------------------------------------------------- answers


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>x</think><answer> B </answer>", "B"),
        ("<answer>A</answer> then <answer>B</answer>", "B"),  # the last complete answer
        ("<answer>A</answer><answer>B", "A"),  # an unclosed answer does not count
        ("<answer>x<answer>y</answer>", "y"),
        ("<think>The answer is A</think>  C ", "C"),  # reasoning is not the answer
        ("<think>only reasoning</think>", ""),
        ("  plain text \n", "plain text"),
        ("", ""),
        (None, ""),
        (42, ""),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


# Tags in another case (issue 11): the answer is found whatever case the model writes its tags in, as
# VAU-R1's own QA evaluator does (re.I in `clean_model_answer`). Every expected value differs from what a
# case-sensitive reading gives.
@pytest.mark.parametrize(
    "parse, text, expected",
    [
        (parse_choice, "<THINK>Option A seems unlikely.</THINK><ANSWER>B</ANSWER>", "B"),
        (parse_choice, "<Think>A or D?</Think><Answer>C</Answer> then <answer>B", "C"),  # last complete answer
        (extract_answer, "<THINK>The answer is A</THINK>  C ", "C"),  # reasoning is not the answer
        (extract_answer, "<answer>A</answer> then <ANSWER> B </Answer>", "B"),
        (extract_answer, "<Answer>x<ANSWER>y</answer>", "y"),
        (parse_class, "<THINK>Maybe Arson.</THINK><ANSWER>Fighting</ANSWER>", "Fighting"),
        (parse_anomaly, "<THINK>It looks normal at first.</THINK><ANSWER>Anomaly</ANSWER>", "Anomaly"),
        (parse_span, "<think>x</think><answer>Anomaly</answer><GLUE>[1, 2]</GLUE>", (1.0, 2.0)),
        (parse_span, "<glue>[1, 2]</glue> and later <Glue>[3, 4]</GLUE>", (3.0, 4.0)),  # the last glue
        (parse_span, "<THINK>[1, 2]</THINK><ANSWER>Anomaly</ANSWER>", None),  # a span only in the reasoning
    ],
)
def test_tags_match_in_any_case(parse, text, expected):
    assert parse(text) == expected


def test_tag_case_folding_is_ascii_only():
    # Only ASCII letters fold: the Kelvin sign (U+212A) and the long s (U+017F), which Unicode re.I
    # would fold to "k" and "s", do not make a tag; and positions never shift (no str.lower() copy).
    assert extract_answer("<thin\u212a>x</thin\u212a>C") == "<thin\u212a>x</thin\u212a>C"
    assert extract_answer("<think>x</think><an\u017fwer>D</an\u017fwer>") == "<an\u017fwer>D</an\u017fwer>"
    assert extract_answer("\u0130\u0130<THINK>\u0130</THINK>B") == "B"  # "İ".lower() is two characters


# An unclosed answer (issue 11): when no complete <answer>…</answer> exists, an <answer> opened after the
# last </think> (anywhere without one) gives the text after it, as VAU-R1's evaluators read it.
@pytest.mark.parametrize(
    "parse, text, expected",
    [
        (parse_choice, "<think>x</think><answer>b", "B"),
        (parse_choice, "<THINK>A or B?</THINK><ANSWER> D", "D"),
        (parse_choice, "Maybe A. <answer>C", "C"),  # no </think>: anywhere
        (extract_answer, "<think>x</think><answer>A<answer>B", "B"),  # the last opened answer
        (extract_answer, "<think>say <answer>A</think> B", "B"),  # opened inside the reasoning: not the answer
        (extract_answer, "</answer> <answer>C", "C"),  # a stray close before it closes nothing
        (parse_class, "It could be Arson at first sight.<answer>Fighting", "Fighting"),
        (parse_anomaly, "At first it looked normal.<answer>Anomaly", "Anomaly"),
        (parse_span, "<think>x</think><answer>Anomaly [2, 6]", (2.0, 6.0)),
        # The same rule for an unclosed glue after the answer.
        (parse_span, "<think>x</think><answer>Anomaly</answer><glue>[1.0, 5.0]", (1.0, 5.0)),
        (parse_span, "<think>x</think><answer>[1, 2]</answer><glue>no span", None),  # the glue decides
        (parse_span, "<think>use <glue>[1, 2]</think><answer>Anomaly</answer>", None),  # inside the reasoning
    ],
)
def test_unclosed_answer_and_glue(parse, text, expected):
    assert parse(text) == expected


# --------------------------------------------------- agreement with VAU-R1's own evaluators (oracles)
#
# The reference implementations below are ported from GVCLab/VAU-R1 into this test file only, as oracles:
# `clean_model_answer` from src/evaluation/inference_qa_qwen.py (verbatim), `extract_options` from
# src/evaluation/evaluation_cls.py (BeautifulSoup(response, "html.parser").find("answer").text replaced
# by `_first_answer_text`, the same reading with the stdlib parser BeautifulSoup's html.parser builder
# wraps), `parse_html` from src/evaluation/evaluation_tag.py (verbatim but for the `time_to_seconds`
# clock branch, not needed here). The inputs are ones where their reading is right; where theirs differs
# (e.g. the CLS evaluator ignores "<ANSWER>", the QA one takes the last standalone letter), no test.

import re as _re  # noqa: E402
from html.parser import HTMLParser as _HTMLParser  # noqa: E402

_STANDALONE_OPT_RE = _re.compile(r"(?<![A-Za-z0-9])([A-D])(?![A-Za-z0-9])", _re.I)


def vau_r1_clean_model_answer(text: str) -> str:
    m = _re.search(r"<answer>\s*([A-D])\s*</answer>", text, _re.I)
    if m:
        return m.group(1).upper()

    m = _re.search(r"<\s*([A-D])\s*/?\s*>", text, _re.I)
    if m:
        return m.group(1).upper()

    parts = _re.split(r"</think>", text, flags=_re.I)
    tail = parts[-1] if len(parts) > 1 else ""
    opts_in_tail = _STANDALONE_OPT_RE.findall(tail)
    if opts_in_tail:
        return opts_in_tail[-1].upper()

    opts_all = _STANDALONE_OPT_RE.findall(text)
    if opts_all:
        return opts_all[-1].upper()

    return ""


class _FirstAnswerText(_HTMLParser):
    """The text of the first <answer> element as BeautifulSoup's html.parser tree reads it: an end tag
    closes the nearest open element of its name and everything opened inside it (no such element: ignored),
    an element never closed runs to the end."""

    _VOID = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "param", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.depth, self.found, self.parts = [], None, False, []

    def handle_starttag(self, tag, attrs):
        if tag in self._VOID:
            return
        self.stack.append(tag)
        if tag == "answer" and not self.found:
            self.found, self.depth = True, len(self.stack) - 1

    def handle_endtag(self, tag):
        if tag in self.stack:
            index = len(self.stack) - 1 - self.stack[::-1].index(tag)
            del self.stack[index:]
            if self.depth is not None and index <= self.depth:
                self.depth = None

    def handle_data(self, data):
        if self.depth is not None:
            self.parts.append(data)


def _first_answer_text(response: str):
    parser = _FirstAnswerText()
    parser.feed(response)
    parser.close()
    return "".join(parser.parts) if parser.found else None


_FIXED_OPTION = list(CLASSES)


def _normalize(text: str) -> str:
    return _re.sub(r"[\s_]+", "_", text.strip().lower())


def _build_option_pattern(opts):
    parts = []
    for opt in opts:
        words = map(_re.escape, _re.split(r"[_\s]+", opt))
        parts.append(r"(?:%s)" % r"[_\s]*".join(words))
    return _re.compile(r"\b(" + "|".join(parts) + r")\b", flags=_re.IGNORECASE)


_OPTION_PATTERN = _build_option_pattern(_FIXED_OPTION)
_CANONICAL_BY_NORM = {_normalize(o): o for o in _FIXED_OPTION}


def vau_r1_extract_options(response):
    seen = set()
    ordered_options = []
    if "<answer>" in response:
        answer = _first_answer_text(response)  # soup.find("answer").text
        if answer is not None:
            response = answer
    for m in _OPTION_PATTERN.finditer(response):
        norm = _normalize(m.group(1))
        canonical = _CANONICAL_BY_NORM.get(norm)
        if canonical and canonical not in seen:
            seen.add(canonical)
            ordered_options.append(canonical)
    return ordered_options


def vau_r1_parse_html(response: str) -> dict:
    glue = _re.search(r"<glue>(.*?)</glue>", response)
    if not glue:
        glue = _re.search(r"\[(.*?)\]", response)
        if not glue:
            return {"start time": 0.0, "end time": 0.0}
    time_str = glue.group(1)
    time_str = _re.sub(r"[^0-9:.,-]", "", time_str)
    if len(time_str.split(",")) != 2:
        return {"start time": 0.0, "end time": 0.0}
    st_, ed = time_str.split(",")
    return {"start time": float(st_), "end time": float(ed)}


@pytest.mark.parametrize(
    "text",
    [
        "<THINK>Option A seems unlikely.</THINK><ANSWER>B</ANSWER>",
        "<think>x</think><answer>b",
        "<think>A or B? Not A.</think><answer>C</answer>",
        "<Think>Hmm, A?</Think><Answer>(D)</Answer>",
        "<think>I considered B.</think>\nD",
        "<answer> C </answer>",
        "<THINK>B looks wrong.</THINK><answer>A",
        "B",
    ],
)
def test_parse_choice_agrees_with_vau_r1_qa_evaluator(text):
    assert parse_choice(text) == vau_r1_clean_model_answer(text)


@pytest.mark.parametrize(
    "text",
    [
        "<think>Could be Robbery or Stealing.</think><answer>Stealing</answer>",
        "<think>Maybe arson.</think><answer>Fighting",
        "It could be Arson at first sight.<answer>Fighting",
        "<answer> traffic accident </answer>",
        "<think>x</think><answer>People_falling</answer>",
        "<answer>Normal</answer>",
        "<think>A fire?</think><answer> Explosion",
    ],
)
def test_parse_class_agrees_with_vau_r1_cls_evaluator(text):
    options = vau_r1_extract_options(text)
    assert options, text
    assert parse_class(text) == options[0]


@pytest.mark.parametrize(
    "text",
    [
        "<think>x</think><answer>Anomaly</answer><glue>[3.6, 7.8]</glue>",
        "<think>x</think><answer>Anomaly</answer><glue>[1.0, 5.0]",  # unclosed glue
        "<glue>[0.0, 3.8]</glue>",
        "The anomaly happens in [2, 6] seconds.",
    ],
)
def test_parse_span_agrees_with_vau_r1_tag_evaluator(text):
    theirs = vau_r1_parse_html(text)
    assert parse_span(text) == (theirs["start time"], theirs["end time"])


# ----------------------------------------------------------------------------------------- choices


@pytest.mark.parametrize(
    "text, expected",
    [
        ("A", "A"),
        ("b", "B"),
        (" C ", "C"),
        ("(B)", "B"),
        ("[D]", "D"),
        ("C.", "C"),
        ("**D**", "D"),
        ("<answer>A</answer>", "A"),
        ("<think>A or B? Not A.</think><answer>C</answer>", "C"),
        ("Answer: D", "D"),
        ("answer: b", "B"),
        ("The answer is B. Because the man runs away.", "B"),
        ("The correct option is (C).", "C"),
        ("Best answer: A", "A"),
        ("B. Green trash bin", "B"),
        ("D. Green trash bin with a black bag", "D"),  # VAU-Bench's option-text form of Correct Option
        ("(C) a man falls off a ladder", "C"),
        ("C. The man stands near block D.", "C"),  # starts with its label; D is not a line start
        ("I think B", "B"),
        ("A is correct", "A"),
        ("<think>maybe</think>The answer is A.", "A"),
    ],
)
def test_parse_choice(text, expected):
    assert parse_choice(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "A man walks into a bank",  # the article, not an option
        "A and B",  # two standalone letters
        "The answer is A. No, the answer is B.",  # two explicit answers
        "A. a man runs\nB. a car stops",  # a list of options, not an answer
        "Answer: E",
        "E",
        "no idea",
        "",
        "<answer></answer>",
        "<think>B</think>",  # an answer only inside the reasoning
        None,
        3.5,
        ["A"],
    ],
)
def test_parse_choice_rejects_missing_or_ambiguous(text):
    assert parse_choice(text) is None


def test_parse_choice_maps_option_text_when_options_are_given():
    options = ["A person falls", "Green trash bin", "A red car", "Nothing happens"]
    assert parse_choice("<answer>green trash bin.</answer>", options) == "B"
    assert parse_choice("C. A red car", options) == "C"  # the letter wins
    assert parse_choice("a blue car", options) is None
    assert parse_choice("Green trash bin") is None  # no options, no letter
    assert parse_choice("Green trash bin", options=5) is None  # not a list of options


# ------------------------------------------------------------------------------------------- spans


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<glue>[0.0, 3.8]</glue>", (0.0, 3.8)),
        ("<think>x</think><answer>Anomaly</answer><glue>[3.6, 7.8]</glue>", (3.6, 7.8)),
        ("<glue>[-1.0, -1.0]</glue>", NORMAL_SPAN),
        ("<glue>[-1, -1]</glue>", NORMAL_SPAN),
        ("<answer>[1.5, 4]</answer>", (1.5, 4.0)),
        ("The anomaly happens in [2, 6] seconds.", (2.0, 6.0)),
        ("<glue>[1, 2]</glue> and later <glue>[3, 4]</glue>", (3.0, 4.0)),  # the last glue
        ("<glue>[+1, 2e1]</glue>", (1.0, 20.0)),
        ("<glue>[.5, 1.]</glue>", (0.5, 1.0)),
        ("<glue>[01:00, 01:30.5]</glue>", (60.0, 90.5)),
        ("<glue>[0:01:05, 0:02:00]</glue>", (65.0, 120.0)),
        ("<glue>[3s, 5 seconds]</glue>", (3.0, 5.0)),
        ("<glue> [ 3 ,\n 5 ] </glue>", (3.0, 5.0)),
        ("<glue>[5, 5]</glue>", (5.0, 5.0)),  # zero length is a span (it scores IoU 0)
        ("<glue>[-0.0, 1]</glue>", (0.0, 1.0)),
        ("[1, 2] and again [1, 2]", (1.0, 2.0)),  # the same span repeated is not ambiguous
        ("<glue>the anomaly is at [2, 4]</glue>", (2.0, 4.0)),
        ("<glue>[0.0, 3.8]", (0.0, 3.8)),  # an unclosed glue leaves a bare span
    ],
)
def test_parse_span(text, expected):
    assert parse_span(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<glue>[5.0, 2.0]</glue>",  # reversed: invalid, as in VAU-R1's format check
        "<glue>[nan, 2]</glue>",
        "<glue>[1, inf]</glue>",
        "<glue>[1e999, 2e999]</glue>",  # overflows to inf
        "<glue>[-2, 3]</glue>",
        "<glue>[-1, 3]</glue>",
        "<glue>[-1, -2]</glue>",
        "<glue></glue>",
        "<glue>no anomaly</glue> [1, 2]",  # a glue without a span: no fallback to other text
        "<glue>[1, 2], [3, 4]</glue>",  # two intervals
        "[1, 2] or [3, 4]",
        "<think>[1, 2]</think><answer>Anomaly</answer>",  # a span only in the reasoning
        "<glue>(1, 2)</glue>",
        "<glue>[1 - 2]</glue>",
        "<glue>[a, b]</glue>",
        "Anomaly",
        "",
        None,
        [1.0, 2.0],
    ],
)
def test_parse_span_rejects(text):
    assert parse_span(text) is None


@pytest.mark.parametrize(
    "value, expected",
    [
        ((1, 2), (1.0, 2.0)),
        ([0.5, 0.5], (0.5, 0.5)),
        ([-1, -1], NORMAL_SPAN),
        ("<glue>[1, 2]</glue>", (1.0, 2.0)),
        ([2, 1], None),
        ([float("nan"), 1], None),
        ([1, float("inf")], None),
        ([True, 2], None),
        (["1", "2"], (1.0, 2.0)),
        ([1, 2, 3], None),
        ([1], None),
        (None, None),
        (5, None),
        ({"start": 1, "end": 2}, None),
    ],
)
def test_coerce_span(value, expected):
    assert coerce_span(value) == expected


def test_is_normal_span():
    assert is_normal_span(NORMAL_SPAN) and is_normal_span((-1.0, -1.0))
    assert not is_normal_span(None) and not is_normal_span((0.0, 0.0))


# ----------------------------------------------------------------------------------------- classes


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Normal", "Normal"),
        ("<answer> Normal </answer>", "Normal"),
        ("<answer>People_falling</answer>", "People_falling"),
        ("people falling", "People_falling"),
        ("TRAFFIC_ACCIDENT", "Traffic_accident"),
        ("Traffic-Accident", "Traffic_accident"),
        ("trafficaccident", "Traffic_accident"),
        ("food_safety", "Food Safety"),
        ("Medical abnormality.", "Medical Abnormality"),
        ('"Water incident"', "Water_incident"),
        ("The anomaly in the video is Fighting.", "Fighting"),
        ("Arson. A man sets fire to a car.", "Arson"),  # several classes: the one the answer starts with
        ("**Fighting**: two men assault each other", "Fighting"),
        ("Robbery\nThe man is stealing a bag", "Robbery"),
        ("<think>Could be Robbery or Stealing.</think><answer>Stealing</answer>", "Stealing"),
    ],
)
def test_parse_class(text, expected):
    assert parse_class(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "<answer>Absence_of_anomaly</answer>",  # not one of the 20 classes (a real model output)
        "Abnormal",  # contains "normal" but is not the class
        "Fired",
        "gunfire",
        "There is fire and possibly arson",  # two classes, neither leads
        "Robbery, Stealing",  # a list, not a heading
        "['Abuse', 'Agriculture', 'Arrest', 'Normal']",  # the prompt's option list echoed
        "anomaly",
        "",
        None,
        {"class": "Normal"},
    ],
)
def test_parse_class_rejects(text):
    assert parse_class(text) is None


def test_parse_class_accepts_every_class_in_every_spelling():
    for name in CLASSES:
        for variant in (name, name.lower(), name.upper(), name.replace("_", " "), name.replace(" ", "_")):
            assert parse_class(f"<answer> {variant} </answer>") == name


# ---------------------------------------------------------------------------------- anomaly yes/no


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Anomaly", "Anomaly"),
        ("<answer>ANOMALY</answer><glue>[1, 2]</glue>", "Anomaly"),
        ("<answer>Normal</answer><glue>[-1.0, -1.0]</glue>", "Normal"),
        ("abnormal", "Anomaly"),
        ("Yes", "Anomaly"),
        ("no.", "Normal"),
        ("Yes, there is an anomaly: a man falls.", "Anomaly"),
        ("No, nothing unusual happens.", "Normal"),
        ("There is no anomaly in this video.", "Normal"),
        ("There are no obvious anomalies.", "Normal"),
        ("Absence_of_anomaly", "Normal"),
        ("The video appears normal.", "Normal"),
        ("The scene is not normal.", "Anomaly"),
        ("The behaviour is abnormal.", "Anomaly"),
        ("Fighting", "Anomaly"),  # a class name answers the question too
        ("Traffic accident", "Anomaly"),
    ],
)
def test_parse_anomaly(text, expected):
    assert parse_anomaly(text) == expected


@pytest.mark.parametrize(
    "text",
    ["It starts normal, then an anomaly occurs.", "No, there is an anomaly.", "maybe", "A", "", None, 1],
)
def test_parse_anomaly_rejects_contradictions_and_non_answers(text):
    assert parse_anomaly(text) is None


# ------------------------------------------------------------------------------------------ format


@pytest.mark.parametrize(
    "text, require_glue, expected",
    [
        ("<think>x</think><answer>A</answer>", False, True),
        ("  <think>x\ny</think> \n <answer> A </answer>\n", False, True),
        ("<think></think><answer></answer>", False, True),  # empty contents, as VAU-R1's regex allows
        ("<think>x</think><answer>Anomaly <glue>[1, 2]</glue></answer>", False, True),
        ("<answer>A</answer>", False, False),
        ("<think>x</think>", False, False),
        ("<think>x</think>text<answer>A</answer>", False, False),
        ("<think>x</think><answer>A</answer> trailing", False, False),
        ("<think>x</think><answer>A</answer><answer>B</answer>", False, False),
        ("<think>x <answer>B</answer></think><answer>A</answer>", False, False),
        ("<think>x</think><think>y</think><answer>A</answer>", False, False),
        ("<answer>A</answer><think>x</think>", False, False),
        ("<think>x</think><answer>A</answer><glue>[1, 2]</glue>", False, False),  # glue not asked for
        ("<Think>x</Think><answer>A</answer>", False, False),
        ("<THINK>x</THINK><ANSWER>A</ANSWER>", False, False),  # VAU-R1's format regex is case-sensitive
        ("<think>x</think><answer>B <ANSWER>C</ANSWER></answer>", False, False),  # a second answer inside
        ("<think>x <ANSWER>B</ANSWER></think><answer>A</answer>", False, False),
        ("<think>x</Think></think><answer>A</answer>", False, False),
        ("<think>x</think><answer>Anomaly</answer><GLUE>[1, 2]</GLUE>", True, False),
        ("<think>x</think><answer>Anomaly <Glue>[1, 2]</Glue></answer>", False, True),  # glue allowed inside
        ("<think><GLUE>[1, 2]</GLUE></think><answer>Anomaly</answer><glue>[1, 2]</glue>", True, False),
        ("<think>x</think><answer>Anomaly</answer><glue>[1.0, 2.5]</glue>", True, True),
        ("<think>x</think> <answer>Normal</answer>\n<glue> [-1.0, -1.0] </glue>", True, True),
        ("<think>x</think><answer>Anomaly</answer><glue>[01:00, 01:30]</glue>", True, True),
        ("<think>x</think><answer>Anomaly</answer>", True, False),
        ("<think>x</think><answer>Anomaly</answer><glue>[5, 2]</glue>", True, False),
        ("<think>x</think><answer>Anomaly</answer><glue>[nan, 2]</glue>", True, False),
        ("<think>x</think><answer>Anomaly</answer><glue>from [1, 2]</glue>", True, False),
        ("<think>x</think><answer>Anomaly</answer><glue>[1, 2]</glue><glue>[1, 2]</glue>", True, False),
        ("<think><glue>[1, 2]</glue></think><answer>Anomaly</answer><glue>[1, 2]</glue>", True, False),
        ("<think>x</think><glue>[1, 2]</glue><answer>Anomaly</answer>", True, False),
        (None, False, False),
        (b"<think>x</think><answer>A</answer>", False, False),
    ],
)
def test_is_well_formatted(text, require_glue, expected):
    assert is_well_formatted(text, require_glue=require_glue) is expected


def test_long_texts_use_the_same_format_rule():
    padding = "x" * (MAX_SCAN_CHARS + 10)
    assert is_well_formatted(f"<think>{padding}</think><answer>A</answer>")
    assert is_well_formatted(f"<think>{padding}</think><answer>A</answer><glue>[1, 2]</glue>", require_glue=True)
    assert not is_well_formatted(f"<think>{padding}</think><answer>A</answer><glue>[2, 1]</glue>", require_glue=True)
    assert not is_well_formatted(f"<think>{padding}<answer>B</answer></think><answer>A</answer>")
    assert not is_well_formatted(f"<think>{padding}<ANSWER>B</ANSWER></think><answer>A</answer>")
    assert not is_well_formatted(f"<THINK>{padding}</THINK><ANSWER>A</ANSWER>")
    assert not is_well_formatted(f"<think>{padding}</think><answer>A</answer><GLUE>[1, 2]</GLUE>", require_glue=True)


_FRAGMENTS = st.sampled_from(
    TAG_FRAGMENTS
    + [
        "[1, 2]",
        "[2, 1]",
        "[-1, -1]",
        "[nan, 1]",
        " ",
        "\n",
        "A",
        "x",
        "<",
        ">",
        "/",
        "[",
        "]",
        ",",
        "1",
        "\u2028",
        "\x1c",
    ]
)
_TAGGY_TEXT = st.lists(_FRAGMENTS | st.text(max_size=4), max_size=14).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TAGGY_TEXT, st.booleans())
def test_format_regex_and_long_text_rule_agree(text, require_glue):
    assert is_well_formatted(text, require_glue=require_glue) == _well_formatted_long(text, require_glue)


# ---------------------------------------------------------------------------------------- reasoning


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Description: a man walks.\nAnalysis: he falls.", ("a man walks.", "he falls.")),
        ("**DESCRIPTION**: a man walks.\n## analysis: he falls.", ("a man walks.", "he falls.")),
        ("Analysis: he falls.\nDescription: a man walks.", ("a man walks.", "he falls.")),
        ("no headings here", ("no headings here", "no headings here")),
        (None, ("", "")),
        # Issue 11 sibling: drafts inside the reasoning are not the reply's sections; tags in any case.
        (
            "<think>Description: draft\nAnalysis: draft</think>\nDescription: a man walks.\nAnalysis: he falls.",
            ("a man walks.", "he falls."),
        ),
        (
            "<THINK>Description: draft</THINK><ANSWER>Description: a man walks.\nAnalysis: he falls.</ANSWER>",
            ("a man walks.", "he falls."),
        ),
        # Headings only inside the reasoning: the whole reply is still split.
        ("<think>\nDescription: a man walks.\nAnalysis: he falls.</think>", ("a man walks.", "he falls.</think>")),
    ],
)
def test_split_reasoning(text, expected):
    assert split_reasoning(text) == expected


# ------------------------------------------------------------------------ real model outputs (CSV)


def _read(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_real_qa_predictions_are_bare_letters(shared_vau_bench):
    rows = _read(shared_vau_bench / "predictions" / "qa_qwen2.5-vl-3b_msad_no_think.csv")
    assert [parse_choice(r["QA answer"]) for r in rows] == list("ABABBAAACAAAD")


def test_real_cls_predictions(shared_vau_bench):
    rows = _read(shared_vau_bench / "predictions" / "cls_qwen2.5-vl-3b_msad_no_think.csv")
    parsed = {r["Video Name"]: parse_class(r["CLS answer"]) for r in rows}
    assert parsed["Assault_2.mp4"] == "Normal"  # "<answer> Normal </answer>"
    assert parsed["Assault_8.mp4"] == "People_falling"
    assert parsed["Assault_13.mp4"] is None  # "Absence_of_anomaly" is no class
    assert parsed["Explosion_11.mp4"] == "People_falling"  # "<answer> People_falling </answer>"
    assert sum(v is None for v in parsed.values()) == 1
    rows_2b = _read(shared_vau_bench / "predictions" / "cls_qwen2-vl-2b_msad_no_think.csv")
    assert all(parse_class(r["CLS answer"]) in CLASSES for r in rows_2b)


def test_real_tag_predictions(shared_vau_bench):
    rows = _read(shared_vau_bench / "predictions" / "tag_qwen2.5-vl-3b_msad_no_think.csv")
    spans = [parse_span(r["Temporal Grounding"]) for r in rows]
    assert spans == [(0.0, 3.8), (0.0, 3.9), (0.0, 13.8), (3.6, 7.8), (0.0, 3.6)]
    # Zero-shot outputs give the span alone: no think/answer layout.
    assert not any(is_well_formatted(r["Temporal Grounding"], require_glue=True) for r in rows)


def test_real_reasoning_and_ground_truth_text_never_break_the_parsers(shared_vau_bench):
    rows = _read(shared_vau_bench / "predictions" / "reasoning_qwen2.5-vl-3b_msad.csv")
    rows += _read(shared_vau_bench / "test_msad.csv")[:60]
    for row in rows:
        for value in row.values():
            assert parse_choice(value) in (None, *LETTERS)
            assert parse_class(value) in (None, *CLASSES)
            assert parse_anomaly(value) in (None, "Anomaly", "Normal")
            span = parse_span(value)
            assert span is None or span == NORMAL_SPAN or 0 <= span[0] <= span[1]


def test_ground_truth_correct_options_all_resolve(shared_vau_bench):
    for name in ("test_msad.csv", "test_ecva.csv"):
        for row in _read(shared_vau_bench / name):
            option = row["Correct Option"].strip()
            if option and option != "-1":
                assert parse_choice(option) in LETTERS, (name, option)


# ------------------------------------------------------------------------------ properties, limits


def _check_outputs(text):
    assert parse_choice(text) in (None, *LETTERS)
    assert parse_class(text) in (None, *CLASSES)
    assert parse_anomaly(text) in (None, "Anomaly", "Normal")
    assert isinstance(extract_answer(text), str)
    span = parse_span(text)
    if span is not None:
        assert all(math.isfinite(v) for v in span)
        assert span == NORMAL_SPAN or 0.0 <= span[0] <= span[1]
    for glue in (False, True):
        assert isinstance(is_well_formatted(text, require_glue=glue), bool)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_unicode_never_breaks_the_parsers(text):
    _check_outputs(text)


@settings(max_examples=300, deadline=None)
@given(_TAGGY_TEXT)
def test_nested_and_unclosed_tags_never_break_the_parsers(text):
    _check_outputs(text)


_ODD_NUMBERS = st.sampled_from(["nan", "inf", "-inf", "1e999", "-1", "-0.0", "1e-320", "00:61", "9" * 400])


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True) | _ODD_NUMBERS, st.floats(allow_nan=True) | _ODD_NUMBERS)
def test_any_numbers_give_a_valid_span_or_none(start, end):
    for text in (f"<glue>[{start}, {end}]</glue>", f"[{start}, {end}]"):
        span = parse_span(text)
        assert span is None or span == NORMAL_SPAN or (math.isfinite(span[1]) and 0.0 <= span[0] <= span[1])
    if isinstance(start, float) and isinstance(end, float) and math.isfinite(start) and math.isfinite(end):
        if 0 <= start <= end:
            assert parse_span(f"<glue>[{start!r}, {end!r}]</glue>") == (start + 0.0, end + 0.0)
        elif start > end >= 0:
            assert parse_span(f"<glue>[{start!r}, {end!r}]</glue>") is None  # reversed


_MB = 1_000_000
_ADVERSARIAL = {
    "open answer tags": "<answer>" * (_MB // 8),
    "close answer tags": "</answer>" * (_MB // 9),
    "unclosed think of <": "<think>" + "<" * _MB,
    "bracket and spaces": "[" + " " * _MB,
    "number and spaces": "[1" + " " * _MB + "x",
    "answer and spaces": "answer" + " " * _MB + "x",
    "many articles": "A " * (_MB // 2),
    "newlines": "\n" * _MB,
    "open spans": "[1," * (_MB // 3),
    "a huge number": "[" + "1" * _MB + ", 2]",
    "glue of brackets": "<glue>" + "[" * _MB + "</glue>",
    "class and spaces": "Traffic" + " " * _MB + "x",
    "valid but huge": "<think>" + "x" * _MB + "</think><answer>B</answer><glue>[1, 2]</glue>",
    "nested tags": "<think><answer><think><glue>" * (_MB // 28) + "</answer>",
    "unicode": "ß€😀\u2028" * (_MB // 4),
    "option labels": "A. B. C. D. " * (_MB // 12),
    "repeated span": "[1.0, 2.0] " * (_MB // 11),
    "negations": "not " * (_MB // 4) + "normal",
    "space between tags": "<think>x</think>" + " " * _MB + "<answer>A</answer>",
    "upper-case open answer tags": "<ANSWER>" * (_MB // 8),
    "mixed-case close tags": "</Answer></THINK></gLuE>" * (_MB // 25),
    "almost tags": "<answe</thin<glu" * (_MB // 16),
    "unclosed answer then text": "<think>x</think><answer>" + "B " * (_MB // 2),
    "upper-case valid but huge": "<THINK>" + "x" * _MB + "</THINK><ANSWER>B</ANSWER><GLUE>[1, 2]</GLUE>",
}


@pytest.mark.parametrize("name", sorted(_ADVERSARIAL))
def test_megabyte_inputs_stay_fast(name):
    text = _ADVERSARIAL[name]
    for parse in (parse_choice, parse_span, parse_class, parse_anomaly, extract_answer, is_well_formatted):
        started = time.perf_counter()
        parse(text)
        elapsed = time.perf_counter() - started
        assert elapsed < 0.5, f"{parse.__name__} took {elapsed:.3f}s on {name}"
    started = time.perf_counter()
    is_well_formatted(text, require_glue=True)
    assert time.perf_counter() - started < 0.5


def test_huge_texts_are_scanned_at_head_and_tail():
    filler = "x " * _MB
    assert parse_choice(f"The answer is B. {filler}") == "B"
    assert parse_choice(f"{filler} The answer is C.") == "C"
    assert parse_span(f"<glue>[1, 2]</glue>{filler}") == (1.0, 2.0)
    assert parse_class(f"{filler} Robbery") == "Robbery"
    assert is_well_formatted("<think>" + filler + "</think><answer>A</answer>")

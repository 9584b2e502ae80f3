"""vau_plugin.rewards: VAU-R1's format, accuracy and temporal-IoU rewards with TRL's signature, and the registry of
their names."""

import csv
import doctest
import inspect
import pickle
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _tag_fragments import TAG_FRAGMENTS
from vau_plugin import rewards
from vau_plugin.metrics import cls_accuracy, qa_accuracy, temporal_grounding, temporal_iou
from vau_plugin.parsing import parse_span
from vau_plugin.rewards import (
    REWARD_ALIASES,
    REWARD_FUNCS,
    FormatReward,
    accuracy_reward,
    completion_text,
    format_reward,
    get_reward_func,
    tiou_reward,
)

THINK = "<think>A man walks, then a car hits him.</think>"
QA_RIGHT = THINK + "<answer>B</answer>"
TAG_RIGHT = THINK + "<answer>Anomaly</answer><glue>[3.0, 7.5]</glue>"
CLS_RIGHT = THINK + "<answer>Traffic_accident</answer>"


def _message(text):
    return [{"role": "assistant", "content": text}]


# ------------------------------------------------------------------------------------- completions


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("plain", "plain"),
        (_message("msg"), "msg"),
        ([{"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "ab"),
        ([{"role": "assistant", "content": [{"type": "image"}, {"type": "text", "text": "t"}]}], "t"),
        ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "a"),
        ([{"content": "no role"}], "no role"),
        ({"role": "assistant", "content": "one message"}, "one message"),
        ([{"role": "assistant", "content": None}], ""),
        (None, ""),
        (42, ""),
        ([1, 2], ""),
        ([], ""),
    ],
)
def test_completion_text(completion, expected):
    assert completion_text(completion) == expected


# ------------------------------------------------------------------------------------------ format


def test_format_reward_requires_glue_for_tag_samples_only():
    completions = [QA_RIGHT, TAG_RIGHT, THINK + "<answer>Anomaly</answer>", QA_RIGHT + "<glue>[1, 2]</glue>", "B"]
    tasks = ["qa", "tag", "tag", "qa", "qa"]
    assert format_reward(completions, task=tasks) == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_format_reward_reads_conversational_completions():
    assert format_reward([_message(QA_RIGHT), _message("nope")], task=["qa", "qa"]) == [1.0, 0.0]


def test_format_reward_with_a_glue_rule_of_its_own():
    forced, never = FormatReward(require_glue=True), FormatReward(require_glue=False)
    assert forced.__name__ == never.__name__ == "format_reward"
    assert forced([QA_RIGHT, TAG_RIGHT], task=["qa", "qa"]) == [0.0, 1.0]
    assert never([QA_RIGHT, TAG_RIGHT], task=["tag", "tag"]) == [1.0, 0.0]


def test_format_reward_rejects_reversed_glue():
    assert format_reward([THINK + "<answer>Anomaly</answer><glue>[7.5, 3.0]</glue>"], task=["tag"]) == [0.0]


# Issue 11: tags in another case and unclosed tags. The parsers read them, so accuracy and IoU score them
# as VAU-R1's evaluators do; the format reward stays case-sensitive and wants closed tags, as VAU-R1's
# format reward does (its regex has no re.I), so such completions never earn it.
_UPPER_QA = "<THINK>Option A seems unlikely.</THINK><ANSWER>B</ANSWER>"
_CUT_QA = THINK + "<answer>b"
_UPPER_TAG = "<THINK>It looked normal at first.</THINK><ANSWER>Anomaly</ANSWER><GLUE>[3.0, 7.5]</GLUE>"
_CUT_TAG = THINK + "<answer>Anomaly</answer><glue>[3.0, 7.5]"
_UPPER_CLS = "<THINK>Maybe Arson.</THINK><ANSWER>Fighting</ANSWER>"
_CUT_CLS = "It could be Arson at first.<answer>Fighting"


@pytest.mark.parametrize(
    "completion, task, answer, span",
    [
        (_UPPER_QA, "qa", "B", None),
        (_CUT_QA, "qa", "B", None),
        (_UPPER_TAG, "tag", "Anomaly", [3.0, 7.5]),
        (_CUT_TAG, "tag", "Anomaly", [3.0, 7.5]),
        (_UPPER_CLS, "cls", "Fighting", None),
        (_CUT_CLS, "cls", "Fighting", None),
    ],
)
def test_other_case_and_unclosed_tags_score_accuracy_but_not_format(completion, task, answer, span):
    columns = {"task": [task], "answer": [answer], "span": [span]}
    assert accuracy_reward([completion], **columns) == [1.0]
    assert format_reward([completion], **columns) == [0.0]
    assert tiou_reward([completion], **columns) == [1.0 if task == "tag" else 0.0]


def test_other_case_and_unclosed_tags_score_the_same_in_metrics():
    assert qa_accuracy([_UPPER_QA, _CUT_QA], ["B", "B"]) == 100.0
    assert cls_accuracy([_UPPER_CLS, _CUT_CLS], ["Fighting", "Fighting"])["multiclass"] == 100.0
    assert temporal_grounding([_UPPER_TAG, _CUT_TAG], [[3.0, 7.5], [3.0, 7.5]])["mIoU"] == pytest.approx(100.0)


# ---------------------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize(
    "completion, task, answer, expected",
    [
        (QA_RIGHT, "qa", "B", 1.0),
        (QA_RIGHT, "qa", "A", 0.0),
        (QA_RIGHT, "QA", "B", 1.0),
        ("The answer is (b).", "qa", "B", 1.0),
        (THINK + "<answer>B</answer>", "qa", "B. Green trash bin", 1.0),  # option-text ground truth
        (THINK + "<answer>A and B</answer>", "qa", "A", 0.0),  # ambiguous
        (TAG_RIGHT, "tag", "Anomaly", 1.0),
        (TAG_RIGHT, "tag", "Normal", 0.0),
        (THINK + "<answer>normal</answer><glue>[-1, -1]</glue>", "tag", "Normal", 1.0),
        (THINK + "<answer>Yes, an anomaly</answer>", "tag", "Anomaly", 1.0),
        # VAU-R1's reference reduced "Anomaly" to the letter A; a bare "A" must not score for TAG:
        (THINK + "<answer>A</answer>", "tag", "Anomaly", 0.0),
        (THINK + "<answer>Anomaly</answer>", "qa", "A", 0.0),
        (CLS_RIGHT, "cls", "Traffic_accident", 1.0),
        (THINK + "<answer> traffic accident </answer>", "cls", "Traffic_accident", 1.0),
        (CLS_RIGHT, "cls", "Robbery", 0.0),
        (THINK + "<answer>Absence_of_anomaly</answer>", "cls", "Normal", 0.0),
        (THINK + "<answer>Normal</answer>", "cls", " Normal ", 1.0),
        (QA_RIGHT, "reason", "B", 0.0),  # no accuracy rule for free text
        (QA_RIGHT, "unknown", "B", 0.0),
        (QA_RIGHT, "qa", "not a letter", 0.0),
        (QA_RIGHT, "qa", None, 0.0),
        (QA_RIGHT, None, "B", 0.0),
        (None, "qa", "B", 0.0),
    ],
)
def test_accuracy_reward(completion, task, answer, expected):
    assert accuracy_reward([completion], task=[task], answer=[answer]) == [expected]


def test_accuracy_reward_missing_columns_score_zero():
    assert accuracy_reward([QA_RIGHT, QA_RIGHT]) == [0.0, 0.0]
    assert accuracy_reward([QA_RIGHT, QA_RIGHT], task=["qa", "qa"]) == [0.0, 0.0]
    assert accuracy_reward([QA_RIGHT, QA_RIGHT], task=["qa", "qa"], answer=["B"]) == [1.0, 0.0]  # short column


def test_accuracy_reward_broadcasts_scalar_columns():
    assert accuracy_reward([QA_RIGHT, "A"], task="qa", answer="B") == [1.0, 0.0]


# -------------------------------------------------------------------------------------------- tIoU


@pytest.mark.parametrize(
    "completion, span, expected",
    [
        (TAG_RIGHT, [2.0, 8.0], 4.5 / 6.0),
        (TAG_RIGHT, (3.0, 7.5), 1.0),
        (TAG_RIGHT, [8.0, 9.0], 0.0),
        (TAG_RIGHT, "[2.0, 8.0]", 4.5 / 6.0),  # a span column stored as text
        (THINK + "<answer>Normal</answer><glue>[-1.0, -1.0]</glue>", None, 1.0),  # both normal
        (THINK + "<answer>Normal</answer><glue>[-1.0, -1.0]</glue>", [-1, -1], 1.0),
        (THINK + "<answer>Normal</answer><glue>[-1.0, -1.0]</glue>", [0.0, 0.0], 1.0),  # VAU-Bench normal rows
        (THINK + "<answer>Normal</answer><glue>[-1.0, -1.0]</glue>", [2.0, 8.0], 0.0),  # one normal
        (TAG_RIGHT, None, 0.0),  # one normal
        (THINK + "<answer>Normal</answer>", None, 0.0),  # no span at all: nothing to reward
        (THINK + "<answer>Anomaly</answer><glue>[7.5, 3.0]</glue>", [2.0, 8.0], 0.0),  # reversed
        (THINK + "<answer>Anomaly</answer><glue>[nan, 3.0]</glue>", [2.0, 8.0], 0.0),
        (THINK + "<answer>Anomaly</answer><glue>[4.0, 4.0]</glue>", [2.0, 8.0], 0.0),
        (TAG_RIGHT, [8.0, 2.0], 0.0),  # unusable ground truth
        (TAG_RIGHT, [float("nan"), 2.0], 0.0),
        (TAG_RIGHT, "garbage", 0.0),
        (TAG_RIGHT, {"start": 2.0}, 0.0),
    ],
)
def test_tiou_reward(completion, span, expected):
    assert tiou_reward([completion], task=["tag"], span=[span]) == [pytest.approx(expected)]


def test_tiou_reward_applies_to_tag_samples():
    assert tiou_reward([TAG_RIGHT] * 3, task=["qa", "cls", "tag"], span=[[3.0, 7.5]] * 3) == [0.0, 0.0, 1.0]
    assert tiou_reward([TAG_RIGHT], span=[[3.0, 7.5]]) == [1.0]  # no task column: the span decides
    assert tiou_reward([TAG_RIGHT], task=["tag"]) == [0.0]  # no span column
    assert tiou_reward([TAG_RIGHT, TAG_RIGHT], task=["tag", "tag"], span=[[3.0, 7.5]]) == [1.0, 0.0]


# ------------------------------------------------------------------------------------------ registry

_README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_registry_names_vau_r1s_three_rewards_in_order():
    assert list(REWARD_FUNCS) == ["format", "accuracy", "iou"]
    assert [f.__name__ for f in REWARD_FUNCS.values()] == ["format_reward", "accuracy_reward", "tiou_reward"]
    assert list(REWARD_FUNCS.values()) == [format_reward, accuracy_reward, tiou_reward]


@pytest.mark.parametrize(
    "spelling, name",
    [
        ("format", "format"),
        ("format_reward", "format"),
        ("accuracy", "accuracy"),
        ("accuracy_reward", "accuracy"),
        ("iou", "iou"),
        ("tiou", "iou"),
        ("tiou_reward", "iou"),
        (" iou ", "iou"),
    ],
)
def test_every_accepted_spelling_maps_through_the_registry(spelling, name):
    assert REWARD_ALIASES[spelling.strip()] == name
    assert get_reward_func(spelling) is REWARD_FUNCS[name]


def test_the_aliases_are_the_seven_spellings_recipes_have_used():
    assert sorted(REWARD_ALIASES) == sorted(
        ["format", "format_reward", "accuracy", "accuracy_reward", "iou", "tiou", "tiou_reward"]
    )
    assert set(REWARD_ALIASES.values()) == set(REWARD_FUNCS)


@pytest.mark.parametrize("name", ["bleu", "", "Format", "reward", "format,accuracy", None, 3])
def test_an_unknown_name_lists_the_registry(name):
    with pytest.raises(ValueError, match=r"unknown reward .*; expected one of accuracy, format, iou$"):
        get_reward_func(name)


def test_the_readme_lists_the_registry_names():
    row = next(line for line in _README.read_text(encoding="utf-8").splitlines() if line.startswith("| `reward_funcs`"))
    default, spellings = row.split("|")[2:4]
    assert default.strip() == f"`{','.join(REWARD_FUNCS)}`"
    listed = spellings.split("(`vau_plugin.rewards")[0].split(":", 1)[1]  # "`format`, `accuracy`, `iou` "
    assert re.findall(r"`(\w+)`", listed) == list(REWARD_FUNCS)


@pytest.mark.parametrize("require_glue", [None, True, False])
def test_format_reward_options_pickle_and_keep_their_name(require_glue):
    reward = FormatReward(require_glue=require_glue)
    copy = pickle.loads(pickle.dumps(reward))
    assert copy.__name__ == "format_reward" and copy.require_glue is require_glue
    completions = [QA_RIGHT, TAG_RIGHT, "B"]
    for tasks in (["qa", "tag", "qa"], ["tag", "qa", "cls"]):
        assert copy(completions, task=tasks) == reward(completions, task=tasks)
    assert repr(copy) == f"FormatReward(require_glue={require_glue!r})"


def test_the_default_format_option_is_format_reward():
    completions = [QA_RIGHT, TAG_RIGHT, THINK + "<answer>Anomaly</answer>", QA_RIGHT + "<glue>[1, 2]</glue>", "B"]
    for tasks in (["qa", "tag", "tag", "qa", "qa"], ["tag"] * 5, None):
        assert FormatReward()(completions, task=tasks) == format_reward(completions, task=tasks)


@pytest.mark.parametrize("require_glue", ["yes", 1, 0, [True]])
def test_format_reward_option_rejects_values_other_than_none_true_false(require_glue):
    with pytest.raises(ValueError, match="FormatReward.require_glue"):
        FormatReward(require_glue=require_glue)


def test_registry_functions_pickle_by_reference():
    for reward in REWARD_FUNCS.values():
        assert pickle.loads(pickle.dumps(reward)) is reward


def test_reward_functions_name_their_columns_as_parameters():
    # TRL style: def accuracy_reward(completions, answer, **kwargs); defaults keep a direct call without columns total.
    def parameters(func):
        return [p.name for p in inspect.signature(func).parameters.values()]

    assert parameters(format_reward) == ["completions", "task", "kwargs"]
    assert parameters(accuracy_reward) == ["completions", "task", "answer", "kwargs"]
    assert parameters(tiou_reward) == ["completions", "span", "task", "kwargs"]
    assert parameters(FormatReward(True)) == ["completions", "task", "kwargs"]


def test_docstring_examples_hold():
    assert doctest.testmod(rewards, raise_on_error=False).failed == 0
    for func in [*REWARD_FUNCS.values(), FormatReward, get_reward_func, completion_text]:
        doc = func.__doc__
        assert "Args:" in doc and "Returns:" in doc and "Example:" in doc, func


def test_rewards_accept_the_arguments_trl_passes():
    # GRPOTrainer._calculate_rewards calls reward_func(prompts=..., completions=..., completion_ids=...,
    # **columns, trainer_state=...).
    columns = {"task": ["qa"], "answer": ["B"], "span": [None], "video": ["v.mp4"]}
    extra = {"prompts": [[{"role": "user", "content": "q"}]], "completion_ids": [[1, 2]], "trainer_state": object()}
    for reward in [*REWARD_FUNCS.values(), FormatReward(True), FormatReward(False)]:
        assert "completions" in inspect.signature(reward).parameters
        values = reward(completions=[_message(QA_RIGHT)], **columns, **extra)
        assert len(values) == 1 and isinstance(values[0], float)


@pytest.mark.parametrize(
    "reward, expected",
    [(format_reward, [1.0]), (accuracy_reward, [1.0]), (tiou_reward, [0.0]), (FormatReward(True), [0.0])],
)
def test_empty_and_odd_completion_containers(reward, expected):
    columns = {"task": ["qa"], "answer": ["B"], "span": [None]}
    assert reward([]) == []
    assert reward(None) == []
    assert reward(5) == []
    assert reward(iter([QA_RIGHT]), **columns) == expected  # any iterable
    assert reward(QA_RIGHT, **columns) == expected  # one bare completion
    assert reward(_message(QA_RIGHT)[0], **columns) == expected  # one bare message


# ------------------------------------------------------------------------------------- properties

_FRAGMENT = st.sampled_from(
    TAG_FRAGMENTS
    + [
        "[1, 2]",
        "[2, 1]",
        "[-1, -1]",
        "[nan, 3]",
        "[1e999, 1]",
        "A",
        "B",
        "Anomaly",
        "Normal",
        "Fighting",
        " ",
        "\n",
        "😀",
    ]
)
_TEXT = st.one_of(st.text(max_size=200), st.lists(_FRAGMENT | st.text(max_size=3), max_size=12).map("".join))
_ODD = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.binary(max_size=5), st.just({"x": 1}))
_COMPLETION = st.one_of(_TEXT, _TEXT.map(_message), _ODD, st.lists(_ODD, max_size=3))
_SPAN = st.one_of(
    st.none(),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=0, max_size=3),
    st.tuples(st.floats(-2, 100), st.floats(-2, 100)),
    _TEXT,
    _ODD,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_COMPLETION, max_size=4),
    st.lists(st.sampled_from(["qa", "tag", "cls", "reason", "", None, 3]), max_size=4),
    st.lists(st.one_of(_TEXT, st.sampled_from(["A", "B", "Anomaly", "Normal", "Fighting"]), _ODD), max_size=4),
    st.lists(_SPAN, max_size=4),
)
def test_rewards_are_total_and_bounded(completions, tasks, answers, spans):
    columns = {"task": tasks, "answer": answers, "span": spans}
    for reward in [*REWARD_FUNCS.values(), FormatReward(True), FormatReward(False)]:
        values = reward(completions, **columns)
        assert len(values) == len(completions)
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values)


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0, 1e6))
def test_tiou_reward_is_symmetric_and_bounded(a, b, c, d):
    first, second = sorted((a, b)), sorted((c, d))
    forward = tiou_reward([f"<glue>[{first[0]!r}, {first[1]!r}]</glue>"], task=["tag"], span=[second])[0]
    backward = tiou_reward([f"<glue>[{second[0]!r}, {second[1]!r}]</glue>"], task=["tag"], span=[first])[0]
    assert 0.0 <= forward <= 1.0
    if first[0] < first[1] and second[0] < second[1]:
        assert forward == pytest.approx(backward)


# ------------------------------------------------------------------- one scorer for train and eval


def test_rewards_and_metrics_score_the_same_answers():
    qa = [("<answer>B</answer>", "B"), ("The answer is C.", "B"), ("A and B", "A"), ("(d)", "D. a bin")]
    for completion, answer in qa:
        reward = accuracy_reward([completion], task=["qa"], answer=[answer])[0]
        assert reward * 100 == qa_accuracy([completion], [answer])
    cls = [("<answer> Normal </answer>", "Normal"), ("Absence_of_anomaly", "Normal"), ("fighting", "Fighting")]
    for completion, answer in cls:
        reward = accuracy_reward([completion], task=["cls"], answer=[answer])[0]
        assert reward * 100 == cls_accuracy([completion], [answer])["multiclass"]
    tag = [("<glue>[0.0, 3.8]</glue>", [0.67, 6.67]), ("[2, 1]", [0.0, 5.0]), ("no span", [1.0, 2.0])]
    for completion, span in tag:
        reward = tiou_reward([completion], task=["tag"], span=[span])[0]
        assert reward == temporal_iou(parse_span(completion), span) == temporal_iou(completion, span)
        assert reward * 100 == pytest.approx(temporal_grounding([completion], [span])["mIoU"])


def test_real_predictions_score_the_same_in_rewards_and_metrics(shared_vau_bench):
    with open(shared_vau_bench / "test_msad.csv", newline="", encoding="utf-8") as handle:
        truth = {row["Video Name"]: row for row in csv.DictReader(handle)}
    predictions = shared_vau_bench / "predictions"
    with open(predictions / "cls_qwen2.5-vl-3b_msad_no_think.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    outputs = [r["CLS answer"] for r in rows]
    classes = [truth[r["Video Name"]]["Anomaly Class"] for r in rows]
    rewards = accuracy_reward(outputs, task=["cls"] * len(rows), answer=classes)
    assert 100 * sum(rewards) / len(rows) == pytest.approx(cls_accuracy(outputs, classes)["multiclass"])
    assert sum(rewards) == 7
    with open(predictions / "tag_qwen2.5-vl-3b_msad_no_think.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    outputs = [r["Temporal Grounding"] for r in rows]
    spans = [[float(truth[r["Video Name"]]["Start Time"]), float(truth[r["Video Name"]]["End Time"])] for r in rows]
    rewards = tiou_reward(outputs, task=["tag"] * len(rows), span=spans)
    assert 100 * sum(rewards) / len(rows) == pytest.approx(temporal_grounding(outputs, spans)["mIoU"])
    assert format_reward(outputs, task=["tag"] * len(rows)) == [0.0] * len(rows)  # bare glue, no layout

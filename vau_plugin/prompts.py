"""Every prompt of the plugin, defined once.

The evaluation prompts are those of the VAU-R1 inference scripts (Zhu et al., 2025, arXiv 2505.23504,
`src/evaluation/inference_*_qwen.py`), kept verbatim, quirks included (the QA prompt's indentation and the
quoted `"A. "` option prefixes), so that numbers stay comparable with the published ones. The training
prompts are those of the VAU-R1 GRPO/SFT scripts. The judge prompt is VAU-Eval's
(`src/evaluation/evaluate_reasoning_deepseek.py`).
"""

from __future__ import annotations

from typing import Optional, Sequence

from vau_plugin.data.schema import CLASSES

# The class list as the VAU-R1 prompts spell it: a Python-list-looking string.
CLASS_OPTIONS = "[" + ", ".join(f"'{name}'" for name in CLASSES) + "]"
TAG_OPTIONS_EVAL = "[Anomaly, Normal]"
TAG_OPTIONS_TRAIN = "['Normal', 'Anomaly']"

# ---------------------------------------------------------------- evaluation (VAU-Bench inference)

_QA_HEAD = """
            You are a helpful AI assistant performing video anomaly detection reasoning. 
            Below is a video description and a reasoning process. Based on this, answer the following multiple-choice question correctly.

            ### Question:
            {question}

            ### Options:
            "A. "{option_a}
            "B. "{option_b}
            "C. "{option_c}
            "D. "{option_d}

"""
_QA_THINK_TAIL = """            When the user asks a question, you should first carefully reason through the problem internally, and then present the final option.
            The expected format is: <think> your detailed reasoning process here </think><answer> Please only output one option letter! (A, B, C, or D) </answer>. 
            """
_QA_NO_THINK_TAIL = """            Please only output one option letter (A, B, C, or D). Please do not output other words.
            """
# Not VAU-R1's: the answer-only layout (`<answer>X</answer>`, no reasoning) that `vau-plugin prepare --prompt-style
# answer` trains and `vau_bench_qa_answer` evaluates; the CLS prompt without think asks for that layout already.
_QA_ANSWER_TAIL = """            Please output only the option letter (A, B, C, or D) within the <answer> </answer> tags, for example: <answer>A</answer>.
            """

TAG_THINK_QUESTION = (
    "Is there any anomaly in the video? If yes, please answer 'Anomaly' and present the precise anomaly time period. "
    "If no, please answer 'Normal' and output time period as <glue>[-1.0, -1.0]</glue>."
)
TAG_NO_THINK_QUESTION = (
    "Is there any anomaly in the video? If yes, output time period as <glue>[start_time, end_time]</glue>, replace "
    "start_time and end_time with the actual time period in seconds. If no anomaly, output <glue>[-1.0, -1.0]</glue>."
)
_TAG_THINK_TEMPLATE = """Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].

Output your thought process within the <think> </think> tags with detailed analysis.

Then, provide your answer within the <answer> </answer> tags, output the corresponding option. At the same time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips on which you base your answer to this question in the format of [s1, e1]. 

For example: <think> your detailed reasoning process here </think><answer> your final answer here </answer><glue>[5.2, 10.4]</glue>.
"""
_TAG_NO_THINK_TEMPLATE = """Answer the question: "[QUESTION]" according to the content of the video.

Provide your answer within the <glue> </glue> tags, present the precise time period in seconds of the video clips on which you base your answer to this question in the format of [s1, e1]. 

For example: <glue>[5.2, 10.4]</glue>.
"""

CLS_QUESTION = "What type of anomaly appears in the video? If no anomaly appears, please answer 'Normal'."
_CLS_THINK_TEMPLATE = """Answer the question: "[QUESTION]" according to the content of the video. Select one of the answer from :[OPTION]. When the user asks a question, you should first carefully reason through the problem internally, and then present the final option. The expected format is: <think> Your detailed reasoning process here </think><answer> Output the corresponding option here </answer> """
_CLS_NO_THINK_TEMPLATE = """Answer the question: "[QUESTION]" according to the content of the video. Select one of the answer from :[OPTION]. The expected format is: <answer> Output the corresponding option here </answer> """

REASON_DESCRIPTION_PROMPT = (
    "You are an advanced anomaly detector assigned to analyze a video. Please identify any unusual or suspicious "
    "events that occur in the scene. Do not focus on any text or watermarks that might appear. Provide a "
    "description in five sentences."
)
REASON_ANALYSIS_PROMPT = "Explain in detail whether (and how) any anomaly occurs in the video, and the reasoning behind it."
# VAU-R1 asks the two prompts as two chat turns; lmms-eval generates once per document, so both are asked in one
# turn and the reply is split on these headings (vau_plugin.parsing.split_reasoning).
REASON_DESCRIPTION_HEADING = "Description:"
REASON_ANALYSIS_HEADING = "Analysis:"
REASON_SINGLE_TURN_PROMPT = (
    f"{REASON_DESCRIPTION_PROMPT} Then, {REASON_ANALYSIS_PROMPT[0].lower()}{REASON_ANALYSIS_PROMPT[1:]}\n"
    f"Answer in two parts, starting them with '{REASON_DESCRIPTION_HEADING}' and '{REASON_ANALYSIS_HEADING}'."
)


def _fill(template: str, question: str, options: str) -> str:
    return template.replace("[QUESTION]", question).replace("[OPTION]", options)


def qa_prompt(question: str, options: Sequence[str], *, think: bool = False, answer_only: bool = False) -> str:
    """The VAU-R1 multiple-choice prompt for a question and its four options; `answer_only` asks for the letter
    in ``<answer> </answer>`` tags and nothing else (not with `think`)."""
    if len(options) != 4:
        raise ValueError(f"a VAU-Bench question has 4 options, got {len(options)}")
    if think and answer_only:
        raise ValueError("the qa prompt asks either for reasoning (think) or for the answer only, not both")
    head = _QA_HEAD.format(
        question=question, option_a=options[0], option_b=options[1], option_c=options[2], option_d=options[3]
    )
    return head + (_QA_THINK_TAIL if think else _QA_ANSWER_TAIL if answer_only else _QA_NO_THINK_TAIL)


def tag_prompt(*, think: bool = False) -> str:
    """The VAU-R1 temporal anomaly grounding prompt (same for every video)."""
    if think:
        return _fill(_TAG_THINK_TEMPLATE, TAG_THINK_QUESTION, TAG_OPTIONS_EVAL)
    return _fill(_TAG_NO_THINK_TEMPLATE, TAG_NO_THINK_QUESTION, "")


def cls_prompt(*, think: bool = False) -> str:
    """The VAU-R1 20-way anomaly classification prompt (same for every video)."""
    return _fill(_CLS_THINK_TEMPLATE if think else _CLS_NO_THINK_TEMPLATE, CLS_QUESTION, CLASS_OPTIONS)


def reason_prompt() -> str:
    """Description + analysis in one turn (see REASON_SINGLE_TURN_PROMPT)."""
    return REASON_SINGLE_TURN_PROMPT


# The tasks whose evaluation prompt can ask for the answer alone, as ``<answer>X</answer>`` (no reasoning).
ANSWER_ONLY_TASKS: tuple[str, ...] = ("qa", "cls")


def eval_prompt(
    task: str,
    *,
    think: bool = False,
    answer_only: bool = False,
    question: Optional[str] = None,
    options: Optional[Sequence[str]] = None,
) -> str:
    """The evaluation prompt of one VAU-Bench task ("qa", "tag", "cls" or "reason"); `answer_only` (qa, cls; not
    with `think`): the answer alone in ``<answer> </answer>`` tags."""
    if answer_only and (think or task not in ANSWER_ONLY_TASKS):
        raise ValueError(f"an answer-only prompt exists for {', '.join(ANSWER_ONLY_TASKS)} without think; got {task!r}, think={think}")
    if task == "qa":
        if question is None or options is None:
            raise ValueError("the qa prompt needs a question and four options")
        return qa_prompt(question, options, think=think, answer_only=answer_only)
    if task == "tag":
        return tag_prompt(think=think)
    if task == "cls":
        return cls_prompt(think=think)
    if task == "reason":
        return reason_prompt()
    raise ValueError(f"unknown VAU-Bench task {task!r}; expected one of qa, tag, cls, reason")


# ---------------------------------------------------------------- reasoning judge (VAU-Eval)

JUDGE_SYSTEM_PROMPT = "You are an expert evaluator for video anomaly detection outputs."
JUDGE_SCORE_KEYS: tuple[str, ...] = (
    "classification_score",
    "key_matching_score",
    "fluency_score",
    "informativeness_score",
    "factual_score",
)
JUDGE_TOTAL_KEY = "total_score"
_JUDGE_TEMPLATE = """
        Below is a ground-truth description and analysis, followed by a model-generated description and analysis. Please evaluate the model's outputs from the following aspects:

        1. Classification Correctness (10 pts)  
        2. Key Object and Action Matching (10 pts)  
        3. Fluency and Coherence (10 pts)  
        4. Informativeness and Domain Awareness (10 pts)  
        5. Factual Consistency (10 pts)

        ---
        Ground Truth:
        - Description: {gt_description}
        - Analysis: {gt_analysis}

        Model Output:
        - Description: {description}
        - Analysis: {analysis}

        Please return a JSON object strictly formatted as:

        {{
            "classification_score": int (0-10),
            "key_matching_score": int (0-10),
            "fluency_score": int (0-10),
            "informativeness_score": int (0-10),
            "factual_score": int (0-10),
            "total_score": int (0-50),
            "comments": {{
                "classification": "...",
                "key_matching": "...",
                "fluency": "...",
                "informativeness": "...",
                "factual": "..."
            }}
        }}
        """


def judge_prompt(*, gt_description: str, gt_analysis: str, description: str, analysis: str) -> str:
    """The VAU-Eval judge prompt comparing a model's description/analysis with the ground truth."""
    return _JUDGE_TEMPLATE.format(
        gt_description=gt_description, gt_analysis=gt_analysis, description=description, analysis=analysis
    )


# ---------------------------------------------------------------- training prompts (VAU-R1 GRPO/SFT)
# The question templates of VAU-R1's GRPO trainers (`src/open_r1/trainer/grpo_trainer_video_{qa,cls,gqa}.py`),
# verbatim. `vau-plugin prepare` uses them for the GRPO and the SFT datasets alike, so that a model fine-tuned
# with SFT is then trained with GRPO on the same instruction. VAU-R1 puts the question text before the video.

QA_TRAIN_TEMPLATE = """Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].

Output your thought process within the <think> </think> tags, including analysis with either specific time ranges (xx.xx to xx.xx).

Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.

For example: <think> your detailed reasoning process here </think><answer> your final answer here </answer>. 
"""
CLS_TRAIN_TEMPLATE = """Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].

Output your thought process within the <think> </think> tags.

Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.

For example: <think> your reasoning process here </think><answer> your final answer here </answer>. 
"""
TAG_TRAIN_TEMPLATE = """Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].

Output your thought process within the <think> </think> tags with detailed analysis.

Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. At the same time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips on which you base your answer to this question in the format of [s1, e1]. 

For example: <think> your detailed reasoning process here </think><answer> your final answer here </answer><glue>[5.2, 10.4]</glue>. 

"""


def qa_train_options(options: Sequence[str]) -> str:
    """qa_train_options(options) -> str: the four options as VAU-R1's training scripts print them,
    `str(["A. …", "B. …", "C. …", "D. …"])`."""
    if len(options) != 4:
        raise ValueError(f"a VAU-Bench question has 4 options, got {len(options)}")
    return str([f"{letter}. {text}" for letter, text in zip("ABCD", options)])


def train_prompt(task: str, *, question: Optional[str] = None, options: Optional[Sequence[str]] = None) -> str:
    """train_prompt(task, *, question=None, options=None) -> str: the VAU-R1 training prompt of "qa"
    (needs the question and its four options), "tag" or "cls"."""
    if task == "qa":
        if question is None or options is None:
            raise ValueError("the qa training prompt needs a question and four options")
        return _fill(QA_TRAIN_TEMPLATE, question, qa_train_options(options))
    if task == "tag":
        return _fill(TAG_TRAIN_TEMPLATE, TAG_THINK_QUESTION, TAG_OPTIONS_TRAIN)
    if task == "cls":
        return _fill(CLS_TRAIN_TEMPLATE, CLS_QUESTION, CLASS_OPTIONS)
    raise ValueError(f"unknown VAU-R1 training task {task!r}; expected one of qa, tag, cls")

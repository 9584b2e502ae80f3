"""EasyR1's reward function file: VAU-R1's rewards (`vau_plugin.rewards`) behind EasyR1's ``compute_score``.

Use: ``worker.reward.reward_function=<path of this file>:compute_score`` (the path:
``python -c "import vau_plugin.frameworks.easyr1_reward as m; print(m.__file__)"``), on a dataset written by
``vau-plugin prepare --format easyr1``.

The contract (hiyouga/EasyR1, main at b44b311, 2025; verl 0.3.3.dev0; the same calls since v0.3.1):

- ``verl/workers/reward/function.py``: ``AutoRewardManager`` loads the file with
  ``importlib.util.spec_from_file_location("custom_reward_fn", path)`` (hence absolute imports only), takes
  ``REWARD_TYPE`` ("batch" | "sequential", default "batch"; v0.3.1/v0.3.2 read ``worker.reward.reward_type``
  instead, default "batch") and calls ``compute_score(reward_inputs, **worker.reward.reward_function_kwargs)``
  with one ``{"response": str, "response_length": int, "ground_truth": str}`` per rollout (a list for
  "batch", one dict per call for "sequential"). It puts ``score["overall"]`` on the last response token and logs
  the mean of every key of the returned dicts (so every dict has the same keys).
- ``verl/utils/dataset.py`` (``RLHFDataset``): the ground truth is the dataset's ``data.answer_key`` column
  (default "answer"), one string per sample.
- ``examples/reward_function/math.py`` / ``r1v.py``: the returned dict holds ``overall``, ``format``,
  ``accuracy``.

Here the ground truth is a JSON object ``{"task", "answer", "span"}``, the columns the rewards read
(`encode_ground_truth`; ``prepare --format easyr1`` writes it). Each returned dict is ``{"overall", "format",
"accuracy", "iou"}``: the three rewards of `vau_plugin.rewards.REWARD_FUNCS` exactly as the TRL/LLaMA-Factory
path computes them, and ``overall`` their sum with weight 1 each (VAU-R1's and the recipes' total, in [0, 3]).

Responses are untrusted: any string (or None) scores in [0, 1] per reward, never raises. The ground truth comes from
the dataset, so a malformed one is a set-up error (the wrong file, or ``data.answer_key`` naming another column):
`decode_ground_truth` raises ValueError saying what was expected, rather than score 0 and train on nothing. It
is parsed with ``json.loads`` only; values that parse but do not fit (an unknown task, an unusable span) score 0.0
as in `vau_plugin.rewards`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Union

from vau_plugin.rewards import REWARD_FUNCS

__all__ = ["GROUND_TRUTH_KEYS", "REWARD_NAME", "REWARD_TYPE", "compute_score", "decode_ground_truth", "encode_ground_truth"]

# Metadata EasyR1 (main) reads from the file.
REWARD_NAME = "vau_r1"
REWARD_TYPE = "batch"

GROUND_TRUTH_KEYS: tuple[str, ...] = ("task", "answer", "span")  # the columns `vau_plugin.rewards` read
_SHOWN = 120  # characters of a bad ground truth quoted in the error


def encode_ground_truth(truth: Mapping[str, Any]) -> str:
    """encode_ground_truth(truth) -> the JSON text EasyR1 carries as a sample's ground truth.

    Args:
        truth: a mapping with ``task``, ``answer`` and ``span`` (e.g. `vau_plugin.llamafactory.prepare.ground_truth`
            or a prepared row); other keys are left out.

    Returns:
        ``'{"task": ..., "answer": ..., "span": ...}'``.

    Example:
        >>> encode_ground_truth({"task": "tag", "answer": "Anomaly", "span": [3.0, 7.5], "video_id": "x.mp4"})
        '{"task": "tag", "answer": "Anomaly", "span": [3.0, 7.5]}'
    """
    return json.dumps({key: truth[key] for key in GROUND_TRUTH_KEYS}, ensure_ascii=False)


def decode_ground_truth(value: Union[str, bytes, Mapping[str, Any]]) -> dict[str, Any]:
    """decode_ground_truth(value) -> {"task", "answer", "span"} from an EasyR1 ground truth.

    Args:
        value: the JSON text `encode_ground_truth` writes (a mapping with the same keys is taken as is).

    Returns:
        The three values (what else the object holds is dropped).

    Raises:
        ValueError: when `value` is not a JSON object with the keys task, answer and span; the message quotes the
            start of `value` and names ``vau-plugin prepare --format easyr1``.

    Example:
        >>> decode_ground_truth('{"task": "qa", "answer": "B", "span": null}')
        {'task': 'qa', 'answer': 'B', 'span': None}
    """
    parsed: Any = value
    if isinstance(value, (str, bytes, bytearray)):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):  # JSONDecodeError and bad bytes are ValueErrors; deep nesting recurses
            parsed = None
    if not isinstance(parsed, Mapping) or any(key not in parsed for key in GROUND_TRUTH_KEYS):
        shown = repr(value)
        shown = shown if len(shown) <= _SHOWN else shown[:_SHOWN] + "..."
        raise ValueError(
            f"EasyR1 ground truth {shown}: expected a JSON object with keys {', '.join(GROUND_TRUTH_KEYS)}, as "
            "`vau-plugin prepare --format easyr1` writes in its 'answer' column (data.answer_key=answer)"
        )
    return {key: parsed[key] for key in GROUND_TRUTH_KEYS}


def _scores(reward_inputs: list[Mapping[str, Any]]) -> list[dict[str, float]]:
    truths = [decode_ground_truth(item.get("ground_truth")) for item in reward_inputs]
    completions = [item.get("response") for item in reward_inputs]
    columns = {key: [truth[key] for truth in truths] for key in GROUND_TRUTH_KEYS}
    per_reward = {name: func(completions, **columns) for name, func in REWARD_FUNCS.items()}
    return [
        {"overall": sum(per_reward[name][i] for name in REWARD_FUNCS), **{name: per_reward[name][i] for name in REWARD_FUNCS}}
        for i in range(len(reward_inputs))
    ]


def compute_score(
    reward_inputs: Union[list[Mapping[str, Any]], Mapping[str, Any]],
) -> Union[list[dict[str, float]], dict[str, float]]:
    """compute_score(reward_inputs) -> one {"overall", "format", "accuracy", "iou"} per input (EasyR1's contract).

    Args:
        reward_inputs: EasyR1's list of ``{"response": str, "response_length": int, "ground_truth": str}``
            (``REWARD_TYPE = "batch"``); a single such dict (``reward_type=sequential``) gives a single dict.
            ``ground_truth`` is `encode_ground_truth`'s JSON.

    Returns:
        Per input: ``format``, ``accuracy``, ``iou`` as `vau_plugin.rewards.REWARD_FUNCS` score the response against
        the ground truth's task/answer/span, and ``overall`` = their sum (weight 1 each, in [0, 3]).

    Raises:
        ValueError: for a ground truth that is not `encode_ground_truth`'s JSON (`decode_ground_truth`).

    Example:
        >>> compute_score([{"response": "<think>.</think><answer>B</answer>", "response_length": 9,
        ...                 "ground_truth": '{"task": "qa", "answer": "B", "span": null}'}])
        [{'overall': 2.0, 'format': 1.0, 'accuracy': 1.0, 'iou': 0.0}]
    """
    if isinstance(reward_inputs, Mapping):
        return _scores([reward_inputs])[0]
    return _scores(list(reward_inputs))

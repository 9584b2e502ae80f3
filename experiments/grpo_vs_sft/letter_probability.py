"""The probability a checkpoint gives the right option, read off its output distribution instead of its greedy text.

    python experiments/grpo_vs_sft/letter_probability.py CHECKPOINT BENCH SPLIT OUT.json --video '{"video_fps": 2.0, ...}'

For every document of lmms-eval's `vau_bench_qa_answer` on the bench's split, the prompt and frames are built by the
`vau_qwen2_5_vl` wrapper exactly as in evaluation (the same task object, `prepare`, `inputs`); then the
log-likelihood of each full answer ``<answer>X</answer>`` (X in A-D) after the prompt is summed over its tokens, and
the four are normalised: p(correct) = exp(ll_correct) / sum_X exp(ll_X). Greedy accuracy flips when two options are
close; this moves smoothly. Writes {"p_correct": mean over clips (percent), "clips": {video: p}}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

TASK = "vau_bench_qa_answer"
LETTERS = "ABCD"


def answer_log_likelihoods(model, text: str, videos: list, prompt_ids, answers: list[str]) -> list[float]:
    """answer_log_likelihoods(wrapper, prompt text, decoded videos, the prompt's token ids, answers) -> for each
    answer, the sum of the log-probabilities of its tokens after the prompt (teacher-forced; the prompt's own tokens
    not counted). One forward over the answers as a batch (left-padded: each row's answer is its last tokens);
    the same sums as one forward per answer."""
    import torch

    full = model.inputs([text + answer for answer in answers], videos * len(answers))
    ids, start = full["input_ids"], prompt_ids.shape[0]
    with torch.no_grad():
        logits = model.model(**full.to(model.device)).logits.float()
    sums = []
    for row, answer in enumerate(answers):
        pad = ids.shape[1] - int(full["attention_mask"][row].sum())
        if not torch.equal(ids[row, pad : pad + start], prompt_ids):
            raise RuntimeError(f"the answer {answer!r} changes the prompt's last tokens; cannot score it after the prompt")
        targets = ids[row, pad + start :]
        logprobs = torch.log_softmax(logits[row, pad + start - 1 : -1], dim=-1)
        sums.append(float(logprobs.gather(1, targets.unsqueeze(1).to(logprobs.device)).sum()))
    return sums


def letter_probabilities(checkpoint: Path, bench: Path, split: str, video: dict) -> dict:
    """letter_probabilities(checkpoint, bench root, split, LLaMA-Factory video keys) -> {"p_correct", "clips"}."""
    from lmms_eval.protocol import ChatMessages
    from lmms_eval.tasks import TaskManager, get_task_dict

    from vau_plugin.budget import lmms_budget_args
    from vau_plugin.lmms.docs import bench_environment
    from vau_plugin.lmms.model import VAUQwen2_5_VL

    os.environ.update(bench_environment(bench, bench / "videos", split))
    args = dict(item.split("=", 1) for item in lmms_budget_args(video).split(","))
    model = VAUQwen2_5_VL(pretrained=str(checkpoint), device="cpu", device_map="cpu", **args)
    model.model.eval()
    task = get_task_dict([TASK], TaskManager(), task_type="chat")[TASK]
    clips = {}
    for doc in task.test_docs():
        text, videos = model.prepare(doc, ChatMessages(messages=task.doc_to_messages(doc)))
        prompt_ids = model.inputs([text], videos)["input_ids"][0]
        scores = dict(zip(LETTERS, answer_log_likelihoods(model, text, videos, prompt_ids, [f"<answer>{x}</answer>" for x in LETTERS])))
        top = max(scores.values())
        total = sum(math.exp(s - top) for s in scores.values())
        clips[doc["video"]] = math.exp(scores[doc["answer"]] - top) / total
    return {"p_correct": 100.0 * sum(clips.values()) / len(clips), "clips": clips}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("bench", type=Path)
    parser.add_argument("split")
    parser.add_argument("out", type=Path)
    parser.add_argument("--video", required=True, help="the LLaMA-Factory video keys as JSON (the config's 'video')")
    args = parser.parse_args(argv)
    result = letter_probabilities(args.checkpoint, args.bench, args.split, json.loads(args.video))
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"p(correct) {result['p_correct']:.1f} % over {len(result['clips'])} clips")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark rewards and parsing: completions/s on one core, against a bare-regex floor in the same run.

The corpus mixes what GRPO rollouts look like (qa / tag / cls prompts): well-formed VAU-R1 answers with a few hundred
characters of reasoning, long rambling reasoning (~4 kB), bare answers, broken tags, spans in odd notations, and the
conversational form (`[{"role": "assistant", "content": ...}]`) TRL passes for chat datasets.

Rows:
- the plugin's three TRL reward functions, `format_reward + accuracy_reward + tiou_reward`, called as TRL calls them
  (one call each per batch of `--batch` completions); the target is 100k completions/s on one core;
- each parser alone (`is_well_formatted`, `parse_choice`, `parse_anomaly`, `parse_class`, `parse_span`);
- the floor: a bare-regex scorer (one fullmatch for the layout, one search for the answer, one for the span, IoU)
  with none of the plugin's tolerance (option text, class spellings, ambiguity checks, bounded scans).

Usage: python bench/rewards.py [--quick] [--n 4096] [--repeats 5] [--out bench/results/rewards.json]
"""

from __future__ import annotations

import argparse
import os
import random
import re
from pathlib import Path

from _common import RESULTS, environment, time_best, write_result

from vau_plugin.data.schema import CLASSES, LETTERS
from vau_plugin.parsing import is_well_formatted, parse_anomaly, parse_choice, parse_class, parse_span
from vau_plugin.rewards import REWARD_FUNCS, completion_text

DEFAULT_OUT = RESULTS / "rewards.json"
TARGET_PER_S = 100_000
WORDS = "the person walks across the street then a car approaches quickly and stops near the entrance".split()


def _reasoning(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def make_corpus(n: int, seed: int = 0) -> tuple[list, dict[str, list]]:
    """`n` completions and their dataset columns (`task`, `answer`, `span`)."""
    rng = random.Random(seed)
    completions, tasks, answers, spans = [], [], [], []
    for index in range(n):
        task = ("qa", "tag", "cls")[index % 3]
        kind = rng.random()
        think = _reasoning(rng, 600 if kind > 0.9 else rng.randint(20, 80))
        start = round(rng.uniform(0, 50), 1)
        end = round(start + rng.uniform(1, 20), 1)
        normal = task == "tag" and rng.random() < 0.3
        if task == "qa":
            answer = rng.choice(LETTERS)
            said = rng.choice(LETTERS)
            body = rng.choice([said, f"{said}. {_reasoning(rng, 6)}", f"The answer is ({said})"])
            tail = ""
        elif task == "tag":
            answer = "Normal" if normal else "Anomaly"
            body = rng.choice(["Anomaly", "Normal", "Yes, there is an anomaly."])
            tail = " <glue>[-1.0, -1.0]</glue>" if body == "Normal" else rng.choice(
                [f" <glue>[{start}, {end}]</glue>", f" <glue>[{start}s - {end}s]</glue>", f" <glue>({start}, {end})</glue>"]
            )  # fmt: skip
        else:
            answer = rng.choice(CLASSES)
            body = rng.choice([rng.choice(CLASSES), rng.choice(CLASSES).lower().replace(" ", "_"), "Absence_of_anomaly"])
            tail = ""
        if kind < 0.1:
            text = body  # a bare answer
        elif kind < 0.2:
            text = f"<think>{think}</think><answer>{body}"  # unclosed answer
        else:
            text = f"<think>{think}</think>\n<answer>{body}</answer>{tail}"
        completions.append([{"role": "assistant", "content": text}] if index % 4 == 0 else text)
        tasks.append(task)
        answers.append(answer)
        spans.append(None if task != "tag" else ([-1.0, -1.0] if normal else [start, end]))
    return completions, {"task": tasks, "answer": answers, "span": spans}


_FLOOR_LAYOUT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>(\s*<glue>.*?</glue>)?", re.DOTALL)
_FLOOR_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_FLOOR_SPAN = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]")


def floor_scores(completions: list, columns: dict[str, list]) -> list[float]:
    """A bare-regex scorer: what the three rewards cost with no tolerance at all (the floor)."""
    scores = []
    for completion, task, answer, span in zip(completions, columns["task"], columns["answer"], columns["span"]):
        text = completion if isinstance(completion, str) else completion[0]["content"]
        total = 1.0 if _FLOOR_LAYOUT.fullmatch(text) else 0.0
        found = _FLOOR_ANSWER.search(text)
        said = found.group(1).strip() if found else text.strip()
        total += 1.0 if said[:1] == answer[:1] else 0.0
        if task == "tag":
            match = _FLOOR_SPAN.search(text)
            if match and span:
                s, e = float(match.group(1)), float(match.group(2))
                inter = max(0.0, min(e, span[1]) - max(s, span[0]))
                union = max(e, span[1]) - min(s, span[0])
                total += inter / union if union > 0 else 0.0
        scores.append(total)
    return scores


def batched(fn, completions: list, columns: dict[str, list], batch: int):
    """Call a TRL-style reward `fn(completions, **columns)` batch by batch, as the trainer does."""
    for start in range(0, len(completions), batch):
        end = start + batch
        fn(completions[start:end], **{k: v[start:end] for k, v in columns.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer completions and repeats (CI size)")
    parser.add_argument("--n", type=int, default=None, help="completions in the corpus (default 8192; quick 2048)")
    parser.add_argument("--batch", type=int, default=64, help="completions per reward call (GRPO batch)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes (default 5; quick 3)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON output path")
    args = parser.parse_args(argv)
    n = args.n or (2048 if args.quick else 8192)
    repeats = args.repeats or (3 if args.quick else 5)

    completions, columns = make_corpus(n)
    texts = [completion_text(c) for c in completions]
    chars = sum(map(len, texts))

    def three_rewards():
        for fn in REWARD_FUNCS.values():
            batched(fn, completions, columns, args.batch)

    methods = {
        "bare regex scorer (floor)": lambda: floor_scores(completions, columns),
        "format+accuracy+tiou (3 TRL calls)": three_rewards,
        "is_well_formatted": lambda: [is_well_formatted(t) for t in texts],
        "parse_choice": lambda: [parse_choice(t) for t in texts],
        "parse_anomaly": lambda: [parse_anomaly(t) for t in texts],
        "parse_class": lambda: [parse_class(t) for t in texts],
        "parse_span": lambda: [parse_span(t) for t in texts],
    }
    rows = []
    for name, fn in methods.items():
        best, median = time_best(fn, repeats)
        rows.append({"method": name, "completions": n, "seconds": best, "seconds_median": median,
                     "completions_per_s": n / best, "MB_per_s": chars / best / 1e6})  # fmt: skip
    floor = rows[0]["seconds"]
    for row in rows:
        row["x_floor"] = row["seconds"] / floor
    plugin = rows[1]
    header = f"{'method':<38}{'completions/s':>15}{'MB/s':>8}{'x floor':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['method']:<38}{row['completions_per_s']:>15,.0f}{row['MB_per_s']:>8.1f}{row['x_floor']:>9.2f}")
    met = plugin["completions_per_s"] >= TARGET_PER_S
    print(f"corpus: {n} completions, mean {chars / n:.0f} chars; target {TARGET_PER_S:,}/s for format+accuracy+tiou: "
          f"{'met' if met else 'NOT met'} ({plugin['completions_per_s']:,.0f}/s)")  # fmt: skip
    write_result(
        args.out,
        {"benchmark": "rewards", "quick": args.quick, "target_per_s": TARGET_PER_S, "target_met": met,
         "mean_chars": chars / n, "batch": args.batch, "pid_cpu_affinity": len(os.sched_getaffinity(0)),
         **environment(), "rows": rows},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

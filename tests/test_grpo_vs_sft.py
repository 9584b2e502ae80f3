"""experiments/grpo_vs_sft (issue 27) and the answer-only prompt style it trains with: the statistics and the
pre-registered rule on known inputs, what each arm trains, the two rewards, the answer-only layout in `prepare`,
prompts and parsing, and the whole pipeline once on a few clips (`run.py --quick`, e2e)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.data import load_records
from vau_plugin.llamafactory.prepare import prepare_dataset
from vau_plugin.parsing import is_answer_only
from vau_plugin.prompts import eval_prompt, qa_prompt

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "experiments" / "grpo_vs_sft"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run():
    return _load("grpo_vs_sft_run", EXPERIMENT / "run.py")


@pytest.fixture(scope="module")
def rewards():
    return _load("grpo_vs_sft_rewards", EXPERIMENT / "grpo_vs_sft_rewards.py")


# ------------------------------------------------------------------------------------------------ statistics


def test_mcnemar_exact_matches_the_binomial_test(run):
    assert run.mcnemar_exact(0, 0) == 1.0
    assert run.mcnemar_exact(5, 5) == 1.0
    assert run.mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    # 3 of 15 discordant pairs one way: 2 * P(X <= 3), X ~ Binomial(15, 1/2)
    assert run.mcnemar_exact(3, 12) == pytest.approx(2 * (1 + 15 + 105 + 455) / 2**15)
    assert run.mcnemar_exact(12, 3) == run.mcnemar_exact(3, 12)


def test_bootstrap_interval_of_known_differences(run):
    assert run.bootstrap_ci({f"v{i}": [0.0, 0.0] for i in range(50)}) == (0.0, 0.0)
    assert run.bootstrap_ci({f"v{i}": [1.0] for i in range(50)}) == (100.0, 100.0)
    half = {f"v{i}": [1.0 if i % 2 else -1.0] for i in range(200)}
    low, high = run.bootstrap_ci(half)
    assert low < 0.0 < high and high - low < 40.0  # centred on 0, about ±14 points for 200 clips


def test_paired_pools_seeds_and_counts_discordant_pairs(run):
    first = [{"a": 1.0, "b": 1.0, "c": 0.0}, {"a": 1.0, "b": 0.0, "c": 0.0}]
    second = [{"a": 0.0, "b": 1.0, "c": 0.0}, {"a": 0.0, "b": 0.0, "c": 1.0}]
    result = run.paired(first, second)
    assert (result["b"], result["c"]) == (2, 1)  # a right only in first twice; c right only in second once
    assert result["mean"] == pytest.approx(100.0 * (1 + 0 + 0 + 1 + 0 - 1) / 6)
    assert result["p"] == run.mcnemar_exact(2, 1)
    # checkpoint averages are rounded to right/wrong for McNemar and kept as they are for the mean
    averaged = run.paired([{"a": 2 / 3}], [{"a": 1 / 3}])
    assert (averaged["b"], averaged["c"]) == (1, 0) and averaged["mean"] == pytest.approx(100 / 3)


def test_the_rule_decides_as_the_readme_says(run):
    rule = {"alpha": 0.05, "random_band": 3.0, "min_gain": 2.0}
    gain = {"mean": 5.0, "p": 0.01, "ci95": (1.0, 9.0)}
    null = {"mean": 0.3, "p": 0.8, "ci95": (-1.5, 1.9)}
    wide = {"mean": 0.3, "p": 0.8, "ci95": (-4.0, 4.5)}
    assert run.verdict(rule, gain, random_minus_sft=-1.0, reward_rise=0.1) == "helps"
    assert run.verdict(rule, gain, random_minus_sft=-3.5, reward_rise=0.1) == "void"  # noise dominates the step
    assert run.verdict(rule, null, random_minus_sft=3.2, reward_rise=0.1) == "void"
    assert run.verdict(rule, null, random_minus_sft=0.5, reward_rise=0.1) == "falsified"
    assert run.verdict(rule, wide, random_minus_sft=0.5, reward_rise=0.1) == "inconclusive"
    assert run.verdict(rule, gain, random_minus_sft=0.5, reward_rise=-0.02) == "inconclusive"  # GRPO did not learn
    assert run.verdict(rule, null, random_minus_sft=0.5, reward_rise=float("nan")) == "inconclusive"


def _evaluation(scores: dict[str, float]) -> dict:
    return {"accuracy": 100.0 * sum(scores.values()) / len(scores), "clips": scores}


def test_the_heldout_split_is_judged_by_the_same_rule_on_its_own_clips(run):
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    test_clips, held_clips = [f"t{i}" for i in range(40)], [f"h{i}" for i in range(40)]
    # On test the arms tie; on the held-out clips GRPO is right on 20 more than extra SFT, the random arm on as many
    # as SFT.
    test = {arm: _evaluation(dict.fromkeys(test_clips, 1.0)) for arm in ("sft", *run.ARMS)}
    held = {arm: _evaluation({c: float(i < 10) for i, c in enumerate(held_clips)}) for arm in ("sft", "grpo_random", "more_sft")}
    held["grpo"] = _evaluation({c: float(i < 30) for i, c in enumerate(held_clips)})
    runs = []
    for seed in (0, 1):
        one = {"seed": seed, "reward_rise": 0.05, **{arm: {"greedy": test[arm], "heldout": held[arm]} for arm in test}}
        for arm in ("sft", "grpo", "more_sft"):
            one[arm].update(sampled=test[arm], p_correct={"p_correct": 0.5, "clips": dict.fromkeys(test_clips, 0.5)})
        runs.append(one)
    summary = run.summarise(config, runs)
    assert summary["primary"]["mean"] == 0.0 and summary["verdict"] == "falsified"  # test: a tie, the CI below +2
    heldout = summary["heldout"]
    assert heldout["primary"]["mean"] == pytest.approx(50.0) and (heldout["primary"]["b"], heldout["primary"]["c"]) == (40, 0)
    assert heldout["random_minus_sft"] == 0.0 and heldout["verdict"] == "helps"
    assert [row["arm"] for row in heldout["table"]] == ["sft", *run.ARMS] and heldout["table"][1]["accuracy"] == 75.0
    text = run.report(summary)
    assert "verdict: falsified" in text and "verdict (held-out): helps" in text
    runs_without = [{k: v for k, v in r.items()} for r in runs]
    for one in runs_without:
        for arm in ("sft", *run.ARMS):
            one[arm] = {k: v for k, v in one[arm].items() if k != "heldout"}
    assert "heldout" not in run.summarise(config, runs_without) and "held-out" not in run.report(run.summarise(config, runs_without))


def test_the_motion_rule_judges_each_variant_against_none_with_bonferroni(run):
    rule = {"alpha": 0.05, "random_band": 3.0, "min_gain": 2.0}
    assert run.motion_verdict(rule, {"mean": 3.0, "p": 0.03, "ci95": (0.5, 5.5)}, 1) == "helps"
    assert run.motion_verdict(rule, {"mean": 3.0, "p": 0.03, "ci95": (0.5, 5.5)}, 2) == "inconclusive"  # 0.03 > 0.05 / 2
    assert run.motion_verdict(rule, {"mean": -3.0, "p": 0.001, "ci95": (-5.0, -1.0)}, 1) == "falsified"
    assert run.motion_verdict(rule, {"mean": 0.5, "p": 0.7, "ci95": (-3.0, 4.0)}, 1) == "inconclusive"
    config = {**run.load_config(run.DEFAULT_CONFIG, quick=False), "rule": rule}
    config["motion"] = {**config["motion"], "variants": ["learnable"]}
    clips = [f"t{i}" for i in range(30)]
    none = {"test": _evaluation({c: float(i < 15) for i, c in enumerate(clips)})}
    learnable = {"test": _evaluation({c: float(i < 27) for i, c in enumerate(clips)})}  # right on 12 more clips
    summary = run.motion_summary(config, [{"seed": 0, "none": none, "learnable": learnable}])
    part = summary["test"]
    assert part["comparisons"]["learnable"]["mean"] == pytest.approx(40.0) and part["verdicts"]["learnable"] == "helps"
    assert [row["variant"] for row in part["table"]] == ["none", "learnable"] and "heldout" not in summary
    assert "verdict (test, learnable): helps" in run.motion_report(summary)


# ------------------------------------------------------------------------------------------------ what each arm trains


def test_arms_are_matched_and_differ_only_where_they_should(run, tmp_path):
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    keys = {arm: run.stage_keys(config, arm, tmp_path / "sft", tmp_path / "data", 0, run.arm_settings(config, arm)) for arm in run.ARMS}
    assert {k["max_steps"] for k in keys.values()} == {config["steps"]}
    assert {k["save_steps"] for k in keys.values()} == {config["save_every"]}
    assert {k["save_total_limit"] for k in keys.values()} == {run.LAST_CHECKPOINTS}
    assert {k["model_name_or_path"] for k in keys.values()} == {tmp_path / "sft"}
    grpo, noise = keys["grpo"], keys["grpo_random"]
    assert {k for k in grpo if grpo[k] != noise[k]} == {"reward_funcs"}  # the noise control changes the reward only
    assert grpo["reward_funcs"].endswith(":gated_accuracy") and noise["reward_funcs"].endswith(":random_reward")
    assert grpo["dataset"] == "vau_r1_qa" and keys["more_sft"]["dataset"] == "vau_r1_sft_qa"
    assert keys["more_sft"]["learning_rate"] == config["more_sft"]["learning_rate"] != grpo["learning_rate"]
    assert "reward_funcs" not in keys["more_sft"] and grpo["beta"] == 0.04
    assert run.arm_settings(config, "grpo", 1e-5)["learning_rate"] == 1e-5  # the sweep's override


def test_quick_config_keeps_the_arms_valid(run):
    quick = run.load_config(run.DEFAULT_CONFIG, quick=True)
    full = run.load_config(run.DEFAULT_CONFIG, quick=False)
    assert quick["grpo"]["learning_rate"] == full["grpo"]["learning_rate"] and quick["rule"] == full["rule"]
    for config in (quick, full):
        assert config["grpo"]["per_device_train_batch_size"] % config["grpo"]["num_generations"] == 0
    assert full["steps"] >= run.LAST_CHECKPOINTS * full["save_every"]  # three checkpoints to average (quick: one)
    bench = full["bench"]
    assert bench["n_test"] >= 300 and len(full["seeds"]) >= 3  # the minimum


def test_mean_over_averages_each_metric_and_each_clip(run):
    first = {"accuracy": 50.0, "accuracy_moves": 100.0, "clips": {"a": 1.0, "b": 0.0}}
    second = {"accuracy": 0.0, "accuracy_moves": 0.0, "clips": {"a": 0.0, "b": 0.0}}
    third = {"accuracy": 100.0, "accuracy_moves": 50.0, "clips": {"a": 1.0, "b": 1.0}}
    merged = run.mean_over([first, second, third])
    assert merged["accuracy"] == pytest.approx(50.0) and merged["accuracy_moves"] == pytest.approx(50.0)
    assert merged["clips"] == pytest.approx({"a": 2 / 3, "b": 1 / 3})


def test_digest_changes_with_any_setting(run):
    assert run.digest({"lr": 1e-5}) != run.digest({"lr": 3e-5})
    assert run.digest({"a": 1, "b": 2}) == run.digest({"b": 2, "a": 1})


# ------------------------------------------------------------------------------------------------ rewards


def test_gated_accuracy_needs_the_answer_only_layout(rewards):
    completions = ["<answer>B</answer>", " <answer>B</answer>\n", "B", "<think>x</think><answer>B</answer>", "<answer>C</answer>"]
    assert rewards.gated_accuracy(completions, task=["qa"] * 5, answer=["B"] * 5) == [1.0, 1.0, 0.0, 0.0, 0.0]
    chat = [[{"role": "assistant", "content": "<answer>B</answer>"}]]
    assert rewards.gated_accuracy(chat, task=["qa"], answer=["B"]) == [1.0]


def test_random_reward_ignores_the_completion_and_repeats_with_its_seed(rewards, monkeypatch):
    monkeypatch.setenv(rewards.SEED_VARIABLE, "7")
    monkeypatch.delenv("RANK", raising=False)
    rewards._generators.clear()
    first = rewards.random_reward(["<answer>A</answer>"] * 64)
    rewards._generators.clear()
    again = rewards.random_reward(["anything else"] * 64)
    assert first == again and len(set(first)) == 64 and all(0.0 <= r < 1.0 for r in first)
    assert abs(sum(first) / 64 - 0.5) < 0.15
    monkeypatch.setenv(rewards.SEED_VARIABLE, "8")
    assert rewards.random_reward(["x"] * 8) != first[:8]


def test_the_rewards_pass_the_recipe_check(rewards, monkeypatch):
    from vau_plugin.llamafactory.args import check_reward_func

    for name in ("gated_accuracy", "random_reward"):
        check_reward_func(f"grpo_vs_sft_rewards:{name}", getattr(rewards, name))


# ------------------------------------------------------------------------------------------------ answer-only style


@pytest.mark.parametrize(
    ("text", "expected"),
    [("<answer>B</answer>", True), ("\n <answer> B </answer> ", True), ("<answer></answer>", True), ("B", False),
     ("<answer>B</answer> because", False), ("<think>.</think><answer>B</answer>", False), ("<ANSWER>B</ANSWER>", False),
     ("<answer><answer>B</answer>", False), ("<answer>B</answer><answer>C</answer>", False), (None, False),
     ("<answer>" + "B" * 20000 + "</answer>", False)],
)  # fmt: skip
def test_is_answer_only(text, expected):
    assert is_answer_only(text) is expected


def test_answer_only_prompts():
    options = ["left", "right", "up", "down"]
    text = qa_prompt("Which way?", options, answer_only=True)
    plain = qa_prompt("Which way?", options)
    assert text.split("Please")[0] == plain.split("Please")[0]  # the same question and options, another last line
    assert "<answer>A</answer>" in text and "<think>" not in text
    assert eval_prompt("qa", answer_only=True, question="Which way?", options=options) == text
    assert "<answer>" in eval_prompt("cls", answer_only=True) and eval_prompt("cls", answer_only=True) == eval_prompt("cls")
    with pytest.raises(ValueError, match="answer-only prompt exists for qa, cls"):
        eval_prompt("tag", answer_only=True)
    with pytest.raises(ValueError, match="answer-only"):
        eval_prompt("qa", think=True, answer_only=True, question="q", options=options)


def test_prepare_answer_style_rows(tmp_path):
    bench = bundled_mini_bench()
    out = tmp_path / "answer"
    summary = prepare_dataset(bench, bench / "videos", out, tasks=("qa", "cls"), split="train", prompt_style="answer")
    records = load_records(bench, split="train")
    sft = json.loads((out / "sft_qa.json").read_text())
    grpo = json.loads((out / "grpo_qa.json").read_text())
    assert len(sft) == len(grpo) == summary.rows["vau_r1_sft_qa"] > 0  # every row, with or without a Reasoning
    by_video = {r.video: r for r in records}
    for row in sft:
        record = by_video[row["video_id"]]
        assert row["messages"][1]["content"] == f"<answer>{row['answer']}</answer>" and is_answer_only(row["messages"][1]["content"])
        assert row["messages"][0]["content"] == "Video 1: <video>" + eval_prompt("qa", answer_only=True, question=record.question, options=record.options)
    cls_rows = json.loads((out / "sft_cls.json").read_text())
    assert cls_rows and all(r["messages"][0]["content"] == "<video>" + eval_prompt("cls") for r in cls_rows)


def test_prepare_answer_style_refuses_tasks_without_an_answer_only_layout(tmp_path):
    bench = bundled_mini_bench()
    with pytest.raises(ValueError, match="prompt style 'answer'.*got tasks qa, tag.*--tasks qa"):
        prepare_dataset(bench, bench / "videos", tmp_path / "o", tasks=("qa", "tag"), split="train", prompt_style="answer")
    assert not (tmp_path / "o").exists()


def test_vau_bench_qa_answer_asks_the_answer_only_prompt():
    utils = _load("vau_bench_task_utils", REPO / "tasks" / "vau_bench" / "utils.py")
    doc = {"question": "Which way?", "options": ["left", "right", "up", "down"]}
    yaml_text = (REPO / "tasks" / "vau_bench" / "vau_bench_qa_answer.yaml").read_text()
    assert "answer_only: true" in yaml_text and "task: vau_bench_qa_answer" in yaml_text
    assert utils.qa_doc_to_text(doc, {"answer_only": True}) == qa_prompt("Which way?", doc["options"], answer_only=True)
    assert utils.qa_doc_to_text(doc, {}) == qa_prompt("Which way?", doc["options"])


# ------------------------------------------------------------------------------------------------ the pipeline


@pytest.mark.e2e
def test_quick_run_trains_every_arm_and_applies_the_rule(tmp_path):
    result = subprocess.run([sys.executable, str(EXPERIMENT / "run.py"), "--quick", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=1500)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = tmp_path / "quick"
    summary = json.loads((results / "summary.json").read_text())
    assert summary["verdict"] in ("helps", "falsified", "void", "inconclusive")
    run = summary["runs"][0]
    for arm in ("grpo", "grpo_random", "more_sft"):
        assert len(run[arm]["greedy_each"]) == 1  # quick saves one checkpoint an arm (averaging: test_mean_over)
        assert set(run[arm]["greedy"]["clips"]) == set(run["sft"]["greedy"]["clips"])  # the same 6 test clips
    assert len(run["sft"]["greedy"]["clips"]) == 6
    for arm in ("sft", "grpo", "grpo_random", "more_sft"):  # the held-out offsets: 6 other clips, the same checkpoints
        assert len(run[arm]["heldout"]["clips"]) == 6 and not set(run[arm]["heldout"]["clips"]) & set(run["sft"]["greedy"]["clips"])
    assert summary["heldout"]["verdict"] in ("helps", "falsified", "void", "inconclusive")
    assert "sampled" in run["grpo"] and "sampled" in run["more_sft"] and "sampled" not in run["grpo_random"]
    for arm in ("sft", "grpo", "more_sft"):  # the forced-layout probability of the right option, per clip
        p = run[arm]["p_correct"]
        assert set(p["clips"]) == set(run["sft"]["greedy"]["clips"]) and all(0.0 <= v <= 1.0 for v in p["clips"].values())
    assert not math.isnan(run["reward_rise"])
    assert "verdict:" in (results / "results.md").read_text() and "verdict:" in result.stdout
    assert "verdict (held-out):" in (results / "results.md").read_text()
    timings = json.loads((results / "timings_main.json").read_text())
    assert {"seed0 grpo", "seed0 grpo_random", "seed0 more_sft", "seed0 sft"} <= {t["stage"] for t in timings}
    # The motion prompts' own run: the same SFT with a learnable motion prompt, against the SFT above (reused).
    motion = subprocess.run([sys.executable, str(EXPERIMENT / "run.py"), "--quick", "--motion", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=900)  # fmt: skip
    assert motion.returncode == 0, motion.stdout[-3000:] + motion.stderr[-3000:]
    motion_summary = json.loads((results / "motion.json").read_text())
    stages = {t["stage"] for t in json.loads((results / "timings_motion.json").read_text())}
    assert "seed0 sft learnable" in stages and "seed0 sft" in stages  # the none SFT comes from the main run's folder
    trained = next((results / "motion").glob("seed0_learnable_*"))
    assert json.loads((trained / "motion_prompt.json").read_text())  # the learnt motion prompt, used by the evaluation
    for split in ("test", "heldout"):
        assert motion_summary[split]["verdicts"]["learnable"] in ("helps", "falsified", "inconclusive")
        assert motion_summary["runs"][0]["none"][split]["clips"] == run["sft"]["greedy" if split == "test" else "heldout"]["clips"]
    assert "verdict (heldout, learnable)" in (results / "motion.md").read_text()

"""experiments/motion_vau/run.py (issue 13's redesign): the parts that decide what is trained and reported, checked
without training: config merging, the recipe keys of each variant and stage (the extra SFT matched to GRPO's
steps), the lmms-eval model arguments, the count guard of the evaluation, baselines from annotations, the
mean ± std table with GRPO minus its matched control, and the sweep table."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from vau_plugin.benches.order import make_order_bench

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("motion_vau_run", REPO / "experiments/motion_vau/run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner") / "bench"
    make_order_bench(root, seed=2, n_train=12, n_val=3, n_test=6, size=56)
    return root


def test_quick_config_overrides_only_what_it_names(run):
    full = run.load_config(run.DEFAULT_CONFIG, quick=False)
    quick = run.load_config(run.DEFAULT_CONFIG, quick=True)
    assert "quick" not in full and "comment" not in full
    assert quick["sft"]["max_steps"] < full["sft"]["max_steps"]
    assert quick["sft"]["learning_rate"] == full["sft"]["learning_rate"]  # merged, not replaced
    assert quick["video"] == full["video"] and set(full["variants"]) <= set(run.VARIANTS)
    assert len(full["seeds"]) >= 3 and full["bench"]["n_val"] > 0 and full["bench"]["n_test"] >= 120  # 40 clips per question type
    sweep = full["sweep"]  # the configured values are among those the sweep tried
    assert full["finetune"]["adam_beta2"] in sweep["adam_beta2"]
    assert full["grpo"]["learning_rate"] in sweep["grpo_learning_rate"]
    assert full["more_sft"]["learning_rate"] in sweep["more_sft_learning_rate"]


def test_the_extra_sft_runs_as_many_steps_as_grpo(run):
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    config["more_sft"]["max_steps"] = 999  # a stray setting cannot unmatch the control
    assert run.stage_settings(config, "more_sft")["max_steps"] == config["grpo"]["max_steps"]
    assert run.stage_settings(config, "sft") == config["sft"]
    quick = run.load_config(run.DEFAULT_CONFIG, quick=True)
    assert run.stage_settings(quick, "more_sft")["max_steps"] == quick["grpo"]["max_steps"] == 2


def test_each_stage_trains_from_the_right_checkpoint_with_the_right_keys(run, tmp_path, monkeypatch):
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    calls = []
    monkeypatch.setattr(run, "train_stage", lambda recipe, keys, out: calls.append((recipe, keys, out)) or out)
    sft = tmp_path / "sft"
    sft.mkdir()
    (sft / "motion_prompt.json").write_text("{}")
    for stage, start in (("sft", tmp_path / "model"), ("grpo", sft), ("more_sft", sft)):
        run.train_checkpoint(config, stage, start, tmp_path / "data", 1, "learnable", tmp_path / stage)
    (sft_recipe, sft_keys, _), (grpo_recipe, grpo_keys, _), (more_recipe, more_keys, _) = calls
    assert (sft_recipe, grpo_recipe, more_recipe) == (run.SFT_RECIPE, run.GRPO_RECIPE, run.SFT_RECIPE)
    assert sft_keys["model_name_or_path"] == tmp_path / "model" and sft_keys["dataset"] == "vau_r1_sft_qa,vau_r1_sft_tag"
    # qa and tag rows drawn with the config's shares, in every stage
    shares = ",".join(f"{v:g}" for v in config["tasks"].values())
    assert all(keys["mix_strategy"] == "interleave_under" and keys["interleave_probs"] == shares for _, keys, _ in calls)
    assert "vau_motion_weights" not in sft_keys and sft_keys["vau_motion_m"] == config["motion"]["m"]
    assert grpo_keys["model_name_or_path"] == more_keys["model_name_or_path"] == sft
    assert grpo_keys["dataset"] == "vau_r1_qa,vau_r1_tag" and more_keys["dataset"] == "vau_r1_sft_qa,vau_r1_sft_tag"
    assert "iou" in grpo_keys["reward_funcs"].split(",")  # the TAG rows are rewarded for their span
    assert grpo_keys["vau_motion_weights"] == more_keys["vau_motion_weights"] == sft  # the learnt (m, n) continues
    assert all(keys["adam_beta2"] == config["finetune"]["adam_beta2"] and keys["seed"] == 1 for _, keys, _ in calls)
    assert grpo_keys["learning_rate"] == config["grpo"]["learning_rate"] and more_keys["learning_rate"] == config["more_sft"]["learning_rate"]


def test_each_variant_trains_and_evaluates_with_its_own_motion_settings(run, tmp_path):
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    motion = config["motion"]
    assert run.motion_keys("none", motion, None) == {"template": "qwen2_vl_vau"}
    fixed = run.motion_keys("fixed", motion, None)
    assert fixed["template"] == "qwen2_vl_motion" and (fixed["vau_motion_m"], fixed["vau_motion_n"]) == (motion["m"], motion["n"])
    assert "vau_motion_learnable" not in fixed
    learnable = run.motion_keys("learnable", motion, None)
    assert learnable["vau_motion_learnable"] == "true" and learnable["vau_motion_m"] == motion["m"]
    (tmp_path / "motion_prompt.json").write_text("{}")
    resumed = run.motion_keys("learnable", motion, tmp_path)  # GRPO continues from the SFT's learnt (m, n)
    assert resumed["vau_motion_weights"] == tmp_path and "vau_motion_m" not in resumed
    with pytest.raises(ValueError, match="unknown variant"):
        run.motion_keys("both", motion, None)

    video = config["video"]
    plain = run.lmms_model_args(Path("/ckpt"), "none", config)
    assert f"fps={video['video_fps']}" in plain and f"max_pixels={video['video_max_pixels']}" in plain
    assert "motion" not in plain
    assert f"motion_m={motion['m']}" in run.lmms_model_args(Path("/ckpt"), "fixed", config)
    assert "motion_weights=/ckpt" in run.lmms_model_args(Path("/ckpt"), "learnable", config)


def fake_lmms_eval(run, bench, monkeypatch, split: str, scored: int, tag_scored: int | None = None) -> None:
    """Replace the lmms-eval subprocess by one that writes its result files, with `scored` QA samples and
    `tag_scored` (default: `scored`) TAG samples of `split`."""
    clips = list(run.split_clips(bench, split).values())
    tag_clips = clips[: scored if tag_scored is None else tag_scored]

    def fake(cmd, stdout, stderr, env, check):
        out = Path(cmd[cmd.index("--output_path") + 1]) / "model"
        out.mkdir(parents=True, exist_ok=True)
        assert env["VAU_BENCH_SPLITS"] == split and env["VAU_BENCH_ROOT"] == str(bench)
        assert cmd[cmd.index("--tasks") + 1] == "vau_bench_qa_think,vau_bench_tag_think"
        results = {"vau_bench_qa_think": {"accuracy,none": 50.0, "accuracy_stderr,none": 1.0},
                   "vau_bench_tag_think": {"mIoU,none": 40.0, "R@0.5,none": 30.0, "normal_accuracy,none": 20.0}}  # fmt: skip
        (out / "x_results.json").write_text(json.dumps({"results": results}))
        qa = [{"accuracy": {"video": c["name"], "pred": "A", "score": float(c["correct_option"] == "A")}} for c in clips[:scored]]
        tag = [{"mIoU": {"video": c["name"], "pred": [0.0, 1.0], "iou": 0.4}} for c in tag_clips]
        for task, samples in (("vau_bench_qa_think", qa), ("vau_bench_tag_think", tag)):
            (out / f"samples_{task}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(subprocess, "run", fake)  # the one lmms-eval call, in vau_plugin.runners


def test_evaluation_scores_every_clip_of_the_split_or_stops(run, bench, tmp_path, monkeypatch):
    config = run.load_config(run.DEFAULT_CONFIG, quick=True)
    fake_lmms_eval(run, bench, monkeypatch, "val", scored=3)
    metrics = run.evaluate(tmp_path / "ckpt", "none", config, bench, tmp_path / "eval", "val")
    assert metrics["qa_samples"] == metrics["tag_samples"] == 3 and metrics["qa_accuracy"] == 50.0
    assert (metrics["tag_mIoU"], metrics["tag_R@0.5"], metrics["tag_normal_accuracy"]) == (40.0, 30.0, 20.0)
    assert set(metrics) >= {"qa_accuracy_direction", "qa_accuracy_moves", "qa_accuracy_start"}
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text()) == metrics
    fake_lmms_eval(run, bench, monkeypatch, "test", scored=5)  # one of the six test clips lost
    with pytest.raises(RuntimeError, match="scored 5 clips of the test split .vau_bench_qa_think., which holds 6"):
        run.evaluate(tmp_path / "ckpt", "none", config, bench, tmp_path / "eval_short")
    fake_lmms_eval(run, bench, monkeypatch, "test", scored=6, tag_scored=4)  # QA complete, TAG short
    with pytest.raises(RuntimeError, match="scored 4 clips of the test split .vau_bench_tag_think., which holds 6"):
        run.evaluate(tmp_path / "ckpt", "none", config, bench, tmp_path / "eval_short")
    assert not (tmp_path / "eval_short" / "metrics.json").exists()


def test_the_tasks_decide_datasets_and_a_wrong_one_stops(run):
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    assert run.check_tasks(config) == ["qa", "tag"]
    qa_only = {**config, "tasks": {"qa": 1.0}}
    assert run.stage_data(qa_only, "sft") == run.stage_data(qa_only, "more_sft") == {"dataset": "vau_r1_sft_qa"}
    assert run.stage_data(qa_only, "grpo") == {"dataset": "vau_r1_qa"}  # one task: no mixing keys
    assert run.stage_data({**config, "tasks": {"tag": 0.5, "qa": 0.5}}, "grpo")["interleave_probs"] == "0.5,0.5"
    for wrong in ([], ["qa", "tag"], {"qa": 1.0, "cls": 0.0}, {}):
        with pytest.raises(ValueError, match="expected {task: share} with tasks among qa, tag"):
            run.check_tasks({**config, "tasks": wrong})
    for shares in ({"qa": 0.75, "tag": 0.5}, {"qa": 1.25, "tag": -0.25}):
        with pytest.raises(ValueError, match="must be positive and sum to 1"):
            run.check_tasks({**config, "tasks": shares})


def test_the_tag_baseline_is_the_most_frequent_train_span_scored_as_the_task_scores(run, bench):
    from vau_plugin.data.sources import load_records
    from vau_plugin.metrics import temporal_iou

    base = run.baselines(bench, tasks=("qa", "tag"))["majority"]
    train_spans = [tuple(r.span) for r in load_records(bench / "train.csv") if r.usable_tag]
    constant = (base["tag_span_start"], base["tag_span_end"])
    assert train_spans.count(constant) == max(train_spans.count(s) for s in train_spans)
    anomalous = [r for r in load_records(bench / "test.csv") if r.usable_tag]
    ious = [temporal_iou(constant, r.span) for r in anomalous]
    assert math.isclose(base["tag_mIoU"], 100.0 * sum(ious) / len(ious))
    assert math.isclose(base["tag_R@0.5"], 100.0 * sum(i >= 0.5 for i in ious) / len(ious))
    assert base["tag_normal_accuracy"] == 0.0 and "tag_mIoU" not in run.baselines(bench)["majority"]


def test_baselines_come_from_the_annotations(run, bench):
    base = run.baselines(bench)
    assert base["chance"]["qa_accuracy"] == 25.0 and base["chance"]["qa_accuracy_moves"] == 25.0
    test = list(run.split_clips(bench, "test").values())
    assert base["majority"]["qa_accuracy"] in {100.0 * k / len(test) for k in range(len(test) + 1)}
    train = [c for c in run.split_clips(bench, "train").values() if c["question_type"] == "moves"]
    top = max(sorted({c["correct_option"] for c in train}), key=[c["correct_option"] for c in train].count)
    moves = [c for c in test if c["question_type"] == "moves"]
    assert base["majority"]["qa_accuracy_moves"] == 100.0 * sum(c["correct_option"] == top for c in moves) / len(moves)


def test_the_tag_baseline_stops_when_the_annotations_lose_a_clip(run, bench, tmp_path):
    # A row the reader drops (here: no video name) must not shrink the baseline's base silently.
    broken = tmp_path / "bench"
    shutil.copytree(bench, broken, ignore=shutil.ignore_patterns("videos"))
    lines = (broken / "test.csv").read_text().splitlines()
    lines[1] = "," + lines[1].split(",", 1)[1]
    (broken / "test.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RuntimeError, match="5 readable rows in test.csv, the manifest's test split holds 6"):
        run.tag_constant_span(broken, "test")


def test_table_reports_mean_std_and_grpo_minus_its_matched_control(run):
    runs = [
        {"seed": s, "variant": "none", "sft": {"qa_accuracy": acc}, "grpo": {"qa_accuracy": acc + 1 + s}, "more_sft": {"qa_accuracy": acc + 2}}
        for s, acc in enumerate([30.0, 40.0, 50.0])
    ]
    rows = run.aggregate(runs, {"chance": {"qa_accuracy": 25.0}})
    by_method = {r["method"]: r for r in rows}
    assert by_method["SFT, motion=none"]["n"] == 3 and by_method["SFT, motion=none"]["qa_accuracy"] == [40.0, 10.0]
    assert by_method["SFT+GRPO, motion=none"]["qa_accuracy"][0] == 42.0
    assert by_method["SFT+more SFT, motion=none"]["qa_accuracy"][0] == 42.0
    assert by_method["GRPO − more SFT, motion=none"]["qa_accuracy"] == [0.0, 1.0]  # paired by seed: -1, 0, +1
    table = run.markdown_table(rows)
    assert "| SFT, motion=none | 3 | 40.0 ± 10.0 | – | – | – | – | – | – |" in table and "| chance | – | 25.0 |" in table
    assert math.isclose(run.mean_std([1.0])[1], 0.0)


def test_report_redraws_table_and_reward_plot_from_a_summary(run, tmp_path):
    from PIL import Image

    rewards = [{"step": s, "reward": 1.0 + s / 10, "rewards/accuracy_reward/mean": 0.5, "rewards/format_reward/mean": 1.0} for s in range(1, 9)]
    runs = [
        {"seed": seed, "variant": variant, "sft": {"qa_accuracy": 30.0}, "grpo": {"qa_accuracy": 31.0}, "more_sft": {"qa_accuracy": 30.5},
         "rewards": rewards, "sft_loss": [{"step": 10, "loss": 1.0}, {"step": 20, "loss": 0.5}]}
        for seed in (0, 1) for variant in ("none", "learnable")
    ]  # fmt: skip
    table, plot = run.write_report(tmp_path, {"runs": runs, "baselines": {"chance": {"qa_accuracy": 25.0}}})
    assert (tmp_path / "results.md").read_text().startswith(table + "\n") and "SFT+GRPO, motion=learnable | 2 | 31.0 ± 0.0" in table
    assert "GRPO − more SFT, motion=learnable | 2 | 0.5 ± 0.0" in table
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size[0] > 1000
    assert run.write_report(tmp_path, {"runs": [dict(r, rewards=[]) for r in runs], "baselines": {}})[1] is None


def test_prediction_stats_expose_a_model_that_answers_the_same_for_every_clip(run, tmp_path):
    eval_dir = tmp_path / "seed0" / "none" / "eval_sft"
    (eval_dir / "model").mkdir(parents=True)
    qa = [{"accuracy": {"pred": p, "gt": "A", "score": float(p == "A")}} for p in ("A", "A", "A", "B", None)]
    (eval_dir / "model" / "samples_vau_bench_qa_think.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa))
    assert run.prediction_stats(eval_dir) == {"qa_top_answer_share": 60.0, "qa_unparsed_share": 20.0}
    table = run.prediction_table(tmp_path, [{"seed": 0, "variant": "none"}])
    assert "| SFT, motion=none | 1 | 60.0 % | 20.0 % |" in table


def test_sweep_table_names_each_run_and_the_best_values(run):
    rows = [
        {"stage": "sft", "setting": "adam_beta2", "value": 0.95, "qa_accuracy": 70.0, "qa_accuracy_direction": 60.0, "tag_mIoU": 50.0},
        {"stage": "grpo", "setting": "learning_rate", "value": 0.0002, "qa_accuracy": 72.0, "accuracy_reward_first5": 0.5,
         "accuracy_reward_last5": 0.7, "format_reward_first5": 1.0, "format_reward_last5": 0.9},
    ]  # fmt: skip
    summary = {"rows": rows, "best": {"adam_beta2": 0.95, "grpo learning_rate": 0.0002}, "configured": {"adam_beta2": 0.95, "grpo learning_rate": 0.0001}}
    table = run.sweep_table(summary)
    assert "| SFT | adam_beta2 0.95 | 60.0 | 70.0 | 60.0 | – | – | 50.0 | – | – | – | – |" in table
    assert "| SFT+GRPO | learning_rate 0.0002 | 72.0 | 72.0 | – | – | – | – | – | 0.50 -> 0.70 | – | 0.90 |" in table
    assert "- grpo learning_rate: best on val 0.0002, configured 0.0001" in table


def test_the_sweep_scores_a_setting_by_qa_and_tag_together(run):
    # A setting that buys QA accuracy by losing the spans must not win the sweep.
    assert run.val_score({"qa_accuracy": 80.0, "tag_mIoU": 10.0}) < run.val_score({"qa_accuracy": 70.0, "tag_mIoU": 40.0})
    assert run.val_score({"qa_accuracy": 80.0}) == 80.0


def test_a_results_folder_made_with_other_settings_is_not_reused(run, tmp_path, capsys):
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "config.json").write_text(json.dumps({**config, "sft": {**config["sft"], "max_steps": 1}}))
    with pytest.raises(SystemExit) as stopped:
        run.main(["--out", str(tmp_path)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "other settings (sft differ)" in err and "delete that folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]  # nothing generated


def test_a_sweep_folder_made_with_other_settings_is_not_reused(run, tmp_path, capsys):
    # The sweep reuses finished runs by name: a sweep folder from other SFT steps would silently stand in.
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "config.json").write_text(json.dumps({**config, "sft": {**config["sft"], "max_steps": 1}}))
    with pytest.raises(SystemExit) as stopped:
        run.main(["--sweep", "--out", str(tmp_path)])
    assert stopped.value.code == 2
    assert "other settings (sft differ)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]


def test_the_sweep_ignores_the_values_it_sets_itself(run):
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    tuned = run.merge(config, {"finetune": {"adam_beta2": 0.5}, "grpo": {"learning_rate": 9.0}, "more_sft": {"learning_rate": 9.0}})
    assert run.sweep_settings(tuned) == run.sweep_settings(config)
    assert run.sweep_settings(run.merge(config, {"grpo": {"max_steps": 1}})) != run.sweep_settings(config)


def test_the_small_tier_runs_into_its_own_folder_and_never_sweeps(run, tmp_path, capsys):
    config = run.load_config(run.DEFAULT_CONFIG, quick=False)
    small = run.merge(config, {"bench": {"tier": "small"}})
    (tmp_path / "full_small").mkdir()
    (tmp_path / "full_small" / "config.json").write_text(json.dumps({**small, "sft": {**small["sft"], "max_steps": 1}}))
    with pytest.raises(SystemExit):
        run.main(["--tier", "small", "--out", str(tmp_path)])
    assert "full_small holds a run made with other settings (sft differ)" in capsys.readouterr().err  # bench matched: small
    with pytest.raises(SystemExit) as stopped:
        run.main(["--tier", "small", "--sweep", "--out", str(tmp_path)])
    assert stopped.value.code == 2 and "the sweep runs on the config's tier" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full_small"]

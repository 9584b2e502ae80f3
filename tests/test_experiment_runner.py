"""experiments/motion_vau/run.py (issue 7): the parts that decide what is trained and reported, checked without
training: config merging, the recipe keys of each variant, the lmms-eval model arguments, the stage-0 caption
rows, baselines from annotations, and the mean ± std table."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from vau_plugin.data.motion_bench import make_motion_bench
from vau_plugin.data.prepare import prepare_dataset

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
    make_motion_bench(root, seed=2, n_train=8, n_test=8)
    return root


def test_quick_config_overrides_only_what_it_names(run):
    full = run.load_config(run.DEFAULT_CONFIG, quick=False)
    quick = run.load_config(run.DEFAULT_CONFIG, quick=True)
    assert "quick" not in full and "comment" not in full
    assert quick["sft"]["max_steps"] < full["sft"]["max_steps"]
    assert quick["sft"]["learning_rate"] == full["sft"]["learning_rate"]  # merged, not replaced
    assert quick["video"] == full["video"] and set(full["variants"]) <= set(run.VARIANTS)
    assert len(full["seeds"]) >= 3 and full["bench"]["n_train"] >= 400 and full["bench"]["n_test"] >= 200


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


def test_stage0_caption_rows_cover_the_train_split_once(run, bench, tmp_path):
    data = tmp_path / "data"
    prepare_dataset(bench, bench / "videos", data, tasks=("qa", "tag"), split="train", prompt_style="eval")
    assert run.ensure_caption_dataset(bench, data) == run.CAPTION_DATASET
    assert run.ensure_caption_dataset(bench, data) == run.CAPTION_DATASET  # idempotent
    info = json.loads((data / "dataset_info.json").read_text())
    rows = json.loads((data / info[run.CAPTION_DATASET]["file_name"]).read_text())
    manifest = json.loads((bench / "manifest.json").read_text())
    train = {c["name"] for c in manifest["clips"] if c["split"] == "train"}
    assert {Path(r["videos"][0]).name for r in rows} == train and len(rows) == len(train)
    for row in rows:
        user, assistant = row["messages"]
        assert user["content"] == "<video>" + run.CAPTION_PROMPT and Path(row["videos"][0]).is_file()
        assert " s to " in assistant["content"]  # the Reasoning sentence carries the event's times


def test_baselines_come_from_the_annotations(run, bench):
    base = run.baselines(bench)
    assert base["chance"]["qa_accuracy"] == 25.0
    assert 0 < base["chance"]["tag_mIoU"] < 50 and 0 <= base["chance"]["tag_R@0.5"] <= 100
    manifest = json.loads((bench / "manifest.json").read_text())
    test = [c for c in manifest["clips"] if c["split"] == "test"]
    assert base["majority"]["qa_accuracy"] in {100.0 * k / len(test) for k in range(len(test) + 1)}
    assert base["majority"]["mean_train_span"][0] < base["majority"]["mean_train_span"][1]


def test_table_reports_mean_and_sample_std_over_seeds(run):
    runs = [
        {"seed": s, "variant": "none", "sft": {"qa_accuracy": acc, "tag_mIoU": 10.0}, "grpo": {"qa_accuracy": acc + 1}}
        for s, acc in enumerate([30.0, 40.0, 50.0])
    ]
    rows = run.aggregate(runs, {"chance": {"qa_accuracy": 25.0}})
    by_method = {r["method"]: r for r in rows}
    sft = by_method["SFT, motion=none"]
    assert sft["n"] == 3 and sft["qa_accuracy"] == [40.0, 10.0] and sft["tag_mIoU"] == [10.0, 0.0]
    assert by_method["SFT+GRPO, motion=none"]["qa_accuracy"][0] == 41.0
    table = run.markdown_table(rows)
    assert "| SFT, motion=none | 3 | 40.0 ± 10.0 |" in table and "| chance | – | 25.0 |" in table
    assert math.isclose(run.mean_std([1.0])[1], 0.0)


def test_report_redraws_table_and_reward_plot_from_a_summary(run, tmp_path):
    from PIL import Image

    rewards = [{"step": s, "reward": 1.0 + s / 10, "rewards/accuracy_reward/mean": 0.5, "rewards/tiou_reward/mean": 0.1} for s in range(1, 9)]
    runs = [
        {"seed": seed, "variant": variant, "sft": {"qa_accuracy": 30.0}, "grpo": {"qa_accuracy": 31.0},
         "rewards": rewards, "sft_loss": [{"step": 10, "loss": 1.0}, {"step": 20, "loss": 0.5}]}
        for seed in (0, 1) for variant in ("none", "learnable")
    ]  # fmt: skip
    table, plot = run.write_report(tmp_path, {"runs": runs, "baselines": {"chance": {"qa_accuracy": 25.0}}})
    assert (tmp_path / "results.md").read_text().startswith(table + "\n") and "SFT+GRPO, motion=learnable | 2 | 31.0 ± 0.0" in table
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size[0] > 1000
    assert run.moving_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert run.write_report(tmp_path, {"runs": [dict(r, rewards=[]) for r in runs], "baselines": {}})[1] is None


def test_prediction_stats_expose_a_model_that_answers_the_same_for_every_clip(run, tmp_path):
    eval_dir = tmp_path / "seed0" / "none" / "eval_sft"
    (eval_dir / "model").mkdir(parents=True)
    qa = [{"accuracy": {"pred": p, "gt": "A", "score": float(p == "A")}} for p in "AAAB"]
    tag = [{"mIoU": {"pred": span, "gt": [1.0, 2.0], "iou": 0.0}} for span in ([1.0, 3.0], [1.0, 3.0], [2.0, 5.0], None)]
    (eval_dir / "model" / "samples_vau_bench_qa_think.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa))
    (eval_dir / "model" / "samples_vau_bench_tag_think.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tag))
    assert run.prediction_stats(eval_dir) == {"qa_top_answer_share": 75.0, "tag_distinct_spans": 2, "tag_mean_span": [1.33, 3.67]}
    table = run.prediction_table(tmp_path, [{"seed": 0, "variant": "none"}])
    assert "| SFT, motion=none | 1 | 75.0 % | 2.0 | [1.33, 3.67] |" in table


def test_caption_probe_scores_every_held_out_clip_and_caches(run, bench, tiny_model_dir, tmp_path):
    import shutil

    checkpoint = tmp_path / "ckpt"
    shutil.copytree(tiny_model_dir, checkpoint)
    config = run.load_config(run.DEFAULT_CONFIG, quick=True)
    probe = run.caption_probe(checkpoint, bench, config)
    assert probe["clips"] == 8 and sum(probe["kinds_named"].values()) == 8
    assert 0 <= probe["kind_accuracy"] <= 100 and 0 <= probe["start_window_accuracy"] <= 100
    assert json.loads((checkpoint / "probe_test.json").read_text()) == probe
    (checkpoint / "model.safetensors").unlink()  # a second call reads the cache, not the model
    assert run.caption_probe(checkpoint, bench, config) == probe


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

"""Does training use the video? `vau-plugin demo` (what `make demo` runs) is the colour check of
`vau_plugin.learning`, end to end in a subprocess: format-only SFT, lmms-eval, GRPO through `llamafactory-cli
train`, lmms-eval again. The held-out accuracy must go from about chance to >= 90 %, and the same GRPO on labels
unrelated to the video (the control) must leave it near chance. Seeds are fixed; assertions are on accuracies
measured by lmms-eval, not on loss values. About 4 minutes on 2 cores."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vau_plugin.benches.colour import COLOURS, make_colour_bench
from vau_plugin.data.sources import load_records
from vau_plugin.demo import metrics_table
from vau_plugin.learning import CHANCE, LearningWorkspace, accuracy_trend, evaluate, reward_log, train_stage


def test_metrics_table_lists_every_metric_but_stderr():
    results = {"results": {"t": {"alias": "t", "mIoU,none": 12.5, "mIoU_stderr,none": "N/A", "R@0.5,none": 50.0}}}
    table = metrics_table(results)
    assert "t                        mIoU                      12.50" in table
    assert "R@0.5" in table and "stderr" not in table and "alias" not in table


def test_colour_bench_control_letters_are_unrelated_to_the_colour(tmp_path):
    bench = make_colour_bench(tmp_path / "b", n_train=20, n_test=4, size=56)
    true = load_records(bench.train, split="train")
    control = load_records(bench.control, split="train")
    assert [r.video for r in true] == [r.video for r in control]
    for colour in COLOURS:  # within each colour, as many A as B: SFT on them cannot learn the colour
        letters = [c.answer for t, c in zip(true, control) if t.answer == colour]
        assert sorted(letters) == ["A"] * (len(letters) // 2) + ["B"] * (len(letters) // 2)
    again = make_colour_bench(tmp_path / "again", n_train=20, n_test=4, size=56)
    assert again.control.read_bytes() == bench.control.read_bytes()
    with pytest.raises(FileExistsError, match="--force"):
        make_colour_bench(tmp_path / "b", n_train=20, n_test=4, size=56)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's run (stdout, workdir), made once for this module."""
    root = tmp_path_factory.mktemp("demo") / "demo"
    cli = Path(sys.executable).parent / "vau-plugin"
    proc = subprocess.run([str(cli), "demo", "--workdir", str(root)], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, root


def _accuracy(root: Path, name: str) -> dict:
    found = sorted((root / "colour" / "eval" / name).rglob("*_results.json"))
    assert found, f"no lmms-eval results for {name}"
    return json.loads(found[-1].read_text())["results"]["vau_bench_qa_think"]


@pytest.mark.e2e
def test_demo_grpo_raises_held_out_accuracy_from_chance(demo):
    out, root = demo
    before, after = _accuracy(root, "before_grpo"), _accuracy(root, "after_grpo")
    assert abs(before["accuracy,none"] - CHANCE) <= 20, before  # format-only SFT: about chance
    assert after["accuracy,none"] >= 90, after
    assert after["unparsed,none"] == 0 and after["video_errors,none"] == 0
    log = reward_log(root / "colour" / "out" / "grpo")
    first, last = accuracy_trend(log, 5)
    assert last > first + 0.2, log
    assert (root / "grpo_reward.png").stat().st_size > 1000
    assert "held-out accuracy" in out and "lmms-eval --model vau_qwen2_5_vl" in out and "demo finished" in out
    assert "test: 40 rows" in out and "0 errors" in out


@pytest.mark.e2e
def test_demo_leaves_what_the_readme_recipes_read(demo):
    _, root = demo
    assert (root / "tiny_model" / "config.json").is_file() and (root / "data" / "dataset_info.json").is_file()
    assert (root / "recipes" / "vau_r1_grpo_tiny.yaml").is_file()
    assert (root / "tiny_qwen3_vl" / "config.json").is_file()  # vau_r1_grpo_qwen3_vl_tiny.yaml's model
    assert (root / "recipes" / "vau_r1_grpo_qwen3_vl_tiny.yaml").is_file()
    assert (root / "colour" / "recipes" / "colour_grpo.yaml").is_file()


@pytest.mark.e2e
def test_grpo_on_labels_unrelated_to_the_video_stays_at_chance(demo):
    _, root = demo
    space = LearningWorkspace(root / "colour")
    control = evaluate(space, train_stage(space, "grpo_control"), "grpo_control")
    assert abs(control["accuracy"] - CHANCE) <= 25, control
    assert control["unparsed"] == 0  # the format survived: the control learnt, just nothing about the colour


@pytest.mark.e2e
def test_an_evaluation_over_fewer_clips_than_the_split_holds_is_an_error(demo, monkeypatch):
    import vau_plugin.learning as learning

    _, root = demo
    space = LearningWorkspace(root / "colour")
    held_out = learning.load_records(space.bench.test, split="test")
    monkeypatch.setattr(learning, "load_records", lambda *a, **k: held_out + held_out[:1])  # the split "holds" 41
    with pytest.raises(RuntimeError, match="scored 40 clips of .*, which holds 41"):
        evaluate(space, space.output("grpo"), "short_base")

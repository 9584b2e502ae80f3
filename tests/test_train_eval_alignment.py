"""What a model is trained on (LLaMA-Factory, template `qwen2_vl_vau`, `prepare --prompt-style eval`) is what it is
evaluated on (lmms-eval's `vau_bench_*_think` tasks through `vau_qwen2_5_vl`): the same token ids, the same video
grid, the same time step of the temporal position ids and the same pixels, because one decoder serves both.
Checked on an order-bench clip (56x56, 8 s at 2 fps) with the video settings of experiments/motion_vau/config.json,
and on a motion-bench clip (128x96, 8 s at 5 fps) with the VAU-R1 paper's evaluation budgets (vau_plugin.budget), expressed as LLaMA-Factory keys.
The same holds for Qwen3-VL (`qwen3_vl_vau` / `qwen3_vl_motion` and `vau_qwen3_vl`: the real frame times in the same
token ids) and Qwen2-VL (`qwen2_vl_vau` and `vau_qwen2_vl`), at the paper's budgets in each family's token units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vau_plugin.benches.motion import LMMS_SPLIT, make_motion_bench
from vau_plugin.benches.order import make_order_bench
from vau_plugin.budget import PROCESSOR_MAX_PIXELS, PROCESSOR_MIN_PIXELS, budget_for
from vau_plugin.llamafactory.prepare import prepare_dataset

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT_CONFIG = json.loads((REPO / "experiments/motion_vau/config.json").read_text())
EXPERIMENT = EXPERIMENT_CONFIG["video"]
# A real Qwen2.5-VL checkpoint's video processor range (preprocessor_config.json); the tiny model's is smaller.
CHECKPOINT_RANGE = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 16384}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("align") / "bench"
    make_motion_bench(root, seed=1, n_train=8, n_test=8)
    prepare_dataset(root, root / "videos", root / "lf", tasks=("qa", "tag"), split=LMMS_SPLIT, prompt_style="eval")
    return root


@pytest.fixture(scope="module")
def order_bench(tmp_path_factory):
    """The experiment's bench at its settings, three held-out clips."""
    root = tmp_path_factory.mktemp("align") / "order"
    settings = EXPERIMENT_CONFIG["bench"]
    make_order_bench(root, **{**settings, "n_train": 0, "n_val": 0, "n_test": 3})
    prepare_dataset(root / "test.csv", root / "videos", root / "lf", tasks=EXPERIMENT_CONFIG["tasks"], split="test", prompt_style="eval")
    return root


def llamafactory_inputs(
    model_dir: Path, row: dict, video: dict, processor_range: dict | None = None, template_name: str = "qwen2_vl_vau"
) -> tuple[list[int], dict]:
    """Token ids and video tensors of one SFT row the way `llamafactory-cli train` builds them."""
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoProcessor

    from vau_plugin.llamafactory.mm_plugin import register

    register()
    processor = AutoProcessor.from_pretrained(model_dir)
    if processor_range:
        processor.video_processor.size = dict(processor_range)
    template = get_template_and_fix_tokenizer(processor.tokenizer, DataArguments(template=template_name))
    # the attributes LLaMA-Factory's loader sets on the processor from the model arguments
    settings = dict(image_max_pixels=768 * 768, image_min_pixels=32 * 32, image_do_pan_and_scan=False,
                    crop_to_patches=False, use_audio_in_video=False, **video)  # fmt: skip
    for key, value in settings.items():
        setattr(processor, key, value)
    messages = template.mm_plugin.process_messages([dict(m) for m in row["messages"]], [], row["videos"], [], processor)
    prompt_ids, _ = template.encode_oneturn(processor.tokenizer, messages, None, None)
    return prompt_ids, template.mm_plugin._get_mm_inputs([], row["videos"], [], processor)


@pytest.fixture(scope="module")
def evaluators(tiny_model_dir):
    """vau_qwen2_5_vl models by model_args, built once (loading the tiny model is the slow part)."""
    from vau_plugin.lmms.model import VAUQwen2_5_VL

    made: dict[str, VAUQwen2_5_VL] = {}

    def get(**model_args) -> VAUQwen2_5_VL:
        key = json.dumps(model_args, sort_keys=True)
        if key not in made:
            made[key] = VAUQwen2_5_VL(pretrained=str(tiny_model_dir), device="cpu", **model_args)
        return made[key]

    return get


def lmms_eval_inputs(model, task_name: str, video_name: str, monkeypatch, bench: Path) -> dict:
    """The processor output of `vau_qwen2_5_vl` for one document of a real lmms-eval task object."""
    from lmms_eval.protocol import ChatMessages
    from lmms_eval.tasks import TaskManager, get_task_dict

    monkeypatch.setenv("VAU_BENCH_ROOT", str(bench))
    monkeypatch.setenv("VAU_BENCH_VIDEO_ROOT", str(bench / "videos"))
    monkeypatch.setenv("VAU_BENCH_SPLITS", LMMS_SPLIT)
    task = get_task_dict([task_name], TaskManager(), task_type="chat")[task_name]  # as for vau_qwen2_5_vl
    doc = next(d for d in task.test_docs() if d["video"] == video_name)
    text, videos = model.prepare(doc, ChatMessages(messages=task.doc_to_messages(doc)))
    return model.inputs([text], videos)


def assert_same(evaluated: dict, train_ids: list[int], train_video: dict) -> None:
    assert evaluated["input_ids"][0].tolist() == train_ids
    assert evaluated["video_grid_thw"].tolist() == train_video["video_grid_thw"].tolist()
    assert list(evaluated["second_per_grid_ts"]) == pytest.approx(list(train_video["second_per_grid_ts"]))
    assert evaluated["pixel_values_videos"].equal(train_video["pixel_values_videos"])  # one decoder: same pixels


@pytest.mark.parametrize("task", EXPERIMENT_CONFIG["tasks"])
def test_experiment_settings_agree(task, order_bench, tiny_model_dir, evaluators, monkeypatch):
    # every task the experiment trains (its SFT rows) is evaluated on the same tokens and video
    row = json.loads((order_bench / "lf" / f"sft_{task}.json").read_text())[0]
    train_ids, train_video = llamafactory_inputs(tiny_model_dir, row, EXPERIMENT)
    model = evaluators(fps=EXPERIMENT["video_fps"], max_num_frames=EXPERIMENT["video_maxlen"],
                       min_pixels=EXPERIMENT["video_min_pixels"], max_pixels=EXPERIMENT["video_max_pixels"])  # fmt: skip
    evaluated = lmms_eval_inputs(model, f"vau_bench_{task}_think", row["video_id"], monkeypatch, order_bench)
    assert_same(evaluated, train_ids, train_video)
    # 8 s at 2 fps -> 16 frames (video_maxlen) -> 8 temporal patches of 2 frames; 56x56 px -> 4x4 patches
    assert evaluated["video_grid_thw"].tolist() == [[8, 4, 4]]
    assert float(evaluated["second_per_grid_ts"][0]) == pytest.approx(1.0)


GRPO_VS_SFT = json.loads((REPO / "experiments/grpo_vs_sft/config.json").read_text())


def test_answer_only_prompt_style_agrees_with_vau_bench_qa_answer(tmp_path, tiny_model_dir, evaluators, monkeypatch):
    # experiments/grpo_vs_sft trains `prepare --prompt-style answer` rows and tests with vau_bench_qa_answer
    root = tmp_path / "order"
    make_order_bench(root, **{**GRPO_VS_SFT["bench"], "n_train": 0, "n_val": 0, "n_test": 2})
    prepare_dataset(root / "test.csv", root / "videos", root / "lf", tasks=("qa",), split="test", prompt_style="answer")
    row = json.loads((root / "lf" / "sft_qa.json").read_text())[0]
    assert row["messages"][1]["content"] == f"<answer>{row['answer']}</answer>"
    video = GRPO_VS_SFT["video"]
    train_ids, train_video = llamafactory_inputs(tiny_model_dir, row, video)
    model = evaluators(fps=video["video_fps"], max_num_frames=video["video_maxlen"],
                       min_pixels=video["video_min_pixels"], max_pixels=video["video_max_pixels"])  # fmt: skip
    evaluated = lmms_eval_inputs(model, "vau_bench_qa_answer", row["video_id"], monkeypatch, root)
    assert_same(evaluated, train_ids, train_video)
    assert "<answer> </answer> tags" in model.processor.tokenizer.decode(train_ids)


def paper_keys(task: str, image_factor: int = 28) -> dict:
    """LLaMA-Factory keys that reproduce the paper's evaluation budget of `task` (README: train as you evaluate), in
    the units of a model whose visual token is image_factor² px. The processor's own floor (VAU-R1: 256·28²) is the
    frame floor, since it enlarges anything smaller."""
    budget = budget_for(task).for_image_factor(image_factor)
    return {"video_fps": budget.fps, "video_maxlen": budget.max_frames, "video_max_pixels": budget.max_pixels,
            "video_min_pixels": max(budget.min_pixels, budget.processor_min_pixels)}  # fmt: skip


def test_paper_tag_budget_agrees(bench, tiny_model_dir, evaluators, monkeypatch):
    row = json.loads((bench / "lf" / "sft_tag.json").read_text())[0]
    train_ids, train_video = llamafactory_inputs(tiny_model_dir, row, paper_keys("tag"), CHECKPOINT_RANGE)
    evaluated = lmms_eval_inputs(evaluators(), "vau_bench_tag_think", row["video_id"], monkeypatch, bench)
    assert_same(evaluated, train_ids, train_video)
    # 2 fps x 8 s = 16 frames; 96x128 enlarged to >= 256·28² px: 392x532 -> 28x38 patches
    assert evaluated["video_grid_thw"].tolist() == [[8, 28, 38]]
    assert float(evaluated["second_per_grid_ts"][0]) == pytest.approx(1.0)


def test_paper_qa_budget_agrees_but_for_the_reference_time_step(bench, tiny_model_dir, evaluators, monkeypatch):
    row = json.loads((bench / "lf" / "sft_qa.json").read_text())[0]
    train_ids, train_video = llamafactory_inputs(tiny_model_dir, row, paper_keys("qa"), CHECKPOINT_RANGE)
    evaluated = lmms_eval_inputs(evaluators(), "vau_bench_qa_think", row["video_id"], monkeypatch, bench)
    # 1 fps x 8 s = 8 frames at 128·28² <= px, then the processor's 256·28² floor: 392x532
    assert evaluated["video_grid_thw"].tolist() == train_video["video_grid_thw"].tolist() == [[4, 28, 38]]
    assert evaluated["pixel_values_videos"].equal(train_video["pixel_values_videos"])
    # VAU-R1's QA script labels the video ("Video 1: "; `prepare --prompt-style eval` writes it too) and passes no
    # fps (the processor then assumes 2 fps): the evaluation reproduces both; training encodes the real 1-fps step.
    assert evaluated["input_ids"][0].tolist() == train_ids
    assert "Video 1: <|vision_start|>" in evaluators().processor.tokenizer.decode(train_ids)
    assert float(evaluated["second_per_grid_ts"][0]) == pytest.approx(1.0)
    assert float(train_video["second_per_grid_ts"][0]) == pytest.approx(2.0)


def test_processor_range_follows_the_budget(tiny_model_dir, evaluators):
    model = evaluators()
    size = model.processor.video_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (PROCESSOR_MIN_PIXELS, PROCESSOR_MAX_PIXELS)


# family -> (tiny checkpoint fixture, lmms-eval wrapper, LLaMA-Factory template, the real checkpoint's video range)
OTHER_FAMILIES = {
    "qwen3_vl": ("tiny_qwen3_vl_dir", "VAUQwen3_VL", "qwen3_vl_vau", {"shortest_edge": 4096, "longest_edge": 25165824}),
    "qwen2_vl": ("tiny_qwen2_vl_dir", "VAUQwen2_VL", "qwen2_vl_vau", CHECKPOINT_RANGE),
}


def _pair_means(times: list[float]) -> list[str]:
    return [f"{(a + b) / 2:.1f}" for a, b in zip(times[::2], times[1::2])]


@pytest.mark.parametrize("task", ["qa", "tag"])
@pytest.mark.parametrize("family", list(OTHER_FAMILIES))
def test_other_families_agree_at_the_paper_budgets(family, task, bench, request, monkeypatch):
    import importlib
    import re

    from vau_plugin.video import load_video

    fixture, wrapper, template, checkpoint_range = OTHER_FAMILIES[family]
    model_dir = request.getfixturevalue(fixture)
    model = getattr(importlib.import_module("vau_plugin.lmms.model"), wrapper)(pretrained=str(model_dir), device="cpu")
    row = json.loads((bench / "lf" / f"sft_{task}.json").read_text())[0]
    train_ids, train_video = llamafactory_inputs(model_dir, row, paper_keys(task, model.image_factor), checkpoint_range, template)
    evaluated = lmms_eval_inputs(model, f"vau_bench_{task}_think", row["video_id"], monkeypatch, bench)
    assert evaluated["input_ids"][0].tolist() == train_ids
    assert evaluated["video_grid_thw"].tolist() == train_video["video_grid_thw"].tolist()
    assert evaluated["pixel_values_videos"].equal(train_video["pixel_values_videos"])
    # the grid of Qwen2.5-VL at the same budget (test_paper_*_budget_agrees): the same visual tokens in every family
    assert evaluated["video_grid_thw"].tolist() == {"qa": [[4, 28, 38]], "tag": [[8, 28, 38]]}[task]
    assert "second_per_grid_ts" not in evaluated and "second_per_grid_ts" not in train_video
    if family == "qwen3_vl":  # the real time of each frame pair, in the prompt of both
        sampled = load_video(row["videos"][0], model.budget({"task": task}).sampling())
        text = model.tokenizer.decode(train_ids)
        assert re.findall(r"<([0-9.]+) seconds>", text) == _pair_means(sampled.timestamps)


def test_qwen3_vl_with_fixed_motion_prompts_agrees(bench, tiny_qwen3_vl_dir, monkeypatch):
    """`qwen3_vl_motion` (recipe keys vau_motion_m / _n) and `vau_qwen3_vl` with motion_prompt=true: T + 1 frames
    prompted into T, the same pixels, and the same times (of the frames shown) in the same token ids."""
    from vau_plugin.llamafactory.motion import ENV_VARS
    from vau_plugin.lmms.model import VAUQwen3_VL

    for variable in ENV_VARS.values():  # what an earlier in-process recipe parse exported (learnable, weights, ...)
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("VAU_MOTION_M", "0.5")
    monkeypatch.setenv("VAU_MOTION_N", "0.1")
    row = json.loads((bench / "lf" / "sft_tag.json").read_text())[0]
    model = VAUQwen3_VL(pretrained=str(tiny_qwen3_vl_dir), device="cpu", motion_prompt=True, motion_m=0.5, motion_n=0.1)
    keys = paper_keys("tag", model.image_factor)
    train_ids, train_video = llamafactory_inputs(tiny_qwen3_vl_dir, row, keys, OTHER_FAMILIES["qwen3_vl"][3], "qwen3_vl_motion")
    evaluated = lmms_eval_inputs(model, "vau_bench_tag_think", row["video_id"], monkeypatch, bench)
    assert evaluated["input_ids"][0].tolist() == train_ids
    assert evaluated["video_grid_thw"].tolist() == train_video["video_grid_thw"].tolist() == [[8, 28, 38]]
    assert evaluated["pixel_values_videos"].equal(train_video["pixel_values_videos"])
    plain_ids, _ = llamafactory_inputs(tiny_qwen3_vl_dir, row, keys, OTHER_FAMILIES["qwen3_vl"][3], "qwen3_vl_vau")
    assert train_ids != plain_ids  # the times moved by one sampled frame

"""EasyR1's and ms-swift's entry points (vau_plugin/frameworks/) score exactly as `vau_plugin.rewards` does, called
the way those frameworks call them, and `prepare --format easyr1|swift` writes files whose ground truth they read.

Neither framework is installed here (EasyR1 needs vLLM and flash-attn; ms-swift 4.x's dataset preprocessor imports
`datasets.features.Json`, absent from the pinned datasets 4.0, and 3.x wants datasets<4): the tests restate the
calls from their sources, cited in each module's docstring (EasyR1 main b44b311,
verl/workers/reward/function.py and verl/utils/dataset.py; ms-swift v4.5.2 / main 3602360 and v3.12.6,
swift/utils/utils.py import_external_file, swift/rl_core/grpo_algorithm.py compute_rewards_per_func,
swift/dataset/preprocessor/core.py rows_to_batched).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import types
from functools import partial
from pathlib import Path

import pytest

from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.cli import build_parser
from vau_plugin.commands import prepare as prepare_command
from vau_plugin.frameworks import easyr1_reward, swift_reward
from vau_plugin.frameworks.easyr1_reward import decode_ground_truth, encode_ground_truth
from vau_plugin.llamafactory.prepare import prepare_dataset, target_text
from vau_plugin.rewards import REWARD_FUNCS

FRAMEWORKS = Path(easyr1_reward.__file__).parent
THINK = "<think>A man walks, then a car hits him.</think>"
QA = {"task": "qa", "answer": "B", "span": None}
TAG = {"task": "tag", "answer": "Anomaly", "span": [3.0, 7.5]}
NORMAL = {"task": "tag", "answer": "Normal", "span": [-1.0, -1.0]}
NORMAL_NULL = {"task": "tag", "answer": "Normal", "span": None}
CLS = {"task": "cls", "answer": "Traffic_accident", "span": None}
# (completion, ground truth): well-formed right and wrong answers of each task, normal videos, malformed text, None
CASES = [
    (THINK + "<answer>B</answer>", QA),
    (THINK + "<answer>C</answer>", QA),
    ("B", QA),
    (THINK + "<answer>B</answer><glue>[1, 2]</glue>", QA),
    (THINK + "<answer>Anomaly</answer><glue>[3.0, 7.5]</glue>", TAG),
    (THINK + "<answer>Anomaly</answer><glue>[5.25, 9.0]</glue>", TAG),
    (THINK + "<answer>Anomaly</answer>", TAG),
    (THINK + "<answer>Normal</answer><glue>[-1.0, -1.0]</glue>", TAG),
    (THINK + "<answer>Normal</answer><glue>[-1, -1]</glue>", NORMAL),
    (THINK + "<answer>Anomaly</answer><glue>[2.0, 4.0]</glue>", NORMAL),
    (THINK + "<answer>Normal</answer><glue>[-1.0, -1.0]</glue>", NORMAL_NULL),
    (THINK + "<answer>traffic accident</answer>", CLS),
    (THINK + "<answer>Robbery</answer>", CLS),
    ("<think>unclosed<answer>B</answer>", QA),
    ("<glue>[1e308, inf]</glue><answer>", TAG),
    ("", CLS),
    (None, TAG),
]
COMPLETIONS = [completion for completion, _ in CASES]
COLUMNS = {key: [truth[key] for _, truth in CASES] for key in ("task", "answer", "span")}


def _expected() -> dict[str, list[float]]:
    """What `vau_plugin.rewards` gives for CASES, called as TRL calls it."""
    return {name: func(COMPLETIONS, **COLUMNS) for name, func in REWARD_FUNCS.items()}


def test_cases_exercise_every_reward_value():
    expected = _expected()
    for name in REWARD_FUNCS:
        assert {0.0, 1.0} <= set(expected[name]), name  # right and wrong in every reward
    assert 0.0 < min(v for v in expected["iou"] if v > 0) < 1.0  # a partial overlap


# ------------------------------------------------------------------------------------------------ EasyR1


def _load_like_easyr1(path: Path, name: str = "compute_score"):
    """EasyR1's AutoRewardManager.__init__ (verl/workers/reward/function.py): the file by path as custom_reward_fn,
    REWARD_TYPE (default batch), the function partially applied to worker.reward.reward_function_kwargs ({})."""
    spec = importlib.util.spec_from_file_location("custom_reward_fn", str(path))
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("custom_reward_fn")
    sys.modules["custom_reward_fn"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("custom_reward_fn", None)
        else:
            sys.modules["custom_reward_fn"] = saved
    return partial(getattr(module, name), **{}), getattr(module, "REWARD_TYPE", "batch")


def _reward_inputs(completions, truths):
    # the manager's per-rollout dict: the decoded response, its token count, the answer_key column's string
    return [
        {"response": completion, "response_length": len(completion or "") + 1, "ground_truth": encode_ground_truth(truth)}
        for completion, truth in zip(completions, truths)
    ]


def test_easyr1_compute_score_equals_the_rewards_batch_and_sequential():
    reward_fn, reward_type = _load_like_easyr1(Path(easyr1_reward.__file__))
    assert reward_type == "batch"
    inputs = _reward_inputs(COMPLETIONS, [truth for _, truth in CASES])
    scores = reward_fn(inputs)
    expected = _expected()
    assert len(scores) == len(CASES)
    for i, score in enumerate(scores):
        per_reward = {name: expected[name][i] for name in REWARD_FUNCS}
        assert score == {"overall": sum(per_reward.values()), **per_reward}, CASES[i]
        assert all(type(value) is float for value in score.values())
        assert reward_fn(inputs[i]) == score  # worker.reward.reward_type=sequential: one dict in, one out
    # the manager logs every key's mean: all dicts have the same keys; "overall" goes on the last token
    assert {frozenset(score) for score in scores} == {frozenset({"overall", "format", "accuracy", "iou"})}
    assert reward_fn([]) == []


@pytest.mark.parametrize(
    "ground_truth",
    ["B", "", "{", "[1, 2]", "null", '{"task": "qa", "answer": "B"}', "__import__('os').getcwd()", None, 3, ["qa"]],
)
def test_easyr1_malformed_ground_truth_is_a_clear_error(ground_truth):
    inputs = [{"response": THINK + "<answer>B</answer>", "response_length": 9, "ground_truth": ground_truth}]
    with pytest.raises(ValueError, match=r"expected a JSON object with keys task, answer, span.*prepare --format easyr1"):
        easyr1_reward.compute_score(inputs)


def test_easyr1_ground_truth_error_quotes_only_the_start():
    with pytest.raises(ValueError) as err:
        decode_ground_truth("x" * 100_000)
    assert len(str(err.value)) < 400


def test_easyr1_ground_truth_round_trips_and_drops_other_keys():
    for _, truth in CASES:
        assert decode_ground_truth(encode_ground_truth({**truth, "video_id": "v.mp4"})) == truth
    assert decode_ground_truth({**QA, "extra": 1}) == QA
    # values that parse but do not fit are scored as vau_plugin.rewards scores them: no accuracy, no IoU
    (score,) = easyr1_reward.compute_score(_reward_inputs([THINK + "<answer>B</answer>"], [{"task": "ocr", "answer": "B", "span": 7}]))
    assert score == {"overall": 1.0, "format": 1.0, "accuracy": 0.0, "iou": 0.0}


# ------------------------------------------------------------------------------------------------ ms-swift


def _fake_swift(monkeypatch, layout: str) -> dict:
    """A `swift` package shaped like ms-swift's registry module: v4's swift.rewards or v3's swift.plugin, each with
    the ORM base class and the `orms` dict (holding one built-in entry)."""

    class ORM:
        def __init__(self, args=None, **kwargs):
            self.args = args

    orms = {"format": ORM}
    package = types.ModuleType("swift")
    package.__path__ = []
    registry = types.ModuleType(f"swift.{layout}")
    registry.ORM, registry.orms = ORM, orms
    setattr(package, layout, registry)
    monkeypatch.setitem(sys.modules, "swift", package)
    monkeypatch.setitem(sys.modules, f"swift.{layout}", registry)
    other = "plugin" if layout == "rewards" else "rewards"
    monkeypatch.setitem(sys.modules, f"swift.{other}", None)  # that layout is absent
    return orms


def _import_like_swift(monkeypatch, path: Path):
    """ms-swift's import_external_file (swift/utils/utils.py): the folder first on sys.path, the file by its stem."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    stem = path.name.split(".", 1)[0]
    monkeypatch.delitem(sys.modules, stem, raising=False)
    sys.path.insert(0, str(path.parent))
    try:
        return importlib.import_module(stem)
    finally:
        sys.modules.pop(stem, None)


def _batched(rows: list[dict]) -> dict[str, list]:
    """RowPreprocessor.rows_to_batched (swift/dataset/preprocessor/core.py): one list per key, None where a row lacks it."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return {key: [row.get(key) for row in rows] for key in keys}


def _instantiate(cls, version: str):
    if version == "v4":  # grpo_trainer._prepare_rewards: orms[name](args=args)
        return cls(args=types.SimpleNamespace(num_generations=4))
    # v3: the keyword arguments its __init__ names besides self/args/kwargs, read from the GRPO args
    names = [n for n in inspect.signature(cls.__init__).parameters if n not in ("self", "args", "kwargs")]
    return cls(**{n: None for n in names})


def _swift_kwargs(rows: list[dict], completions: list) -> dict:
    # compute_rewards_per_func: trainer_state, then each sample's reward row (messages with the completion last,
    # ms-swift's own fields, every dataset column)
    reward_rows = [
        {
            "messages": [*row.get("messages", [])[:1], {"role": "assistant", "content": completion}],
            "prompt_id": f"p{i // 2}",
            "request_id": f"r{i}",
            "finish_reason": "stop",
            "is_truncated": False,
            **{k: v for k, v in row.items() if k != "messages"},
        }
        for i, (row, completion) in enumerate(zip(rows, completions))
    ]
    return {"trainer_state": types.SimpleNamespace(global_step=3, max_steps=10), **_batched(reward_rows)}


@pytest.mark.parametrize("layout, version", [("rewards", "v4"), ("plugin", "v3")])
def test_swift_plugin_registers_orms_that_equal_the_rewards(monkeypatch, layout, version):
    orms = _fake_swift(monkeypatch, layout)
    module = _import_like_swift(monkeypatch, Path(swift_reward.__file__))
    assert set(orms) == {"format", "vau_format", "vau_accuracy", "vau_iou"}  # added, nothing replaced
    rows = [{"videos": ["/v.mp4"], "video_id": "v.mp4", **truth} for _, truth in CASES]
    kwargs = _swift_kwargs(rows, COMPLETIONS)
    expected = _expected()
    for name, reward in (("vau_format", "format"), ("vau_accuracy", "accuracy"), ("vau_iou", "iou")):
        reward_func = _instantiate(orms[name], version)
        assert orms[name] is getattr(module, type(reward_func).__name__)  # the classes of the file swift imported
        assert not inspect.iscoroutinefunction(reward_func.__call__)  # run as a synchronous reward
        output = reward_func(COMPLETIONS, **kwargs)
        assert output == expected[reward] and all(type(v) is float for v in output), name


def test_swift_plugin_without_swift_registers_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "swift", None)  # not importable
    module = _import_like_swift(monkeypatch, Path(swift_reward.__file__))
    assert module.swift_orms() is None and module.register() == {}
    registry = {"format": object}
    assert swift_reward.register(registry) is registry and set(registry) == {"format", "vau_format", "vau_accuracy", "vau_iou"}


def test_swift_orm_without_the_columns_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no column\(s\) answer, span.*prepare --format swift"):
        swift_reward.VAUAccuracy()([THINK + "<answer>B</answer>"], task=["qa"], solution=["B"])


def test_entry_points_import_only_the_standard_library():
    # the README installs the plugin with --no-deps into the frameworks' environments
    code = (
        "import sys; before = set(sys.modules)\n"
        "import vau_plugin.frameworks.easyr1_reward, vau_plugin.frameworks.swift_reward\n"
        "top = {name.split('.')[0] for name in set(sys.modules) - before}\n"
        "print(sorted(top - set(sys.stdlib_module_names) - {'vau_plugin'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(FRAMEWORKS.parents[1]), "VAU_PLUGIN_NO_HOOK": "1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_no_framework_file_shadows_a_top_level_module():
    # ms-swift puts this folder first on sys.path: a file named like an installed module (or swift, verl) would
    # replace it in the training process
    stems = {path.stem for path in FRAMEWORKS.glob("*.py")} - {"__init__"}
    assert stems == {"easyr1_reward", "swift_reward"}
    for stem in stems:
        assert stem not in {"swift", "verl", "trl", "transformers", "torch", "datasets"}
        assert importlib.util.find_spec(stem) is None, stem


# ------------------------------------------------------------------------------------------------ prepare


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    bench = bundled_mini_bench()
    out = tmp_path_factory.mktemp("frameworks")
    summaries = {fmt: prepare_dataset(bench, bench / "videos", out, split="train", fmt=fmt) for fmt in ("llamafactory", "easyr1", "swift")}
    return out, summaries


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _load_dataset(path: Path) -> list[dict]:
    """The rows as both frameworks load them: datasets' json builder (arrow types: a null/list span column)."""
    from datasets import load_dataset

    return list(load_dataset("json", data_files=str(path), split="train", cache_dir=str(path.parent / ".hf_cache")))


def test_prepare_easyr1_rows_are_what_easyr1_reads(prepared):
    out, summaries = prepared
    assert set(summaries["easyr1"].rows) == {f"easyr1_{t}.jsonl" for t in ("qa", "tag", "cls", "mixed")}  # no SFT
    grpo = json.loads((out / "grpo_mixed.json").read_text(encoding="utf-8"))
    rows = _jsonl(out / "easyr1_mixed.jsonl")
    assert len(rows) == len(grpo) == summaries["easyr1"].rows["easyr1_mixed.jsonl"] > 0
    for row, source in zip(rows, grpo):
        # RLHFDataset's default prompt_key / video_key / answer_key; no images key (it would be read first)
        assert set(row) == {"prompt", "videos", "answer"}
        assert row["prompt"] == source["messages"][0]["content"] and row["prompt"].count("<video>") == 1
        assert row["videos"] == source["videos"] and Path(row["videos"][0]).is_file()
        assert isinstance(row["answer"], str)
        assert decode_ground_truth(row["answer"]) == {k: source[k] for k in ("task", "answer", "span")}
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert not any(entry["file_name"].endswith(".jsonl") for entry in info.values())  # LLaMA-Factory's only


def test_prepared_easyr1_ground_truth_gives_the_reference_answer_full_marks(prepared):
    out, _ = prepared
    rows = _load_dataset(out / "easyr1_mixed.jsonl")
    truths = [decode_ground_truth(row["answer"]) for row in rows]
    references = [target_text(truth, "The clip shows it.") for truth in truths]
    inputs = [{"response": ref, "response_length": 1, "ground_truth": row["answer"]} for ref, row in zip(references, rows)]
    scores = easyr1_reward.compute_score(inputs)
    assert {t["task"] for t in truths} == {"qa", "tag", "cls"}
    for truth, score in zip(truths, scores):
        iou = 1.0 if truth["task"] == "tag" else 0.0
        assert score == {"overall": 2.0 + iou, "format": 1.0, "accuracy": 1.0, "iou": iou}, truth


def test_prepare_swift_rows_are_llamafactorys_rows_and_the_orms_read_them(prepared):
    out, summaries = prepared
    expected_files = {f"swift_{v}_{t}.jsonl" for v in ("grpo", "sft") for t in ("qa", "tag", "cls", "mixed")}
    assert set(summaries["swift"].rows) == expected_files
    assert _jsonl(out / "swift_grpo_mixed.jsonl") == json.loads((out / "grpo_mixed.json").read_text(encoding="utf-8"))
    assert _jsonl(out / "swift_sft_tag.jsonl") == json.loads((out / "sft_tag.json").read_text(encoding="utf-8"))
    rows = _load_dataset(out / "swift_grpo_mixed.jsonl")
    assert any(row["span"] is None for row in rows) and any(row["span"] == [-1.0, -1.0] for row in rows)
    references = [target_text(row, "The clip shows it.") for row in rows]
    kwargs = _swift_kwargs(rows, references)
    tag = [1.0 if row["task"] == "tag" else 0.0 for row in rows]
    assert swift_reward.VAUFormat()(references, **kwargs) == [1.0] * len(rows)
    assert swift_reward.VAUAccuracy()(references, **kwargs) == [1.0] * len(rows)
    assert swift_reward.VAUIoU()(references, **kwargs) == tag
    for row in rows:
        user = row["messages"][0]
        assert user["role"] == "user" and user["content"].count("<video>") == 1 == len(row["videos"])


def test_prepare_format_on_the_command_line(tmp_path, capsys):
    parser = build_parser("prepare")
    bench = bundled_mini_bench()
    base = ["prepare", "--annotations", str(bench), "--split", "train", "--videos", str(bench / "videos"), "--out", str(tmp_path)]
    assert parser.parse_args(base).fmt == "llamafactory"
    args = parser.parse_args([*base, "--format", "swift", "--tasks", "qa", "--no-sft"])
    assert prepare_command.run(args) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [".vau-prepare.json", "swift_grpo_mixed.jsonl", "swift_grpo_qa.jsonl"]
    assert f"--external_plugins {swift_reward.__file__}" in printed and "vau_format vau_accuracy vau_iou" in printed
    args = parser.parse_args([*base, "--format", "easyr1", "--tasks", "tag"])
    assert prepare_command.run(args) == 0
    assert f"worker.reward.reward_function={easyr1_reward.__file__}:compute_score" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args([*base, "--format", "verl"])
    with pytest.raises(ValueError, match="unknown format 'verl'"):
        prepare_dataset(bench, bench / "videos", tmp_path, fmt="verl")

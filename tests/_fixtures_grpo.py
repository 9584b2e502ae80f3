"""Session fixtures for the GRPO-stage tests: the tiny model and LLaMA-Factory datasets made from the mini bench.

conftest.py imports `grpo_workspace`, so every test module can ask for it by name.
`diversity_reward` is a reward function for the tests: with a random model every VAU-R1 reward is 0 for
every completion, so advantages (and gradients) would be 0; this one varies within a group.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BROKEN_DATASET = "vau_r1_broken"
BROKEN_SFT_DATASET = "vau_r1_sft_broken"


def diversity_reward(completions: list, **kwargs: Any) -> list[float]:
    """The share of distinct characters in each completion (test-only reward; varies within a group)."""
    from vau_plugin.rewards import completion_text

    texts = [completion_text(c) for c in completions]
    return [len(set(t)) / max(len(t), 1) for t in texts]


@dataclass(frozen=True)
class GRPOWorkspace:
    """root: the working folder; model: tiny Qwen2.5-VL; data: dataset_dir (prepare output + the broken set);
    recipes: the repository's recipes folder; garbage_video / undecodable_video: the broken files."""

    root: Path
    model: Path
    data: Path
    recipes: Path
    garbage_video: Path
    undecodable_video: Path

    def overrides(self, output_dir: Path, **extra: Any) -> dict[str, Any]:
        """Recipe overrides pointing the `_tiny` recipes at this workspace."""
        return {"model_name_or_path": self.model, "dataset_dir": self.data, "output_dir": output_dir, **extra}


def _write_broken_dataset(data: Path, root: Path) -> tuple[Path, Path]:
    """Add BROKEN_DATASET: qa rows whose video is random bytes (unreadable metadata), or an mp4 whose middle is
    zeroed (metadata fine, decoding fails), plus one healthy row."""
    rows = json.loads((data / "grpo_qa.json").read_text(encoding="utf-8"))
    good = rows[0]
    source = Path(good["videos"][0])
    garbage = root / "broken" / "garbage.mp4"
    garbage.parent.mkdir(parents=True, exist_ok=True)
    garbage.write_bytes(bytes(range(256)) * 16)
    blob = bytearray(source.read_bytes())
    start, end = len(blob) // 4, 3 * len(blob) // 4
    blob[start:end] = bytes(end - start)
    undecodable = root / "broken" / "zeroed_middle.mp4"
    undecodable.write_bytes(bytes(blob))
    broken_rows = [dict(good, videos=[str(garbage)])] + [dict(good, videos=[str(undecodable)]) for _ in range(3)] + [good]
    (data / "grpo_broken.json").write_text(json.dumps(broken_rows), encoding="utf-8")
    info = json.loads((data / "dataset_info.json").read_text(encoding="utf-8"))
    info[BROKEN_DATASET] = dict(info["vau_r1_qa"], file_name="grpo_broken.json")
    sft_rows = json.loads((data / "sft_qa.json").read_text(encoding="utf-8"))[:3]
    sft_rows.insert(1, dict(sft_rows[0], videos=[str(garbage)]))  # SFT: unreadable metadata between good rows
    (data / "sft_broken.json").write_text(json.dumps(sft_rows), encoding="utf-8")
    info[BROKEN_SFT_DATASET] = dict(info["vau_r1_sft_qa"], file_name="sft_broken.json")
    (data / "dataset_info.json").write_text(json.dumps(info, indent=1), encoding="utf-8")
    return garbage, undecodable


@pytest.fixture(scope="session")
def grpo_workspace(tmp_path_factory: pytest.TempPathFactory) -> GRPOWorkspace:
    """The tiny model and the prepared mini-bench datasets, made once per test session."""
    from vau_plugin.benches.mini import bundled_mini_bench
    from vau_plugin.llamafactory.prepare import prepare_dataset
    from vau_plugin.tiny_model import make_tiny_model

    root = tmp_path_factory.mktemp("grpo")
    model = make_tiny_model(root / "tiny_model", seed=0)
    bench = bundled_mini_bench()
    data = root / "data"
    prepare_dataset(bench, bench / "videos", data, split="train")
    garbage, undecodable = _write_broken_dataset(data, root)
    recipes = Path(__file__).resolve().parent.parent / "recipes"
    shutil.copytree(recipes, root / "recipes", ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return GRPOWorkspace(root, model, data, root / "recipes", garbage, undecodable)


def logps_with_other_pixels(trainer: Any, model: Any, prompt_ids: list[int], eos_token_id: int, mm: dict) -> tuple:
    """(log-probs of the eos after the prompt with the row's visual inputs `mm`, the same with all-zero pixels), as the
    trainer computes them: they differ when the video content reaches the model."""
    import torch

    ids = torch.tensor([prompt_ids + [eos_token_id]])
    mask = torch.ones_like(ids)
    other = dict(mm, pixel_values_videos=torch.zeros_like(mm["pixel_values_videos"]))
    with torch.no_grad():
        with_video, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, 1, mm_inputs=[mm])
        other_video, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, 1, mm_inputs=[other])
    return with_video, other_video

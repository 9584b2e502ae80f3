"""`llamafactory-cli train` runs on the GRPO workspace (_fixtures_grpo), started as a user starts them (start-up hook
of the installed package), and what the tests read back: shared by test_grpo_stage and test_qwen3_vl_training."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from _fixtures_grpo import GRPOWorkspace
from vau_plugin.runners import cli_env, reward_history, train

TIMEOUT_S = 300
TESTS_DIR = Path(__file__).resolve().parent
# The plugin's three rewards and the test-only diversity reward, which gives a random model non-zero advantages.
TEST_REWARDS = "format,accuracy,iou,_fixtures_grpo:diversity_reward"


def train_env(**extra: str) -> dict[str, str]:
    """The environment of a run: `cli_env()` with tests/ on PYTHONPATH (the run imports `_fixtures_grpo` for the
    diversity reward), plus `extra`."""
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def train_ok(ws: GRPOWorkspace, recipe: str, output_dir: Path, env=None, **overrides) -> subprocess.CompletedProcess:
    """Train the workspace's `recipe` into `output_dir` with the recipe keys `overrides`; the run must succeed."""
    result = train(ws.recipes / recipe, ws.overrides(output_dir, **overrides), cwd=ws.root, env=env or train_env(),
                   timeout=TIMEOUT_S)  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    return result


def trainer_state(output_dir: Path) -> dict:
    return json.loads((output_dir / "trainer_state.json").read_text(encoding="utf-8"))


def assert_rewards_logged(output_dir: Path, names=("format_reward", "accuracy_reward", "tiou_reward")) -> list:
    """Every step logged its rewards, each of `names` with a mean in [0, 1]: -> the reward history."""
    history = reward_history(output_dir)
    assert [row["step"] for row in history] == list(range(1, len(history) + 1)) and history
    for row in history:
        for name in names:
            assert 0.0 <= row[f"rewards/{name}/mean"] <= 1.0, row
    return history

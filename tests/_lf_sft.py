"""A one-clip LLaMA-Factory SFT run through the real `llamafactory-cli train` (start-up hook on), for tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

from vau_plugin.llamafactory.motion import ENV_VARS

MOTION_ENV = tuple(ENV_VARS.values())


def run_sft(tiny_model_dir: Path, tmp_path: Path, write_clip: Callable[[Path], object], env: dict | None = None,
            **recipe_keys) -> tuple[subprocess.CompletedProcess, Path]:
    """Train 1 step of LoRA SFT on one clip (written by `write_clip(path)`); `recipe_keys` override the recipe,
    `env` is added to the environment (VAU_MOTION_* variables of this process are dropped). -> (process, output dir)"""
    data = tmp_path / "data"
    data.mkdir()
    write_clip(data / "clip.mp4")
    row = {"messages": [{"role": "user", "content": "<video>What happens?"}, {"role": "assistant", "content": "A"}],
           "videos": ["clip.mp4"]}  # fmt: skip
    (data / "train.json").write_text(json.dumps([row] * 2))
    (data / "dataset_info.json").write_text(json.dumps({"clip": {
        "file_name": "train.json", "formatting": "sharegpt", "columns": {"messages": "messages", "videos": "videos"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}}))  # fmt: skip
    out = tmp_path / "out"
    recipe = {
        "model_name_or_path": str(tiny_model_dir), "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "lora_target": "q_proj,v_proj", "dataset": "clip", "dataset_dir": str(data), "media_dir": str(data),
        "template": "qwen2_vl", "cutoff_len": 512, "output_dir": str(out), "overwrite_output_dir": True,
        "per_device_train_batch_size": 2, "max_steps": 1, "report_to": "none", **recipe_keys,
    }  # fmt: skip
    (tmp_path / "recipe.yaml").write_text(json.dumps(recipe))  # JSON is YAML
    environment = {k: v for k, v in os.environ.items() if k not in MOTION_ENV}
    environment.update(HF_HUB_OFFLINE="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}",
                       **(env or {}))  # fmt: skip
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "llamafactory-cli"), "train", str(tmp_path / "recipe.yaml")],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return proc, out

import os
import sys
from pathlib import Path

import pytest

# Session fixtures defined in helper modules, available to every test module (pytest finds them in this namespace).
from _fixtures_grpo import grpo_workspace  # noqa: F401

REPO = Path(__file__).resolve().parents[1]

# DeepSpeed on CPU compiles a C++ extension (its shared-memory communication op, about a minute) the first time a
# process starts its distributed backend, into TORCH_EXTENSIONS_DIR. Kept inside the virtual environment, so a suite
# pays the build once per venv (CI: once per run, as it makes a fresh .venv), and every `llamafactory-cli` the tests
# start inherits it. A value set outside the tests wins.
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions"))


def _shared_dir() -> Path:
    env = os.environ.get("VAU_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_vau_bench() -> Path:
    """The real VAU-Bench annotation CSVs (shared/ sits beside the clone, in CI too)."""
    path = _shared_dir() / "vau_bench"
    if not (path / "test_msad.csv").is_file():
        raise FileNotFoundError(f"real VAU-Bench CSVs not found at {path}; set VAU_SHARED_DIR to the folder holding vau_bench/")
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL checkpoint, built once per test session."""
    from vau_plugin.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny_model") / "model", seed=0)


@pytest.fixture(scope="session")
def tiny_qwen3_vl_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen3-VL checkpoint, built once per test session."""
    from vau_plugin.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny_qwen3_vl") / "model", seed=0, arch="qwen3_vl")


@pytest.fixture(scope="session")
def tiny_qwen2_vl_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen2-VL checkpoint (the VAU-R1 paper's 2B family), built once per test session."""
    from vau_plugin.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny_qwen2_vl") / "model", seed=0, arch="qwen2_vl")

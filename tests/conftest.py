import os
import subprocess
import sys
from pathlib import Path

import pytest

# Session fixtures defined in helper modules, available to every test module (pytest finds them in this namespace).
from _fixtures_grpo import grpo_workspace  # noqa: F401
from _tiny_checkpoint import offline_hub  # noqa: F401

REPO = Path(__file__).resolve().parents[1]

# DeepSpeed on CPU compiles a C++ extension (its shared-memory communication op, about a minute) the first time a
# process starts its distributed backend, into TORCH_EXTENSIONS_DIR. Kept inside the virtual environment, so a suite
# pays the build once per venv (CI: once per run, as it makes a fresh .venv), and every `llamafactory-cli` the tests
# start inherits it. A value set outside the tests wins.
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions"))

# The test tiers (pyproject.toml registers the markers): a test that starts a real framework process is marked
# `e2e`, and `make test-fast` runs every test but those. The commands and `python -m` modules that count:
FRAMEWORK_COMMANDS = ("lmms-eval", "llamafactory-cli", "torchrun", "accelerate", "deepspeed")
FRAMEWORK_MODULES = ("lmms_eval", "llamafactory", "torch.distributed.run", "accelerate", "deepspeed")


def framework_started_by(args) -> str | None:
    """The framework command or module that a new process with Popen's `args` runs, or None for any other process
    (`vau-plugin ...`, `python -c ...`, pip)."""
    argv = [os.fsdecode(part) for part in ([args] if isinstance(args, (str, bytes, os.PathLike)) else args)]
    if len(argv) == 1:
        argv = argv[0].split()  # one program, or with shell=True one command line
    if not argv:
        return None
    command = Path(argv[0]).name
    if command in FRAMEWORK_COMMANDS:
        return command
    if command.startswith("python") and len(argv) > 2 and argv[1] == "-m":
        module = argv[2]
        return next((name for name in FRAMEWORK_MODULES if module == name or module.startswith(name + ".")), None)
    return None


# The test being run, and whether it is marked e2e; None between tests (collection, session teardown).
_running: list = [None, False]
_popen_init = subprocess.Popen.__init__


def _checked_popen_init(self, args, *rest, **kwargs):
    """subprocess.Popen.__init__, failing a test that starts a framework process without the e2e marker (so that
    `make test-fast` stays fast, and the marker stays true as tests change). Its fixtures' processes count too."""
    nodeid, marked = _running
    framework = framework_started_by(args)
    if nodeid is not None and framework and not marked:
        pytest.fail(f"{nodeid} starts `{framework}` but is not marked e2e: add @pytest.mark.e2e (see conftest.py)", pytrace=False)
    _popen_init(self, args, *rest, **kwargs)


subprocess.Popen.__init__ = _checked_popen_init


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    # Set-up, call and teardown of one test, fixtures of any scope built for it included.
    _running[:] = [item.nodeid, item.get_closest_marker("e2e") is not None]
    try:
        yield
    finally:
        _running[:] = [None, False]


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


def pytest_collection_modifyitems(session, config, items):
    """Test files with e2e tests first (the order inside a file kept): `make test` runs files on two xdist workers,
    and a minutes-long file collected late ran alone at the end while the other worker idled (21.3 min instead of
    about 19). Longest first keeps both workers busy to the end."""
    heavy = {item.path for item in items if item.get_closest_marker("e2e") is not None}
    items[:] = sorted(items, key=lambda item: item.path not in heavy)  # stable: collection order otherwise

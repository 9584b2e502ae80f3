"""Security rules that hold for the whole code base: no unpickling, no eval of text, no unsafe YAML, and dataset
paths that never leave the video root on the way into a training dataset.

The source rules are checked on the syntax tree of every Python file we ship or run (vau_plugin/, tasks/,
recipes/, bench/), so comments and strings that mention a name do not count, and `model.eval()` is not `eval`.
lmms-eval's own `!function` YAML loader and upstream packages are not ours and are not scanned.
(API keys in logs, results, samples and the judge cache: tests/test_judge.py and tests/test_lmms_cli.py.)
"""

from __future__ import annotations

import ast
import csv
import json
import logging
import shutil
from pathlib import Path

import pytest

from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.data.schema import COLUMNS
from vau_plugin.llamafactory.prepare import prepare_dataset

REPO = Path(__file__).resolve().parents[1]
SCANNED = ["vau_plugin", "tasks", "recipes", "bench"]


def _python_files() -> list[Path]:
    files = [p for folder in SCANNED for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts]
    assert len(files) > 20, f"expected the package sources, found {len(files)} files"
    return files


def _dotted(node: ast.AST) -> str:
    """`a.b.c` for a Name/Attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Rule violations in one Python source text, as 'file:line: what'."""
    found = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name and name.split(".")[0] in ("pickle", "cPickle", "dill", "marshal", "shelve", "joblib"):
                    found.append(f"{filename}:{node.lineno}: imports {name} (unpickling runs code)")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        where = f"{filename}:{node.lineno}"
        if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
            found.append(f"{where}: calls {name}()")
        elif name.endswith("torch.load"):
            if not _is_true(_keyword(node, "weights_only")):
                found.append(f"{where}: torch.load without weights_only=True")
        elif name in ("np.load", "numpy.load") and _is_true(_keyword(node, "allow_pickle")):
            found.append(f"{where}: np.load with allow_pickle=True")
        elif name in ("yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.full_load"):
            loader = _keyword(node, "Loader")
            if name.startswith("yaml.load") and loader is not None and "Safe" in _dotted(loader):
                continue
            found.append(f"{where}: {name} without SafeLoader")
        elif name.endswith(("pd.read_pickle", "pandas.read_pickle")):
            found.append(f"{where}: {name}")
        elif name.startswith("subprocess.") and _is_true(_keyword(node, "shell")):
            found.append(f"{where}: {name}(shell=True)")
    return found


def test_no_unpickling_eval_or_unsafe_yaml_in_our_sources():
    problems = [v for path in _python_files() for v in violations(path.read_text(encoding="utf-8"), str(path.relative_to(REPO)))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "code,expected",
    [
        ("import pickle\n", "imports pickle"),
        ("from pickle import loads\n", "imports pickle"),
        ("import torch\ntorch.load('x')\n", "weights_only"),
        ("import torch\ntorch.load('x', weights_only=False)\n", "weights_only"),
        ("eval(text)\n", "calls eval()"),
        ("exec(text)\n", "calls exec()"),
        ("import numpy as np\nnp.load('x', allow_pickle=True)\n", "allow_pickle=True"),
        ("import yaml\nyaml.load(s)\n", "without SafeLoader"),
        ("import yaml\nyaml.unsafe_load(s)\n", "without SafeLoader"),
        ("import subprocess\nsubprocess.run(cmd, shell=True)\n", "shell=True"),
    ],
)
def test_the_scanner_catches_each_rule(code, expected):
    found = violations(code)
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    "code",
    [
        "model.eval()\n",
        "import torch\ntorch.load('x', map_location='cpu', weights_only=True)\n",
        "import numpy as np\nnp.load('x', allow_pickle=False)\n",
        "import yaml\nyaml.load(s, Loader=yaml.SafeLoader)\nyaml.safe_load(s)\n",
        "text = 'eval(x) and pickle.load(f)'  # eval( in a string\n",
    ],
)
def test_the_scanner_allows_safe_forms(code):
    assert violations(code) == []


def test_csv_names_cannot_bring_files_from_outside_the_video_root_into_a_training_set(tmp_path, caplog):
    """A CSV naming files outside the video root (that exist!) by `../`, absolute path or backslashes yields
    training rows only for the videos inside the root; the rejected rows are reported."""
    clip = bundled_mini_bench() / "videos" / "mini_test_0001.mp4"
    root = tmp_path / "videos"
    root.mkdir()
    shutil.copy(clip, root / "inside.mp4")
    secret = tmp_path / "secret.mp4"
    shutil.copy(clip, secret)
    template = next(csv.DictReader(open(bundled_mini_bench() / "test.csv", newline="", encoding="utf-8")))
    names = ["inside.mp4", "../secret.mp4", str(secret), "..\\secret.mp4", "sub/../../secret.mp4"]
    annotations = tmp_path / "train.csv"
    with open(annotations, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(template))
        writer.writeheader()
        for name in names:
            writer.writerow({**template, "Video Name": name})
    assert set(COLUMNS) <= set(template)
    out = tmp_path / "data"
    with caplog.at_level(logging.WARNING):
        summary = prepare_dataset(annotations, root, out, sft=False)
    assert summary.records == 1, "rows naming files outside the root are dropped while reading the CSV"
    assert "4 error(s)" in caplog.text and "vau-plugin validate" in caplog.text
    paths = {p for file in out.glob("*.json") if file.name not in ("dataset_info.json", ".vau-prepare.json")
             for row in json.loads(file.read_text()) for p in row.get("videos", [])}  # fmt: skip
    assert paths == {str((root / "inside.mp4").resolve())}

"""`vau-plugin demo` (what `make demo` runs), end to end in a subprocess."""

import subprocess
import sys
from pathlib import Path

from vau_plugin.demo import metrics_table


def test_metrics_table_lists_every_metric_but_stderr():
    results = {"results": {"t": {"alias": "t", "mIoU,none": 12.5, "mIoU_stderr,none": "N/A", "R@0.5,none": 50.0}}}
    table = metrics_table(results)
    assert "t                        mIoU                      12.50" in table
    assert "R@0.5" in table and "stderr" not in table and "alias" not in table


def test_demo_runs_the_pipeline_and_prints_the_metrics_table(tmp_path):
    cli = Path(sys.executable).parent / "vau-plugin"
    proc = subprocess.run(
        [str(cli), "demo", "--workdir", str(tmp_path / "demo")], capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "test: 12 rows" in out and "0 errors" in out
    for task, metric in [("vau_bench_qa_mini", "accuracy"), ("vau_bench_tag_mini", "mIoU"), ("vau_bench_cls_mini", "binary_accuracy"),
                         ("vau_bench_qa_mini", "video_errors")]:  # fmt: skip
        assert any(line.startswith(task) and metric in line for line in out.splitlines()), (task, metric)
    assert (tmp_path / "demo" / "tiny_model" / "config.json").is_file()
    assert "lmms-eval --model vau_qwen2_5_vl" in out
    assert "GRPO (" in out and "mean total reward" in out
    assert "demo finished" in out

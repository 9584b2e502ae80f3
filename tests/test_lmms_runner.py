"""vau_plugin.runners: lmms-eval 0.7.3 logs an error during evaluation and exits 0, so a run without a results
file must fail, naming the error and the log; the samples are read per task; the count guard stops a short base."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from vau_plugin import runners


def fake_lmms_eval(monkeypatch, write_results: bool, log_line: str = "") -> list[tuple[list[str], dict]]:
    calls: list[tuple[list[str], dict]] = []

    def fake(cmd, stdout, stderr, env, check):
        calls.append((cmd, env))
        stdout.write(log_line + "\n")
        if write_results:
            out = Path(cmd[cmd.index("--output_path") + 1]) / "model"
            out.mkdir(parents=True, exist_ok=True)
            (out / "20261126_results.json").write_text(json.dumps({"results": {"task_a": {"accuracy,none": 50.0}}}))
            (out / "20261126_samples_task_a.jsonl").write_text('{"doc_id": 0}\n{"doc_id": 1}\n')
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(subprocess, "run", fake)
    return calls


def test_an_evaluation_error_with_exit_0_is_a_failure_naming_the_error_and_the_log(monkeypatch, tmp_path):
    error = "ERROR | lmms_eval.__main__:cli_evaluate:614 - Error during evaluation: No module named 'av'."
    fake_lmms_eval(monkeypatch, write_results=False, log_line=error)
    with pytest.raises(RuntimeError) as failed:
        runners.run_lmms_eval(["--model", "m"], tmp_path / "eval", {})
    message = str(failed.value)
    assert "exit 0" in message and "No module named 'av'" in message and str(tmp_path / "eval" / "lmms_eval.log") in message


def test_results_and_samples_are_read_from_the_output_folder(monkeypatch, tmp_path):
    calls = fake_lmms_eval(monkeypatch, write_results=True)
    results = runners.run_lmms_eval(["--tasks", "task_a"], tmp_path / "eval", {"VAU_BENCH_SPLITS": "test"})
    command, env = calls[0]
    assert command[1:] == ["--tasks", "task_a", "--output_path", str(tmp_path / "eval")]
    assert env["VAU_BENCH_SPLITS"] == "test" and env["HF_HUB_OFFLINE"] == "1" and env["TOKENIZERS_PARALLELISM"] == "false"
    assert results["results"]["task_a"]["accuracy,none"] == 50.0
    assert [s["doc_id"] for s in runners.task_samples(tmp_path / "eval", "task_a")] == [0, 1]
    assert runners.task_samples(tmp_path / "eval", "task_b") == []


def test_the_count_guard_stops_a_mean_over_fewer_clips(tmp_path):
    runners.check_scored(6, 6, "the test split", tmp_path)
    with pytest.raises(RuntimeError, match="scored 5 clips of the test split, which holds 6"):
        runners.check_scored(5, 6, "the test split", tmp_path)

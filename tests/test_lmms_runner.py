"""vau_plugin.runners: lmms-eval 0.7.3 logs an error during evaluation and exits 0, so a run without a results
file must fail, naming the error and the log; the samples are read per task; the count guard stops a short base."""

from __future__ import annotations

import json
import subprocess
import sys
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


# ------------------------------------------------------------------------------ lmms-eval's CLI in this process


@pytest.fixture
def in_process(monkeypatch):
    """lmms-eval's `cli_evaluate` replaced by `fake(argv)` for one test; the task-index memo undone afterwards."""
    import lmms_eval.__main__
    from lmms_eval.tasks import TaskManager

    monkeypatch.setattr(TaskManager, "_get_task_and_group", TaskManager._get_task_and_group)

    def install(fake):
        monkeypatch.setattr(lmms_eval.__main__, "cli_evaluate", lambda: fake(list(sys.argv)))

    return install


def test_in_process_run_logs_both_streams_and_restores_the_environment(in_process, tmp_path):
    import os

    seen = {}

    def fake(argv):
        seen.update(argv=argv, split=os.environ.get("VAU_BENCH_SPLITS"), offline=os.environ.get("HF_HUB_OFFLINE"))
        print("printed to stdout", flush=True)
        os.write(2, b"written to descriptor 2\n")  # a C library or a logger holding the original stderr
        out = Path(argv[argv.index("--output_path") + 1]) / "model"
        out.mkdir(parents=True)
        (out / "20261207_results.json").write_text(json.dumps({"results": {"task_a": {"accuracy,none": 75.0}}}))

    in_process(fake)
    before_env, before_argv = dict(os.environ), list(sys.argv)
    results = runners.run_lmms_eval_in_process(["--tasks", "task_a"], tmp_path / "eval", {"VAU_BENCH_SPLITS": "test"})
    assert results["results"]["task_a"]["accuracy,none"] == 75.0
    assert seen["argv"][1:] == ["--tasks", "task_a", "--output_path", str(tmp_path / "eval")]
    assert seen["split"] == "test" and seen["offline"] == "1"
    assert dict(os.environ) == before_env and sys.argv == before_argv
    log = (tmp_path / "eval" / runners.LOG_NAME).read_text()
    assert "printed to stdout" in log and "written to descriptor 2" in log
    print("stdout is this process's again")  # the descriptors were put back: pytest captures this line, not the log
    assert "stdout is this process's again" not in (tmp_path / "eval" / runners.LOG_NAME).read_text()


def test_in_process_run_that_stops_or_writes_no_results_is_a_failure(in_process, tmp_path):
    import os

    def stopped(argv):
        raise SystemExit("vau-plugin: unknown model 'vau_nope' (expected one of vau_qwen2_5_vl, ...)")

    in_process(stopped)
    before = dict(os.environ)
    with pytest.raises(RuntimeError) as failed:
        runners.run_lmms_eval_in_process(["--model", "vau_nope"], tmp_path / "a", {"VAU_BENCH_SPLITS": "test"})
    assert "exit 1" in str(failed.value) and "unknown model 'vau_nope'" in str(failed.value) and dict(os.environ) == before

    in_process(lambda argv: print("ERROR | Error during evaluation: No module named 'av'."))
    with pytest.raises(RuntimeError, match=r"exit 0: .*No module named 'av'"):
        runners.run_lmms_eval_in_process(["--model", "m"], tmp_path / "b")


def test_the_task_index_memo_reads_each_folder_once_and_hands_out_copies(in_process, tmp_path):
    from lmms_eval.tasks import TaskManager

    from vau_plugin.lmms.entry import memoize_task_index

    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "one.yaml").write_text("task: memo_task_one\ndataset_path: x\noutput_type: generate_until\n")
    memoize_task_index()
    memoize_task_index()  # idempotent: wrapped once
    assert not hasattr(TaskManager._get_task_and_group.__wrapped__, "__wrapped__")
    first = TaskManager(include_path=str(folder), include_defaults=False)
    (folder / "two.yaml").write_text("task: memo_task_two\ndataset_path: x\noutput_type: generate_until\n")
    first._task_index["memo_task_one"]["yaml_path"] = "changed by the first manager"
    second = TaskManager(include_path=str(folder), include_defaults=False)
    assert "memo_task_one" in second.all_tasks and "memo_task_two" not in second.all_tasks  # read once, in this process
    assert second._task_index["memo_task_one"]["yaml_path"] == str(folder / "one.yaml")  # each manager its own copy

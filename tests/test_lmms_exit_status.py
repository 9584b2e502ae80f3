"""Issue 24, item 5: lmms-eval 0.7.3 catches every exception of a run, logs it and exits 0. Through the plugin's
entry point, a failed run that involves a `vau_*` task or model exits non-zero with the plugin's message as the last
line of what the user sees (stdout and stderr together); other runs keep lmms-eval's own behaviour. Each case runs
the real `lmms-eval` CLI."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from _lmms_cli import CPU_ARGS, LMMS_EVAL, run_as_seen
from vau_plugin.data.reader import AnnotationError
from vau_plugin.lmms.docs import MissingVideosError, load_task_docs

MINI_RUN = ["--tasks", "vau_bench_qa_mini", "--limit", "2", "--batch_size", "2", "--gen_kwargs", "max_new_tokens=8"]


def _tiny(model_dir, model: str = "vau_qwen2_5_vl") -> list[str]:
    return [LMMS_EVAL, "--model", model, "--model_args", f"pretrained={model_dir},{CPU_ARGS}"]


def _stopped(status: int, lines: list[str]) -> str:
    """The last line of a run that must have failed."""
    assert status != 0, "\n".join(lines[-40:])
    assert status == 1, status
    return lines[-1]


def _refusal(monkeypatch, error: type, task: str, subset: str, **env: str) -> list[str]:
    """The non-empty lines of the message with which the plugin's task loader refuses `task` on `subset` under `env`."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(error) as refused:
        load_task_docs(task, subset)
    return [line.strip() for line in str(refused.value).splitlines() if line.strip()]


@pytest.mark.parametrize("verbosity", ["INFO", "DEBUG"])
@pytest.mark.e2e
def test_a_task_that_refuses_its_data_exits_1_with_its_message_last(tmp_path, monkeypatch, tiny_model_dir, shared_vau_bench, verbosity):
    env = {"VAU_BENCH_ROOT": str(shared_vau_bench / "test_msad.csv")}
    message = _refusal(monkeypatch, AnnotationError, "qa", "all", **env)
    assert "vau_bench_qa_msad" in message[-1]  # the task of the one split it holds
    cmd = [*_tiny(tiny_model_dir), "--tasks", "vau_bench_qa", "--limit", "2", "--output_path", str(tmp_path / "out"),
           "--verbosity", verbosity]  # fmt: skip
    status, lines = run_as_seen(cmd, tmp_path, **env)
    _stopped(status, lines)
    assert lines[-len(message) :] == message
    assert not list((tmp_path / "out").rglob("*_results.json"))


@pytest.mark.e2e
def test_missing_videos_with_an_upstream_model_exit_1_with_the_plugin_message_last(tmp_path, monkeypatch, tiny_model_dir, shared_vau_bench):
    (tmp_path / "empty").mkdir()
    env = {"VAU_BENCH_ROOT": str(shared_vau_bench), "VAU_BENCH_VIDEO_ROOT": str(tmp_path / "empty")}
    message = _refusal(monkeypatch, MissingVideosError, "qa", "msad", **env)
    assert message[0].startswith("vau_bench_qa_msad: 240 of 240 videos not found")
    cmd = [*_tiny(tiny_model_dir, "qwen2_5_vl"), "--tasks", "vau_bench_qa_msad", "--limit", "2", "--output_path", str(tmp_path / "out")]
    status, lines = run_as_seen(cmd, tmp_path, **env)
    _stopped(status, lines)
    assert lines[-len(message) :] == message


@pytest.mark.e2e
def test_a_model_that_cannot_load_exits_1_naming_the_error_last(tmp_path):
    cmd = [*_tiny("/nonexistent"), *MINI_RUN]
    last = _stopped(*run_as_seen(cmd, tmp_path))
    assert last.startswith("lmms-eval stopped: OSError: Can't load the configuration of '/nonexistent'."), last


@pytest.mark.e2e
def test_a_checkpoint_of_another_family_exits_1_with_the_wrappers_message_last(tmp_path, tiny_qwen2_vl_dir):
    last = _stopped(*run_as_seen([*_tiny(tiny_qwen2_vl_dir), *MINI_RUN], tmp_path))
    assert last == (f"vau_qwen2_5_vl: {tiny_qwen2_vl_dir} is a qwen2_vl checkpoint, and --model vau_qwen2_5_vl loads "
                    "qwen2_5_vl only (another family would load with random weights); use --model vau_qwen2_vl for "
                    "qwen2_vl, --model vau_qwen3_vl for qwen3_vl")  # fmt: skip


@pytest.mark.e2e
def test_a_judge_that_is_down_ends_the_run_with_its_message_after_the_progress_bar(tmp_path):
    # The judge's RunStopped left lmms-eval's "Postprocessing" bar open: it was printed after the message.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free a moment ago: nothing listens there
    cmd = [LMMS_EVAL, "--model", "dummy", "--model_args", "response=hello", "--tasks", "vau_bench_reason_mini",
           "--output_path", str(tmp_path / "out")]  # fmt: skip
    env = {"VAU_JUDGE_BASE_URL": f"http://127.0.0.1:{port}/v1", "VAU_JUDGE_API_KEY": "sk-test", "VAU_JUDGE_CACHE": "off",
           "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}  # fmt: skip
    last = _stopped(*run_as_seen(cmd, tmp_path, **env))
    assert last.startswith("vau_bench_reason failed: VAU-Eval judge unavailable: stopped calling "), last


@pytest.mark.e2e
def test_a_misspelt_task_exits_1_with_the_closest_names(tmp_path):
    cmd = [LMMS_EVAL, "--model", "dummy", "--tasks", "vau_bench_qa_mnii,vau_bench_tag_mini,vau_bench_x*"]
    last = _stopped(*run_as_seen(cmd, tmp_path))
    assert last == ("--tasks: no task 'vau_bench_qa_mnii' (did you mean vau_bench_qa_mini?), 'vau_bench_x*'; "
                    "`lmms-eval --tasks list` lists every task")  # fmt: skip


@pytest.mark.e2e
def test_a_misspelt_plugin_model_exits_1_with_the_plugin_models(tmp_path):
    cmd = [LMMS_EVAL, "--model", "vau_qwen25_vl", "--model_args", "pretrained=/nonexistent", *MINI_RUN]
    last = _stopped(*run_as_seen(cmd, tmp_path))
    assert last == ("--model vau_qwen25_vl is not a model of vau-plugin (did you mean vau_qwen2_5_vl?); "
                    "its models are vau_qwen2_5_vl, vau_qwen2_vl, vau_qwen3_vl")  # fmt: skip


@pytest.mark.e2e
def test_an_output_path_that_is_a_file_exits_1_before_the_model_loads(tmp_path, tiny_model_dir):
    (tmp_path / "results.txt").write_text("not a folder\n")
    cmd = [*_tiny(tiny_model_dir), *MINI_RUN, "--output_path", str(tmp_path / "results.txt"), "--log_samples"]
    status, lines = run_as_seen(cmd, tmp_path)
    assert _stopped(status, lines) == f"--output_path {tmp_path / 'results.txt'} is a file; lmms-eval writes its results into a folder"
    assert not any("Loading checkpoint" in line or "Model Responding" in line for line in lines)


@pytest.mark.e2e
def test_results_that_cannot_be_written_after_the_evaluation_exit_1(tmp_path):
    # The dummy model's results go to OUT/<pretrained>: a file of that name makes lmms-eval's save fail (it logs a
    # warning and goes on), although OUT itself can be written.
    out = tmp_path / "out"
    out.mkdir()
    (out / "blocked").write_text("a file where lmms-eval wants its model folder\n")
    cmd = [LMMS_EVAL, "--model", "dummy", "--model_args", "response=A,pretrained=blocked", *MINI_RUN, "--output_path", str(out)]
    last = _stopped(*run_as_seen(cmd, tmp_path))
    assert last.startswith(f"lmms-eval could not write {out / 'blocked'}/") and last.endswith(
        "_results.json (its warning above says why); the scores were not saved"
    ), last


@pytest.mark.e2e
def test_a_run_without_plugin_task_or_model_keeps_lmms_evals_exit_status(tmp_path):
    # Upstream behaviour, left as it is for other users: a missing task is logged and the exit status is 0.
    status, lines = run_as_seen([LMMS_EVAL, "--model", "dummy", "--tasks", "no_such_task_anywhere"], tmp_path)
    assert status == 0
    assert any("Tasks not found: no_such_task_anywhere" in line for line in lines)


@pytest.mark.e2e
def test_a_failed_torchrun_run_stops_every_rank_and_exits_1(tmp_path, monkeypatch, shared_vau_bench):
    # Upstream, rank 0 logged the error and exited 0 while rank 1 waited at the data-loading barrier until its peer
    # was gone: the launcher reported success. Now rank 0 exits 1 and the launcher stops the other rank.
    env = {"VAU_BENCH_ROOT": str(shared_vau_bench / "test_msad.csv")}
    message = _refusal(monkeypatch, AnnotationError, "qa", "all", **env)
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "lmms_eval", "--model", "dummy", "--tasks", "vau_bench_qa",
           "--limit", "2", "--output_path", str(tmp_path / "out")]  # fmt: skip
    status, lines = run_as_seen(cmd, tmp_path, timeout=300, **env)
    assert status == 1, "\n".join(lines[-40:])
    assert message[-1] in lines
    assert "exitcode  : 1 (pid:" in "\n".join(lines)  # rank 0, the root cause torchrun reports
    assert not list((tmp_path / "out").rglob("*_results.json"))


def test_a_library_call_of_simple_evaluate_keeps_lmms_evals_exception():
    # Only CLI runs (cli_args given) are turned into an exit status: a Python caller still gets the exception.
    from lmms_eval import evaluator

    from vau_plugin.lmms.entry import guard_exit_status

    guard_exit_status()
    with pytest.raises(ValueError, match="Model 'vau_qwen25_vl' not found"):
        evaluator.simple_evaluate(model="vau_qwen25_vl", tasks=["vau_bench_qa_mini"])


@pytest.mark.e2e
def test_run_lmms_eval_names_the_plugin_message_of_a_failed_run(tmp_path):
    # vau_plugin.runners (demo, learning test, experiment, gpu-check) reports the last line after a non-zero exit.
    from vau_plugin.runners import run_lmms_eval

    with pytest.raises(RuntimeError) as failed:
        run_lmms_eval(["--model", "dummy", "--tasks", "vau_bench_qa_mnii"], tmp_path / "eval")
    assert str(failed.value) == (
        "lmms-eval failed (exit 1: --tasks: no task 'vau_bench_qa_mnii' (did you mean vau_bench_qa_mini?); "
        f"`lmms-eval --tasks list` lists every task); see {tmp_path / 'eval' / 'lmms_eval.log'}"
    )

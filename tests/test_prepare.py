"""`vau-plugin prepare`: VAU-Bench CSV + videos → LLaMA-Factory dataset dir (GRPO and SFT files per task)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.budget import budget_for
from vau_plugin.cli import build_parser
from vau_plugin.commands import prepare as prepare_command
from vau_plugin.data import load_records
from vau_plugin.llamafactory.prepare import prepare_dataset
from vau_plugin.prompts import train_prompt
from vau_plugin.rewards import accuracy_reward, format_reward, tiou_reward


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    bench = bundled_mini_bench()
    out = tmp_path_factory.mktemp("prepared")
    summary = prepare_dataset(bench, bench / "videos", out, split="train")
    return bench, out, summary


def _rows(out: Path, name: str) -> list[dict]:
    return json.loads((out / name).read_text(encoding="utf-8"))


def _parse(argv):
    return build_parser("prepare").parse_args(argv)


def test_one_dataset_per_task_and_variant_in_dataset_info(prepared):
    bench, out, summary = prepared
    records = load_records(bench, split="train")
    info = json.loads((out / "dataset_info.json").read_text())
    expected = {f"vau_r1_{t}" for t in ("qa", "tag", "cls", "mixed")} | {f"vau_r1_sft_{t}" for t in ("qa", "tag", "cls", "mixed")}
    assert set(info) == expected
    for name, entry in info.items():
        assert entry["formatting"] == "sharegpt" and entry["columns"] == {"messages": "messages", "videos": "videos"}
        assert entry["tags"]["role_tag"] == "role" and entry["tags"]["assistant_tag"] == "assistant"
        assert len(_rows(out, entry["file_name"])) == summary.rows[name]
    assert summary.rows["vau_r1_qa"] == sum(r.usable_qa for r in records)
    assert summary.rows["vau_r1_cls"] == sum(r.usable_cls for r in records)
    assert summary.rows["vau_r1_tag"] == sum(r.usable_tag or bool(r.is_normal) for r in records)
    assert summary.rows["vau_r1_mixed"] == summary.rows["vau_r1_qa"] + summary.rows["vau_r1_tag"] + summary.rows["vau_r1_cls"]


def test_rows_carry_the_ground_truth_the_rewards_read(prepared):
    bench, out, _ = prepared
    by_video = {r.video: r for r in load_records(bench, split="train")}
    root = (bench / "videos").resolve()
    for row in _rows(out, "grpo_mixed.json"):
        record = by_video[row["video_id"]]
        user, assistant = row["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert user["content"] == train_prompt(row["task"], question=record.question, options=record.options) + "<video>"
        assert "<think>" not in assistant["content"]
        (video,) = row["videos"]
        assert Path(video).is_absolute() and Path(video).parent == root and Path(video).is_file()
        if row["task"] == "qa":
            assert row["answer"] == record.answer and row["span"] is None
        elif row["task"] == "cls":
            assert row["answer"] == record.anomaly_class and row["span"] is None
        elif record.is_normal:
            assert row["answer"] == "Normal" and row["span"] == [-1.0, -1.0]
        else:
            assert row["answer"] == "Anomaly" and row["span"] == [round(x, 1) for x in record.span]


def test_sft_targets_use_the_reasoning_as_think_and_earn_full_rewards(prepared):
    bench, out, _ = prepared
    by_video = {r.video: r for r in load_records(bench, split="train")}
    rows = _rows(out, "sft_mixed.json")
    assert rows
    completions = [row["messages"][1]["content"] for row in rows]
    columns = {key: [row[key] for row in rows] for key in ("task", "answer", "span")}
    for row, completion in zip(rows, completions):
        assert completion.startswith(f"<think>{by_video[row['video_id']].reasoning.strip()}</think><answer>")
    # the reference answer is what the rewards score highest: one parsing module for data and rewards
    assert format_reward(completions, **columns) == [1.0] * len(rows)
    assert accuracy_reward(completions, **columns) == [1.0] * len(rows)
    assert tiou_reward(completions, **columns) == [1.0 if t == "tag" else 0.0 for t in columns["task"]]


def test_missing_and_unsafe_video_names_are_left_out(tmp_path):
    bench = bundled_mini_bench()
    with open(bench / "train.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields, first = reader.fieldnames, next(reader)
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(bench / "videos" / first["Video Name"], videos / "kept.mp4")
    (tmp_path / "outside.mp4").write_bytes(b"not inside the root")
    rows = [dict(first, **{"Video Name": name}) for name in ("kept.mp4", "absent.mp4", "../outside.mp4")]
    with open(tmp_path / "ann.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    summary = prepare_dataset(tmp_path / "ann.csv", videos, tmp_path / "out", tasks="qa", sft=False)
    assert summary.rows == {"vau_r1_qa": 1, "vau_r1_mixed": 1}
    assert summary.missing_videos == ["absent.mp4"]
    assert summary.records == 2  # the reader already rejects the row whose name climbs out of the root
    (row,) = _rows(tmp_path / "out", "grpo_qa.json")
    assert row["videos"] == [str((videos / "kept.mp4").resolve())]
    assert "absent" in summary.describe() and not (tmp_path / "out" / "sft_qa.json").exists()


def test_cli_prepare_writes_and_merges_dataset_info(tmp_path, capsys):
    bench = bundled_mini_bench()
    out = tmp_path / "data"
    out.mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "mine.json"}}))
    args = _parse(["prepare", "--annotations", str(bench), "--split", "train", "--videos", str(bench / "videos"),
                   "--out", str(out), "--tasks", "tag", "--no-sft"])
    assert prepare_command.run(args) == 0
    assert "vau_r1_tag" in capsys.readouterr().out
    assert set(json.loads((out / "dataset_info.json").read_text())) == {"mine", "vau_r1_tag", "vau_r1_mixed"}


@pytest.mark.parametrize(
    "extra, message",
    [(["--tasks", "qa,bogus"], "bogus"), (["--split", "nosuchsplit"], "nosuchsplit")],
)
def test_cli_prepare_bad_input_exits_1_with_one_message(tmp_path, capsys, extra, message):
    bench = bundled_mini_bench()
    args = _parse(["prepare", "--annotations", str(bench), "--videos", str(bench / "videos"), "--out", str(tmp_path)] + extra)
    assert prepare_command.run(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("vau-plugin prepare:") and message in err


def test_cli_prepare_without_any_video_exits_1(tmp_path, capsys):
    bench = bundled_mini_bench()
    empty = tmp_path / "empty"
    empty.mkdir()
    args = _parse(["prepare", "--annotations", str(bench / "train.csv"), "--videos", str(empty), "--out", str(tmp_path / "o")])
    assert prepare_command.run(args) == 1
    assert "none of the" in capsys.readouterr().err


def test_eval_prompt_style_puts_the_video_first_and_asks_the_lmms_eval_think_prompt(tmp_path):
    from vau_plugin.prompts import eval_prompt

    bench = bundled_mini_bench()
    train_style = tmp_path / "train"
    eval_style = tmp_path / "eval"
    prepare_dataset(bench, bench / "videos", train_style, split="train")
    prepare_dataset(bench, bench / "videos", eval_style, split="train", prompt_style="eval")
    by_video = {r.video: r for r in load_records(bench, split="train")}
    for name in ("sft_mixed.json", "grpo_mixed.json"):
        trained, evaluated = _rows(train_style, name), _rows(eval_style, name)
        assert len(trained) == len(evaluated) > 0
        for before, after in zip(trained, evaluated):
            record = by_video[after["video_id"]]
            expected = eval_prompt(after["task"], think=True, question=record.question, options=record.options)
            label = "Video 1: " if budget_for(after["task"]).add_vision_id else ""  # the QA chat template's add_vision_id
            assert after["messages"][0]["content"] == label + "<video>" + expected
            assert before["messages"][0]["content"].endswith("<video>")
            assert after["messages"][1] == before["messages"][1]  # same targets, only the instruction differs
            assert {k: v for k, v in after.items() if k != "messages"} == {k: v for k, v in before.items() if k != "messages"}


def test_unknown_prompt_style_is_refused(tmp_path, capsys):
    bench = bundled_mini_bench()
    with pytest.raises(ValueError, match="prompt style 'vau'.*train, eval"):
        prepare_dataset(bench, bench / "videos", tmp_path, prompt_style="vau")
    with pytest.raises(SystemExit):
        _parse(["prepare", "--annotations", str(bench), "--videos", str(bench / "videos"), "--out", str(tmp_path), "--prompt-style", "vau"])
    assert "invalid choice" in capsys.readouterr().err
    args = _parse(["prepare", "--annotations", str(bench), "--split", "train", "--videos", str(bench / "videos"),
                   "--out", str(tmp_path / "o"), "--tasks", "qa", "--prompt-style", "eval"])
    assert prepare_command.run(args) == 0
    assert _rows(tmp_path / "o", "grpo_qa.json")[0]["messages"][0]["content"].startswith("Video 1: <video>\n")


# ------------------------------------------------------------------------------------ the output folder (issue 24, item 13)

VAU_PLUGIN = str(Path(sys.executable).parent / "vau-plugin")


def _prepare_cli(out, *extra) -> subprocess.CompletedProcess:
    bench = bundled_mini_bench()
    cmd = [VAU_PLUGIN, "prepare", "--annotations", str(bench), "--split", "train", "--videos", str(bench / "videos"),
           "--out", str(out), "--tasks", "qa", *extra]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _refusal(proc: subprocess.CompletedProcess) -> str:
    """The one line of a refused run: exit 1, nothing on stdout."""
    assert proc.returncode == 1 and proc.stdout == "", (proc.returncode, proc.stdout, proc.stderr)
    (line,) = proc.stderr.splitlines()
    assert line.startswith("vau-plugin prepare: ")
    return line


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_out_that_is_a_file_is_refused_naming_it(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    message = _refusal(_prepare_cli(a_file))
    assert f"--out {a_file}: exists and is not a folder" in message and "Errno" not in message
    message = _refusal(_prepare_cli(a_file / "data"))
    assert f"{a_file} is a file, not a folder" in message and "Errno" not in message
    assert a_file.read_text() == "mine\n" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_same_named_file_prepare_did_not_write_is_refused_unless_force(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "grpo_qa.json").write_text('[{"mine": 1}]\n')
    before = _snapshot(out)
    message = _refusal(_prepare_cli(out))
    assert f"refusing to overwrite {out / 'grpo_qa.json'} (not written by `vau-plugin prepare`)" in message
    assert "--force" in message
    assert _snapshot(out) == before  # nothing written: not the other files, not dataset_info.json
    proc = _prepare_cli(out, "--force")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "grpo_qa.json").read_text())[0]["task"] == "qa"


def test_a_rerun_replaces_its_own_files_but_not_edited_ones_or_foreign_entries(tmp_path):
    out = tmp_path / "data"
    assert _prepare_cli(out).returncode == 0
    first = _snapshot(out)
    proc = _prepare_cli(out)  # the usual re-run into the same folder
    assert proc.returncode == 0, proc.stderr
    assert _snapshot(out) == first
    # One of its own files, edited since: the edit is kept unless --force.
    edited = json.loads((out / "sft_qa.json").read_text())[:1]
    (out / "sft_qa.json").write_text(json.dumps(edited))
    message = _refusal(_prepare_cli(out))
    assert f"{out / 'sft_qa.json'} (written by `vau-plugin prepare`, changed since)" in message and "--force" in message
    assert json.loads((out / "sft_qa.json").read_text()) == edited
    assert _prepare_cli(out, "--force").returncode == 0
    assert (out / "sft_qa.json").read_bytes() == first["sft_qa.json"]
    # A dataset_info.json entry of the same name that points elsewhere is the user's: refused; other entries stay.
    info = json.loads((out / "dataset_info.json").read_text())
    info["vau_r1_qa"] = {"file_name": "my_qa.json"}
    info["mine"] = {"file_name": "mine.json"}
    (out / "dataset_info.json").write_text(json.dumps(info))
    message = _refusal(_prepare_cli(out))
    assert f"{out / 'dataset_info.json'} entry vau_r1_qa (different from what `prepare` writes)" in message
    assert json.loads((out / "dataset_info.json").read_text())["vau_r1_qa"] == {"file_name": "my_qa.json"}
    assert _prepare_cli(out, "--force").returncode == 0
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["vau_r1_qa"]["file_name"] == "grpo_qa.json" and info["mine"] == {"file_name": "mine.json"}


def test_a_broken_dataset_info_is_named_not_a_json_traceback(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "dataset_info.json").write_text("{not json")
    message = _refusal(_prepare_cli(out))
    assert f"{out / 'dataset_info.json'} is not valid JSON" in message and "--force" in message
    assert (out / "dataset_info.json").read_text() == "{not json"


# ------------------------------------------------------------------------- which video a row gets (issue 24, items 1-3)


def _prepare_own(annotations: Path, videos: Path, out: Path, *extra) -> subprocess.CompletedProcess:
    cmd = [VAU_PLUGIN, "prepare", "--annotations", str(annotations), "--videos", str(videos), "--out", str(out),
           "--tasks", "qa", "--no-sft", *extra]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _mini_rows(tmp_path: Path, names: list[str], stem: str) -> Path:
    """The bundled mini bench's first train rows under other video names, in a CSV named `stem`."""
    source = bundled_mini_bench() / "train.csv"
    with open(source, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    path = tmp_path / f"{stem}.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(rows[0])
        for name, row in zip(names, rows[1:]):
            writer.writerow([name, *row[1:]])
    return path


def _last_line_refusal(proc: subprocess.CompletedProcess) -> str:
    """A refused run: exit 1, nothing on stdout, the reason as the last line (the CSV reader's own warning about the
    rows it found wrong may come before it)."""
    assert proc.returncode == 1 and proc.stdout == "", (proc.returncode, proc.stdout, proc.stderr)
    line = proc.stderr.splitlines()[-1]
    assert line.startswith("vau-plugin prepare: ")
    return line


def _mini_clip(index: int = 0) -> Path:
    return sorted((bundled_mini_bench() / "videos").glob("*.mp4"))[index]


def test_prepare_refuses_rows_of_another_source_than_their_file(tmp_path):
    """A UCF-Crime row inside test_msad.csv was written as an MSAD training row."""
    csv_file = _mini_rows(tmp_path, ["Assault_2.mp4", "Abuse028_x264.mp4"], "test_msad")
    for name in ("Assault_2.mp4", "Abuse028_x264.mp4"):
        (tmp_path / "v").mkdir(exist_ok=True)
        shutil.copyfile(_mini_clip(), tmp_path / "v" / name)
    line = _last_line_refusal(_prepare_own(csv_file, tmp_path / "v", tmp_path / "out"))
    assert "1 annotation row(s) name a video of another source than their file, e.g. test_msad.csv row 2" in line
    assert "belongs to UCF-Crime" in line and not (tmp_path / "out").exists()


def test_prepare_takes_no_clip_from_another_folder_unless_asked(tmp_path):
    csv_file = _mini_rows(tmp_path, ["14.mp4", "24.mp4"], "test_ecva")
    (tmp_path / "v" / "ecva").mkdir(parents=True)
    (tmp_path / "v" / "xd_violence").mkdir()
    shutil.copyfile(_mini_clip(0), tmp_path / "v" / "ecva" / "24.mp4")
    shutil.copyfile(_mini_clip(1), tmp_path / "v" / "xd_violence" / "14.mp4")
    done = _prepare_own(csv_file, tmp_path / "v", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "1 video(s) not found, their rows left out (e.g. 14.mp4)" in done.stdout
    assert f"14.mp4 -> {tmp_path / 'v' / 'xd_violence' / '14.mp4'}" in done.stdout
    assert [Path(r["videos"][0]).name for r in _rows(tmp_path / "out", "grpo_qa.json")] == ["24.mp4"]
    anywhere = _prepare_own(csv_file, tmp_path / "v", tmp_path / "out2", "--video-search", "anywhere")
    assert anywhere.returncode == 0, anywhere.stderr
    assert "warning: test_ecva.csv row 1: '14.mp4' is not in the root nor in its source folder" in anywhere.stdout
    assert len(_rows(tmp_path / "out2", "grpo_qa.json")) == 2


def test_prepare_stops_at_a_name_that_matches_two_different_files(tmp_path):
    csv_file = _mini_rows(tmp_path, ["clash.mp4"], "mine")
    for folder, index in (("msad", 0), ("ucf", 1)):
        (tmp_path / "v" / folder).mkdir(parents=True)
        shutil.copyfile(_mini_clip(index), tmp_path / "v" / folder / "clash.mp4")
    line = _refusal(_prepare_own(csv_file, tmp_path / "v", tmp_path / "out"))
    assert "'clash.mp4' matches 2 different files" in line
    assert str(tmp_path / "v" / "msad" / "clash.mp4") in line and str(tmp_path / "v" / "ucf" / "clash.mp4") in line

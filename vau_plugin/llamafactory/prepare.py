"""`vau-plugin prepare`: VAU-Bench annotations + videos → a LLaMA-Factory dataset directory (or EasyR1 / ms-swift files).

Writes, into the output directory:

- ``grpo_{task}.json`` for task in qa, tag, cls and ``grpo_mixed.json`` (all tasks): sharegpt rows
  ``{"messages": [user, assistant], "videos": [path], "task", "answer", "span", "video_id"}``. The user turn is
  the VAU-R1 training prompt followed by LLaMA-Factory's ``<video>`` placeholder (``--prompt-style eval``: the
  placeholder, then the prompt of the lmms-eval ``_think`` task; ``--prompt-style answer``: the placeholder, then
  the prompt of ``vau_bench_qa_answer`` / ``vau_bench_cls``, qa and cls only); the assistant turn is the
  reference answer in the VAU-R1 layout (GRPO ignores it, SFT can learn from it). ``task``/``answer``/``span``
  are the ground truth the rewards (`vau_plugin.rewards`) read: the answer letter (qa), "Anomaly"/"Normal"
  (tag), the class (cls); the span in seconds for tag rows, [-1.0, -1.0] for a normal video, null otherwise.
- ``sft_{task}.json`` / ``sft_mixed.json``: the same prompts, rows whose annotation has a Reasoning, with the
  reasoning as ``<think>`` content: ``<think>{Reasoning}</think><answer>{answer}</answer>[<glue>[s, e]</glue>]``
  (``--prompt-style answer``: every row, target ``<answer>{answer}</answer>``).
- ``dataset_info.json``: one entry per file, named ``vau_r1_{task}`` (GRPO) and ``vau_r1_sft_{task}`` (SFT), so a
  recipe says ``dataset: vau_r1_mixed`` and ``dataset_dir: DIR``.

Video paths are absolute paths of files found under the video root by `resolve_videos` (which never leaves the
root); rows whose video is missing or whose name is rejected are left out and counted in the summary.

``--format`` picks the framework the files are for (`FORMATS`); the rows, prompts and ground truth are the same:

- ``llamafactory`` (default): the files above.
- ``easyr1``: ``easyr1_{task}.jsonl`` / ``easyr1_mixed.jsonl`` (GRPO only; EasyR1 has no SFT), rows
  ``{"prompt", "videos", "answer"}`` as EasyR1's ``RLHFDataset`` reads them (its default ``prompt_key``,
  ``video_key``, ``answer_key``; ``<video>`` in the prompt marks the video): the user turn above, the video path
  list, and the ground truth as JSON text (`vau_plugin.frameworks.easyr1_reward.encode_ground_truth`), scored by
  that file's ``compute_score``.
- ``swift``: ``swift_grpo_{task}.jsonl`` and ``swift_sft_{task}.jsonl`` (+ ``_mixed``): the rows above, which are
  ms-swift's standard format already (``messages`` with role/content, ``videos``, ``<video>`` in the user turn);
  GRPO passes the ``task``/``answer``/``span`` columns to the ORMs of `vau_plugin.frameworks.swift_reward`.

Each format writes only its own files; LLaMA-Factory's dataset_info.json is merged (your entries stay).

Nothing is overwritten that `prepare` did not write itself: it records the files it writes, with their SHA-256, in
``.vau-prepare.json`` in the output folder (`MANIFEST`), so a re-run into the same folder replaces its own earlier
files, while a same-named file it did not write (yours, or one of its own edited since) and a dataset_info.json
entry of the same name that says something else stop the run before anything is written, unless ``--force``
(``overwrite=True``). An ``--out`` that is a file is refused the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from vau_plugin.budget import budget_for
from vau_plugin.data.schema import VAURecord
from vau_plugin.data.sources import load_records
from vau_plugin.data.targets import TARGET_TASKS, target
from vau_plugin.data.videos import VIDEO_SEARCH_SOURCE, resolve_videos
from vau_plugin.frameworks.easyr1_reward import encode_ground_truth
from vau_plugin.prompts import ANSWER_ONLY_TASKS, eval_prompt, train_prompt

logger = logging.getLogger(__name__)

PathLike = Union[str, "os.PathLike[str]"]

TRAIN_TASKS: tuple[str, ...] = TARGET_TASKS  # every task with a ground truth to train on
# "train": VAU-R1's GRPO/SFT prompts, question text before the video (as VAU-R1 trains).
# "eval": the prompts of the lmms-eval `vau_bench_*_think` tasks, video before the text (the token layout
# lmms-eval's qwen2_5_vl builds), so that a model trained from scratch sees at test time what it was trained on.
# "answer": the prompts of `vau_bench_qa_answer` / `vau_bench_cls` (video first, the answer alone in <answer> tags,
# no reasoning; qa and cls only): SFT targets are `<answer>X</answer>`, and every annotated row has one.
PROMPT_STYLES: tuple[str, ...] = ("train", "eval", "answer")
MIXED = "mixed"
# The frameworks `prepare` writes for (see the module docstring); the first is the default.
FORMATS: tuple[str, ...] = ("llamafactory", "easyr1", "swift")
# LLaMA-Factory's placeholder, expanded by its mm_plugin; EasyR1 (verl/utils/dataset.py) and ms-swift
# (docs Custom-dataset.md, multimodal) use the same one.
VIDEO_PLACEHOLDER = "<video>"
DATASET_INFO = "dataset_info.json"
# The record of the files `prepare` wrote into an output folder (name -> SHA-256), so a re-run may replace them.
MANIFEST = ".vau-prepare.json"
# How many refused files a message names before "and N more".
SHOWN_CONFLICTS = 3
# sharegpt with role/content keys (LLaMA-Factory's defaults are from/value/human/gpt)
SHAREGPT_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}


def dataset_name(task: str, *, sft: bool = False) -> str:
    """dataset_name(task, *, sft=False) -> str: the dataset_info.json entry, e.g. vau_r1_qa, vau_r1_sft_mixed."""
    return f"vau_r1_sft_{task}" if sft else f"vau_r1_{task}"


def _file_name(task: str, *, sft: bool, fmt: str = "llamafactory") -> str:
    if fmt == "easyr1":
        return f"easyr1_{task}.jsonl"
    name = f"{'sft' if sft else 'grpo'}_{task}"
    return f"swift_{name}.jsonl" if fmt == "swift" else f"{name}.json"


def check_format(fmt: str) -> str:
    """check_format(fmt) -> fmt; raises ValueError naming the expected ones when it is not in FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def easyr1_row(row: dict[str, Any]) -> dict[str, Any]:
    """easyr1_row(row) -> the EasyR1 row of a GRPO row of `build_row`: {"prompt": the user turn, "videos": the
    paths, "answer": the ground truth as JSON text (`encode_ground_truth`)}."""
    return {"prompt": row["messages"][0]["content"], "videos": list(row["videos"]), "answer": encode_ground_truth(row)}


def round_span(span: Sequence[float]) -> list[float]:
    """round_span(span) -> [start, end] rounded to 0.1 s, as VAU-R1's grounding targets."""
    return [round(float(span[0]), 1), round(float(span[1]), 1)]


def ground_truth(record: VAURecord, task: str) -> Optional[dict[str, Any]]:
    """ground_truth(record, task) -> {"task", "answer", "span"} or None when the record cannot serve the task.

    The columns of `vau_plugin.data.targets.target`: qa: the answer letter; cls: the class; tag: "Normal" with
    span [-1.0, -1.0] for a normal video (VAU-R1 trains grounding on normal videos too), "Anomaly" with the
    annotated span (rounded, `round_span`) otherwise; span null for qa and cls.
    """
    truth = target(record, task)
    if truth is None:
        return None
    return {"task": truth.task, "answer": truth.answer, "span": round_span(truth.span) if truth.span is not None else None}


def target_text(truth: dict[str, Any], reasoning: Optional[str] = None) -> str:
    """target_text(truth, reasoning=None) -> str: the reference completion in the VAU-R1 layout.

    With `reasoning`: ``<think>reasoning</think><answer>…</answer>``; tag adds ``<glue>[s, e]</glue>``.
    """
    text = f"<think>{reasoning.strip()}</think>" if reasoning else ""
    text += f"<answer>{truth['answer']}</answer>"
    if truth["task"] == "tag":
        start, end = truth["span"]
        text += f"<glue>[{start}, {end}]</glue>"
    return text


def check_prompt_style(prompt_style: str) -> str:
    """check_prompt_style(style) -> style; raises ValueError naming the expected ones when it is not in PROMPT_STYLES."""
    if prompt_style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {prompt_style!r}; expected one of {', '.join(PROMPT_STYLES)}")
    return prompt_style


def user_turn(record: VAURecord, task: str, prompt_style: str = "train") -> str:
    """user_turn(record, task, prompt_style) -> the user message with LLaMA-Factory's video placeholder, in
    one of PROMPT_STYLES (see there)."""
    if check_prompt_style(prompt_style) == "train":
        return train_prompt(task, question=record.question, options=record.options) + VIDEO_PLACEHOLDER
    # the evaluation's chat template labels the video where the task's budget says so (VAU-R1's QA: add_vision_id)
    label = "Video 1: " if budget_for(task).add_vision_id else ""
    answer_only = prompt_style == "answer"
    prompt = eval_prompt(task, think=not answer_only, answer_only=answer_only, question=record.question, options=record.options)
    return label + VIDEO_PLACEHOLDER + prompt


def build_row(
    record: VAURecord, task: str, video_path: str, *, sft: bool, prompt_style: str = "train"
) -> Optional[dict[str, Any]]:
    """build_row(record, task, video_path, *, sft, prompt_style="train") -> one sharegpt row, or None when the
    record does not fit (task not usable; for SFT in a reasoning style also no Reasoning: the answer style's SFT
    target is the answer alone)."""
    truth = ground_truth(record, task)
    reasoning = prompt_style != "answer"
    if truth is None or (sft and reasoning and not record.reasoning):
        return None
    return {
        "messages": [
            {"role": "user", "content": user_turn(record, task, prompt_style)},
            {"role": "assistant", "content": target_text(truth, record.reasoning if sft and reasoning else None)},
        ],
        "videos": [video_path],
        **truth,
        "video_id": record.video,
    }


def dataset_info_entry(file_name: str) -> dict[str, Any]:
    """dataset_info_entry(file_name) -> the dataset_info.json entry of one prepared file."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "videos": "videos"},
        "tags": dict(SHAREGPT_TAGS),
    }


@dataclass
class PrepareSummary:
    """What `prepare_dataset` wrote: rows per dataset name, skipped records and why, the output folder."""

    out: Path
    rows: dict[str, int] = field(default_factory=dict)
    records: int = 0
    missing_videos: list[str] = field(default_factory=list)
    rejected_videos: list[str] = field(default_factory=list)
    format: str = FORMATS[0]
    elsewhere: dict[str, list[str]] = field(default_factory=dict)  # missing video -> same-named files not taken
    taken_elsewhere: list[str] = field(default_factory=list)  # warnings: videos taken by --video-search anywhere

    def describe(self) -> str:
        """describe() -> str: a short human-readable report."""
        framework = {"llamafactory": "LLaMA-Factory dataset", "easyr1": "EasyR1 files", "swift": "ms-swift files"}[self.format]
        lines = [f"{self.records} annotation rows read; {framework} written to {self.out}"]
        lines += [f"  {name}: {count} rows" for name, count in self.rows.items()]
        if self.missing_videos:
            shown = ", ".join(self.missing_videos[:5])
            lines.append(f"  {len(self.missing_videos)} video(s) not found, their rows left out (e.g. {shown})")
        if self.elsewhere:
            shown = "; ".join(f"{video} -> {paths[0]}" for video, paths in list(self.elsewhere.items())[:3])
            lines.append(
                f"  {len(self.elsewhere)} of them have a same-named file outside their source folder, not taken "
                f"(another source's or data set's clip?), e.g. {shown}; --video-search anywhere takes them"
            )
        lines += [f"  warning: {warning}" for warning in self.taken_elsewhere]
        if self.rejected_videos:
            lines.append(f"  {len(self.rejected_videos)} video name(s) rejected: {'; '.join(self.rejected_videos[:3])}")
        lines.append("  use it with: " + self._usage())
        return "\n".join(lines)

    def _usage(self) -> str:
        mixed = self.out / _file_name(MIXED, sft=False, fmt=self.format)
        if self.format == "easyr1":
            from vau_plugin.frameworks import easyr1_reward

            return (f"data.train_files={mixed} data.prompt_key=prompt data.answer_key=answer data.video_key=videos "
                    f"data.format_prompt=null worker.reward.reward_function={easyr1_reward.__file__}:compute_score")
        if self.format == "swift":
            from vau_plugin.frameworks import swift_reward

            return (f"--dataset {mixed} --external_plugins {swift_reward.__file__} "
                    "--reward_funcs vau_format vau_accuracy vau_iou")
        return f"dataset_dir: {self.out}  dataset: {dataset_name(MIXED)} (or vau_r1_qa, ...)"


def parse_tasks(text: Union[str, Iterable[str]]) -> list[str]:
    """parse_tasks("qa,tag") -> ["qa", "tag"]; raises ValueError naming an unknown task."""
    items = text.split(",") if isinstance(text, str) else list(text)
    tasks = [t.strip().lower() for t in items if t and t.strip()]
    unknown = [t for t in tasks if t not in TRAIN_TASKS]
    if unknown or not tasks:
        raise ValueError(f"--tasks: unknown task(s) {unknown or tasks!r}; expected a comma-separated subset of qa,tag,cls")
    return list(dict.fromkeys(tasks))


def _json_text(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


def _jsonl_text(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def output_files(tasks: Sequence[str], *, sft: bool, fmt: str) -> list[str]:
    """output_files(tasks, *, sft, fmt) -> the data files `prepare_dataset` writes for these arguments (without
    dataset_info.json and the manifest), in the order it writes them."""
    variants = (False, True) if sft and fmt != "easyr1" else (False,)
    return [_file_name(task, sft=is_sft, fmt=fmt) for is_sft in variants for task in [*tasks, MIXED]]


def _read_manifest(out: Path) -> dict[str, str]:
    """The files an earlier `prepare` wrote into `out` (name -> SHA-256); empty when there is no readable record."""
    try:
        files = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _read_dataset_info(path: Path, overwrite: bool) -> dict[str, Any]:
    """An existing dataset_info.json to merge into ({} when there is none). One that is not a JSON object is an
    error naming it, unless `overwrite` (then it is replaced)."""
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        problem = None if isinstance(info, dict) else f"holds a JSON {type(info).__name__}, not an object of datasets"
    except (UnicodeDecodeError, ValueError) as err:
        info, problem = None, f"is not valid JSON ({err})"
    if problem is None:
        return info
    if overwrite:
        return {}
    raise FileExistsError(f"{path} {problem}; refusing to replace it: fix it, or pass --force to replace it")


def check_output_folder(out: Path, files: Sequence[str], info_entries: dict[str, dict], overwrite: bool) -> None:
    """check_output_folder(out, files, info_entries, overwrite) -> None, before anything is read or written.

    Raises NotADirectoryError when `out` (or a folder above it) is a file, and FileExistsError naming the files,
    unless `overwrite`, when `out` holds a same-named file that the manifest does not list with its current
    SHA-256 (a file `prepare` did not write, or one it wrote that was changed since), or a dataset_info.json
    entry of a name in `info_entries` that says something else. A same-named folder is refused even then.
    """
    for folder in (out, *out.parents):  # the nearest path that exists must be a folder
        if folder.exists():
            if not folder.is_dir():
                what = "exists and is not a folder" if folder == out else f"{folder} is a file, not a folder"
                raise NotADirectoryError(f"--out {out}: {what}; expected an output folder")
            break
    if not out.is_dir():
        return
    folders = [name for name in files if (out / name).is_dir()]
    if folders:
        raise IsADirectoryError(f"{out / folders[0]} is a folder; `prepare` writes a file of that name: remove or "
                                "rename it, or choose another --out")
    if overwrite:
        return
    manifest = _read_manifest(out)
    conflicts = []
    for name in files:
        path = out / name
        if not path.exists():
            continue
        if name not in manifest:
            conflicts.append(f"{path} (not written by `vau-plugin prepare`)")
        elif _sha256(path.read_bytes()) != manifest[name]:
            conflicts.append(f"{path} (written by `vau-plugin prepare`, changed since)")
    info = _read_dataset_info(out / DATASET_INFO, overwrite)
    clashing = [name for name, entry in info_entries.items() if name in info and info[name] != entry]
    if clashing:
        conflicts.append(f"{out / DATASET_INFO} entr{'ies' if len(clashing) > 1 else 'y'} {', '.join(clashing)} "
                         "(different from what `prepare` writes)")
    if conflicts:
        more = f" and {len(conflicts) - SHOWN_CONFLICTS} more" if len(conflicts) > SHOWN_CONFLICTS else ""
        raise FileExistsError(
            f"refusing to overwrite {'; '.join(conflicts[:SHOWN_CONFLICTS])}{more}: pass --force (overwrite=True "
            f"from Python) to replace {'them' if len(conflicts) > 1 else 'it'}, or choose another --out"
        )


def _write_manifest(out: Path, written: dict[str, str]) -> None:
    """Record `written` (name -> SHA-256) in the manifest, keeping the records of other files still there."""
    files = {name: digest for name, digest in _read_manifest(out).items() if (out / name).is_file()}
    files.update(written)
    record = {"written_by": "vau-plugin prepare", "files": dict(sorted(files.items()))}
    (out / MANIFEST).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def prepare_dataset(
    annotations: PathLike,
    videos: PathLike,
    out: PathLike,
    *,
    tasks: Sequence[str] = TRAIN_TASKS,
    split: Optional[str] = None,
    sft: bool = True,
    prompt_style: str = "train",
    fmt: str = "llamafactory",
    overwrite: bool = False,
    video_search: str = VIDEO_SEARCH_SOURCE,
) -> PrepareSummary:
    """prepare_dataset(annotations, videos, out, *, tasks=("qa","tag","cls"), split=None, sft=True,
    prompt_style="train", fmt="llamafactory", overwrite=False, video_search="source") -> PrepareSummary.

    `annotations`: a VAU-Bench CSV, a directory of CSVs or a hub id (see `load_records`; `split` picks one
    CSV of a directory by its stem, e.g. "train"); `videos`: the video root; `fmt`: one of FORMATS. Writes the
    files described in the module docstring into `out` (for llamafactory, merging its entries into an existing
    dataset_info.json there); `video_search`: where a row's video may be taken from (`resolve_videos`). Raises
    ValueError, before anything is written, when no row has a video, when a row's video is of another source than
    its file (`VAURecord.source_conflict`) and when a video name matches two different files; and before anything
    is read or written (`check_output_folder`) NotADirectoryError for an `out` that is a file and FileExistsError
    for same-named files `prepare` did not write, unless `overwrite`. Rows whose video is missing are left out and
    listed in the summary.
    """
    tasks = parse_tasks(tasks)
    check_prompt_style(prompt_style)  # before any file is read
    if prompt_style == "answer" and set(tasks) - set(ANSWER_ONLY_TASKS):
        raise ValueError(
            f"prompt style 'answer' asks for the answer alone, which exists for {', '.join(ANSWER_ONLY_TASKS)}; "
            f"got tasks {', '.join(tasks)} (pass --tasks {','.join(t for t in tasks if t in ANSWER_ONLY_TASKS) or 'qa'})"
        )
    check_format(fmt)
    out_dir = Path(out)
    variants = (False, True) if sft and fmt != "easyr1" else (False,)
    info_entries = (
        {dataset_name(task, sft=is_sft): dataset_info_entry(_file_name(task, sft=is_sft))
         for is_sft in variants for task in [*tasks, MIXED]}
        if fmt == "llamafactory" else {}
    )  # fmt: skip
    check_output_folder(out_dir, output_files(tasks, sft=sft, fmt=fmt), info_entries, overwrite)  # before slow work
    records = load_records(annotations, split=split)
    conflicts = [r for r in records if r.source_conflict]
    if conflicts:
        listed = ", ".join(f"{r.file} row {r.row} ({r.video!r})" for r in conflicts[:3])
        raise ValueError(
            f"{len(conflicts)} annotation row(s) name a video of another source than their file, e.g. {listed}: "
            f"{conflicts[0].source_conflict} (`vau-plugin validate` lists them all)"
        )
    resolution = resolve_videos(records, videos, search=video_search)
    if resolution.ambiguous:
        clashes = list(resolution.ambiguous.values())
        raise ValueError(f"{len(clashes)} video name(s) cannot be told apart: {'; '.join(clashes[:3])}")
    summary = PrepareSummary(
        out=out_dir, records=len(records), missing_videos=list(resolution.missing), rejected_videos=list(resolution.errors),
        format=fmt, elsewhere={video: [str(p) for p in paths] for video, paths in resolution.elsewhere.items()},
        taken_elsewhere=list(resolution.warnings),
    )
    found = {video: str(Path(path).resolve()) for video, path in resolution.found.items()}
    if not found:
        raise ValueError(f"{videos}: none of the {len(records)} annotated videos was found; {resolution.describe()}")
    texts: dict[str, str] = {}  # file name -> content, all built before the first write
    for is_sft in variants:
        mixed: list[dict[str, Any]] = []
        per_task = {task: [] for task in tasks}
        for record in records:
            path = found.get(record.video)
            if path is None:
                continue
            for task in tasks:
                row = build_row(record, task, path, sft=is_sft, prompt_style=prompt_style)
                if row is not None:
                    per_task[task].append(row)
                    mixed.append(row)
        for task, rows in [*per_task.items(), (MIXED, mixed)]:
            file_name = _file_name(task, sft=is_sft, fmt=fmt)
            if fmt == "llamafactory":
                texts[file_name] = _json_text(rows)
                name = dataset_name(task, sft=is_sft)
            else:
                texts[file_name] = _jsonl_text([easyr1_row(row) for row in rows] if fmt == "easyr1" else rows)
                name = file_name
            summary.rows[name] = len(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for file_name, text in texts.items():
        data = text.encode("utf-8")
        (out_dir / file_name).write_bytes(data)
        written[file_name] = _sha256(data)
    if fmt == "llamafactory":
        info_path = out_dir / DATASET_INFO
        info = {**_read_dataset_info(info_path, overwrite), **info_entries}
        info_path.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    _write_manifest(out_dir, written)
    return summary

"""`vau-plugin demo` (what `make demo` runs): a tiny model learns a video-dependent answer through the real CLIs.

1. write the colour bench (`vau_plugin.benches.colour`: red clip -> A, blue clip -> B) and check it with the
   VAU-Bench validator; also the bundled mini bench, and the `_tiny` recipes' inputs (tiny model, mini-bench
   datasets) that the README's recipe commands read from `.demo/`;
2. teach the tiny random Qwen2.5-VL the VAU-R1 answer format: SFT through `llamafactory-cli train` on random
   letters (the format, not the colour);
3. evaluate it with `lmms-eval --model vau_qwen2_5_vl --tasks vau_bench_qa_think` on the 40 held-out clips: chance;
4. GRPO through `llamafactory-cli train` (`stage: grpo`, rewards format + accuracy): the per-step reward, as text
   and as a PNG;
5. evaluate again: the accuracy GRPO reached.
A 2.7 M-parameter model on synthetic clips, not VAU-Bench: the demo shows that the pipeline learns from the video
(`vau_plugin.learning`), not a VAU-Bench result.

The `.demo/` layout: `prepare_demo_inputs(workdir)` makes what the `_tiny` recipes expect relative to `workdir`:
`tiny_model/` (made with `make_tiny_model` if absent) and `data/` (prepared from the bundled mini bench);
`demo_recipes(workdir)` writes the recipes into `workdir/recipes/` with absolute paths into `workdir`, so
`llamafactory-cli train WORKDIR/recipes/vau_r1_grpo_tiny.yaml` runs from any folder. `vau-plugin gpu-check` uses
them too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Union

from vau_plugin.benches.mini import bundled_mini_bench
from vau_plugin.data.validate import validate_path

LMMS_MODEL = "vau_qwen2_5_vl"


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def metrics_table(results: dict) -> str:
    """A plain table of every task's metrics from an lmms-eval results JSON."""
    lines = [f"{'task':<24} {'metric':<22} {'value':>8}", "-" * 56]
    for task in sorted(results["results"]):
        for key, value in sorted(results["results"][task].items()):
            if not key.endswith(",none") or "stderr" in key or not isinstance(value, (int, float)):
                continue
            lines.append(f"{task:<24} {key[: -len(',none')]:<22} {value:>8.2f}")
    return "\n".join(lines)


def run_demo(workdir: str | Path) -> int:
    from vau_plugin.learning import CHANCE, accuracy_trend, evaluate, plot_rewards, prepare_workspace, reward_log, reward_table, train_stage
    from vau_plugin.video_checks import check_videos

    root = Path(workdir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    _step("1. the colour bench (red clip -> A, blue clip -> B), checked by `vau-plugin validate`")
    space = prepare_workspace(root / "colour")
    for name, csv in (("train", space.bench.train), ("test", space.bench.test), ("bundled mini bench test", bundled_mini_bench() / "test.csv")):
        report = validate_path(csv, video_root=csv.parent / "videos", check_videos=check_videos)
        videos = report.get("videos", {})
        print(f"{name}: {report['rows']} rows, usable {report['usable']}, {len(report['errors'])} errors, "
              f"videos found {videos.get('found', '?')}/{report['rows']}")  # fmt: skip
    prepare_demo_inputs(root)  # what the README's `_tiny` recipe commands read from .demo/
    demo_recipes(root)

    _step("2. the tiny random Qwen2.5-VL learns the answer format (SFT on random letters)")
    print(f"$ llamafactory-cli train {space.recipe('sft')}", flush=True)
    sft = train_stage(space, "sft")

    _step(f"3. lmms-eval --model {LMMS_MODEL} --tasks vau_bench_qa_think, held-out clips, before GRPO")
    before = evaluate(space, sft, "before_grpo")
    print(metrics_table({"results": before["results"]}))
    print(f"answers: {before['answers']} (chance {CHANCE:.0f} %)")

    _step("4. GRPO through llamafactory-cli train (stage: grpo, rewards format + accuracy)")
    print(f"$ llamafactory-cli train {space.recipe('grpo')}", flush=True)
    grpo = train_stage(space, "grpo")
    log = reward_log(grpo)
    print(reward_table(log))
    png = plot_rewards({"GRPO": log}, root / "grpo_reward.png")
    print(f"reward curve: {png}" if png else "(matplotlib missing: no reward PNG)")

    _step("5. lmms-eval again, after GRPO")
    after = evaluate(space, grpo, "after_grpo")
    print(metrics_table({"results": after["results"]}))
    print(f"answers: {after['answers']}")

    first, last = accuracy_trend(log)
    print(f"\nheld-out accuracy {before['accuracy']:.1f} % -> {after['accuracy']:.1f} % (chance {CHANCE:.0f} %); "
          f"GRPO accuracy reward, mean of the first / last 5 steps: {first:.2f} -> {last:.2f}")  # fmt: skip
    print(f"checkpoint: {grpo}\nrecipes (absolute paths, run from any folder): {space.recipe('sft').parent}")
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s; files under {root}")
    return 0


def prepare_demo_inputs(workdir: Union[str, Path]) -> dict[str, Path]:
    """prepare_demo_inputs(workdir) -> {"model", "qwen3_vl_model", "data"}: the tiny Qwen2.5-VL (`tiny_model/`) and
    Qwen3-VL (`tiny_qwen3_vl/`, for vau_r1_grpo_qwen3_vl_tiny.yaml), each made once, and the GRPO/SFT datasets
    prepared from the bundled mini bench's train split."""
    from vau_plugin.llamafactory.prepare import prepare_dataset
    from vau_plugin.tiny_model import make_tiny_model

    workdir = Path(workdir)
    model_dir = workdir / "tiny_model"
    if not (model_dir / "config.json").is_file():
        make_tiny_model(model_dir, seed=0)
    qwen3_dir = workdir / "tiny_qwen3_vl"
    if not (qwen3_dir / "config.json").is_file():
        make_tiny_model(qwen3_dir, seed=0, arch="qwen3_vl")
    bench = bundled_mini_bench()
    data_dir = workdir / "data"
    # the demo's own folder, rewritten on every run (also one an older plugin wrote, which has no prepare manifest)
    prepare_dataset(bench, bench / "videos", data_dir, split="train", overwrite=True)
    return {"model": model_dir, "qwen3_vl_model": qwen3_dir, "data": data_dir}


def demo_recipes(workdir: Union[str, Path]) -> Path:
    """demo_recipes(workdir) -> `workdir/recipes`, (re)written with every shipped recipe, the `_tiny` ones with
    absolute paths into `workdir` (tiny_model/, data/, out/), so they run from any working directory. `workdir`
    must hold what `prepare_demo_inputs` makes."""
    from vau_plugin.recipes import copy_recipes

    workdir = Path(workdir).resolve()
    folder = workdir / "recipes"
    copy_recipes(folder, overwrite=True, workdir=workdir)
    return folder

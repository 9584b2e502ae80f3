"""`vau-plugin gpu-check` (`make gpu-check`): the plugin's GPU path, run end to end on the tiny model.

The test suite runs on CPU in float32; users train and evaluate on GPUs in bf16. This command runs what they
run, through the same CLIs, and prints one PASS / FAIL line per check with its time and the peak GPU memory
(device-wide, as the driver reports it, sampled every 0.2 s):

1. environment: the versions of the stack, the CUDA device, bf16 support;
2. set-up (no GPU needed): the LLaMA-Factory patches take effect, lmms-eval lists the plugin's model, every
   shipped recipe parses; the tiny random Qwen2.5-VL and the mini-bench datasets are written;
3. `llamafactory-cli train` in bf16 on the GPU, a few steps each: SFT and `stage: grpo`, each with full and LoRA
   fine-tuning and with fixed and learnable motion prompts (8 runs). A run passes when it exits 0, its losses
   (and GRPO rewards) are finite and its output holds the model (LoRA: the adapter) and, when learnable, a
   finite `motion_prompt.json`;
4. `lmms-eval --model vau_qwen2_5_vl` (bf16, `device=cuda`) on the mini bench's QA, TAG and CLS tasks: plain,
   with fixed motion prompts, and with the learnable layer trained in 3. A run passes when every task scored
   every clip with no video error;
5. a GRPO step of the plugin (with and without its group reuse) against a bare TRL `GRPOTrainer` on the same
   settings, at the QA and TAG budgets with G 4 and 8, in bf16 on the GPU, and where the step time goes
   (`bench/grpo.py --device cuda`, in a clone of the repository; skipped when that script is absent).

Without a CUDA device it runs 1 and 2, reports the missing device as a failed check (the summary counts it), and
exits 1; a check that did not run by choice or for want of the repository (5) is printed and counted as skipped. Everything, with the
versions and the date, is also written to WORKDIR/gpu_check.json.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

# The packages whose versions decide whether the GPU path works (the pins of constraints.txt).
STACK = ("torch", "transformers", "trl", "llamafactory", "lmms_eval", "peft", "accelerate", "datasets", "decord", "av")
# The mini-bench tasks that need no judge (REASON does) and cover the three kinds of answer.
LMMS_TASKS = ("vau_bench_qa_mini", "vau_bench_tag_mini", "vau_bench_cls_mini")
TRAIN_STEPS = 3
MOTION = {"m": 0.5, "n": 0.0, "fill": "mean"}


@dataclass
class CheckResult:
    """One line of the report: name, passed, seconds, peak GPU memory (MiB, None without a GPU), detail."""

    name: str
    passed: bool
    seconds: float
    peak_mib: Optional[float] = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        peak = f"{self.peak_mib:>7.0f} MiB" if self.peak_mib is not None else " " * 11
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name:<46} {self.seconds:>6.1f} s  {peak}  {self.detail}"


class GpuMemory:
    """Samples the memory in use on GPU 0 (all processes: the CLIs run as subprocesses) in a thread; `peak_mib`
    is the largest sample since `start()`. NVML through `pynvml` when installed, else `nvidia-smi`."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_mib: Optional[float] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._read = self._reader()

    @staticmethod
    def _reader() -> Optional[Callable[[], float]]:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        except Exception:  # noqa: BLE001 - no NVML: try the command-line tool
            pass
        tool = shutil.which("nvidia-smi")
        if tool is None:
            return None

        def read() -> float:
            out = subprocess.run([tool, "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                                 capture_output=True, text=True, timeout=10, check=True)  # fmt: skip
            return float(out.stdout.strip().splitlines()[0])

        return read

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                used = self._read()
                self.peak_mib = used if self.peak_mib is None else max(self.peak_mib, used)
            except Exception:  # noqa: BLE001 - a missed sample is not a failed check
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> "GpuMemory":
        if self._read is not None:
            self.peak_mib = None
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None


def run_check(name: str, fn: Callable[[], tuple[bool, str, dict]], memory: Optional[GpuMemory]) -> CheckResult:
    """run_check(name, fn, memory) -> CheckResult of `fn() -> (passed, detail, data)`, printed at once; an
    exception fails the check with its message (the run goes on to the next check)."""
    started = time.monotonic()
    try:
        if memory is not None:
            with memory:
                passed, detail, data = fn()
        else:
            passed, detail, data = fn()
    except Exception as err:  # noqa: BLE001 - one broken check must not hide the others
        passed, detail, data = False, f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}", {"error": str(err)[-4000:]}
    result = CheckResult(name, passed, round(time.monotonic() - started, 1), memory.peak_mib if memory else None, detail, data)
    print(result.line(), flush=True)
    return result


# ----------------------------------------------------------------------------------------------- environment


def versions() -> dict[str, Optional[str]]:
    """versions() -> {distribution: version or None} for STACK."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, Optional[str]] = {}
    for name in STACK:
        try:
            found[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:
            try:
                found[name] = version(name)
            except PackageNotFoundError:
                found[name] = None
    return found


def cuda_device() -> dict[str, Any]:
    """cuda_device() -> {"available", "name", "capability", "bf16", "memory_gib", "cuda"} of GPU 0."""
    import torch

    if not torch.cuda.is_available():
        return {"available": False, "cuda": torch.version.cuda}
    props = torch.cuda.get_device_properties(0)
    return {"available": True, "name": props.name, "capability": f"{props.major}.{props.minor}",
            "bf16": torch.cuda.is_bf16_supported(), "memory_gib": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda}  # fmt: skip


def check_environment() -> tuple[bool, str, dict]:
    stack = versions()
    device = cuda_device()
    missing = [name for name in ("torch", "transformers", "trl", "llamafactory", "lmms_eval", "peft") if not stack[name]]
    detail = ", ".join(f"{k} {v}" for k, v in stack.items() if v) + (f"; missing {', '.join(missing)}" if missing else "")
    gpu = f"{device['name']} ({device['memory_gib']} GiB, bf16 {'yes' if device['bf16'] else 'no'})" if device["available"] else "no CUDA device"
    return not missing, f"{gpu}; {detail}", {"versions": stack, "device": device, "python": platform.python_version()}


def check_setup() -> tuple[bool, str, dict]:
    """The patches, lmms-eval's view of the plugin's model and every shipped recipe: no GPU involved."""
    from importlib.metadata import entry_points

    import yaml

    from vau_plugin.llamafactory.patch import apply
    from vau_plugin.lmms.entry import MODEL_ID
    from vau_plugin.recipes import recipe_names, recipe_path

    status = apply()
    problems = [f"{key} is {status.get(key)!r}" for key in ("tuner_patched", "motion_registered") if not status.get(key)]
    manifests = [m for ep in entry_points(group="lmms_eval.models") if ep.name == "vau_plugin" for m in ep.load()()]
    if MODEL_ID not in {m.model_id for m in manifests}:
        problems.append(f"lmms-eval's entry point vau_plugin does not list {MODEL_ID}")
    recipes = [name for name in recipe_names() if name.endswith(".yaml")]
    for name in recipes:
        keys = yaml.safe_load(recipe_path(name).read_text(encoding="utf-8"))
        if not isinstance(keys, dict) or "stage" not in keys:
            problems.append(f"recipe {name} has no stage")
    detail = "; ".join(problems) or f"patches in effect, lmms-eval model registered, {len(recipes)} recipes parse"
    return not problems, detail, {"patch_status": {k: str(v) for k, v in status.items()}}


def check_inputs(workdir: Path) -> tuple[bool, str, dict]:
    from vau_plugin.demo import prepare_demo_inputs

    made = prepare_demo_inputs(workdir)
    return True, f"tiny model {made['model']}, datasets {made['data']}", {k: str(v) for k, v in made.items()}


# ------------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainRun:
    """One `llamafactory-cli train` run of the check: stage (sft / grpo), finetuning (full / lora), motion
    (fixed / learnable)."""

    stage: str
    finetuning: str
    motion: str

    @property
    def name(self) -> str:
        return f"{self.stage}_{self.finetuning}_{self.motion}"

    @property
    def recipe(self) -> str:
        return {"sft": "vau_r1_sft_tiny.yaml", "grpo": "vau_r1_grpo_tiny.yaml"}[self.stage]


TRAIN_RUNS = tuple(TrainRun(s, f, m) for s in ("sft", "grpo") for f in ("full", "lora") for m in ("fixed", "learnable"))


def train_overrides(run: TrainRun, workdir: Path, steps: int = TRAIN_STEPS, bf16: bool = True) -> dict[str, Any]:
    """train_overrides(run, workdir, steps, bf16) -> the `key=value` overrides of the shipped `_tiny` recipe: the
    workdir's model and data, bf16, `steps` steps with one checkpoint at the end, the motion prompt."""
    keys: dict[str, Any] = {
        "model_name_or_path": workdir / "tiny_model", "dataset_dir": workdir / "data",
        "output_dir": workdir / "out" / run.name, "bf16": str(bf16).lower(), "max_steps": steps, "save_steps": steps,
        "logging_steps": 1, "finetuning_type": run.finetuning, "template": "qwen2_vl_motion",
        "vau_motion_fill": MOTION["fill"], "report_to": "none",
    }  # fmt: skip
    if run.finetuning == "lora":
        keys.update(lora_rank=8, lora_target="all")
    if run.motion == "fixed":
        keys.update(vau_motion_m=MOTION["m"], vau_motion_n=MOTION["n"])
    else:
        keys.update(vau_motion_learnable="true", vau_motion_m=MOTION["m"], vau_motion_n=MOTION["n"])
    return keys


def _finite(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def check_trained(run: TrainRun, out: Path) -> tuple[bool, str, dict]:
    """check_trained(run, output folder) -> (passed, detail, data): the weights are there, the logged losses
    (and GRPO rewards) are finite, a learnable run saved a finite motion_prompt.json."""
    from vau_plugin.runners import log_history

    history = log_history(out)
    losses = [e["loss"] for e in history if "loss" in e]
    rewards = [e["reward"] for e in history if "reward" in e]
    problems = []
    weights = "adapter_model.safetensors" if run.finetuning == "lora" else "model.safetensors"
    if not (out / weights).is_file():
        problems.append(f"no {weights}")
    if not losses or not _finite(losses):
        problems.append(f"losses {losses}")
    if run.stage == "grpo" and (not rewards or not _finite(rewards)):
        problems.append(f"rewards {rewards}")
    motion: dict[str, Any] = {}
    if run.motion == "learnable":
        path = out / "motion_prompt.json"
        if not path.is_file():
            problems.append("no motion_prompt.json")
        else:
            motion = json.loads(path.read_text(encoding="utf-8"))
            numbers = [v for v in motion.values() if isinstance(v, (int, float))]
            if not _finite(numbers):
                problems.append(f"motion_prompt.json {motion}")
    steps = [e.get("step") for e in history if "loss" in e]
    detail = "; ".join(problems) or (f"{len(steps)} steps, loss {losses[0]:.3g} -> {losses[-1]:.3g}"
                                     + (f", reward {rewards[0]:.2f} -> {rewards[-1]:.2f}" if rewards else "")
                                     + (f", motion m {motion.get('m', float('nan')):.4f} n {motion.get('n', float('nan')):.4f}" if motion else ""))  # fmt: skip
    return not problems, detail, {"losses": losses, "rewards": rewards, "motion_prompt": motion,
                                  "train_runtime": (history or [{}])[-1].get("train_runtime")}  # fmt: skip


def check_train(run: TrainRun, workdir: Path, steps: int, bf16: bool = True) -> tuple[bool, str, dict]:
    from vau_plugin.recipes import recipe_path
    from vau_plugin.runners import train

    out = workdir / "out" / run.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    result = train(recipe_path(run.recipe), train_overrides(run, workdir, steps, bf16))
    (out / "train.log").write_text(result.stdout, encoding="utf-8")
    if result.returncode != 0:
        last = [line for line in result.stdout.splitlines() if line.strip()][-1:] or [""]
        return False, f"exit {result.returncode}: {last[0][:160]} (log {out / 'train.log'})", {"log_tail": result.stdout[-4000:]}
    return check_trained(run, out)


# ---------------------------------------------------------------------------------------------- evaluation


def lmms_eval_args(model: Path, motion_args: str = "", device: str = "cuda") -> list[str]:
    """lmms_eval_args(model, motion_args, device) -> `lmms-eval` arguments for `--model vau_qwen2_5_vl` on the mini
    bench's QA / TAG / CLS tasks, bf16 (the lmms-eval Qwen2.5-VL default) on `device`, the tiny recipes' video budget."""
    model_args = f"pretrained={model},device={device},fps=2.0,max_num_frames=4,min_pixels=3136,max_pixels=3136" + (f",{motion_args}" if motion_args else "")
    return ["--model", "vau_qwen2_5_vl", "--model_args", model_args, "--tasks", ",".join(LMMS_TASKS), "--batch_size", "4",
            "--gen_kwargs", "max_new_tokens=32", "--seed", "0", "--log_samples"]  # fmt: skip


def check_lmms(model: Path, out: Path, motion_args: str = "", device: str = "cuda") -> tuple[bool, str, dict]:
    """Run lmms-eval and check that every task scored every clip of the mini test split with no video error."""
    from vau_plugin.benches.mini import bundled_mini_bench
    from vau_plugin.data.sources import load_records
    from vau_plugin.runners import run_lmms_eval, task_samples

    shutil.rmtree(out, ignore_errors=True)
    try:
        results = run_lmms_eval(lmms_eval_args(model, motion_args, device), out)["results"]
    except RuntimeError as failed:  # the message names the exit code, what went wrong and the log
        return False, str(failed), {}
    expected = len(load_records(bundled_mini_bench() / "test.csv", split="test"))
    problems, scored = [], {}
    for task in LMMS_TASKS:
        scored[task] = len(task_samples(out, task))
        if scored[task] != expected:  # a mean over fewer clips than the split must not pass
            problems.append(f"{task}: scored {scored[task]} of {expected} clips")
        if results.get(task, {}).get("video_errors,none", 0):
            problems.append(f"{task}: {results[task]['video_errors,none']} video errors")
    detail = "; ".join(problems) or ", ".join(f"{t.replace('vau_bench_', '')} {n} clips" for t, n in scored.items())
    return not problems, detail, {"scored": scored, "results": results}


# Two alternating rounds of 6 steps: with one round the runner that goes first also pays for CUDA's warm-up
# (kernel selection, allocator growth) in the steps after its first; the H100 run of 2026-11-26 measured TRL
# first at 0.70-1.45 s a step against the plugin's 0.19 s, an order effect, not a speed-up.
GRPO_BENCH_ARGS = ("--steps", "4", "--rounds", "2", "--device", "cuda")
# where a step's time goes, in this order (bench/grpo.py's timer categories; vision and prefill are parts of the others)
GRPO_SPLIT = ("generation", "prefill", "vision", "log-prob forwards", "media", "rewards", "other")


def check_grpo_bench(script: Path, out: Path, args: tuple[str, ...] = GRPO_BENCH_ARGS) -> tuple[bool, str, dict]:
    """check_grpo_bench(bench/grpo.py, out, args) -> (passed, detail, data): the script's plugin GRPO step, with and
    without its group reuse, against a bare TRL GRPOTrainer step on the same settings (best and median step times,
    their ratios), and where the plugin's step time goes in each."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / "grpo_bench.json"
    with open(out / "grpo_bench.log", "w", encoding="utf-8") as log:
        proc = subprocess.run([sys.executable, str(script), *args, "--out", str(target)],
                              stdout=log, stderr=subprocess.STDOUT, check=False, cwd=script.parent)  # fmt: skip
    if proc.returncode != 0 or not target.is_file():
        tail = (out / "grpo_bench.log").read_text(encoding="utf-8", errors="replace")[-4000:]
        return False, f"exit {proc.returncode} (log {out / 'grpo_bench.log'})", {"log_tail": tail}
    result = json.loads(target.read_text(encoding="utf-8"))
    parts = []
    key = ("budget", "generations", "gradient_checkpointing")
    for setting in dict.fromkeys(tuple(row[k] for k in key) for row in result["rows"]):
        rows = [row for row in result["rows"] if tuple(row[k] for k in key) == setting]
        steps = ", ".join(f"{row['runner'].split(' (')[0]} {row['best_step_s'] * 1000:.0f} ms" for row in rows)
        splits = "; ".join(f"{row['runner'].split(' (')[0]}: " + ", ".join(
            f"{part} {row['share'][part]:.0%}" for part in GRPO_SPLIT if part in row["share"]) for row in rows[1:])  # fmt: skip
        parts.append(f"{setting[0].upper()} G={setting[1]} checkpointing {'on' if setting[2] else 'off'}: best step: {steps} [{splits}]")
    detail = " | ".join(parts + result["lines"])
    return True, detail, {"overhead_ratios": result["overhead_ratios"], "rows": result["rows"], "lines": result["lines"]}


def grpo_bench_script() -> Optional[Path]:
    """The repository's bench/grpo.py: in the working directory (`make gpu-check` in a clone) or beside this
    package (an editable install); None for an installed wheel run elsewhere."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (root / "bench" / "grpo.py").is_file():
            return root / "bench" / "grpo.py"
    return None


# ------------------------------------------------------------------------------------------------------ main


def grpo_bench_skipped(asked: bool) -> str:
    """grpo_bench_skipped(asked) -> the SKIP entry of the GRPO comparison: turned off (`--no-grpo-bench`) when not
    asked for, else not found (bench/grpo.py ships with the repository, not in the wheel)."""
    why = "needs bench/grpo.py (run `make gpu-check` in a clone)" if asked else "--no-grpo-bench"
    return f"GRPO step against bare TRL: {why}"


def summary(results: list[CheckResult], skipped: list[str]) -> str:
    """summary(results, skipped) -> "N/M checks passed" over every check that ran or failed to (a missing GPU is a
    failed check), ", K skipped" when some did not run by choice or for want of the repository."""
    return f"{sum(r.passed for r in results)}/{len(results)} checks passed" + (f", {len(skipped)} skipped" if skipped else "")


def run_gpu_check(workdir: str | Path, steps: int = TRAIN_STEPS, train_runs: tuple[TrainRun, ...] = TRAIN_RUNS,
                  grpo_bench: bool = True) -> int:  # fmt: skip
    """run_gpu_check(workdir, steps, train_runs, grpo_bench) -> exit code (0: every check passed; 1: a check
    failed or there is no CUDA device). Prints the report; writes workdir/gpu_check.json."""
    from vau_plugin.runners import cli_env

    # The in-process set-up check imports LLaMA-Factory, and the GRPO bench inherits this environment: both get
    # what the CLI subprocesses get (offline, no version check, this interpreter's bin/ first on PATH).
    os.environ.update(cli_env())
    root = Path(workdir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"vau-plugin gpu-check in {root}", flush=True)
    results = [run_check("environment", check_environment, None)]
    device = results[0].data.get("device", {})
    memory = GpuMemory() if device.get("available") else None
    results.append(run_check("set-up: patches, lmms-eval model, recipes", check_setup, None))
    results.append(run_check("inputs: tiny model, mini-bench datasets", lambda: check_inputs(root), None))
    skipped: list[str] = []  # "check: why", printed as SKIP lines and counted apart from the checks that ran
    if not device.get("available"):
        results.append(CheckResult("no CUDA device", False, 0.0, None, "torch.cuda.is_available() is False: the GPU checks did not run"))
        print(results[-1].line(), flush=True)
    else:
        for run in train_runs:
            results.append(run_check(f"llamafactory-cli train {run.stage} {run.finetuning} {run.motion} (bf16)",
                                     lambda run=run: check_train(run, root, steps), memory))  # fmt: skip
        model = root / "tiny_model"
        learnt = next((root / "out" / r.name for r in train_runs if r.motion == "learnable" and r.finetuning == "full"), None)
        evals = [("lmms-eval vau_qwen2_5_vl (bf16)", model, ""),
                 ("lmms-eval vau_qwen2_5_vl + fixed motion (bf16)", model, f"motion_prompt=true,motion_m={MOTION['m']},motion_n={MOTION['n']}")]  # fmt: skip
        if learnt is not None and (learnt / "motion_prompt.json").is_file():
            evals.append(("lmms-eval vau_qwen2_5_vl + learnt motion (bf16)", learnt, f"motion_prompt=true,motion_weights={learnt}"))
        for index, (name, checkpoint, motion_args) in enumerate(evals):
            results.append(run_check(name, lambda c=checkpoint, a=motion_args, i=index: check_lmms(c, root / "eval" / str(i), a), memory))
        script = grpo_bench_script() if grpo_bench else None
        if script is not None:
            results.append(run_check("GRPO step: plugin vs bare TRL (bf16)", lambda: check_grpo_bench(script, root / "grpo_bench"), memory))
        else:
            skipped.append(grpo_bench_skipped(grpo_bench))
            print(f"SKIP  {skipped[-1]}", flush=True)
    passed = all(r.passed for r in results)
    peaks = [r.peak_mib for r in results if r.peak_mib is not None]
    total = time.monotonic() - started
    print(f"\n{summary(results, skipped)} in {total:.0f} s" + (f"; peak GPU memory {max(peaks):.0f} MiB" if peaks else "")
          + f"; report {root / 'gpu_check.json'}")  # fmt: skip
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "passed": passed,
              "seconds": round(total, 1), "device": device, "checks": [asdict(r) for r in results], "skipped": skipped}  # fmt: skip
    (root / "gpu_check.json").write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    return 0 if passed else 1

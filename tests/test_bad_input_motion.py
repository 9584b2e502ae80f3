"""Issue 12, the motion side: bad input gets a clear error and loses nothing.

1. stale VAU_MOTION_* variables do not touch runs that do not use motion prompts; bad recipe values name the key;
2. the motion layer refuses non-finite m / n, non-finite frames, other dtypes and frames of another scale;
3. an unimportable vau_plugin makes the start-up .pth line fail silently (and patch_status() says so);
4. `motion-preview` errors are one line, and the output format follows the extension;
5. the preview is labelled: rows, frame times (real timestamps), m / n, and the bench's anomaly span.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vau_plugin.llamafactory import motion as lf_motion
from vau_plugin.llamafactory import patch
from vau_plugin.motion import (
    QWEN_VL_MEAN,
    QWEN_VL_STD,
    FrameMotionPrompt,
    MotionPrompt,
    VideoPatchMotionPrompt,
    read_settings,
)

REPO = Path(__file__).resolve().parents[1]
MOTION_ENV = tuple(lf_motion.ENV_VARS.values())


@pytest.fixture(autouse=True)
def clean_motion_env(monkeypatch):
    for name in MOTION_ENV:
        monkeypatch.delenv(name, raising=False)


def moving_bar_video(path: Path, frames: int = 12, fps: int = 4) -> Path:
    from vau_plugin.benches.writer import write_mp4

    clip = np.full((frames, 48, 64, 3), 30, dtype=np.uint8)
    for t in range(frames):
        clip[t, 10:30, 4 * t : 4 * t + 12] = 255
    return Path(write_mp4(path, clip, fps=fps))


# ------------------------------------------------------------------ 1. motion settings stay out of other runs
def test_stale_motion_variables_do_not_touch_a_plain_load_model(monkeypatch):
    """The SFT workflow's wrapped load_model reads nothing but VAU_MOTION_LEARNABLE unless it is on."""
    model = object()
    workflow = SimpleNamespace(load_model=lambda *args, **kwargs: model)
    patch.patch_sft_workflow(workflow)
    for var, value in (("VAU_MOTION_M", "abc"), ("VAU_MOTION_N", "nan"), ("VAU_MOTION_FILL", "white"),
                       ("VAU_MOTION_REG_WEIGHT", "-1"), ("VAU_MOTION_WEIGHTS", "/missing/ckpt")):
        monkeypatch.setenv(var, value)
    assert workflow.load_model("tokenizer", "model_args") is model
    assert lf_motion.learnable_settings() is None
    for var in ("VAU_MOTION_N", "VAU_MOTION_FILL", "VAU_MOTION_REG_WEIGHT", "VAU_MOTION_WEIGHTS"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("VAU_MOTION_LEARNABLE", "true")  # switched on: now the bad value is an error, named
    with pytest.raises(ValueError, match="VAU_MOTION_M='abc': expected a number"):
        workflow.load_model("tokenizer", "model_args")


def test_stale_motion_variables_do_not_touch_a_grpo_run(monkeypatch):
    """`attach_learnable_motion` (every `stage: grpo` run calls it after load_model) likewise."""
    monkeypatch.setenv("VAU_MOTION_M", "abc")
    assert lf_motion.attach_learnable_motion(object(), None, None) is False


def test_bad_recipe_values_name_the_recipe_key_and_ignore_stale_variables(monkeypatch):
    monkeypatch.setenv("VAU_MOTION_N", "abc")  # stale, unrelated to the keys the recipe gives
    assert lf_motion.consume_motion_args({"stage": "sft", "vau_motion_m": 0.5}) == {"stage": "sft"}
    assert os.environ["VAU_MOTION_M"] == "0.5"
    for args, message in (
        ({"vau_motion_m": "abc"}, r"^vau_motion_m='abc': expected a number$"),
        ({"vau_motion_m": float("nan")}, r"^vau_motion_m='nan': expected a number$"),
        ({"vau_motion_reg_weight": "-1"}, r"^vau_motion_reg_weight='-1': expected a number >= 0$"),
        ({"vau_motion_fill": "white"}, r"^vau_motion_fill='white': expected one of"),
        ({"vau_motion_learnable": "maybe"}, r"^vau_motion_learnable='maybe': expected one of 1, true, yes, on \(on\) or 0, false, no, off \(off\)$"),
        (["--vau_motion_reg_weight", "x"], r"^--vau_motion_reg_weight='x': expected a number >= 0$"),
    ):
        with pytest.raises(ValueError, match=message):
            lf_motion.consume_motion_args(args)
    assert os.environ["VAU_MOTION_M"] == "0.5"  # nothing exported from a refused recipe


@pytest.mark.e2e
def test_llamafactory_cli_plain_sft_ignores_a_stale_motion_variable(tiny_model_dir, tmp_path):
    """`llamafactory-cli train` (start-up hook on), `stage: sft`, `template: qwen2_vl`, VAU_MOTION_M=abc in the
    environment: the run trains as if the variable were not there."""
    from _lf_sft import run_sft

    proc, out = run_sft(tiny_model_dir, tmp_path, moving_bar_video, env={"VAU_MOTION_M": "abc", "VAU_MOTION_FILL": "white"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "adapter_model.safetensors").is_file() and not (out / "motion_prompt.json").exists()


# ------------------------------------------------------------------ 2. the motion layer refuses silent garbage
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "nan", "abc", None, True])
def test_non_finite_m_and_n_are_refused_everywhere(value):
    for build in (
        lambda: MotionPrompt(m=value),
        lambda: MotionPrompt(n=value),
        lambda: FrameMotionPrompt.from_settings(m=value) if value is not None else MotionPrompt(m=value),
        lambda: FrameMotionPrompt.from_settings(n=value) if value is not None else MotionPrompt(n=value),
        lambda: VideoPatchMotionPrompt(m=value),
    ):
        with pytest.raises(ValueError, match=r"motion prompt [mn] must be a finite number, got"):
            build()
    assert FrameMotionPrompt.from_settings(m="0.5").layer.m.item() == 0.5  # numeric strings (model_args) still work


def test_a_saved_non_finite_setting_is_refused(tmp_path):
    (tmp_path / "motion_prompt.json").write_text('{"m": NaN, "n": 0}')  # what json.dumps writes for a NaN m
    with pytest.raises(ValueError, match="'m' must be a finite number"):
        read_settings(tmp_path)
    with pytest.raises(ValueError, match="'m' must be a finite number"):
        FrameMotionPrompt.from_settings(weights=tmp_path)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_frames_are_refused(dtype, bad):
    frames = torch.randint(0, 256, (4, 3, 8, 8)).to(dtype)
    frames[2, 1, 3, 3] = bad  # one pixel, one channel
    for call in (lambda: MotionPrompt(0.5)(frames), lambda: FrameMotionPrompt.from_settings(m=0.5)(frames),
                 lambda: MotionPrompt(0.5).attention(frames)):
        with pytest.raises(ValueError, match="NaN or infinite"):
            call()
    normalised = torch.zeros(4, 3, 8, 8, dtype=dtype)
    normalised[0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        MotionPrompt(mean=QWEN_VL_MEAN, std=QWEN_VL_STD)(normalised)


@pytest.mark.parametrize("dtype", [torch.uint16, torch.int16, torch.int32, torch.int64, torch.bool])
def test_other_dtypes_are_refused_naming_given_and_expected(dtype):
    frames = torch.zeros(4, 3, 8, 8, dtype=dtype)
    with pytest.raises(ValueError, match=rf"dtype {dtype} are not supported: expected uint8, or float valued in \[0, 255\]"):
        FrameMotionPrompt.from_settings(m=0.5)(frames)


def test_frames_of_another_scale_are_refused():
    generator = torch.Generator().manual_seed(0)
    unit = torch.rand(4, 3, 8, 8, generator=generator)  # [0, 1]: came out flat grey before
    with pytest.raises(ValueError, match=r"look scaled to \[0, 1\].*multiply frames in \[0, 1\] by 255"):
        FrameMotionPrompt.from_settings(m=0.5)(unit)
    normalised = (unit - torch.tensor(QWEN_VL_MEAN).view(3, 1, 1)) / torch.tensor(QWEN_VL_STD).view(3, 1, 1)
    with pytest.raises(ValueError, match="mean=/std= for normalised frames"):
        MotionPrompt(0.5)(normalised)
    with pytest.raises(ValueError, match=r"exceed \[0, 255\]"):
        MotionPrompt(0.5)(unit * 65535)  # 16-bit values in a float tensor
    layer = MotionPrompt(0.5, mean=QWEN_VL_MEAN, std=QWEN_VL_STD)
    with pytest.raises(ValueError, match="do not look normalised"):
        layer(unit * 255)
    with pytest.raises(ValueError, match="normalised frames .* got torch.uint8 frames"):
        layer((unit * 255).to(torch.uint8))
    # what the contract allows still works: uint8, float in [0, 255] (even dark, or all black), normalised
    assert MotionPrompt(0.5)(unit * 255)[0].shape == (3, 3, 8, 8)
    assert MotionPrompt(0.5)((unit * 255).to(torch.uint8))[0].shape == (3, 3, 8, 8)
    assert MotionPrompt(0.5)(torch.zeros(4, 3, 8, 8))[0].shape == (3, 3, 8, 8)
    assert MotionPrompt(0.5)(unit * 10)[0].shape == (3, 3, 8, 8)
    assert layer(normalised)[0].shape == (3, 3, 8, 8)


# ------------------------------------------------------------------ 3. the start-up .pth fails silently
def _pth_line() -> str:
    """The .pth line the build writes (setup.py's PTH_LINE)."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PTH_LINE" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py defines no PTH_LINE")


@pytest.fixture()
def shadow(tmp_path) -> Path:
    """A folder holding a `vau_plugin` package that cannot be imported (a shadowing checkout, half deleted)."""
    folder = tmp_path / "shadow"
    (folder / "vau_plugin").mkdir(parents=True)
    (folder / "vau_plugin" / "__init__.py").write_text("raise RuntimeError('broken vau_plugin checkout')\n")
    return folder


def _python(code: str, pythonpath: Path, *flags: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VAU_PLUGIN_NO_HOOK")}
    env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=False, cwd=pythonpath)  # not the checkout: `-c` puts the working folder first


def test_the_pth_line_fails_silently_when_vau_plugin_cannot_be_imported(shadow, tmp_path):
    """site.py processes the built .pth line (`site.addsitedir`, as at every start) with vau_plugin unimportable."""
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    (site_dir / "vau_plugin.pth").write_text(_pth_line(), encoding="utf-8")
    code = f"import site, sys; site.addsitedir({str(site_dir)!r}); print(getattr(sys, 'vau_plugin_startup_error', None))"
    result = _python(code, shadow, "-S")  # -S: only this .pth, not the installed one
    assert result.returncode == 0 and result.stderr == ""
    assert "broken vau_plugin checkout" in result.stdout


def test_the_installed_pth_is_the_built_one_and_python_starts_cleanly(shadow):
    import sysconfig

    pth = Path(sysconfig.get_paths()["purelib"]) / "vau_plugin.pth"
    if not pth.exists():
        pytest.skip("vau-plugin is not pip-installed in this interpreter")
    assert pth.read_text(encoding="utf-8") == _pth_line()
    result = _python("print('started')", shadow)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "started", "")


def test_patch_status_tells_the_truth_after_a_failed_start(shadow):
    """The start-up import failed (shadowed); once the real package is importable again, patch_status() says the
    hook is not installed, and why, and does not install it behind the caller's back."""
    code = (
        "import sys\n"
        f"sys.path[:] = [p for p in sys.path if p != {str(shadow)!r}]\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "for name in [m for m in sys.modules if m.split('.')[0] == 'vau_plugin']: del sys.modules[name]\n"
        "from vau_plugin.llamafactory import patch\n"
        "status = patch.patch_status()\n"
        "print(status['hook_installed'], status['startup_error'])\n"
        "print(any(getattr(f, '_vau_post_import_finder', False) for f in sys.meta_path))\n"
    )
    result = _python(code, shadow)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    first, second = result.stdout.splitlines()
    assert first.startswith("False ") and "broken vau_plugin checkout" in first
    assert second == "False"


# ------------------------------------------------------------------ 4. motion-preview errors and formats
def _preview_cli(*argv: str) -> subprocess.CompletedProcess:
    code = (  # the checkout under test, also when the installed one was imported at start-up (the .pth hook)
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "for name in [m for m in sys.modules if m.split('.')[0] == 'vau_plugin']: del sys.modules[name]\n"
        "from vau_plugin.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code, "motion-preview", *argv], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_motion_preview_errors_are_one_line(tmp_path, capsys):
    from vau_plugin.cli import main

    video = moving_bar_video(tmp_path / "clip.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 8)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = {
        "undecodable video": ([str(garbage), str(tmp_path / "a.png")], "garbage.mp4"),
        "nan m": ([str(video), str(tmp_path / "a.png"), "--m", "nan"], "m must be a finite number"),
        "inf n": ([str(video), str(tmp_path / "a.png"), "--n", "inf"], "n must be a finite number"),
        "frames 0": ([str(video), str(tmp_path / "a.png"), "--frames", "0"], "frames must be an integer"),
        "unwritable output": ([str(video), str(blocker / "a.png")], "file"),
        "unsupported extension": ([str(video), str(tmp_path / "a.txt")], "unsupported image extension '.txt'"),
    }
    for name, (argv, message) in cases.items():
        assert main(["motion-preview", *argv]) == 1, name
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vau-plugin motion-preview: "), (name, lines)
        assert message in lines[0], (name, lines[0])
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "a.txt").exists()
    # the same through a real process: one line on stderr, exit 1
    result = _preview_cli(str(tmp_path / "missing.mp4"), str(tmp_path / "a.png"))
    assert result.returncode == 1 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "missing.mp4: video file not found" in result.stderr


def test_motion_preview_format_follows_the_extension(tmp_path):
    from PIL import Image

    from vau_plugin.motion_preview import run_motion_preview

    video = moving_bar_video(tmp_path / "clip.mp4")
    for name, expected in (("p.jpg", "JPEG"), ("p.JPEG", "JPEG"), ("p.png", "PNG"), ("p.webp", "WEBP")):
        out = run_motion_preview(video, tmp_path / name, frames=3)
        with Image.open(out) as image:
            assert image.format == expected, name
    with pytest.raises(ValueError, match="unsupported image extension"):
        run_motion_preview(video, tmp_path / "p.gif", frames=3)


# ------------------------------------------------------------------ 5. a labelled preview
def _drawn_text(monkeypatch) -> list[str]:
    from PIL import ImageDraw

    drawn: list[str] = []
    original = ImageDraw.ImageDraw.text

    def text(self, xy, value, *args, **kwargs):
        drawn.append(value)
        return original(self, xy, value, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", text)
    return drawn


def test_motion_preview_labels_rows_times_settings_and_the_bench_span(tmp_path, monkeypatch):
    from PIL import Image

    from vau_plugin.benches.mini import bundled_mini_bench
    from vau_plugin.motion_preview import (
        HEADER_HEIGHT,
        LABEL_WIDTH,
        TILE_HEIGHT,
        find_annotation,
        preview_config,
        run_motion_preview,
    )
    from vau_plugin.video import load_video

    bench = bundled_mini_bench()
    manifest = json.loads((bench / "manifest.json").read_text())
    clip = max((c for c in manifest["clips"] if c["span"]), key=lambda c: c["span"][1] - c["span"][0])
    video = bench / "videos" / clip["name"]
    annotation = find_annotation(video)
    assert annotation.span == tuple(clip["span"]) and annotation.anomaly_class == clip["anomaly_class"]

    drawn = _drawn_text(monkeypatch)
    out = run_motion_preview(video, tmp_path / "preview.png", frames=8, m=0.3, n=-0.1)
    loaded = load_video(video, preview_config(8))
    picks = torch.linspace(0, loaded.frames.shape[0] - 1, 9).round().long().tolist()
    times = [loaded.timestamps[i] for i in picks[1:]]  # column t shows frame t+1
    for label in ("frames", "attention", "prompted", f"{times[0]:.2f} s", f"{times[-1]:.2f} s"):
        assert label in drawn, label
    header = " ".join(drawn)
    assert "m=0.3" in header and "n=-0.1" in header and clip["name"] in header
    assert f"{clip['span'][0]:g}-{clip['span'][1]:g} s" in header and clip["anomaly_class"] in header

    image = np.asarray(Image.open(out).convert("RGB")).astype(int)
    width = (image.shape[1] - LABEL_WIDTH) // 8
    assert image.shape[0] == HEADER_HEIGHT + 3 * TILE_HEIGHT
    band = image[HEADER_HEIGHT - 10]  # the time row: red where the frame lies in the annotated span
    red = [bool(band[LABEL_WIDTH + t * width + width // 2, 0] > 150 and band[LABEL_WIDTH + t * width + width // 2, 1] < 100)
           for t in range(8)]
    assert red == [clip["span"][0] <= s <= clip["span"][1] for s in times] and any(red)

    # a VAU-Bench CSV next to the video serves too; no annotation at all is fine
    folder = tmp_path / "csvbench"
    folder.mkdir()
    own = moving_bar_video(folder / "clip_a.mp4")
    (folder / "test.csv").write_text(
        "Video Name,Question,Option 1,Option 2,Option 3,Option 4,Correct Option,Key Object,Description,Reasoning,"
        "Anomaly Class,Start Time,End Time\n"
        "clip_a.mp4,What?,a,b,c,d,A,bar,desc,reason,Fighting,0.5,1.75\n"
    )
    assert find_annotation(own).span == (0.5, 1.75) and find_annotation(own).anomaly_class == "Fighting"
    assert find_annotation(moving_bar_video(tmp_path / "plain.mp4")) is None

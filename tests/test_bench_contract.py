"""What every synthetic bench promises (vau_plugin.benches.writer lays them all out): the files it writes, one row
and one clip per name, the VAU-Bench header, rows `validate` accepts with their clips found, output that depends only
on the arguments (the same seed writes the same bench, another seed other clips), the held-out split read by the
lmms-eval tasks, and its command: a small bench written, an output folder that holds files or is a file refused,
`--force` writing into it. Each bench's own semantics (its answers, events, motion) are tested in its own file:
test_mini_bench, test_motion_bench, test_order_bench (the colour bench's in test_learning)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from _csv_rows import write_csv
from vau_plugin.benches.colour import make_colour_bench
from vau_plugin.benches.mini import make_mini_bench
from vau_plugin.benches.motion import make_motion_bench
from vau_plugin.benches.order import make_order_bench
from vau_plugin.benches.writer import STABLE_WIDTH_MULTIPLE
from vau_plugin.cli import main
from vau_plugin.data.schema import COLUMNS
from vau_plugin.data.validate import validate_path
from vau_plugin.video_checks import check_videos

SEED, OTHER_SEED = 3, 4
HELD_OUT = "test"  # the split the lmms-eval tasks read (LMMS_SPLIT of the benches that name one)


@dataclass(frozen=True)
class Generator:
    """One bench generator: `make(out, seed, sizes, overwrite)` writes `sizes` (split -> clips) into `out`, named
    `<prefix>_<split>_<nnnn>.mp4`; `command` is its `vau-plugin` command. `sizes` is what the data tests build,
    `cli_sizes` what the command tests ask for."""

    make: Callable[..., object]
    prefix: str
    command: str
    sizes: dict[str, int]
    cli_sizes: dict[str, int]

    def build(self, out: Path, seed: int = SEED, sizes: dict[str, int] | None = None, overwrite: bool = False):
        return self.make(out, seed, sizes or self.sizes, overwrite)

    def cli(self, out: Path, *extra: str) -> int:
        sizes = [word for split, n in self.cli_sizes.items() for word in (f"--{split}", str(n))]
        return main([self.command, str(out), "--seed", str(SEED), *sizes, *extra])


GENERATORS = {
    "mini": Generator(
        lambda out, seed, sizes, overwrite: make_mini_bench(out, seed=seed, n_train=sizes["train"], n_test=sizes["test"],
                                                            overwrite=overwrite),
        "mini", "make-mini-bench", {"train": 4, "test": 3}, {"train": 3, "test": 2}),
    "motion": Generator(
        lambda out, seed, sizes, overwrite: make_motion_bench(out, seed=seed, n_train=sizes["train"], n_test=sizes["test"],
                                                              overwrite=overwrite),
        "motion", "make-motion-bench", {"train": 4, "test": 4}, {"train": 2, "test": 2}),
    "order": Generator(
        lambda out, seed, sizes, overwrite: make_order_bench(out, seed=seed, n_train=sizes["train"], n_val=sizes["val"],
                                                             n_test=sizes["test"], size=56, overwrite=overwrite),
        "order", "make-order-bench", {"train": 3, "val": 1, "test": 3}, {"train": 3, "val": 0, "test": 3}),
    "colour": Generator(
        lambda out, seed, sizes, overwrite: make_colour_bench(out, seed=seed, n_train=sizes["train"], n_test=sizes["test"],
                                                              overwrite=overwrite),
        "colour", "make-colour-bench", {"train": 2, "test": 2}, {"train": 2, "test": 2}),
}  # fmt: skip
# The benches that write a manifest and return a BenchSummary; the colour bench shares only the command's contract.
SUMMARY_BENCHES = ["mini", "motion", "order"]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def manifest_clips(bench) -> list[dict]:
    return json.loads(bench.manifest.read_text(encoding="utf-8"))["clips"]


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module", params=SUMMARY_BENCHES)
def generator(request) -> Generator:
    return GENERATORS[request.param]


@pytest.fixture(scope="module")
def bench(generator, tmp_path_factory):
    return generator.build(tmp_path_factory.mktemp(generator.prefix) / "bench")


@pytest.fixture(scope="module")
def bench_again(generator, tmp_path_factory):
    return generator.build(tmp_path_factory.mktemp(f"{generator.prefix}_again") / "bench")


@pytest.fixture(scope="module")
def bench_other_seed(generator, tmp_path_factory):
    return generator.build(tmp_path_factory.mktemp(f"{generator.prefix}_other_seed") / "bench", seed=OTHER_SEED)


# ------------------------------------------------------------------------------------------- what a bench writes


def test_layout_one_row_per_clip_and_one_clip_per_row(bench, generator):
    assert bench.root.is_dir()
    assert bench.readme == bench.root / "README.md" and bench.readme.is_file()
    assert bench.manifest == bench.root / "manifest.json" and bench.manifest.is_file()
    assert bench.sizes == generator.sizes and (bench.n_train, bench.n_test) == (generator.sizes["train"], generator.sizes["test"])
    videos = sorted(p.name for p in bench.videos_dir.glob("*.mp4"))
    assert len(videos) == sum(generator.sizes.values())
    names = []
    for split, n in generator.sizes.items():
        assert bench.csvs[split] == bench.root / f"{split}.csv" and bench.csvs[split].is_file(), split
        rows = read_rows(bench.csvs[split])
        assert [row["Video Name"] for row in rows] == [f"{generator.prefix}_{split}_{i:04d}.mp4" for i in range(n)]
        names += [row["Video Name"] for row in rows]
    assert sorted(names) == videos  # one row per clip, every clip annotated
    assert {clip["name"] for clip in manifest_clips(bench)} == set(videos)


def test_csvs_have_the_vau_bench_header_and_lf_line_ends(bench, shared_vau_bench):
    with (shared_vau_bench / "test_msad.csv").open(encoding="utf-8", newline="") as f:
        real_header = next(csv.reader(f))
    for path in bench.csvs.values():
        with path.open(encoding="utf-8", newline="") as f:
            header = next(csv.reader(f))
        assert header == list(COLUMNS) == real_header
        assert b"\r" not in path.read_bytes()  # LF line ends, like the published CSVs


def test_every_row_validates_and_its_clip_is_found(bench, generator):
    for split, n in generator.sizes.items():
        # check_videos: the clips are opened with evaluation's checks too, as `vau-plugin validate --videos` does.
        report = validate_path(bench.csvs[split], video_root=bench.videos_dir, check_videos=check_videos)
        assert report["errors"] == [] and report["warnings"] == [], split
        assert report["videos"]["found"] == n


# ------------------------------------------------------------------------------------------- determinism


def test_the_same_seed_writes_the_same_bench(bench, bench_again, generator):
    for name in [*(path.name for path in bench.csvs.values()), "README.md"]:
        assert (bench.root / name).read_bytes() == (bench_again.root / name).read_bytes(), name
    first, second = manifest_clips(bench), manifest_clips(bench_again)
    assert {c["name"]: c["frames_sha256"] for c in first} == {c["name"]: c["frames_sha256"] for c in second}
    without_mp4_hash = [[{k: v for k, v in c.items() if k != "file_sha256"} for c in clips] for clips in (first, second)]
    assert without_mp4_hash[0] == without_mp4_hash[1]
    # The mp4 files, and so the manifest, repeat byte for byte too, at every width (the order bench's 56 px is not a
    # multiple of STABLE_WIDTH_MULTIPLE: the writer's mbtree setting, test_mp4s_repeat_at_every_width).
    assert bench.manifest.read_bytes() == bench_again.manifest.read_bytes()
    for clip in first:
        assert (bench.videos_dir / clip["name"]).read_bytes() == (bench_again.videos_dir / clip["name"]).read_bytes()
        assert np.array_equal(decode(bench.videos_dir / clip["name"]), decode(bench_again.videos_dir / clip["name"]))


@pytest.mark.parametrize("size", [56, 112])  # neither a multiple of STABLE_WIDTH_MULTIPLE
def test_mp4s_repeat_at_every_width(tmp_path, size):
    # libx264's default macroblock tree gave another file (frames up to 55 grey levels apart) for about one 56-px
    # order-bench clip in two, each time it encoded them (11-19 of these 24 clips at 56 px, 12-17 at 112).
    from vau_plugin.benches.order import render_order_clip
    from vau_plugin.benches.writer import write_mp4

    assert size % STABLE_WIDTH_MULTIPLE  # a width where libx264's defaults were not deterministic
    for seed in range(24):
        frames = render_order_clip("start", "ABCD"[seed % 4], seed, size=size).frames
        first = write_mp4(tmp_path / f"a{seed}.mp4", frames, 2.0).read_bytes()
        assert write_mp4(tmp_path / f"b{seed}.mp4", frames, 2.0).read_bytes() == first, seed


def test_another_seed_draws_other_clips(bench, bench_other_seed, generator):
    assert bench.train_csv.read_bytes() != bench_other_seed.train_csv.read_bytes()
    assert bench.test_csv.read_bytes() != bench_other_seed.test_csv.read_bytes()
    hashes = {c["frames_sha256"] for c in manifest_clips(bench)}
    assert not hashes & {c["frames_sha256"] for c in manifest_clips(bench_other_seed)}
    name = f"{generator.prefix}_test_0000.mp4"
    assert not np.array_equal(decode(bench.videos_dir / name), decode(bench_other_seed.videos_dir / name))


# ------------------------------------------------------------------------------------------- read by lmms-eval


def test_the_lmms_tasks_read_the_held_out_split(bench, monkeypatch):
    from vau_plugin.lmms.docs import bench_environment, load_task_docs

    assert bench.lmms_split in (None, HELD_OUT)
    for name, value in bench_environment(bench.root, bench.videos_dir, HELD_OUT).items():
        monkeypatch.setenv(name, value)
    held_out = {r["Video Name"]: r for r in read_rows(bench.csvs[HELD_OUT])}
    qa = load_task_docs("qa", "all")
    assert {d["video"]: d["answer"] for d in qa} == {n: r["Correct Option"] for n, r in held_out.items()}
    assert all(Path(d["video_path"]).is_file() for d in qa)


# ------------------------------------------------------------------------------------------- the command


@pytest.mark.parametrize("name", SUMMARY_BENCHES)
def test_the_command_writes_a_small_bench_and_says_what(name, tmp_path, capsys):
    generator = GENERATORS[name]
    assert generator.cli(tmp_path / "cli") == 0
    out = capsys.readouterr().out
    for split, n in generator.cli_sizes.items():
        assert f"{n} rows" in out, (split, out)
        assert len(read_rows(tmp_path / "cli" / f"{split}.csv")) == n
    assert len(list((tmp_path / "cli" / "videos").glob("*.mp4"))) == sum(generator.cli_sizes.values())


@pytest.mark.parametrize("name", GENERATORS)
def test_the_command_refuses_a_folder_that_holds_files_and_force_writes_into_it(name, tmp_path, capsys):
    generator = GENERATORS[name]
    out = tmp_path / "bench"
    out.mkdir()
    write_csv(out / "test.csv", [{} for _ in range(240)])
    before = snapshot(out)

    assert generator.cli(out) == 1
    err = capsys.readouterr().err
    for named in (generator.command, str(out), "not empty", "test.csv", "--force"):
        assert named in err, (named, err)
    assert snapshot(out) == before and [p.name for p in out.iterdir()] == ["test.csv"]  # the user's 240 rows, alone
    with pytest.raises(FileExistsError, match="overwrite=True"):
        generator.build(out, sizes=generator.cli_sizes)
    assert snapshot(out) == before

    # An empty existing folder is fine, and --force overwrites on purpose.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert generator.cli(empty) == 0
    assert generator.cli(out, "--force") == 0
    assert (out / "train.csv").read_text(encoding="utf-8").startswith("Video Name,")
    assert len(read_rows(out / "test.csv")) == generator.cli_sizes["test"]
    assert len(list((out / "videos").iterdir())) == sum(generator.cli_sizes.values())


@pytest.mark.parametrize("name", GENERATORS)
def test_the_command_refuses_a_file_as_its_folder(name, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    assert GENERATORS[name].cli(a_file, "--force") != 0
    assert "not a directory" in capsys.readouterr().err
    assert a_file.read_text() == "keep me"

"""Where VAU-Bench annotations come from: a CSV file, a directory of them (split = file stem) or a Hugging Face hub
dataset (`owner/name`, downloaded with short timeouts, or taken from the local cache when offline). Each CSV is read
by `vau_plugin.data.reader.read_csv`; a source that cannot be read at all (no such path, no CSVs in it, hub
unreachable) raises `AnnotationError` with one message saying why.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from pathlib import Path
from typing import Iterable, Optional

from vau_plugin._env import env_number
from vau_plugin.data.reader import AnnotationError, PathLike, ReadResult, read_csv
from vau_plugin.data.schema import VAURecord

logger = logging.getLogger(__name__)

# A hub dataset id: owner/name, nothing else (no leading slash, no dots-only parts, one separator).
_HUB_ID = re.compile(r"^(?:hf://datasets/)?([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)$")
# Hub timeout in seconds: short, so an unreachable hub fails in seconds rather than hanging a CLI.
DEFAULT_HUB_TIMEOUT_S = 10.0
# File endings that make `owner/name` a file path rather than a hub dataset id.
_PATH_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet", ".xlsx", ".xls", ".zip", ".gz")


def _csv_files(directory: Path) -> list[Path]:
    """The CSVs directly in `directory`, else (a hub snapshot keeps them in sub-folders) those below it."""
    direct = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
    if direct:
        return direct
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() == ".csv")


def is_hub_id(source: PathLike) -> bool:
    """`is_hub_id(source) -> bool`: True for `hf://datasets/owner/name`, and for `owner/name` that names no path.

    `owner/name` is taken for a path (and so is no hub id) when that path exists, when it ends like a file
    (`.csv`, `.tsv`, `.json`, ...), or when `owner` is an existing local file or folder: `csv/mixed_dirr`
    beside a folder `csv/` is a typo'd folder, not a dataset. Anything else with `./`, `~`, a leading or
    trailing slash or more than one slash is a path too. To load a hub dataset whose owner is also the name
    of a local folder, write `hf://datasets/owner/name`.
    """
    text = os.fspath(source)
    match = _HUB_ID.match(text)
    if match is None:
        return False
    if text.startswith("hf://datasets/"):
        return True
    if text.lower().endswith(_PATH_SUFFIXES) or Path(text).expanduser().exists():
        return False
    return not Path(text.split("/", 1)[0]).exists()


def _hub_unreachable(repo_id: str, reason: str) -> AnnotationError:
    return AnnotationError(
        f"{repo_id!r} is no local path, and as a Hugging Face hub dataset it cannot be loaded: the hub is "
        f"unreachable ({reason}) and no cached copy exists; pass a local directory of VAU-Bench CSVs instead"
    )


def hub_timeout_s() -> float:
    """`hub_timeout_s() -> float`: $VAU_HUB_TIMEOUT (seconds, > 0), DEFAULT_HUB_TIMEOUT_S when unset; another value
    raises `vau_plugin._env.SettingError` naming the variable."""
    return env_number("VAU_HUB_TIMEOUT", DEFAULT_HUB_TIMEOUT_S, above=0)


def _offline() -> bool:
    from huggingface_hub import constants

    # huggingface_hub's own variable, read as huggingface_hub reads it (its constant is fixed when it is imported)
    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in constants.ENV_VARS_TRUE_VALUES
    return bool(constants.HF_HUB_OFFLINE) or flag


def download_hub_dataset(repo_id: str) -> Path:
    """`download_hub_dataset("owner/name") -> Path`: a local snapshot of the dataset's CSV files.

    Honours HF_HUB_OFFLINE (then only the local cache is used) and uses short timeouts; an unreachable hub
    raises AnnotationError telling the user to pass a local directory.
    """
    repo_id = _HUB_ID.match(repo_id).group(1) if _HUB_ID.match(repo_id) else repo_id
    try:
        import requests
        from huggingface_hub import HfApi, snapshot_download
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a dependency
        raise AnnotationError(f"cannot load {repo_id!r}: huggingface_hub is not installed ({exc})") from None

    def cached() -> Optional[Path]:
        try:
            return Path(
                snapshot_download(repo_id, repo_type="dataset", allow_patterns=["*.csv"], local_files_only=True)
            )
        except Exception:  # any failure means "not in the cache"
            return None

    if _offline():
        local = cached()
        if local is None:
            raise _hub_unreachable(repo_id, "HF_HUB_OFFLINE is set")
        return local
    try:
        timeout = hub_timeout_s()
        HfApi().repo_info(repo_id, repo_type="dataset", timeout=timeout)
        return Path(snapshot_download(repo_id, repo_type="dataset", allow_patterns=["*.csv"], etag_timeout=timeout))
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise AnnotationError(
            f"{repo_id!r}: no such dataset on the Hugging Face hub, or it needs a token you do not have "
            f"({type(exc).__name__}); and no local path {repo_id!r} exists"
        ) from None
    except (requests.exceptions.RequestException, OSError) as exc:
        local = cached()
        if local is None:
            raise _hub_unreachable(repo_id, type(exc).__name__) from None
        logger.warning("hub unreachable (%s); using the cached copy of %s", type(exc).__name__, repo_id)
        return local


def _by_stem(files: list[Path], where: PathLike) -> dict[str, Path]:
    """stem -> file; two files with one stem (a hub snapshot's sub-folders, a copy) is an error, not a choice."""
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise AnnotationError(
                f"{where}: two annotation files for split {path.stem!r}: {stems[path.stem]} and {path}; "
                "keep one, or point at the folder that holds the one you mean"
            )
        stems[path.stem] = path
    return stems


def _select_split(files: list[Path], split: Optional[str], where: PathLike) -> list[Path]:
    if split is None:
        return files
    stems = _by_stem(files, where)
    if split not in stems:
        available = ", ".join(stems) or "none"
        raise AnnotationError(f"{where}: no split {split!r}; available splits: {available}")
    return [stems[split]]


def split_files(source: PathLike) -> dict[str, Path]:
    """`split_files(source) -> {split: csv path}`: the annotation files a source holds, by split (file stem).

    `source` is a CSV (one split, its stem), a directory of CSVs or a hub dataset id. Raises AnnotationError
    when the source cannot be read or two files share a stem.
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_file():
        return {path.stem: path}
    directory = _source_directory(text)
    files = _csv_files(directory)
    if not files:
        raise AnnotationError(f"{text}: no .csv files found in {directory}")
    return _by_stem(files, text)


def _source_directory(text: str) -> Path:
    """The local directory of a directory or hub-id source; AnnotationError for anything else."""
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if is_hub_id(text):
        return download_hub_dataset(text)
    if path.exists():
        raise AnnotationError(f"{path}: neither a file nor a directory")
    raise AnnotationError(_no_such_path(text))


def _no_such_path(text: str) -> str:
    """The message for a source that names nothing: "no such folder" (or file), the nearest folder that does
    exist with close names in it, and the hub form when the text could have meant a hub dataset."""
    is_file_name = text.lower().endswith(_PATH_SUFFIXES)
    kind = "file" if is_file_name else "folder" if re.search(r"[\\/]", text) else "file or folder"
    parts = Path(text).parts
    known = 0  # how many leading parts name an existing folder
    while known < len(parts) and Path(*parts[: known + 1]).expanduser().is_dir():
        known += 1
    message = f"{text}: no such {kind}"
    if known < len(parts):
        parent = Path(*parts[:known]) if known else Path(".")
        try:
            with os.scandir(parent.expanduser()) as scan:
                names = [entry.name for _, entry in zip(range(10_000), scan, strict=False)]
        except OSError:
            names = []
        close = difflib.get_close_matches(parts[known], names, n=3, cutoff=0.6)
        if close:
            shown = " or ".join(repr(os.path.join(*parts[:known], name)) for name in close)
            message += f" (did you mean {shown}?)"
        elif known:
            message += f" ({parent} exists, but holds no {parts[known]!r})"
    if _HUB_ID.match(text) and not is_file_name:
        message += f"; for the Hugging Face hub dataset of that name, write hf://datasets/{text}"
    elif "/" not in text and "\\" not in text:
        message += " (nor a hub dataset id of the form owner/name)"
    return message


def read_source(source: PathLike, *, split: Optional[str] = None, keep_going: bool = False) -> list[ReadResult]:
    """`read_source(source, *, split=None, keep_going=False) -> list[ReadResult]`, one per CSV read.

    `source` is a CSV file, a directory of CSVs (split = file stem) or a hub dataset id `owner/name`; an
    existing path always wins over a hub id. `split` selects one file by stem; a single file is its own
    split (asking it for another is an error: a file's rows never take another split's name).

    A file that cannot be read raises AnnotationError; with `keep_going` (a directory, `vau-plugin validate`)
    it becomes a ReadResult with `unreadable` set and one error naming it and why, and the other files are
    read; AnnotationError then only when no file at all can be read.
    """
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_file():
        if split is not None and split != path.stem:
            raise AnnotationError(
                f"{path}: is one annotation file, split {path.stem!r}; split {split!r} was asked for "
                "(to choose a split, pass the folder that holds the CSVs)"
            )
        return [read_csv(path)]
    directory = _source_directory(text)
    files = _csv_files(directory)
    if not files:
        raise AnnotationError(f"{text}: no .csv files found in {directory}")
    selected = _select_split(files, split, text)
    if not keep_going:
        return [read_csv(p) for p in selected]
    results, failures = [], []
    for file in selected:
        try:
            results.append(read_csv(file))
        except AnnotationError as error:
            failures.append(error)
            reason = str(error).removeprefix(f"{file}: ")
            results.append(
                ReadResult(
                    file=file.name,
                    split=file.stem,
                    errors=[f"{file.name}: cannot be read, file skipped: {reason}"],
                    unreadable=reason,
                )
            )
    if len(failures) == len(results):
        if len(failures) == 1:
            raise failures[0]
        listed = "; ".join(f"{r.file}: {r.unreadable}" for r in results)
        raise AnnotationError(f"{text}: none of the {len(results)} CSV files can be read: {listed}")
    return results


def cross_file_duplicates(results: Iterable[ReadResult]) -> list[str]:
    """`cross_file_duplicates(results) -> list[str]`: warnings for a video named in more than one file, saying which
    values differ (a task that reads both files refuses rows whose answers differ: `lmms.docs`)."""
    seen: dict[str, VAURecord] = {}
    warnings = []
    for result in results:
        first_in_file: set[str] = set()
        for record in result.records:
            if record.video in first_in_file:
                continue  # already reported by read_csv
            first_in_file.add(record.video)
            if record.video in seen and seen[record.video].file != record.file:
                earlier = seen[record.video]
                differences = record.differences(earlier)
                detail = f" with different values: {'; '.join(differences)}" if differences else " (same values)"
                warnings.append(
                    f"{record.file} row {record.row} field 'Video Name': {record.video!r} also appears in "
                    f"{earlier.file} row {earlier.row}{detail}"
                )
            else:
                seen.setdefault(record.video, record)
    return warnings


def load_records(source: PathLike, *, split: Optional[str] = None) -> list[VAURecord]:
    """`load_records(source, *, split=None) -> list[VAURecord]`: every readable row of a file, directory or hub id.

    Row-level problems are logged (use `read_source` or `vau-plugin validate` to see them all);
    an unreadable source raises AnnotationError.
    """
    results = read_source(source, split=split)
    records: list[VAURecord] = []
    for result in results:
        if result.errors or result.warnings:
            logger.warning(
                "%s: %d error(s), %d warning(s); run `vau-plugin validate %s` to list them",
                result.file,
                len(result.errors),
                len(result.warnings),
                os.fspath(source),
            )
        records.extend(result.records)
    return records

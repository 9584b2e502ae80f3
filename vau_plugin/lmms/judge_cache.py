"""The VAU-Eval judge's on-disk cache of successful scores, so that a rerun makes no request for what it already
scored.

Cache key (`cache_key`): the chat-completions URL and the whole request payload (model, system and user
prompts, temperature, ...), so that another server, model or setting is never served a score it did not give.
`CACHE_FORMAT_VERSION` 2 (version 1 keyed by model and prompts only): entries of version 1 are ignored.
The API key is never written: the key covers the URL and the payload, neither of which carries it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path
from typing import Any, Mapping, Optional

from vau_plugin._files import write_text_atomic
from vau_plugin.lmms.judge_reply import (
    JudgeReplyError,
    optional_number,
    reject_json_constant,
    string_comments,
    validate_scores,
)

__all__ = ["CACHE_FORMAT_VERSION", "ScoreCache", "cache_key"]

# The judge's modules share the one logger they had as a single module, which users and the tasks filter on.
logger = logging.getLogger("vau_plugin.lmms.judge")

CACHE_FORMAT_VERSION = 2


def cache_key(endpoint: str, payload: Mapping[str, Any]) -> str:
    """`cache_key(endpoint, payload) -> str`: sha256 hex of the format version, the chat-completions URL and the
    request payload (model, messages, temperature, ...), unambiguously serialised (sorted keys)."""
    text = json.dumps([CACHE_FORMAT_VERSION, endpoint, payload], ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ScoreCache:
    """One JSON file per key in a folder; written atomically (temp file + os.replace), so readers on other
    threads or processes never see half a file. Only successful scores go in. Problems with the folder are
    logged once and turn the cache into a no-op: a cache must never fail a score."""

    def __init__(self, folder: Optional[Path]):
        self.folder = folder
        self._warned = False
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{key}.json"

    def _warn_once(self, message: str) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        logger.warning("VAU judge cache: %s; continuing without it", message)

    def load(self, key: str) -> Optional[dict[str, Any]]:
        if self.folder is None:
            return None
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"), parse_constant=reject_json_constant)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            logger.warning("VAU judge cache: ignoring unreadable entry %s (%s)", path, type(err).__name__)
            return None
        try:
            if not isinstance(entry, dict) or entry.get("version") != CACHE_FORMAT_VERSION or entry.get("key") != key:
                raise JudgeReplyError("not a cache entry of this version")
            scores = validate_scores(entry.get("scores") or {})
        except JudgeReplyError as err:
            logger.warning("VAU judge cache: ignoring invalid entry %s (%s)", path, err)
            return None
        return {
            "scores": scores,
            "reported_total": optional_number(entry.get("reported_total")),
            "comments": string_comments(entry.get("comments")),
        }

    def store(self, key: str, endpoint: str, model: str, scores: Mapping[str, float], reported_total: Optional[float],
              comments: Optional[Mapping[str, str]]) -> None:
        if self.folder is None:
            return
        entry = {
            "version": CACHE_FORMAT_VERSION,
            "key": key,
            "endpoint": endpoint,  # informational (the key covers it); never holds credentials (see chat_completions_url)
            "model": model,
            "scores": dict(scores),
            "reported_total": reported_total,
            "comments": dict(comments) if comments else None,
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self._path(key), json.dumps(entry, ensure_ascii=False, indent=1))
        except OSError as err:
            self._warn_once(f"cannot write to {self.folder} ({type(err).__name__}: {err.strerror or err})")

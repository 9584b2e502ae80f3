"""The VAU-Eval LLM judge for the `vau_bench_reason` task.

The reference (VAU-R1 `src/evaluation/evaluate_reasoning_deepseek.py`) sends the VAU-Eval prompt
(`vau_plugin.prompts.judge_prompt`) to `deepseek-chat` through the OpenAI client and reads five 0-10 scores
and a 0-50 total from a ```json fenced block. This module does the same, through the same `openai` client (the
transport: HTTP, TLS, proxies, timeouts, errors by kind), for any OpenAI-compatible chat-completions server, with
what a long evaluation needs:

- configuration in one place (`JudgeConfig`, `JudgeConfig.from_env()`; variables listed on `ENV_*`);
- per-request timeouts; retries with exponential backoff and bounded jitter, per kind of failure (below);
- a circuit breaker that stops calling an endpoint that is down (below);
- an on-disk cache of successful scores, so a rerun makes no request for what it already scored;
- thread safety (lmms-eval calls `process_results` from several threads) and counters of what happened;
- the API key never leaves the `Authorization` header: not in repr, logs, errors, cache files or results.

`Judge.score` does not raise for a failure of one sample (a malformed reply, an HTTP 400, ...): it returns a
`JudgeResult` with `ok=False` and a short `error` (the caller counts failures). It raises
`JudgeUnavailableError` once the circuit breaker is open, `ValueError` for misconfiguration (naming the
environment variable to set) and `TypeError` for programming errors.

Retries (defaults; every request waits at most `timeout_s` = 30 s for the connection and for each read):
- HTTP 408, 429 (honouring `Retry-After`, capped at 60 s) and 5xx: up to `max_retries` = 4 retries with backoff
  1, 2, 4, 8 s (times a jitter in [0.5, 1]): an overloaded server gets time to recover;
- connection errors (refused, reset, DNS failure): up to `connection_retries` = 2 retries (≤ 3 s of backoff):
  a server that refuses connections now rarely accepts them a second later;
- timeouts: `timeout_retries` = 0: the next sample is the retry (a hanging server would otherwise cost
  `timeout_s` per retry per sample);
- no retry on other 4xx, a redirect (refused: it would carry the key elsewhere), a TLS error or a reply that
  cannot be read (at temperature 0 the same prompt gives the same reply).
`max_retries` (`VAU_JUDGE_RETRIES`) bounds all three.
The openai client's own retries are off (`max_retries=0`) and `Judge._ask` does these: the client has one budget
for every kind of failure and retries a timeout too (a hanging judge would cost `timeout_s` × 5 per sample instead
of the minute this module promises), it keeps retrying a sample after the breaker has opened, and its backoff
(0.5 s doubling to 8 s) cannot be set, nor observed by tests.

Circuit breaker (`breaker_after` = 3, `VAU_JUDGE_BREAKER`; 0 turns it off): after that many consecutive samples
whose last request failed at the endpoint, the judge stops: no further request, and every later `score` call
raises `JudgeUnavailableError` with one message naming the endpoint (never the key), what failed, how many
samples were judged (and how many of those from the cache) and what to do. Endpoint failures (`BREAKER_KINDS`):
`timeout`, `connection error` (refused, reset, DNS), `tls error`, and after their retries `http 408`/`429`/`5xx`;
also `http 401`/`403` (the key), `http 404`/`405` and `http 3xx` (the URL or the model name): none of these
depends on the sample, so every later sample would fail the same way. They do not count: a reply that is not
VAU-Eval JSON or not a chat completion (the server answered), other 4xx such as 400/413 (may be this sample's
prompt), an empty model output. Any request the server answered otherwise resets the count; cache hits neither
count nor reset. Worst case of the judging with the defaults, serial: refused ≤ 3 × 3 s, hanging ≈ 3 × 30 s,
persistent 5xx ≤ 3 × 15 s. lmms-eval scores 4 samples at a time (`--process_docs_parallel`): one wave of
failures trips the breaker, but requests already in flight then run out their own timeout, so a hanging endpoint
costs ≈ 2 × 30 s there (measured on the 12-sample mini task: refused ≈ 2 s, hanging ≈ 60 s; serial ≈ 90 s).

Coverage (the `vau_bench_reason` tasks): the five scores and `total_score` are means over the samples the judge
scored, as VAU-Eval averages over the videos it evaluated; `judge_coverage` (percent of samples scored) and
`judge_failures` (samples not scored) stand beside them in the table and the results JSON. There is no floor
below which the means turn NaN (only none scored gives NaN): any threshold would be arbitrary, the coverage
column already qualifies the means, and a judge that is down, the one cause of a collapse, stops the run.

In lmms-eval (`judge_sample`), an open breaker ends the run with `JudgeTaskFailed`, a `SystemExit`: lmms-eval
0.7.3 catches every `Exception` raised during evaluation, prints it and exits 0 (unless `--verbosity DEBUG`),
which would hide the failure; a `SystemExit` passes through, prints the message and exits 1.

Endpoint rule (`chat_completions_url`): a base URL that already ends in `/chat/completions` is used as is;
a bare host (no path, e.g. `https://api.deepseek.com`) gets `/v1/chat/completions` (DeepSeek serves both
`/chat/completions` and `/v1/chat/completions`; vLLM, SGLang and OpenAI need `/v1`); any other path
(e.g. `http://127.0.0.1:8000/v1`, a proxy prefix) gets `/chat/completions`, as the OpenAI client does.

Decisions that differ from the reference, and why:
- temperature 0 (the reference sends none, so DeepSeek's default 1.0 applies): reruns give the same scores,
  which is what makes caching them sound;
- `total` is recomputed as the sum of the five scores (the judge's own `total_score` is kept as
  `reported_total`): LLMs add up badly, and a missing total no longer crashes the run;
- besides the ```json fence, a bare ``` fence or the first JSON object in the text is accepted; the reply is
  untrusted text and only `json.loads` ever reads it;
- a malformed reply (no JSON, missing keys, a score outside 0-10) is a failure and is not retried: at
  temperature 0 the same prompt gives the same reply.

Cache key (`cache_key`): the chat-completions URL and the whole request payload (model, system and user
prompts, temperature, ...), so that another server, model or setting is never served a score it did not give.
`CACHE_FORMAT_VERSION` 2 (version 1 keyed by model and prompts only): entries of version 1 are ignored.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import os
import random
import ssl
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from vau_plugin._env import OFF_WORDS, env_number
from vau_plugin.lmms import RunStopped
from vau_plugin.prompts import (
    JUDGE_SCORE_KEYS,
    JUDGE_SYSTEM_PROMPT,
    JUDGE_TOTAL_KEY,
    judge_prompt,
)

__all__ = [
    "ENV_BASE_URL",
    "ENV_MODEL",
    "ENV_API_KEY",
    "ENV_API_KEY_FALLBACK",
    "ENV_TIMEOUT",
    "ENV_RETRIES",
    "ENV_CACHE",
    "ENV_BREAKER",
    "DEFAULT_MODEL",
    "BREAKER_KINDS",
    "JudgeConfig",
    "JudgeResult",
    "JudgeReplyError",
    "JudgeUnavailableError",
    "JudgeTaskFailed",
    "Judge",
    "chat_completions_url",
    "default_cache_dir",
    "cache_key",
    "parse_judge_reply",
    "validate_scores",
]

logger = logging.getLogger(__name__)

ENV_BASE_URL = "VAU_JUDGE_BASE_URL"
ENV_MODEL = "VAU_JUDGE_MODEL"
ENV_API_KEY = "VAU_JUDGE_API_KEY"
ENV_API_KEY_FALLBACK = "OPENAI_API_KEY"
ENV_TIMEOUT = "VAU_JUDGE_TIMEOUT"
ENV_RETRIES = "VAU_JUDGE_RETRIES"
ENV_CACHE = "VAU_JUDGE_CACHE"
ENV_BREAKER = "VAU_JUDGE_BREAKER"
# VAU_JUDGE_CACHE set to a word of `vau_plugin._env.OFF_WORDS` (off, none, no, false, 0) turns the cache off.

DEFAULT_MODEL = "deepseek-chat"
SCORE_MIN, SCORE_MAX = 0.0, 10.0
CHAT_COMPLETIONS_PATH = "/chat/completions"
# Statuses worth another try: the server is overloaded or hiccuped, the request itself was fine.
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
# Bounds on untrusted input: a response body (the client reads it whole; a longer one is not parsed) and the
# reply text parsed for JSON.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_REPLY_CHARS = 200_000
MAX_JSON_STARTS = 200  # `{` positions tried when looking for the first JSON object in free text
CACHE_FORMAT_VERSION = 2
# Failures that say the endpoint is unusable, whatever the sample (see "Circuit breaker" above).
BREAKER_KINDS = frozenset(
    {"timeout", "connection error", "tls error"}
    | {f"http {code}" for code in (*RETRYABLE_STATUSES, 401, 403, 404, 405, *range(300, 400))}
)
_ERROR_SNIPPET_CHARS = 300


# ---------------------------------------------------------------- configuration


def chat_completions_url(base_url: str) -> str:
    """`chat_completions_url(base_url) -> str`: the chat-completions endpoint of an OpenAI-compatible server.

    Rule (see the module docstring): ends in `/chat/completions` → unchanged; bare host → `+/v1/chat/completions`;
    any other path → `+/chat/completions`. Trailing slashes are ignored. Raises `ValueError` for anything but
    an http(s) URL with a host.
    """
    text = (base_url or "").strip()
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        raise ValueError(f"{ENV_BASE_URL} is not a valid URL") from None
    # Checked first, so that no message below echoes a password.
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{ENV_BASE_URL} must not carry credentials; put the key in {ENV_API_KEY}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{ENV_BASE_URL} must be an http(s) URL such as https://api.deepseek.com or http://127.0.0.1:8000/v1, got {text!r}"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{ENV_BASE_URL} must not carry a query or fragment, got {text!r}")
    path = parts.path.rstrip("/")
    if path.endswith(CHAT_COMPLETIONS_PATH):
        pass
    elif not path:
        path = "/v1" + CHAT_COMPLETIONS_PATH
    else:
        path = path + CHAT_COMPLETIONS_PATH
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def default_cache_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    """`default_cache_dir(env=os.environ) -> Path`: `$XDG_CACHE_HOME/vau_plugin/judge`, else `~/.cache/vau_plugin/judge`.

    A relative `XDG_CACHE_HOME` is ignored, as the XDG base-directory specification says.
    """
    env = os.environ if env is None else env
    xdg = env.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "vau_plugin" / "judge"


@dataclass(frozen=True)
class JudgeConfig:
    """Where and how to ask the judge. Every default lives here.

    - `base_url`: the server (see `chat_completions_url` for how the endpoint is derived); None = not configured.
    - `model`: the judge model name sent in the request.
    - `api_key`: sent as `Authorization: Bearer …` when set; kept out of `repr`. (`dataclasses.asdict` would
      still copy it: do not log the result of that.)
    - `timeout_s`: per request: for the connection and for each read (the longest silence waited for).
    - `max_retries`: retries after the first attempt, so at most `1 + max_retries` requests per score; this
      many for HTTP 408/429/5xx.
    - `connection_retries`, `timeout_retries`: the retries for a connection error and a timeout (each also
      bounded by `max_retries`); see the module docstring.
    - `breaker_after`: consecutive samples failed at the endpoint (`BREAKER_KINDS`) after which the judge stops
      and raises `JudgeUnavailableError`; 0 = never.
    - `backoff_s`, `max_backoff_s`: the k-th retry waits `min(max_backoff_s, backoff_s * 2**k)` times a jitter
      factor drawn from [0.5, 1].
    - `retry_after_cap_s`: a 429's `Retry-After` is honoured up to this many seconds.
    - `cache_dir`: where successful scores are kept; None turns the cache off.
    - `temperature`: 0, so that a rerun gives the same answer (see the module docstring).
    """

    base_url: Optional[str] = None
    model: str = DEFAULT_MODEL
    api_key: Optional[str] = field(default=None, repr=False)
    timeout_s: float = 30.0
    max_retries: int = 4
    connection_retries: int = 2
    timeout_retries: int = 0
    breaker_after: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    retry_after_cap_s: float = 60.0
    cache_dir: Optional[Path] = field(default_factory=default_cache_dir)
    temperature: float = 0.0

    def __post_init__(self) -> None:
        if self.base_url is not None and not self.base_url.strip():
            object.__setattr__(self, "base_url", None)
        if self.base_url is not None:
            chat_completions_url(self.base_url)  # fail early, naming the variable
        if not self.api_key:
            object.__setattr__(self, "api_key", None)
        if self.cache_dir is not None and not isinstance(self.cache_dir, Path):
            object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"{ENV_MODEL} must name a model, got {self.model!r}")
        if not (isinstance(self.timeout_s, (int, float)) and math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError(f"{ENV_TIMEOUT} must be a positive number of seconds, got {self.timeout_s!r}")
        for name, variable in (("max_retries", ENV_RETRIES), ("connection_retries", "JudgeConfig.connection_retries"),
                               ("timeout_retries", "JudgeConfig.timeout_retries"), ("breaker_after", ENV_BREAKER)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{variable} must be an integer >= 0, got {value!r}")
        for name in ("backoff_s", "max_backoff_s", "retry_after_cap_s", "temperature"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"JudgeConfig.{name} must be a number >= 0, got {value!r}")

    @property
    def is_configured(self) -> bool:
        """True when a base URL is set (the key is optional: local servers need none)."""
        return self.base_url is not None

    @property
    def endpoint(self) -> str:
        """The chat-completions URL requests go to. Raises `ValueError` when not configured."""
        if self.base_url is None:
            raise ValueError(_not_configured_message())
        return chat_completions_url(self.base_url)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "JudgeConfig":
        """`JudgeConfig.from_env(env=os.environ) -> JudgeConfig` from the `VAU_JUDGE_*` variables.

        `VAU_JUDGE_BASE_URL`, `VAU_JUDGE_MODEL` (default deepseek-chat), `VAU_JUDGE_API_KEY` (else
        `OPENAI_API_KEY`), `VAU_JUDGE_TIMEOUT` (seconds), `VAU_JUDGE_RETRIES`, `VAU_JUDGE_BREAKER` (consecutive
        endpoint failures that stop the judge, 0 = never), `VAU_JUDGE_CACHE` (a folder, or `off`; default
        `default_cache_dir()`). Unset or empty variables take the defaults.
        """
        env = os.environ if env is None else env
        cache_raw = env.get(ENV_CACHE, "").strip()
        if cache_raw.lower() in OFF_WORDS:
            cache_dir: Optional[Path] = None
        elif cache_raw:
            cache_dir = Path(cache_raw).expanduser()
        else:
            cache_dir = default_cache_dir(env)
        defaults = cls.__dataclass_fields__
        return cls(
            base_url=env.get(ENV_BASE_URL, "").strip() or None,
            model=env.get(ENV_MODEL, "").strip() or DEFAULT_MODEL,
            api_key=env.get(ENV_API_KEY, "").strip() or env.get(ENV_API_KEY_FALLBACK, "").strip() or None,
            timeout_s=env_number(ENV_TIMEOUT, defaults["timeout_s"].default, above=0, environ=env),
            max_retries=env_number(ENV_RETRIES, defaults["max_retries"].default, minimum=0, integer=True, environ=env),
            breaker_after=env_number(ENV_BREAKER, defaults["breaker_after"].default, minimum=0, integer=True, environ=env),
            cache_dir=cache_dir,
        )


def _not_configured_message() -> str:
    return (
        f"the VAU-Eval judge is not configured: set {ENV_BASE_URL} (e.g. https://api.deepseek.com or "
        f"http://127.0.0.1:8000/v1), and {ENV_API_KEY} (or {ENV_API_KEY_FALLBACK}) when the server needs a key; "
        f"optional: {ENV_MODEL} (default {DEFAULT_MODEL}), {ENV_TIMEOUT}, {ENV_RETRIES}, {ENV_BREAKER}, {ENV_CACHE}"
    )


# ---------------------------------------------------------------- results and reply parsing


@dataclass(frozen=True)
class JudgeResult:
    """One judged sample.

    - `scores`: each of `JUDGE_SCORE_KEYS` → a float in [0, 10] when `ok`, else None for all of them.
    - `total`: the sum of the five scores when `ok`, else None.
    - `reported_total`: the judge's own `total_score` when it gave a number (informational only).
    - `ok`, `error`: `error` is None when ok, else `"<kind>"` or `"<kind>: <detail>"` with kind one of
      `timeout`, `connection error`, `tls error`, `http NNN`, `malformed response`, `malformed json`,
      `missing keys`, `score not a number`, `score out of range`.
    - `cached`: read from the on-disk cache (no request made); `attempts`: HTTP requests made for it.
    - `comments`: the judge's per-aspect comments when it gave them as strings.
    """

    scores: dict[str, Optional[float]]
    total: Optional[float]
    reported_total: Optional[float]
    ok: bool
    error: Optional[str]
    cached: bool
    attempts: int
    comments: Optional[dict[str, str]] = None

    @property
    def error_kind(self) -> Optional[str]:
        """The part of `error` before any `": "` detail (the key used in `Judge.failures`)."""
        return None if self.error is None else self.error.split(": ", 1)[0]


class JudgeReplyError(ValueError):
    """The judge's reply could not be read as VAU-Eval scores; `str()` is the `JudgeResult.error` text."""


class JudgeUnavailableError(RuntimeError):
    """The circuit breaker is open: the endpoint failed for several samples in a row and is no longer called.

    `str()` is the message for the user (endpoint, what failed, samples judged and cached, what to do).
    """


class JudgeTaskFailed(RunStopped):
    """`JudgeUnavailableError` as lmms-eval's `vau_bench_reason` tasks raise it: a `SystemExit` carrying the
    message, so that lmms-eval (which catches `Exception`, prints it and exits 0) ends with status 1."""


def _json_objects(text: str) -> list[dict]:
    """The top-level JSON objects that decode at `{` positions of `text`, in order.

    At most `MAX_JSON_STARTS` positions are tried, and scanning resumes after each decoded object, so cost
    stays bounded on hostile text.
    """
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    found = []
    start = text.find("{")
    tried = 0
    while start != -1 and tried < MAX_JSON_STARTS:
        tried += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            value, end = None, start + 1
        if isinstance(value, dict):
            found.append(value)
        start = text.find("{", max(end, start + 1))
    return found


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid score")


def _fenced_blocks(text: str, opener: str) -> list[str]:
    """Contents of the ``` blocks opened by `opener` (e.g. "```json"), found with str.find (linear)."""
    blocks = []
    position = text.find(opener)
    while position != -1:
        body_start = position + len(opener)
        if opener == "```" and text[body_start : body_start + 4].lower() == "json":
            body_start += 4
        end = text.find("```", body_start)
        if end == -1:
            blocks.append(text[body_start:])
            break
        blocks.append(text[body_start:end])
        position = text.find(opener, end + 3)
    return blocks


def _score_value(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise JudgeReplyError(f"score not a number: {key}")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise JudgeReplyError(f"score not a number: {key}") from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise JudgeReplyError(f"score not a number: {key}")
    if not SCORE_MIN <= value <= SCORE_MAX:
        raise JudgeReplyError(f"score out of range: {key}={value:g} (expected {SCORE_MIN:g}-{SCORE_MAX:g})")
    return float(value)


def validate_scores(mapping: Mapping[str, Any]) -> dict[str, float]:
    """`validate_scores(mapping) -> {key: float}` for the five `JUDGE_SCORE_KEYS`; raises `JudgeReplyError`."""
    missing = [key for key in JUDGE_SCORE_KEYS if key not in mapping]
    if missing:
        raise JudgeReplyError("missing keys: " + ", ".join(missing))
    return {key: _score_value(key, mapping[key]) for key in JUDGE_SCORE_KEYS}


def _optional_number(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _string_comments(value: Any) -> Optional[dict[str, str]]:
    if not isinstance(value, dict):
        return None
    comments = {str(k): v for k, v in value.items() if isinstance(v, str)}
    return comments or None


def parse_judge_reply(text: str) -> tuple[dict[str, float], Optional[float], Optional[dict[str, str]]]:
    """`parse_judge_reply(text) -> (scores, reported_total, comments)` from a judge reply.

    Looks for the JSON object in a ```json fence (the reference), then in a bare ``` fence, then anywhere in
    the text (at the `{` positions where a JSON object decodes); the first object holding any of the score
    keys wins (else the first object, which then fails as "missing keys"). Only `json.loads` reads the text; NaN and
    Infinity are rejected. Scores may be ints, floats or numeric strings within [0, 10]. Raises
    `JudgeReplyError` ("malformed json", "missing keys: …", "score not a number: …", "score out of range: …").
    """
    if not isinstance(text, str):
        raise JudgeReplyError("malformed json")
    text = text[:MAX_REPLY_CHARS]
    candidates = _fenced_blocks(text, "```json") + _fenced_blocks(text, "```") + [text]
    first: Optional[dict] = None
    for candidate in candidates:
        for obj in _json_objects(candidate):
            if any(key in obj for key in JUDGE_SCORE_KEYS):
                return _read_scores(obj)
            first = first if first is not None else obj
    if first is not None:
        return _read_scores(first)  # an object without any score: reported as "missing keys: ..."
    raise JudgeReplyError("malformed json")


def _read_scores(obj: Mapping[str, Any]) -> tuple[dict[str, float], Optional[float], Optional[dict[str, str]]]:
    return validate_scores(obj), _optional_number(obj.get(JUDGE_TOTAL_KEY)), _string_comments(obj.get("comments"))


# ---------------------------------------------------------------- cache


def cache_key(endpoint: str, payload: Mapping[str, Any]) -> str:
    """`cache_key(endpoint, payload) -> str`: sha256 hex of the format version, the chat-completions URL and the
    request payload (model, messages, temperature, ...), unambiguously serialised (sorted keys)."""
    text = json.dumps([CACHE_FORMAT_VERSION, endpoint, payload], ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class _ScoreCache:
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
            entry = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
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
            "reported_total": _optional_number(entry.get("reported_total")),
            "comments": _string_comments(entry.get("comments")),
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
        tmp_name = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=self.folder, prefix=".tmp-", suffix=".json", delete=False
            ) as handle:
                tmp_name = handle.name
                json.dump(entry, handle, ensure_ascii=False, indent=1)
            os.replace(tmp_name, self._path(key))
            tmp_name = None
        except OSError as err:
            self._warn_once(f"cannot write to {self.folder} ({type(err).__name__}: {err.strerror or err})")
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass


# ---------------------------------------------------------------- requests (through the openai client)


@dataclass(frozen=True)
class _Attempt:
    content: Optional[str] = None
    error: Optional[str] = None
    retryable: bool = False
    retry_after_s: Optional[float] = None
    detail: Optional[str] = None  # for the breaker's message, e.g. "[Errno 111] Connection refused"


def _retry_after_seconds(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a `Retry-After` header (delay-seconds, also fractional, or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _causes(err: BaseException) -> list[BaseException]:
    """The exceptions `err` was raised from, outermost first (e.g. httpx's ConnectError, then the OSError)."""
    causes: list[BaseException] = []
    while (err := err.__cause__ or err.__context__) is not None and len(causes) < 16:
        causes.append(err)
    return causes


# ---------------------------------------------------------------- the judge


class Judge:
    """Scores a model's description and analysis against the ground truth with the VAU-Eval prompt.

    `Judge(config=None, *, sleep=time.sleep, rng=None)`: `config` defaults to `JudgeConfig.from_env()`;
    raises `ValueError` when it has no base URL. `sleep` and `rng` (a `random.Random`) exist so that tests can
    observe the backoff. Safe to share between threads.
    """

    def __init__(self, config: Optional[JudgeConfig] = None, *, sleep: Callable[[float], None] = time.sleep,
                 rng: Optional[random.Random] = None):
        self.config = JudgeConfig.from_env() if config is None else config
        if not self.config.is_configured:
            raise ValueError(_not_configured_message())
        self._url = self.config.endpoint
        self._cache = _ScoreCache(self.config.cache_dir)
        self._sleep = sleep
        self._rng = rng or random.Random()
        import openai  # here: only a judge needs it

        # The transport, to the endpoint (the client appends /chat/completions). No retries of its own (`_ask`
        # retries); redirects are not followed (they would carry the key elsewhere) and fail as `http 3xx`. It needs
        # a key to start: without one a stand-in, omitted from the requests like the OpenAI organisation and
        # project that it would read from the environment (OPENAI_ORG_ID, OPENAI_PROJECT_ID).
        self._client = openai.OpenAI(
            api_key=self.config.api_key or "no-key", base_url=self._url[: -len(CHAT_COMPLETIONS_PATH)],
            timeout=self.config.timeout_s, max_retries=0,
            http_client=openai.DefaultHttpxClient(follow_redirects=False, timeout=self.config.timeout_s),
        )
        omitted = ["OpenAI-Organization", "OpenAI-Project"] + ([] if self.config.api_key else ["Authorization"])
        self._omitted_headers = {name: openai.Omit() for name in omitted}
        self._lock = threading.Lock()
        self._requests = 0
        self._cache_hits = 0
        self._scored = 0
        self._failures: Counter[str] = Counter()
        # Circuit breaker: consecutive samples failed at the endpoint, the last such failure, the open message.
        self._consecutive = 0
        self._last_endpoint_failure: Optional[str] = None
        self._open_message: Optional[str] = None

    def __repr__(self) -> str:
        return f"Judge(url={self._url!r}, model={self.config.model!r}, cache_dir={self.config.cache_dir!r})"

    # -------------------------------------------------------- counters

    @property
    def requests(self) -> int:
        """HTTP requests made so far (every attempt counts)."""
        with self._lock:
            return self._requests

    @property
    def cache_hits(self) -> int:
        """Scores answered from the cache without a request."""
        with self._lock:
            return self._cache_hits

    @property
    def failures(self) -> dict[str, int]:
        """Failed scores by `JudgeResult.error_kind` (a copy)."""
        with self._lock:
            return dict(self._failures)

    @property
    def is_open(self) -> bool:
        """True once the circuit breaker has tripped: no further request is made."""
        with self._lock:
            return self._open_message is not None

    def stats(self) -> dict[str, Any]:
        """`stats() -> {"requests", "cache_hits", "scored", "failed", "failures": {kind: n}, "open"}`, one snapshot."""
        with self._lock:
            return {
                "requests": self._requests,
                "cache_hits": self._cache_hits,
                "scored": self._scored,
                "failed": sum(self._failures.values()),
                "failures": dict(self._failures),
                "open": self._open_message is not None,
            }

    # -------------------------------------------------------- circuit breaker

    def _raise_if_open(self) -> None:
        with self._lock:
            message = self._open_message
        if message is not None:
            raise JudgeUnavailableError(message)

    def _endpoint_answered(self) -> None:
        with self._lock:
            self._consecutive = 0

    def _endpoint_failed(self, error: str, detail: Optional[str]) -> None:
        """Count one sample failed at the endpoint; opens the breaker at `breaker_after` (the caller raises)."""
        with self._lock:
            self._consecutive += 1
            self._last_endpoint_failure = f"{error} ({detail})" if detail else error
            limit = self.config.breaker_after
            if limit and self._consecutive >= limit and self._open_message is None:
                self._open_message = self._breaker_message(error)

    def _breaker_message(self, error: str) -> str:
        """The one message of an open breaker (called with the lock held). No key: the URL cannot carry one."""
        config = self.config
        if error == "timeout":
            advice = (f"check that the judge server is not stuck, or raise {ENV_TIMEOUT} "
                      f"(now {config.timeout_s:g} s) for a slow judge")
        elif error in ("http 401", "http 403"):
            advice = f"check {ENV_API_KEY} (or {ENV_API_KEY_FALLBACK})"
        elif error in ("http 404", "http 405") or error.startswith("http 3"):
            advice = f"check {ENV_BASE_URL} (the endpoint path) and {ENV_MODEL} (now {config.model!r})"
        elif error.startswith("http "):
            advice = "the server is overloaded or failing: try again later, or use another server"
        else:
            advice = f"check that the judge server is running and reachable at that address, or fix {ENV_BASE_URL}"
        if self._cache.folder is None:
            rerun = f"then rerun (the cache is off, {ENV_CACHE}: every sample will be requested again)"
        elif self._scored:
            rerun = (f"then rerun: the {self._scored} score(s) obtained are cached in {self._cache.folder} "
                     "and are not requested again")
        else:
            rerun = f"then rerun (scores are cached in {self._cache.folder} as they are obtained)"
        failed = sum(self._failures.values())
        return self._redact(
            f"VAU-Eval judge unavailable: stopped calling {self._url} after {self._consecutive} consecutive samples "
            f"failed at the endpoint (last: {self._last_endpoint_failure}). Judged {self._scored} sample(s) "
            f"({self._cache_hits} from the cache), {failed} failed. What to do: {advice}; {rerun}. "
            f"({ENV_BREAKER}=0 turns this check off.)"
        )

    # -------------------------------------------------------- scoring

    def score(self, gt_description: str, gt_analysis: str, description: str, analysis: str) -> JudgeResult:
        """`score(gt_description, gt_analysis, description, analysis) -> JudgeResult`; see the module docstring."""
        for name, value in (("gt_description", gt_description), ("gt_analysis", gt_analysis),
                            ("description", description), ("analysis", analysis)):
            if not isinstance(value, str):
                raise TypeError(f"Judge.score: {name} must be a str, got {type(value).__name__}")
        self._raise_if_open()
        user_prompt = judge_prompt(
            gt_description=gt_description, gt_analysis=gt_analysis, description=description, analysis=analysis
        )
        payload = self._request_payload(user_prompt)
        key = cache_key(self._url, payload)

        hit = self._cache.load(key)
        if hit is not None:
            with self._lock:
                self._cache_hits += 1
                self._scored += 1
            return self._success(hit["scores"], hit["reported_total"], hit["comments"], cached=True, attempts=0)

        content, error, attempts, detail = self._ask(payload)
        if error is not None and error in BREAKER_KINDS:
            result = self._failure(error, attempts)
            self._endpoint_failed(error, detail)
            self._raise_if_open()
            return result
        if error is None:
            try:
                scores, reported_total, comments = parse_judge_reply(content)
            except JudgeReplyError as err:
                error = str(err)
        if error is not None:
            return self._failure(error, attempts)
        self._cache.store(key, self._url, self.config.model, scores, reported_total, comments)
        with self._lock:
            self._scored += 1
        return self._success(scores, reported_total, comments, cached=False, attempts=attempts)

    @staticmethod
    def _success(scores: Mapping[str, float], reported_total: Optional[float], comments: Optional[dict[str, str]],
                 *, cached: bool, attempts: int) -> JudgeResult:
        return JudgeResult(
            scores={key: scores[key] for key in JUDGE_SCORE_KEYS},
            total=float(sum(scores[key] for key in JUDGE_SCORE_KEYS)),
            reported_total=reported_total,
            ok=True,
            error=None,
            cached=cached,
            attempts=attempts,
            comments=comments,
        )

    def _failure(self, error: str, attempts: int) -> JudgeResult:
        result = JudgeResult(
            scores={key: None for key in JUDGE_SCORE_KEYS}, total=None, reported_total=None,
            ok=False, error=error, cached=False, attempts=attempts,
        )
        with self._lock:
            self._failures[result.error_kind] += 1
        logger.warning("VAU judge: sample not scored after %d request(s): %s", attempts, error)
        return result

    def _request_payload(self, user_prompt: str) -> dict[str, Any]:
        """The chat-completions request (everything in it is part of the cache key)."""
        return {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": JUDGE_SYSTEM_PROMPT},
                {"role": "user", "content": user_prompt},
            ],
            "temperature": self.config.temperature,
            "stream": False,
        }

    def _retries_for(self, error: str) -> int:
        if error == "timeout":
            return min(self.config.max_retries, self.config.timeout_retries)
        if error == "connection error":
            return min(self.config.max_retries, self.config.connection_retries)
        return self.config.max_retries

    def _ask(self, payload: Mapping[str, Any]) -> tuple[Optional[str], Optional[str], int, Optional[str]]:
        """POST with retries → (reply text, None, attempts, None) or (None, error, attempts, detail).

        Stops (raising `JudgeUnavailableError`) before any retry once the breaker is open, e.g. tripped by other
        threads while this one waited.
        """
        attempt = _Attempt(error="not attempted")
        attempts = 0
        while True:
            self._raise_if_open()
            attempts += 1
            attempt = self._post_once(payload)
            if attempt.error is None or attempt.error not in BREAKER_KINDS:
                self._endpoint_answered()
            if attempt.error is None:
                return attempt.content, None, attempts, None
            retry = attempts - 1
            if not attempt.retryable or retry >= self._retries_for(attempt.error):
                break
            delay = self._retry_delay(retry, attempt.retry_after_s)
            logger.info("VAU judge: %s, retry %d/%d in %.2fs", attempt.error, retry + 1,
                        self._retries_for(attempt.error), delay)
            self._sleep(delay)
        return None, attempt.error, attempts, attempt.detail

    def _retry_delay(self, retry: int, retry_after_s: Optional[float]) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self.config.retry_after_cap_s)
        base = min(self.config.max_backoff_s, self.config.backoff_s * (2.0 ** min(retry, 60)))
        return base * self._rng.uniform(0.5, 1.0)

    def _redact(self, text: str) -> str:
        key = self.config.api_key
        return text.replace(key, "***") if key else text

    def _post_once(self, payload: Mapping[str, Any]) -> _Attempt:
        """One request → an `_Attempt` (`error` by kind, as listed on `JudgeResult`)."""
        import openai

        with self._lock:
            self._requests += 1
        try:
            raw = self._client.chat.completions.with_raw_response.create(**payload, extra_headers=self._omitted_headers).content
        except openai.APITimeoutError:  # before APIConnectionError, its base class
            return _Attempt(error="timeout", retryable=True, detail=f"no answer within {self.config.timeout_s:g} s ({ENV_TIMEOUT})")
        except openai.APIStatusError as err:  # any status but 2xx, redirects included
            status, body = err.status_code, err.response.text[:_ERROR_SNIPPET_CHARS]
            if body:
                logger.debug("VAU judge: http %d body: %s", status, self._redact(body))
            retry_after = _retry_after_seconds(err.response.headers.get("Retry-After")) if status == 429 else None
            return _Attempt(error=f"http {status}", retryable=status in RETRYABLE_STATUSES, retry_after_s=retry_after)
        except openai.APIConnectionError as err:  # its own text is "Connection error.": the detail is in its causes
            causes = _causes(err)
            reason = next((cause for cause in reversed(causes) if isinstance(cause, OSError)), causes[0] if causes else err)
            kind = "tls error" if any(isinstance(cause, ssl.SSLError) for cause in causes) else "connection error"
            return _Attempt(error=kind, retryable=kind == "connection error",
                            detail=self._redact(str(reason)[:_ERROR_SNIPPET_CHARS] or type(reason).__name__))
        return self._read_reply(raw)

    @staticmethod
    def _read_reply(raw: bytes) -> _Attempt:
        if len(raw) > MAX_BODY_BYTES:
            return _Attempt(error="malformed response: body too large")
        try:
            data = json.loads(raw)
        except ValueError:
            return _Attempt(error="malformed response: not JSON")
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return _Attempt(error="malformed response: no choices[0].message.content")
        if not isinstance(content, str):
            return _Attempt(error="malformed response: content is not text")
        return _Attempt(content=content)


# ------------------------------------------------------------------ the judge of the vau_bench_reason task
_SHARED_LOCK = threading.Lock()
_SHARED: dict[str, Any] = {}


def _unjudged(reason: str) -> JudgeResult:
    return JudgeResult(
        scores={key: None for key in JUDGE_SCORE_KEYS},
        total=None,
        reported_total=None,
        ok=False,
        error=reason,
        cached=False,
        attempts=0,
    )


def judge_sample(gt_description: str, gt_analysis: str, description: str, analysis: str) -> JudgeResult:
    """Score one reasoning sample with the judge configured in the environment (one `Judge` per process).

    A missing configuration is not an exception here: every sample is recorded as a failure
    ("judge not configured") so that the other tasks of a run keep their results. An empty prediction is a
    failure too ("empty output"), as VAU-Eval skips incomplete outputs. An open circuit breaker raises
    `JudgeTaskFailed` (a `SystemExit`, see the module docstring): the run stops with the breaker's message and
    exit status 1.
    """
    with _SHARED_LOCK:
        if "judge" not in _SHARED:
            config = JudgeConfig.from_env()
            _SHARED["judge"] = Judge(config) if config.is_configured else None
            if _SHARED["judge"] is None:
                logger.warning("vau_bench_reason: %s; every sample is counted in judge_failures", _not_configured_message())
        judge = _SHARED["judge"]
    if judge is None:
        return _unjudged("judge not configured")
    if not description.strip() and not analysis.strip():
        return _unjudged("empty output")
    try:
        return judge.score(gt_description, gt_analysis, description, analysis)
    except JudgeUnavailableError as err:
        raise JudgeTaskFailed(f"vau_bench_reason failed: {err}") from None

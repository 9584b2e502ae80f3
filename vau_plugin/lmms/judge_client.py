"""The VAU-Eval judge's client: `Judge` sends the VAU-Eval prompt (`vau_plugin.prompts.judge_prompt`) to an
OpenAI-compatible chat-completions server through the `openai` client (the transport: HTTP, TLS, proxies,
timeouts, errors by kind), as the reference sends it to `deepseek-chat`, with per-request timeouts, retries with
exponential backoff and bounded jitter per kind of failure, a circuit breaker that stops calling an endpoint that is
down, the on-disk cache (`vau_plugin.lmms.judge_cache`), thread safety (lmms-eval calls `process_results` from
several threads) and counters of what happened. The API key never leaves the `Authorization` header: not in repr,
logs, errors, cache files or results.

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
(0.5 s doubling to 8 s) cannot be set, nor observed by tests. (`tenacity` could drive this loop, but the breaker
check before every attempt, the per-kind budgets and `Retry-After` would each need a custom hook: the loop is
shorter.)

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

Decisions that differ from the reference, and why:
- `total` is recomputed as the sum of the five scores (the judge's own `total_score` is kept as
  `reported_total`): LLMs add up badly, and a missing total no longer crashes the run;
- a malformed reply (no JSON, missing keys, a score outside 0-10) is a failure and is not retried: at
  temperature 0 the same prompt gives the same reply.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from vau_plugin.lmms.judge_cache import ScoreCache, cache_key
from vau_plugin.lmms.judge_config import (
    CHAT_COMPLETIONS_PATH,
    ENV_API_KEY,
    ENV_API_KEY_FALLBACK,
    ENV_BASE_URL,
    ENV_BREAKER,
    ENV_CACHE,
    ENV_MODEL,
    ENV_TIMEOUT,
    JudgeConfig,
    not_configured_message,
)
from vau_plugin.lmms.judge_reply import JudgeReplyError, parse_judge_reply
from vau_plugin.prompts import JUDGE_SCORE_KEYS, JUDGE_SYSTEM_PROMPT, judge_prompt

__all__ = ["BREAKER_KINDS", "Judge", "JudgeResult", "JudgeUnavailableError"]

# The judge's modules share the one logger they had as a single module, which users and the tasks filter on.
logger = logging.getLogger("vau_plugin.lmms.judge")

# Statuses worth another try: the server is overloaded or hiccuped, the request itself was fine.
RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
# Bound on untrusted input: a response body (the client reads it whole; a longer one is not parsed).
MAX_BODY_BYTES = 8 * 1024 * 1024
# Failures that say the endpoint is unusable, whatever the sample (see "Circuit breaker" above).
BREAKER_KINDS = frozenset(
    {"timeout", "connection error", "tls error"}
    | {f"http {code}" for code in (*RETRYABLE_STATUSES, 401, 403, 404, 405, *range(300, 400))}
)
_ERROR_SNIPPET_CHARS = 300


# ---------------------------------------------------------------- results


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


class JudgeUnavailableError(RuntimeError):
    """The circuit breaker is open: the endpoint failed for several samples in a row and is no longer called.

    `str()` is the message for the user (endpoint, what failed, samples judged and cached, what to do).
    """


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
            raise ValueError(not_configured_message())
        self._url = self.config.endpoint
        self._cache = ScoreCache(self.config.cache_dir)
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

"""The VAU-Eval judge's configuration: `JudgeConfig` (every default in one place), `JudgeConfig.from_env()` (the
`VAU_JUDGE_*` variables, listed on `ENV_*`), the endpoint rule and the default cache folder.

Endpoint rule (`chat_completions_url`): a base URL that already ends in `/chat/completions` is used as is;
a bare host (no path, e.g. `https://api.deepseek.com`) gets `/v1/chat/completions` (DeepSeek serves both
`/chat/completions` and `/v1/chat/completions`; vLLM, SGLang and OpenAI need `/v1`); any other path
(e.g. `http://127.0.0.1:8000/v1`, a proxy prefix) gets `/chat/completions`, as the OpenAI client does.

A decision that differs from the reference, and why: temperature 0 (the reference sends none, so DeepSeek's default
1.0 applies): reruns give the same scores, which is what makes caching them sound.

Misconfiguration raises `ValueError` naming the environment variable to set. The API key never leaves the
`Authorization` header: it is kept out of `JudgeConfig`'s repr.
"""

from __future__ import annotations

import math
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from vau_plugin._env import OFF_WORDS, env_number

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
    "CHAT_COMPLETIONS_PATH",
    "JudgeConfig",
    "chat_completions_url",
    "default_cache_dir",
    "not_configured_message",
]

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
CHAT_COMPLETIONS_PATH = "/chat/completions"


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
      bounded by `max_retries`); see `vau_plugin.lmms.judge_client`.
    - `breaker_after`: consecutive samples failed at the endpoint (`judge_client.BREAKER_KINDS`) after which the judge stops
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
            raise ValueError(not_configured_message())
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


def not_configured_message() -> str:
    return (
        f"the VAU-Eval judge is not configured: set {ENV_BASE_URL} (e.g. https://api.deepseek.com or "
        f"http://127.0.0.1:8000/v1), and {ENV_API_KEY} (or {ENV_API_KEY_FALLBACK}) when the server needs a key; "
        f"optional: {ENV_MODEL} (default {DEFAULT_MODEL}), {ENV_TIMEOUT}, {ENV_RETRIES}, {ENV_BREAKER}, {ENV_CACHE}"
    )

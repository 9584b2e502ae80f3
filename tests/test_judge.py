"""The VAU-Eval judge against a real chat-completions server on 127.0.0.1, scripted per test."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import math
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _chat_server import ScriptedServer, Step, chat_body, running
from _lmms_cli import DUMMY_REASONING, LMMS_EVAL, lmms_env
from vau_plugin.lmms import judge as judge_module
from vau_plugin.lmms.judge import JudgeTaskFailed
from vau_plugin.lmms.judge_cache import cache_key
from vau_plugin.lmms.judge_client import Judge, JudgeUnavailableError, _retry_after_seconds
from vau_plugin.lmms.judge_config import DEFAULT_MODEL, ENV_BASE_URL, JudgeConfig, chat_completions_url, default_cache_dir
from vau_plugin.lmms.judge_reply import JudgeReplyError, parse_judge_reply
from vau_plugin.prompts import JUDGE_SCORE_KEYS, JUDGE_SYSTEM_PROMPT, judge_prompt

REPO = Path(__file__).resolve().parents[1]
API_KEY = "sk-test-5e3c7a1f9b2d4e60-do-not-leak"
SAMPLE = {
    "gt_description": "A man in a red jacket breaks the window of a parked car at night.",
    "gt_analysis": "Breaking into a vehicle is a burglary; the anomaly starts when the glass shatters.",
    "description": "A person smashes a car window in a dark street.",
    "analysis": "The person forces entry into a car, which is a vandalism or burglary anomaly.",
}
GOOD_SCORES = {
    "classification_score": 8,
    "key_matching_score": 7,
    "fluency_score": 9,
    "informativeness_score": 6,
    "factual_score": 7,
}


def reply_json(scores: Optional[dict] = None, total: object = 40, **extra) -> str:
    """The JSON object a judge returns (the reported total deliberately differs from the sum, 37)."""
    obj = dict(GOOD_SCORES if scores is None else scores)
    obj["total_score"] = total
    obj["comments"] = {"classification": "right class", "fluency": "clear"}
    obj.update(extra)
    return json.dumps(obj, indent=4)


def fenced(text: str, tag: str = "json") -> str:
    return f"Here is my evaluation.\n```{tag}\n{text}\n```\nHope this helps."


@pytest.fixture
def server():
    with running(ScriptedServer()) as srv:
        yield srv


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """Requests to 127.0.0.1 must not be routed through a proxy configured in the environment."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


class Sleeps(list):
    """A `sleep` that records each delay and really waits it, up to 1 s (so that a wrong delay cannot hang)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(min(seconds, 1.0))


def make_judge(server: ScriptedServer, tmp_path: Path, **overrides) -> tuple[Judge, Sleeps]:
    options = dict(base_url=server.base_url, api_key=API_KEY, cache_dir=tmp_path / "cache",
                   timeout_s=2.0, max_retries=2, backoff_s=0.01)
    options.update(overrides)
    sleeps = Sleeps()
    return Judge(JudgeConfig(**options), sleep=sleeps), sleeps


def cache_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "cache"
    return sorted(folder.glob("*.json")) if folder.exists() else []


# ---------------------------------------------------------------- replies


def test_fenced_json_reply_is_scored_and_request_is_the_vau_eval_one(server, tmp_path):
    server.script = [Step.reply(fenced(reply_json()))]
    judge, sleeps = make_judge(server, tmp_path)
    result = judge.score(**SAMPLE)

    assert result.ok and result.error is None and not result.cached
    assert result.scores == {k: float(v) for k, v in GOOD_SCORES.items()}
    assert result.total == 37.0 and result.reported_total == 40.0
    assert result.attempts == 1 and sleeps == []
    assert result.comments == {"classification": "right class", "fluency": "clear"}

    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    headers = {name.lower(): value for name, value in request["headers"].items()}  # names are case-insensitive
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["content-type"] == "application/json"
    body = request["body"]
    assert body["model"] == DEFAULT_MODEL and body["temperature"] == 0
    system, user = body["messages"]
    assert system == {"role": "system", "content": JUDGE_SYSTEM_PROMPT}
    assert user["role"] == "user" and user["content"] == judge_prompt(**SAMPLE)
    for text in SAMPLE.values():
        assert text in user["content"]
    assert judge.stats() == {"requests": 1, "cache_hits": 0, "scored": 1, "failed": 0, "failures": {}, "open": False}


@pytest.mark.parametrize(
    "content",
    [
        reply_json(),  # bare JSON, no fence
        fenced(reply_json(), tag=""),  # bare ``` fence
        "Scores: " + json.dumps(GOOD_SCORES) + " -- that is all.",  # an object inside prose, no total
        fenced(reply_json(scores={**GOOD_SCORES, "fluency_score": "9", "factual_score": 7.0})),  # strings/floats
    ],
    ids=["bare-json", "bare-fence", "object-in-prose", "numeric-strings"],
)
def test_other_reply_shapes_are_accepted(server, tmp_path, content):
    server.script = [Step.reply(content)]
    judge, _ = make_judge(server, tmp_path)
    result = judge.score(**SAMPLE)
    assert result.ok, result.error
    assert result.total == 37.0


def test_no_auth_header_without_a_key_and_custom_endpoint(server, tmp_path, monkeypatch):
    # The openai client would read these; a JudgeConfig without a key sends none, nor the OpenAI account's ids.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-x")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-x")
    server.script = [Step.reply(fenced(reply_json()))]
    judge, _ = make_judge(server, tmp_path, api_key=None, model="local-judge", base_url=server.base_url + "/v1/")
    assert judge.score(**SAMPLE).ok
    (request,) = server.requests
    headers = {name.lower() for name in request["headers"]}
    assert not headers & {"authorization", "openai-organization", "openai-project"}
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "local-judge"


@pytest.mark.parametrize(
    "content, error",
    [
        ("I think the model did well, around 8/10.", "malformed json"),
        ("```json\n{'classification_score': 8}\n```", "malformed json"),  # Python dict, not JSON
        (fenced(json.dumps({k: v for k, v in GOOD_SCORES.items() if k != "fluency_score"})), "missing keys: fluency_score"),
        (fenced(json.dumps({"verdict": "good"})), "missing keys: " + ", ".join(JUDGE_SCORE_KEYS)),
        (fenced(reply_json(scores={**GOOD_SCORES, "factual_score": 11})), "score out of range: factual_score=11 (expected 0-10)"),
        (fenced(reply_json(scores={**GOOD_SCORES, "fluency_score": -1})), "score out of range: fluency_score=-1 (expected 0-10)"),
        (fenced(reply_json(scores={**GOOD_SCORES, "fluency_score": "high"})), "score not a number: fluency_score"),
        (fenced(reply_json(scores={**GOOD_SCORES, "fluency_score": True})), "score not a number: fluency_score"),
    ],
    ids=["prose", "python-dict", "one-missing", "all-missing", "above-10", "below-0", "word", "bool"],
)
def test_unusable_reply_is_a_failure_without_retry_and_is_not_cached(server, tmp_path, content, error):
    server.script = [Step.reply(content)]
    judge, sleeps = make_judge(server, tmp_path)
    result = judge.score(**SAMPLE)
    assert not result.ok and result.error == error
    assert result.scores == {k: None for k in JUDGE_SCORE_KEYS} and result.total is None
    assert result.attempts == 1 and server.hits == 1 and sleeps == []
    assert judge.failures == {result.error_kind: 1}
    assert cache_files(tmp_path) == []


@pytest.mark.parametrize(
    "step, error",
    [
        (Step(200, b"<html>gateway</html>"), "malformed response: not JSON"),
        (Step(200, b'{"choices": []}'), "malformed response: no choices[0].message.content"),
        (Step(200, b'{"choices": [{"message": {"content": null}}]}'), "malformed response: content is not text"),
    ],
)
def test_malformed_http_response_is_a_failure(server, tmp_path, step, error):
    server.script = [step]
    judge, _ = make_judge(server, tmp_path)
    result = judge.score(**SAMPLE)
    assert (result.ok, result.error, result.attempts) == (False, error, 1)
    assert judge.failures == {"malformed response": 1}


# ---------------------------------------------------------------- HTTP errors, retries, timeouts


def test_http_500_twice_then_success_retries_with_backoff(server, tmp_path):
    server.script = [Step(500, b"oops"), Step(500, b"oops"), Step.reply(fenced(reply_json()))]
    judge, sleeps = make_judge(server, tmp_path, max_retries=4, backoff_s=0.02)
    result = judge.score(**SAMPLE)
    assert result.ok and result.attempts == 3 and server.hits == 3
    assert judge.requests == 3 and judge.failures == {}
    assert len(sleeps) == 2
    assert 0.01 <= sleeps[0] <= 0.02 and 0.02 <= sleeps[1] <= 0.04  # exponential, jitter in [0.5, 1]


def test_http_500_always_fails_after_max_retries_in_bounded_time(server, tmp_path):
    server.script = [Step(500, b"down")]
    judge, sleeps = make_judge(server, tmp_path, max_retries=3, backoff_s=0.01, max_backoff_s=0.02)
    started = time.monotonic()
    result = judge.score(**SAMPLE)
    assert (result.ok, result.error, result.attempts) == (False, "http 500", 4)
    assert server.hits == 4 and len(sleeps) == 3 and max(sleeps) <= 0.02
    assert time.monotonic() - started < 2.0
    assert judge.stats()["failures"] == {"http 500": 1}
    assert cache_files(tmp_path) == []


def test_server_slower_than_timeout_is_a_timeout_failure(server, tmp_path):
    server.script = [Step.reply(fenced(reply_json()))]
    server.script[0].delay_s = 3.0
    judge, sleeps = make_judge(server, tmp_path, timeout_s=0.2, max_retries=1, timeout_retries=1, backoff_s=0.01)
    started = time.monotonic()
    result = judge.score(**SAMPLE)
    elapsed = time.monotonic() - started
    assert (result.ok, result.error, result.attempts) == (False, "timeout", 2)
    assert server.hits == 2 and len(sleeps) == 1
    assert 0.4 <= elapsed < 1.5
    assert judge.failures == {"timeout": 1}


def test_connection_refused_is_retried_then_reported(tmp_path):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    judge = Judge(JudgeConfig(base_url=f"http://127.0.0.1:{port}", cache_dir=None, max_retries=1, backoff_s=0.01))
    result = judge.score(**SAMPLE)
    assert (result.ok, result.error, result.attempts) == (False, "connection error", 2)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(server, tmp_path, status):
    server.script = [Step(status, b'{"error": "no"}')]
    judge, sleeps = make_judge(server, tmp_path)
    result = judge.score(**SAMPLE)
    assert (result.ok, result.error, result.attempts) == (False, f"http {status}", 1)
    assert server.hits == 1 and sleeps == []


@pytest.mark.parametrize("status", [302, 307])
def test_redirect_is_not_followed(server, tmp_path, status):
    server.script = [Step(status, b"", {"Location": server.base_url + "/elsewhere"}), Step.reply(fenced(reply_json()))]
    judge, _ = make_judge(server, tmp_path)
    result = judge.score(**SAMPLE)
    assert (result.ok, result.error) == (False, f"http {status}")
    assert server.hits == 1  # the key was not sent on to the Location


def test_429_honours_retry_after(server, tmp_path):
    server.script = [Step(429, b"slow down", {"Retry-After": "0.3"}), Step.reply(fenced(reply_json()))]
    judge, sleeps = make_judge(server, tmp_path, backoff_s=0.001)
    started = time.monotonic()
    result = judge.score(**SAMPLE)
    assert result.ok and result.attempts == 2
    assert sleeps == [0.3] and time.monotonic() - started >= 0.3


def test_429_retry_after_is_bounded_and_missing_one_falls_back_to_backoff(server, tmp_path):
    server.script = [Step(429, b"", {"Retry-After": "3600"}), Step(429, b""), Step.reply(fenced(reply_json()))]
    judge, sleeps = make_judge(server, tmp_path, backoff_s=0.02, retry_after_cap_s=0.1)
    result = judge.score(**SAMPLE)
    assert result.ok and result.attempts == 3
    assert sleeps[0] == 0.1 and 0.02 <= sleeps[1] <= 0.04


def test_retry_after_formats():
    assert _retry_after_seconds("7") == 7.0
    assert _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0
    for bad in (None, "", "soon", "nan", "inf"):
        assert _retry_after_seconds(bad) is None


# ---------------------------------------------------------------- cache


def test_cache_hit_makes_no_request_also_for_a_new_instance_and_process(server, tmp_path):
    server.script = [Step.reply(fenced(reply_json()))]
    judge, _ = make_judge(server, tmp_path)
    first = judge.score(**SAMPLE)
    assert first.ok and server.hits == 1

    again = judge.score(**SAMPLE)
    assert again.cached and again.attempts == 0 and server.hits == 1
    assert (again.scores, again.total, again.reported_total, again.comments) == (
        first.scores, first.total, first.reported_total, first.comments)
    assert judge.stats() == {"requests": 1, "cache_hits": 1, "scored": 2, "failed": 0, "failures": {}, "open": False}

    other, _ = make_judge(server, tmp_path)
    assert other.score(**SAMPLE).cached and server.hits == 1

    script = (
        "import json, sys; from vau_plugin.lmms.judge_client import Judge; from vau_plugin.lmms.judge_config import JudgeConfig; "
        "j = Judge(JudgeConfig(base_url=sys.argv[1], cache_dir=sys.argv[2])); "
        "r = j.score(**json.loads(sys.argv[3])); print(json.dumps([r.cached, r.total, j.requests]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script, server.base_url, str(tmp_path / "cache"), json.dumps(SAMPLE)],
                         capture_output=True, text=True, timeout=60, env=env, check=True)
    assert json.loads(out.stdout) == [True, 37.0, 0]
    assert server.hits == 1

    # Another model, or another text, is another key.
    judge.score(**{**SAMPLE, "analysis": SAMPLE["analysis"] + " Also the alarm goes off."})
    assert server.hits == 2
    assert len(cache_files(tmp_path)) == 2


def test_failures_are_not_cached_and_retried_next_time(server, tmp_path):
    server.script = [Step.reply("no json here"), Step.reply(fenced(reply_json()))]
    judge, _ = make_judge(server, tmp_path)
    assert judge.score(**SAMPLE).error == "malformed json"
    assert cache_files(tmp_path) == []
    result = judge.score(**SAMPLE)
    assert result.ok and not result.cached and server.hits == 2
    (entry,) = cache_files(tmp_path)
    key = cache_key(judge.config.endpoint, judge._request_payload(judge_prompt(**SAMPLE)))
    assert entry.name == f"{key}.json"
    assert json.loads(entry.read_text())["scores"] == {k: float(v) for k, v in GOOD_SCORES.items()}


@pytest.mark.parametrize(
    "content",
    ["{not json", json.dumps({"version": 2, "key": "wrong", "scores": GOOD_SCORES}), "[]", "old-version"],
    ids=["truncated", "other-key", "not-an-object", "old-version"],
)
def test_unreadable_cache_entry_is_a_miss_and_is_rewritten(server, tmp_path, content):
    server.script = [Step.reply(fenced(reply_json()))]
    judge, _ = make_judge(server, tmp_path)
    key = cache_key(judge.config.endpoint, judge._request_payload(judge_prompt(**SAMPLE)))
    (tmp_path / "cache").mkdir()
    if content == "old-version":  # an entry of format 1 under this key is not served
        content = json.dumps({"version": 1, "key": key, "model": DEFAULT_MODEL, "scores": GOOD_SCORES})
    (tmp_path / "cache" / f"{key}.json").write_text(content)
    result = judge.score(**SAMPLE)
    assert result.ok and not result.cached and server.hits == 1
    assert judge.score(**SAMPLE).cached


def test_tampered_cache_scores_are_validated(server, tmp_path):
    server.script = [Step.reply(fenced(reply_json()))]
    judge, _ = make_judge(server, tmp_path)
    judge.score(**SAMPLE)
    (entry,) = cache_files(tmp_path)
    data = json.loads(entry.read_text())
    data["scores"]["factual_score"] = 99
    entry.write_text(json.dumps(data))
    result = judge.score(**SAMPLE)
    assert result.ok and not result.cached and result.scores["factual_score"] == 7.0 and server.hits == 2


def test_cache_off_and_unwritable_cache_do_not_fail_scoring(server, tmp_path):
    server.script = [Step.reply(fenced(reply_json()))]
    judge, _ = make_judge(server, tmp_path, cache_dir=None)
    assert judge.score(**SAMPLE).ok and not judge.score(**SAMPLE).cached and server.hits == 2

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    judge, _ = make_judge(server, tmp_path, cache_dir=blocker / "cache")
    assert judge.score(**SAMPLE).ok and server.hits == 3


def test_concurrent_scoring_counts_every_request_once(server, tmp_path):
    server.script = [Step.reply(fenced(reply_json()))]
    judge, _ = make_judge(server, tmp_path)
    samples = [{**SAMPLE, "description": f"sample {i}"} for i in range(24)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: judge.score(**s), samples))
    assert all(r.ok and not r.cached for r in results)
    assert judge.requests == 24 == server.hits
    with ThreadPoolExecutor(max_workers=4) as pool:
        again = list(pool.map(lambda s: judge.score(**s), samples))
    assert all(r.cached for r in again)
    assert judge.stats() == {"requests": 24, "cache_hits": 24, "scored": 48, "failed": 0, "failures": {}, "open": False}
    assert len(cache_files(tmp_path)) == 24
    assert not list((tmp_path / "cache").glob(".tmp-*"))


# ---------------------------------------------------------------- the key never leaks


def test_api_key_never_appears_in_repr_logs_results_or_cache(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="vau_plugin")
    server.script = [Step(401, b"echo"), Step(500, b"echo"), Step.reply(fenced(reply_json()))]
    judge, _ = make_judge(server, tmp_path)
    refused = judge.score(**SAMPLE)  # the 401 body echoes the Authorization header
    assert refused.error == "http 401"
    ok = judge.score(**SAMPLE)
    assert ok.ok
    assert {name.lower(): value for name, value in server.requests[0]["headers"].items()}["authorization"] == (
        f"Bearer {API_KEY}")  # it was sent, though

    assert "bad key Bearer ***" in caplog.text  # the echoed body was logged, redacted
    texts = [caplog.text, repr(judge), repr(judge.config), str(judge.config), repr(refused), repr(ok),
             json.dumps(judge.stats())]
    texts += [path.read_text() for path in cache_files(tmp_path)]
    assert cache_files(tmp_path)
    for text in texts:
        assert API_KEY not in text


# ---------------------------------------------------------------- configuration


def test_from_env_reads_every_variable(tmp_path):
    env = {
        "VAU_JUDGE_BASE_URL": " http://127.0.0.1:8000/v1 ",
        "VAU_JUDGE_MODEL": "qwen-judge",
        "VAU_JUDGE_API_KEY": API_KEY,
        "OPENAI_API_KEY": "sk-other",
        "VAU_JUDGE_TIMEOUT": "12.5",
        "VAU_JUDGE_RETRIES": "0",
        "VAU_JUDGE_BREAKER": "7",
        "VAU_JUDGE_CACHE": str(tmp_path / "c"),
    }
    config = JudgeConfig.from_env(env)
    assert config.is_configured and config.endpoint == "http://127.0.0.1:8000/v1/chat/completions"
    assert (config.model, config.api_key, config.timeout_s, config.max_retries) == ("qwen-judge", API_KEY, 12.5, 0)
    assert config.breaker_after == 7
    assert config.cache_dir == tmp_path / "c" and config.temperature == 0
    assert API_KEY not in repr(config)


def test_from_env_defaults_fallback_key_and_cache_locations(tmp_path):
    config = JudgeConfig.from_env({"OPENAI_API_KEY": "sk-fallback", "XDG_CACHE_HOME": str(tmp_path)})
    assert not config.is_configured and config.model == DEFAULT_MODEL and config.api_key == "sk-fallback"
    assert (config.timeout_s, config.max_retries, config.connection_retries, config.timeout_retries) == (30.0, 4, 2, 0)
    assert config.breaker_after == 3
    assert config.cache_dir == tmp_path / "vau_plugin" / "judge"
    assert default_cache_dir({"XDG_CACHE_HOME": "relative/dir"}) == Path.home() / ".cache" / "vau_plugin" / "judge"
    assert JudgeConfig.from_env({"VAU_JUDGE_CACHE": "off"}).cache_dir is None
    assert JudgeConfig.from_env({"VAU_JUDGE_API_KEY": "", "OPENAI_API_KEY": ""}).api_key is None


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"VAU_JUDGE_TIMEOUT": "soon"}, "VAU_JUDGE_TIMEOUT"),
        ({"VAU_JUDGE_TIMEOUT": "0"}, "VAU_JUDGE_TIMEOUT"),
        ({"VAU_JUDGE_RETRIES": "2.5"}, "VAU_JUDGE_RETRIES"),
        ({"VAU_JUDGE_RETRIES": "-1"}, "VAU_JUDGE_RETRIES"),
        ({"VAU_JUDGE_BREAKER": "-1"}, "VAU_JUDGE_BREAKER"),
        ({"VAU_JUDGE_BREAKER": "three"}, "VAU_JUDGE_BREAKER"),
        ({"VAU_JUDGE_BASE_URL": "api.deepseek.com"}, "VAU_JUDGE_BASE_URL"),
        ({"VAU_JUDGE_BASE_URL": "https://user:hunter2@api.deepseek.com"}, "VAU_JUDGE_BASE_URL"),
    ],
)
def test_bad_environment_is_a_clear_error(env, variable):
    with pytest.raises(ValueError, match=variable) as info:
        JudgeConfig.from_env(env)
    assert "hunter2" not in str(info.value)


def test_unconfigured_judge_names_the_variables():
    with pytest.raises(ValueError, match=ENV_BASE_URL) as info:
        Judge(JudgeConfig(base_url=None, cache_dir=None))
    assert "VAU_JUDGE_API_KEY" in str(info.value)
    with pytest.raises(ValueError, match=ENV_BASE_URL):
        Judge(JudgeConfig.from_env({}))


def test_non_string_inputs_are_a_programming_error(server, tmp_path):
    judge, _ = make_judge(server, tmp_path)
    with pytest.raises(TypeError, match="analysis"):
        judge.score(**{**SAMPLE, "analysis": None})
    assert server.hits == 0


@pytest.mark.parametrize(
    "base_url, endpoint",
    [
        ("https://api.deepseek.com", "https://api.deepseek.com/v1/chat/completions"),
        ("https://api.deepseek.com/", "https://api.deepseek.com/v1/chat/completions"),
        ("https://api.deepseek.com/v1", "https://api.deepseek.com/v1/chat/completions"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1/chat/completions"),
        ("http://127.0.0.1:8000/v1/chat/completions", "http://127.0.0.1:8000/v1/chat/completions"),
        ("https://proxy.example/openai", "https://proxy.example/openai/chat/completions"),
    ],
)
def test_chat_completions_url_rule(base_url, endpoint):
    assert chat_completions_url(base_url) == endpoint


# ---------------------------------------------------------------- circuit breaker, per-kind retries


class NoSleep(list):
    """A `sleep` that records each delay and returns at once (to check what the defaults would wait)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def closed_port() -> int:
    """A port that was free a moment ago: nothing listens there, a connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(*steps: Step):
    """A second (third, ...) scripted server, for tests that need more than the `server` fixture."""
    srv = ScriptedServer()
    srv.script = list(steps)
    with running(srv):
        yield srv


def sample(i: int) -> dict:
    """Distinct samples (distinct prompts, so no cache hit between them)."""
    return {**SAMPLE, "description": f"{SAMPLE['description']} (clip {i})"}


def assert_clear_breaker_message(message: str, endpoint: str, *needles: str) -> None:
    assert endpoint in message and "unavailable" in message and "rerun" in message
    assert "Judged " in message and "from the cache" in message
    assert API_KEY not in message
    for needle in needles:
        assert needle in message, (needle, message)


def test_refused_endpoint_with_default_retries_trips_the_breaker_within_seconds(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}"
    sleeps = NoSleep()  # the default backoff, recorded instead of waited
    judge = Judge(JudgeConfig(base_url=url, api_key=API_KEY, cache_dir=tmp_path / "cache"), sleep=sleeps)
    results = [judge.score(**sample(i)) for i in range(2)]
    assert [(r.ok, r.error, r.attempts) for r in results] == [(False, "connection error", 3)] * 2
    with pytest.raises(JudgeUnavailableError) as info:
        judge.score(**sample(2))
    assert judge.requests == 9 and judge.is_open
    # Default waits: 2 retries a sample, backoff 1 then 2 s (jitter in [0.5, 1]): at most 3 s a sample.
    assert len(sleeps) == 6 and sum(sleeps) <= 9.0
    assert_clear_breaker_message(str(info.value), f"{url}/v1/chat/completions", "3 consecutive samples",
                                 "connection error", "Connection refused", "Judged 0 sample(s)", "3 failed",
                                 ENV_BASE_URL)
    # Open: no further request, also not for a sample that would be new.
    with pytest.raises(JudgeUnavailableError):
        judge.score(**sample(3))
    assert judge.requests == 9


def test_hanging_server_is_not_retried_and_trips_the_breaker(server, tmp_path):
    server.script = [Step(200, chat_body(fenced(reply_json())), delay_s=60.0)]  # accepts, never answers (till teardown)
    judge, sleeps = make_judge(server, tmp_path, timeout_s=0.3, max_retries=4)  # default breaker: 3
    started = time.monotonic()
    first = judge.score(**sample(0))
    assert (first.ok, first.error, first.attempts) == (False, "timeout", 1)  # the next sample is the retry
    judge.score(**sample(1))
    with pytest.raises(JudgeUnavailableError) as info:
        judge.score(**sample(2))
    elapsed = time.monotonic() - started
    assert server.hits == 3 and sleeps == [] and 0.9 <= elapsed < 3.0
    assert_clear_breaker_message(str(info.value), judge.config.endpoint, "timeout", "VAU_JUDGE_TIMEOUT")


def test_breaker_trips_after_n_consecutive_failures_and_makes_no_further_request(server, tmp_path):
    server.script = [Step(503, b"overloaded")]
    judge, sleeps = make_judge(server, tmp_path, max_retries=1, breaker_after=2)
    judge.score(**SAMPLE)  # counts 1
    with pytest.raises(JudgeUnavailableError) as info:
        judge.score(**sample(1))
    assert server.hits == 4 and len(sleeps) == 2  # 503 keeps its retries: 2 samples x 2 requests
    assert_clear_breaker_message(str(info.value), judge.config.endpoint, "2 consecutive samples", "http 503",
                                 "overloaded or failing")
    for i in range(2, 6):
        with pytest.raises(JudgeUnavailableError):
            judge.score(**sample(i))
    assert server.hits == 4 and judge.stats()["open"]
    assert judge.failures == {"http 503": 2}


def test_a_request_answered_in_between_resets_the_count(server, tmp_path):
    # fail, malformed reply (answered), fail, success, fail, fail -> trips only at the last one.
    server.script = [Step(503, b""), Step.reply("no json at all"), Step(503, b""), Step.reply(fenced(reply_json())),
                     Step(503, b""), Step(503, b"")]
    judge, _ = make_judge(server, tmp_path, max_retries=0, breaker_after=2)
    outcomes = [judge.score(**sample(i)).error for i in range(5)]
    assert outcomes == ["http 503", "malformed json", "http 503", None, "http 503"]
    with pytest.raises(JudgeUnavailableError) as info:
        judge.score(**sample(5))
    assert server.hits == 6
    assert "Judged 1 sample(s)" in str(info.value) and "5 failed" in str(info.value)


@pytest.mark.parametrize(
    "step, error",
    [
        (Step.reply("I would give it an 8."), "malformed json"),
        (Step(200, b"<html>not an API</html>"), "malformed response"),
        (Step(400, b'{"error": "prompt too long"}'), "http 400"),
        (Step(413, b""), "http 413"),
    ],
    ids=["malformed-reply", "not-chat-completion", "http-400", "http-413"],
)
def test_answers_that_may_depend_on_the_sample_never_trip_the_breaker(server, tmp_path, step, error):
    server.script = [step]
    judge, _ = make_judge(server, tmp_path, breaker_after=2)
    results = [judge.score(**sample(i)) for i in range(6)]
    assert [r.error_kind for r in results] == [error] * 6
    assert server.hits == 6 and not judge.is_open


@pytest.mark.parametrize("status, needle", [(401, "VAU_JUDGE_API_KEY"), (404, "VAU_JUDGE_MODEL"),
                                            (302, "VAU_JUDGE_BASE_URL")])
def test_endpoint_configuration_errors_trip_the_breaker_with_advice(server, tmp_path, status, needle):
    server.script = [Step(status, b"echo", {"Location": "http://127.0.0.1:1/"})]
    judge, _ = make_judge(server, tmp_path, breaker_after=3)
    judge.score(**sample(0))
    judge.score(**sample(1))
    with pytest.raises(JudgeUnavailableError) as info:
        judge.score(**sample(2))
    assert server.hits == 3
    assert_clear_breaker_message(str(info.value), judge.config.endpoint, f"http {status}", needle)


def test_breaker_off_keeps_calling(tmp_path):
    judge = Judge(JudgeConfig(base_url=f"http://127.0.0.1:{closed_port()}", cache_dir=None, breaker_after=0,
                              max_retries=0))
    assert all(judge.score(**sample(i)).error == "connection error" for i in range(5))
    assert judge.requests == 5 and not judge.is_open


def test_breaker_opens_while_other_threads_are_scoring(server, tmp_path):
    server.script = [Step(503, b"")]
    judge, _ = make_judge(server, tmp_path, max_retries=3, backoff_s=0.05, breaker_after=2)

    def one(i):
        try:
            return judge.score(**sample(i)).error
        except JudgeUnavailableError:
            return "open"

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(one, range(12)))
    assert outcomes.count("open") >= 10 and judge.is_open
    # In-flight samples stop before their next retry: far fewer than 12 x 4 requests. The bound follows from the
    # breaker's logic, not from timing: before it opens, at most 5 samples can start (the first failed one, whose
    # thread then takes a fifth, and the 3 the other threads hold; the second failure opens it), each making at
    # most 4 requests. A tighter bound (4 x 4) held only while the threads ran in step and failed on a loaded machine.
    assert server.hits <= 5 * 4


# ---------------------------------------------------------------- cache key: endpoint and payload


def test_cache_is_keyed_by_endpoint_model_and_temperature(tmp_path):
    reply = Step.reply(fenced(reply_json()))
    with serving(reply) as first, serving(reply) as second:
        config = dict(api_key=API_KEY, cache_dir=tmp_path / "cache", max_retries=0)
        a = Judge(JudgeConfig(base_url=first.base_url, **config))
        b = Judge(JudgeConfig(base_url=second.base_url, **config))
        assert a.score(**SAMPLE).ok and b.score(**SAMPLE).ok  # same prompt and model, two endpoints
        assert (first.hits, second.hits) == (1, 1)
        assert a.score(**SAMPLE).cached and b.score(**SAMPLE).cached
        # The same endpoint spelled another way is the same key.
        same = Judge(JudgeConfig(base_url=first.base_url + "/v1/", **config))
        assert same.score(**SAMPLE).cached and first.hits == 1
        # Another temperature or model is another answer.
        warm = Judge(JudgeConfig(base_url=first.base_url, temperature=0.7, **config))
        other = Judge(JudgeConfig(base_url=first.base_url, model="other-judge", **config))
        assert not warm.score(**SAMPLE).cached and not other.score(**SAMPLE).cached
        assert first.hits == 3
    entries = [json.loads(path.read_text()) for path in cache_files(tmp_path)]
    assert len(entries) == 4 and {e["version"] for e in entries} == {2}
    assert {e["endpoint"] for e in entries} == {a.config.endpoint, b.config.endpoint}
    assert all(API_KEY not in json.dumps(e) for e in entries)


# ---------------------------------------------------------------- the vau_bench_reason task


def load_task_utils():
    spec = importlib.util.spec_from_file_location("vau_bench_task_utils", REPO / "tasks" / "vau_bench" / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def task_utils(monkeypatch, tmp_path):
    """The task's utils with a fresh process-wide judge, configured by the test through the environment."""
    monkeypatch.setattr(judge_module, "_SHARED", {})
    monkeypatch.setenv("VAU_JUDGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("VAU_JUDGE_API_KEY", API_KEY)
    for name in ("VAU_JUDGE_TIMEOUT", "VAU_JUDGE_RETRIES", "VAU_JUDGE_BREAKER", "VAU_JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return load_task_utils()


def reason_doc(i: int) -> dict:
    return {"video": f"clip_{i}.mp4", "source": "msad", "description": SAMPLE["gt_description"],
            "reasoning": SAMPLE["gt_analysis"]}


def test_reason_task_reports_coverage_beside_the_means(server, task_utils, monkeypatch):
    monkeypatch.setenv("VAU_JUDGE_BASE_URL", server.base_url)
    # 8 samples: 2 malformed replies, 1 empty model output (no request), 5 scored.
    server.script = [Step.reply("no json"), Step.reply("still no json"), Step.reply(fenced(reply_json()))]
    outputs = [f"Description: clip {i}. Analysis: an anomaly." for i in range(7)] + [""]
    per_sample = [task_utils.reason_process_results(reason_doc(i), [out]) for i, out in enumerate(outputs)]
    assert {"judge_coverage", "judge_failures", "total_score"} <= set(per_sample[0])
    items = [metrics["judge_coverage"] for metrics in per_sample]
    assert server.hits == 7
    assert task_utils.aggregate_judge_coverage(items) == pytest.approx(100.0 * 5 / 8)
    assert task_utils.aggregate_judge_failures(items) == 3.0
    assert task_utils.aggregate_total_score(items) == pytest.approx(37.0)  # over the 5 judged
    assert math.isnan(task_utils.aggregate_judge_coverage([]))
    # The YAML lists the coverage with an aggregation that exists.
    text = (REPO / "tasks" / "vau_bench" / "_reason.yaml").read_text()
    assert "metric: judge_coverage" in text and "utils.aggregate_judge_coverage" in text
    assert "metric: judge_failures" in text


def test_reason_task_fails_with_system_exit_when_the_breaker_opens(task_utils, monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    monkeypatch.setenv("VAU_JUDGE_BASE_URL", url)
    monkeypatch.setenv("VAU_JUDGE_RETRIES", "0")
    out = ["Description: a car. Analysis: a break-in."]
    for i in range(2):
        assert task_utils.reason_process_results(reason_doc(i), out)["total_score"]["judge_error"] == "connection error"
    try:
        task_utils.reason_process_results(reason_doc(2), out)
    except Exception:  # what lmms-eval catches (and then exits 0): must not catch this one
        pytest.fail("an open breaker must not be an Exception")
    except SystemExit as err:
        assert isinstance(err, JudgeTaskFailed) and err.code and isinstance(err.code, str)
        assert_clear_breaker_message(err.code, url + "/chat/completions", "Connection refused")
    else:
        pytest.fail("the third consecutive failure must stop the task")


# ---------------------------------------------------------------- the real lmms-eval CLI


def run_lmms_eval(tmp_path: Path, out: Path, **judge_env: str) -> subprocess.CompletedProcess:
    env = lmms_env(tmp_path, VAU_JUDGE_CACHE=str(tmp_path / "judge_cache"), VAU_JUDGE_API_KEY=API_KEY,
                   no_proxy="127.0.0.1", NO_PROXY="127.0.0.1")
    for name in ("VAU_JUDGE_TIMEOUT", "VAU_JUDGE_RETRIES", "VAU_JUDGE_BREAKER", "VAU_JUDGE_MODEL"):
        env.pop(name, None)
    env.update(judge_env)
    # lmms-eval's dummy model gives the same non-empty reply for every video.
    cmd = [LMMS_EVAL, "--model", "dummy", "--model_args", f"response={DUMMY_REASONING}",
           "--tasks", "vau_bench_reason_mini", "--output_path", str(out)]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.e2e
def test_lmms_eval_shows_judge_coverage_in_the_table_and_results(server, tmp_path):
    server.script = [Step.reply("not a score"), Step.reply(fenced(reply_json()))]  # 1 of 12 malformed
    out = tmp_path / "out"
    proc = run_lmms_eval(tmp_path, out, VAU_JUDGE_BASE_URL=server.base_url)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.rglob("*_results.json")
    results = json.loads(path.read_text())["results"]["vau_bench_reason_mini"]
    assert results["judge_coverage,none"] == pytest.approx(100.0 * 11 / 12)
    assert results["judge_failures,none"] == 1.0 and results["total_score,none"] == pytest.approx(37.0)
    row = next(line for line in proc.stdout.splitlines() if "judge_coverage" in line)
    assert "91.6" in row
    assert server.hits == 12


@pytest.mark.e2e
def test_lmms_eval_exits_non_zero_with_one_message_when_the_judge_is_down(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    started = time.monotonic()
    proc = run_lmms_eval(tmp_path, tmp_path / "out", VAU_JUDGE_BASE_URL=url)  # default retries, timeout, breaker
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    # Printed once, by Python for the SystemExit (lmms-eval's progress bar may close after it).
    (line,) = [line for line in proc.stderr.splitlines() if "judge unavailable" in line]
    assert line.startswith("vau_bench_reason failed: VAU-Eval judge unavailable")
    assert_clear_breaker_message(line, url + "/chat/completions", "Connection refused", ENV_BASE_URL)
    assert API_KEY not in proc.stdout + proc.stderr
    assert not list((tmp_path / "out").rglob("*_results.json"))
    assert elapsed < 90  # lmms-eval's start-up plus at most a few seconds of the judge


# ---------------------------------------------------------------- the parser on any text


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=300),
    st.text(alphabet='{}[]":,0123456789.-eE ntrufals`json\n', max_size=300),
    st.dictionaries(st.sampled_from(JUDGE_SCORE_KEYS + ("total_score",)),
                    st.one_of(st.integers(-5, 15), st.floats(allow_nan=True), st.text(max_size=4), st.booleans()))
      .map(lambda d: fenced(json.dumps(d))),
))
def test_parse_judge_reply_is_total_on_any_text(text):
    try:
        scores, _, _ = parse_judge_reply(text)
    except JudgeReplyError as err:
        assert str(err).split(": ", 1)[0] in {"malformed json", "missing keys", "score not a number", "score out of range"}
    else:
        assert set(scores) == set(JUDGE_SCORE_KEYS)
        assert all(isinstance(v, float) and 0.0 <= v <= 10.0 for v in scores.values())

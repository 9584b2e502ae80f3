"""One policy for the plugin's environment variables (issue 24, item 14): a flag, a choice and a number are read
the same way everywhere, and a value that is none of them is an error naming the variable, never a silent guess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vau_plugin._env import SettingError, env_choice, env_flag, env_number, parse_flag, parse_number


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("VAU_")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**environ, **env})  # fmt: skip


HOOK_STATUS = "from vau_plugin.llamafactory.patch import patch_status; print(patch_status()['hook_installed'])"


@pytest.mark.parametrize("value, installed", [("", True), ("0", True), ("false", True), ("OFF", True), ("no", True),
                                              ("1", False), ("true", False), ("Yes", False)])  # fmt: skip
def test_no_hook_is_read_as_a_flag(value, installed):
    """`VAU_PLUGIN_NO_HOOK=false` used to turn the LLaMA-Factory hook OFF (anything but "" or "0" did)."""
    done = _python(HOOK_STATUS, VAU_PLUGIN_NO_HOOK=value)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(installed)
    assert done.stderr == ""


def test_a_no_hook_value_that_is_no_flag_keeps_the_hook_and_says_so():
    done = _python(HOOK_STATUS, VAU_PLUGIN_NO_HOOK="maybe")
    assert done.stdout.strip() == "True"
    assert "VAU_PLUGIN_NO_HOOK='maybe': expected one of 1, true, yes, on (on) or 0, false, no, off (off)" in done.stderr


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "5s"])
def test_junk_progress_interval_is_an_error_naming_the_variable(tmp_path, shared_vau_bench, value):
    """Junk `VAU_PROGRESS_S` was taken for the default without a word."""
    done = subprocess.run([sys.executable, "-m", "vau_plugin.cli", "validate", str(shared_vau_bench / "test_msad.csv")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "VAU_PROGRESS_S": value})  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        f"vau-plugin validate: error: VAU_PROGRESS_S={value!r}: expected a number >= 0 or off"
    ), done.stderr


@pytest.mark.parametrize("value, interval", [("off", None), ("none", None), ("0", 0.0), ("2.5", 2.5), ("", 5.0)])
def test_progress_interval_values(monkeypatch, value, interval):
    from vau_plugin.progress import progress_interval_s

    monkeypatch.setenv("VAU_PROGRESS_S", value)
    assert progress_interval_s() == interval


def test_hub_timeout_is_checked(monkeypatch):
    from vau_plugin.data.sources import DEFAULT_HUB_TIMEOUT_S, hub_timeout_s

    monkeypatch.delenv("VAU_HUB_TIMEOUT", raising=False)
    assert hub_timeout_s() == DEFAULT_HUB_TIMEOUT_S
    monkeypatch.setenv("VAU_HUB_TIMEOUT", "2")
    assert hub_timeout_s() == 2.0
    for junk in ("0", "-3", "soon"):
        monkeypatch.setenv("VAU_HUB_TIMEOUT", junk)
        with pytest.raises(SettingError, match=f"^VAU_HUB_TIMEOUT='{junk}': expected a number > 0$"):
            hub_timeout_s()


def test_the_policy_itself():
    env = {"F": " Yes ", "G": "off", "C": "Anywhere", "N": "3", "M": "x", "O": "none", "E": " "}
    assert env_flag("F", environ=env) is True and env_flag("G", True, environ=env) is False
    assert env_flag("E", True, environ=env) is True and env_flag("unset", environ=env) is False
    assert env_choice("C", ("source", "anywhere"), "source", environ=env) == "anywhere"
    assert env_number("N", 1, integer=True, environ=env) == 3 and env_number("O", 1, off=True, environ=env) is None
    with pytest.raises(SettingError, match=r"^M='x': expected a whole number >= 1$"):
        env_number("M", 1, integer=True, minimum=1, environ=env)
    with pytest.raises(SettingError, match=r"^C='Anywhere': expected one of a, b \(default a\)$"):
        env_choice("C", ("a", "b"), "a", environ=env)
    with pytest.raises(SettingError, match=r"^G='off': expected a number$"):
        env_number("G", 1, environ=env)  # "off" only where a number may be switched off
    assert parse_flag("x", True) is True and parse_flag("x", 0) is False
    with pytest.raises(SettingError, match="^x='ture'"):
        parse_flag("x", "ture")
    assert parse_number("n", "0", off=True) == 0.0  # a number first: 0 is zero, not off
    with pytest.raises(SettingError):
        parse_number("n", "inf")

"""One policy for the plugin's settings given as text: environment variables, recipe keys, `model_args`.

- unset or empty: the default;
- a flag: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off` (any case, surrounding spaces ignored);
- a choice: one of the listed words (any case);
- a number: a finite decimal number within the stated bounds; where a number may also be switched off, the words
  `off`, `none`, `no`, `false` (and `0` where 0 is no number of its own) switch it off;
- anything else: `SettingError` naming the setting (`NAME='value': expected ...`) before any work starts. A value
  is never guessed at: `VAU_PLUGIN_NO_HOOK=false` means "keep the hook", and a typo is an error, not "off".

Standard library only: the start-up hook (`vau_plugin.llamafactory._startup`) reads its flag through this module.
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Optional, Sequence, Union

TRUE_WORDS: tuple[str, ...] = ("1", "true", "yes", "on")
FALSE_WORDS: tuple[str, ...] = ("0", "false", "no", "off")
OFF_WORDS: tuple[str, ...] = ("off", "none", "no", "false", "0")


class SettingError(ValueError):
    """A setting holds a value the plugin does not accept; the message names it, the value and what is allowed."""


def _refused(name: str, value: object, expected: str) -> SettingError:
    return SettingError(f"{name}={value!r}: expected {expected}")


def parse_flag(name: str, value: Union[str, bool, int]) -> bool:
    """`parse_flag(name, value) -> bool`: TRUE_WORDS / FALSE_WORDS (a bool or 0/1 as is); SettingError otherwise."""
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _refused(name, value, f"one of {', '.join(TRUE_WORDS)} (on) or {', '.join(FALSE_WORDS)} (off)")


def parse_number(
    name: str,
    value: Union[str, float, int],
    *,
    minimum: Optional[float] = None,
    above: Optional[float] = None,
    integer: bool = False,
    off: bool = False,
) -> Optional[float]:
    """`parse_number(name, value, *, minimum=None, above=None, integer=False, off=False) -> number | None`.

    A finite number >= `minimum` and > `above` (an int when `integer`); with `off`, a word of OFF_WORDS that is no
    number gives None. SettingError names the setting, the value and the accepted range otherwise."""
    text = str(value).strip()
    kind = "a whole number" if integer else "a number"
    bounds = ([f">= {minimum:g}"] if minimum is not None else []) + ([f"> {above:g}"] if above is not None else [])
    expected = " ".join([kind, " and ".join(bounds)]).strip() + (" or off" if off else "")
    try:
        number: float = int(text) if integer else float(text)
    except ValueError:
        if off and text.lower() in OFF_WORDS:
            return None
        raise _refused(name, value, expected) from None
    if not math.isfinite(number) or (minimum is not None and number < minimum) or (above is not None and number <= above):
        raise _refused(name, value, expected)
    return number


def env_text(name: str, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """`env_text(name) -> str | None`: the variable's value without surrounding spaces; None when unset or empty."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def env_flag(name: str, default: bool = False, environ: Optional[Mapping[str, str]] = None) -> bool:
    """`env_flag(name, default=False) -> bool`: a yes/no variable (see `parse_flag`)."""
    value = env_text(name, environ)
    return default if value is None else parse_flag(name, value)


def env_choice(name: str, choices: Sequence[str], default: str, environ: Optional[Mapping[str, str]] = None) -> str:
    """`env_choice(name, choices, default) -> str`: one of `choices` (compared in lower case); SettingError otherwise."""
    value = env_text(name, environ)
    if value is None:
        return default
    if value.lower() in choices:
        return value.lower()
    raise _refused(name, value, f"one of {', '.join(choices)} (default {default})")


def env_number(
    name: str,
    default: Optional[float],
    *,
    minimum: Optional[float] = None,
    above: Optional[float] = None,
    integer: bool = False,
    off: bool = False,
    environ: Optional[Mapping[str, str]] = None,
) -> Optional[float]:
    """`env_number(name, default, **bounds) -> number | None`: the variable as `parse_number` reads it, or
    `default` when unset or empty."""
    value = env_text(name, environ)
    if value is None:
        return default
    return parse_number(name, value, minimum=minimum, above=above, integer=integer, off=off)

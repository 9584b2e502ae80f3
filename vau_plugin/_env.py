"""One policy for the plugin's environment variables: how a flag, a choice and a number are read.

- unset or empty: the default;
- a flag: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off` (any case, surrounding spaces ignored);
- a choice: one of the listed words (any case);
- a number: a finite decimal number within the stated bounds; some numbers also take `off` (named per variable);
- anything else: `EnvError` naming the variable, the value found and what is allowed, before any work starts.
  A value is never guessed at: `VAU_PLUGIN_NO_HOOK=false` means "keep the hook", a typo is an error.

Standard library only: the start-up hook (`vau_plugin.llamafactory._startup`) reads its flag through this module.
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Optional, Sequence

TRUE_WORDS: tuple[str, ...] = ("1", "true", "yes", "on")
FALSE_WORDS: tuple[str, ...] = ("0", "false", "no", "off")


class EnvError(ValueError):
    """An environment variable holds a value the plugin does not accept; the message names it and what is allowed."""


def env_text(name: str, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """`env_text(name) -> str | None`: the variable's value without surrounding spaces; None when unset or empty."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _refused(name: str, value: str, expected: str) -> EnvError:
    return EnvError(f"environment variable {name}={value!r}: expected {expected}")


def env_flag(name: str, default: bool = False, environ: Optional[Mapping[str, str]] = None) -> bool:
    """`env_flag(name, default=False) -> bool`: a yes/no variable (TRUE_WORDS / FALSE_WORDS); EnvError otherwise."""
    value = env_text(name, environ)
    if value is None:
        return default
    word = value.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _refused(name, value, f"one of {', '.join(TRUE_WORDS)} (on) or {', '.join(FALSE_WORDS)} (off)")


def env_choice(
    name: str, choices: Sequence[str], default: str, environ: Optional[Mapping[str, str]] = None
) -> str:
    """`env_choice(name, choices, default) -> str`: one of `choices` (compared in lower case); EnvError otherwise."""
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
    """`env_number(name, default, *, minimum=None, above=None, integer=False, off=False) -> number | None`.

    A finite number >= `minimum` and > `above` (an int when `integer`); with `off`, the words `off`, `none`, `no`,
    `false` give None. EnvError names the variable, the value and the accepted range otherwise."""
    value = env_text(name, environ)
    if value is None:
        return default
    if off and value.lower() in ("off", "none", "no", "false"):
        return None
    kind = "a whole number" if integer else "a number"
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum:g}")
    if above is not None:
        bounds.append(f"> {above:g}")
    expected = kind + (f" {' and '.join(bounds)}" if bounds else "") + (" or off" if off else "")
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        raise _refused(name, value, expected) from None
    if not math.isfinite(number) or (minimum is not None and number < minimum) or (above is not None and number <= above):
        raise _refused(name, value, expected)
    return number

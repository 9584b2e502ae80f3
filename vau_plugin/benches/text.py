"""Annotation text the synthetic benches share: the words for people, directions and times, and the timing question.

The event simulators (`vau_plugin.benches.events`) write each event's own sentences; this module holds what
several of them, and several benches, say the same way: the sentence about the pedestrians who only walk past,
"from left to right", "a"/"an", and the timing question's start windows and option texts (motion and order
benches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from vau_plugin.benches.scene import ClipSpec
from vau_plugin.data.schema import LETTERS

_COUNT_WORDS = ("No", "One", "Two", "Three", "Four")
# Where the timing question's windows start (s) and the seconds left after them: the event simulators keep ~15%
# of the clip still before an event and need ~2.6 s for the longest default motion-bench event plus a tail.
WINDOW_LEAD_S = 1.0
WINDOW_TAIL_S = 3.0


class _Walking(Protocol):
    colour_name: str
    v: float


def article(word: str) -> str:
    """article(word) -> "an" before a vowel, else "a"."""
    return "an" if word[0].lower() in "aeiou" else "a"


def join_words(items: Sequence[str]) -> str:
    """join_words(["a", "b", "c"]) -> "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def direction_word(sign: float) -> str:
    """direction_word(sign) -> "from left to right" for a positive horizontal speed, else "from right to left"."""
    return "from left to right" if sign > 0 else "from right to left"


def background_sentence(walkers: Sequence[_Walking], ground: str) -> str:
    """The Description's sentence about the pedestrians who only walk past (up to four), walking on `ground`."""
    people = f"{_COUNT_WORDS[len(walkers)]} pedestrian{'s' if len(walkers) != 1 else ''} walk{'s' if len(walkers) == 1 else ''} at a steady pace"
    phrases = [f"a person in a {w.colour_name} shirt walks {direction_word(w.v)} along {ground}" for w in walkers]
    return f"{people}: {join_words(phrases)}." if walkers else f"{people}."


# --------------------------------------------------------------------------------------------- the timing question


def start_windows(spec: ClipSpec) -> list[tuple[float, float]]:
    """start_windows(spec) -> four [lo, hi) windows in seconds, in time order, for the timing question.

    They split [WINDOW_LEAD_S, seconds - WINDOW_TAIL_S) evenly; ValueError when a window would be shorter than
    two frames (the clip is too short or the frame rate too low)."""
    width = (spec.seconds - WINDOW_LEAD_S - WINDOW_TAIL_S) / len(LETTERS)
    if width * spec.fps < 2:
        raise ValueError(
            f"motion bench: {spec.seconds:g} s at {spec.fps:g} fps leaves start windows of {width:.2f} s; "
            f"need at least 2 frames each (use seconds >= {WINDOW_LEAD_S + WINDOW_TAIL_S + 8 / spec.fps:g})"
        )
    return [(round(WINDOW_LEAD_S + i * width, 3), round(WINDOW_LEAD_S + (i + 1) * width, 3)) for i in range(len(LETTERS))]


def window_option(window: tuple[float, float]) -> str:
    """window_option((lo, hi)) -> the option text of one start window."""
    return f"It starts between {window[0]:.1f} s and {window[1]:.1f} s"

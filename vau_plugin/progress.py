"""Progress lines on stderr for steps that may run long (reading big CSVs, looking up and probing videos, building
the tiny model): silent when quick, rate-limited otherwise, never on stdout.

Why not tqdm (installed with transformers), whose `delay` and `mininterval` give the quiet start and the rate limit:
- these are whole lines (``[vau-plugin] reading x.csv: 120,000 rows, 40% of the file (10 s)``), made for the logs
  this stderr usually ends in (CI, cluster jobs, ``2>log``); tqdm redraws one line with carriage returns, on a pipe
  too, so a log holds every overwritten state on one line;
- the steps have no total and often no count (a folder walk: entries and folders; the tiny model: named phases):
  the message is a sentence, built only when a line is due (`update` takes a function), not a bar with a rate;
- `ticking()` reports a step that cannot call back while it runs (training the tokenizer, initialising weights)
  from a heartbeat thread; tqdm draws only when it is updated.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional, Union

from vau_plugin._env import env_number

PROGRESS_ENV = "VAU_PROGRESS_S"
DEFAULT_PROGRESS_S = 5.0


def progress_interval_s() -> Optional[float]:
    """`progress_interval_s() -> seconds | None`: the time between progress lines, from $VAU_PROGRESS_S.

    Unset: DEFAULT_PROGRESS_S; 0: every update prints; `off`: no progress lines; anything else that is not a number
    >= 0 raises `vau_plugin._env.SettingError` naming the variable.
    """
    return env_number(PROGRESS_ENV, DEFAULT_PROGRESS_S, minimum=0, off=True)


class Progress:
    """Progress lines on stderr for a step that may run long: ``[vau-plugin] <label>: <message> (<n> s)``.

    Silent for the first `every_s` seconds (default: $VAU_PROGRESS_S or 5 s), then at most one line every
    `every_s` seconds, so a quick step prints nothing; `done()` closes with one line only when lines were
    printed. Never writes to stdout (a `--json` report stays one JSON object). `update` takes a string or a
    function making one, called only when a line is due; `ticking()` reports the current `step()` from a
    background thread while a call that cannot report (building a model, say) is busy.
    """

    def __init__(self, label: str, every_s: Optional[float] = None):
        self.label = label
        self.every_s = progress_interval_s() if every_s is None else every_s
        self.started = self._last = time.monotonic()
        self.printed = False
        self.current = ""
        self._lock = threading.Lock()

    def _emit(self, message: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._last = now
            self.printed = True
            try:
                print(f"[vau-plugin] {self.label}: {message} ({now - self.started:.0f} s)", file=sys.stderr, flush=True)
            except (OSError, ValueError):  # stderr closed or gone: progress is not worth failing for
                pass

    def update(self, message: Union[str, Callable[[], str]]) -> None:
        """Print `message` when a line is due (the first after `every_s` seconds, then every `every_s`)."""
        if self.every_s is None or time.monotonic() - self._last < self.every_s:
            return
        self._emit(message() if callable(message) else message)

    def step(self, message: str) -> None:
        """Name the step now running (what `ticking()` reports) and print it when a line is due."""
        self.current = message
        self.update(message)

    def done(self, message: str = "") -> None:
        """A closing line, only when earlier lines were printed (a quick step stays silent)."""
        if self.printed and self.every_s is not None:
            self._emit(f"{message}, done" if message else "done")

    @contextmanager
    def ticking(self) -> Iterator["Progress"]:
        """While the block runs, a background thread reports the current step every `every_s` seconds."""
        if self.every_s is None:
            yield self
            return
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(max(self.every_s, 0.05)):
                self.update(lambda: self.current or "working")

        thread = threading.Thread(target=tick, name="vau-progress", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()

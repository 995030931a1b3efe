"""What a ``fit`` prints while it runs: ``verbose`` lines and the progress display.

The fit's driver (:mod:`tinynet._fitting`) runs epochs in chunks between the points where
this module (or a callback) needs control; without either, a fit is one chunk, one call into
the backend (up to ``MAX_CHUNK`` epochs).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tinynet._settings import HISTORY_KEYS

# The progress display appears once a fit has run this long, and is redrawn about this often.
PROGRESS_AFTER_SECONDS = 1.0
PROGRESS_EVERY_SECONDS = 0.2


def format_metrics(values: dict[str, float]) -> str:
    """``loss 0.0123  mae 0.0456 ...`` for the measures present."""
    return "  ".join(f"{name} {values[name]:.6g}" for name in HISTORY_KEYS if name in values)


def progress_bar(done: int, total: int, width: int = 20) -> str:
    """``[#####---------------]``: ``done`` of ``total`` as a bar of ``width`` cells."""
    filled = width * done // total
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def end_line(err: TextIO) -> None:
    """End a progress display's line."""
    err.write("\n")
    err.flush()


def shows_progress(progress: bool | None, err: TextIO) -> bool:
    """Whether to show a progress line: ``progress``, or when it is None, whether ``err``
    is a terminal."""
    if progress is not None:
        return progress
    isatty = getattr(err, "isatty", None)
    return bool(isatty and isatty())


class Reporter:
    """Prints a line every ``verbose`` epochs to ``out``, and keeps a one-line progress
    display on ``err`` when ``progress`` (``None``: when ``err`` is a terminal) for fits
    that run longer than :data:`PROGRESS_AFTER_SECONDS`."""

    def __init__(
        self,
        epochs: int,
        verbose: int,
        progress: bool | None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.epochs = epochs
        self.verbose = verbose
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.progress = shows_progress(progress, self.err)
        self.started = time.perf_counter()
        self.seconds_per_epoch = 0.0
        self.shown = False

    def epochs_until_next(self, done: int) -> int:
        """How many epochs may run before the reporter needs control again."""
        chunk = self.epochs - done
        if self.verbose:
            chunk = min(chunk, self.verbose - done % self.verbose)
        if self.progress:
            if self.seconds_per_epoch == 0.0:
                return 1  # first, measure one epoch
            chunk = min(chunk, max(1, int(PROGRESS_EVERY_SECONDS / self.seconds_per_epoch)))
        return chunk

    def report(self, done: int, values: dict[str, float]) -> None:
        """After ``done`` epochs, whose last gave ``values``."""
        elapsed = time.perf_counter() - self.started
        self.seconds_per_epoch = elapsed / done
        if self.verbose and (done % self.verbose == 0 or done == self.epochs):
            self._clear()
            print(f"epoch {done}/{self.epochs}  {format_metrics(values)}", file=self.out)
        if self.progress and (self.shown or elapsed >= PROGRESS_AFTER_SECONDS):
            remaining = (self.epochs - done) * self.seconds_per_epoch
            self.err.write(
                f"\r{progress_bar(done, self.epochs)} epoch {done}/{self.epochs}  "
                f"{format_metrics(values)}"
                f"  {remaining:.0f} s left "
            )
            self.err.flush()
            self.shown = True

    def close(self) -> None:
        """End the progress display's line, if one was drawn."""
        if self.shown:
            end_line(self.err)
            self.shown = False

    def _clear(self) -> None:
        if self.shown:
            self.err.write("\r\033[K")
            self.err.flush()

"""Progress output for long runs (the report sweep, the quantization analysis): a one-line bar
on a terminal; on a pipe or log file a line per step (``every``: only each n-th and the last).

The library functions take a ``progress(done, total, text)`` callback; a :class:`Progress` is
one, and the CLI hands it to them. Thread-safe."""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    def __init__(self, label: str = "", stream=None, every: int | None = None):
        self._stream = sys.stderr if stream is None else stream      # resolved now, not at import
        self._label, self._every = label, every
        self._tty = hasattr(self._stream, "isatty") and self._stream.isatty()
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def __call__(self, done: int, total: int, text: str = "") -> None:
        with self._lock:
            elapsed = time.monotonic() - self._start
            prefix = f"{self._label}: " if self._label else ""
            every = self._every or 1
            if self._tty:
                filled = int(30 * done / max(1, total))
                self._stream.write(f"\r{prefix}[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} "
                                   f"{elapsed:.0f} s  {text[:50]}\033[K")
                if done == total:
                    self._stream.write("\n")
            elif done == total or done % every == 0:
                self._stream.write(f"{prefix}[{done}/{total} {elapsed:.0f} s] {text}\n")
            self._stream.flush()

    def log(self, text: str) -> None:
        """A note on its own line."""
        with self._lock:
            self._stream.write(text + "\n")
            self._stream.flush()

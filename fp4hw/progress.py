"""Progress output for long runs (the report sweep, the quantization analysis): a one-line bar
on a terminal; on a pipe or log file a line per step (``every``: only each n-th and the last)."""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    def __init__(self, total: int, label: str = "", stream="stderr", every: int = 1):
        self._stream = sys.stderr if stream == "stderr" else stream      # resolved now, not at import
        self._total, self._done, self._label, self._every = total, 0, label, max(1, every)
        self._tty = self._stream is not None and hasattr(self._stream, "isatty") and self._stream.isatty()
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def step(self, text: str = "") -> None:
        """One step done (thread-safe); ``text`` says which."""
        with self._lock:
            self._done += 1
            if self._stream is None:
                return
            elapsed = time.monotonic() - self._start
            prefix = f"{self._label}: " if self._label else ""
            if self._tty:
                filled = int(30 * self._done / self._total)
                self._stream.write(f"\r{prefix}[{'#' * filled}{'.' * (30 - filled)}] {self._done}/{self._total} "
                                   f"{elapsed:.0f} s  {text[:50]}\033[K")
                if self._done == self._total:
                    self._stream.write("\n")
            elif self._done == self._total or self._done % self._every == 0:
                self._stream.write(f"{prefix}[{self._done}/{self._total} {elapsed:.0f} s] {text}\n")
            self._stream.flush()

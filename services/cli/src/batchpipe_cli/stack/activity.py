"""What the stack is busy with right now: which component, since when, what it waits for.

``manager.up`` and ``ensure_airflow`` say which component they start; ``wait_until`` says what
its readiness probe last answered. The CLI's status line (``console.live_status``) reads it
from its refresh thread, so a long wait shows where it stands instead of staying silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Activity:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._component: str | None = None
        self._since = 0.0
        self._detail = ""

    @contextmanager
    def starting(self, component: str) -> Iterator[None]:
        """Mark ``component`` as the one being started for the duration of the block."""
        with self._lock:
            self._component, self._since, self._detail = component, time.monotonic(), ""
        try:
            yield
        finally:
            with self._lock:
                self._component, self._detail = None, ""

    def note(self, detail: str) -> None:
        """What the current wait is at (a probe's last answer)."""
        with self._lock:
            self._detail = detail

    def elapsed(self) -> float:
        with self._lock:
            return time.monotonic() - self._since if self._component else 0.0

    def describe(self) -> str:
        """``starting kafka (12s): waiting for kafka: KafkaConnectionError ...``, or ''."""
        with self._lock:
            if self._component is None:
                return ""
            seconds = time.monotonic() - self._since
            line = f"starting {self._component} ({seconds:.0f}s)"
            return f"{line}: {self._detail}" if self._detail else line


ACTIVITY = Activity()

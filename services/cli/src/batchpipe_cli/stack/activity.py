"""What the stack is busy with right now: which components, since when, what each waits for.

``manager.up`` and ``ensure_airflow`` say which component they start (several at once, one
per thread); ``wait_until`` says what its readiness probe last answered, for the component its
thread starts. The CLI's status line (``console.live_status``) reads it from its refresh
thread, so a long wait shows where it stands instead of staying silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class _Start:
    component: str
    since: float
    detail: str = ""


class Activity:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starts: dict[int, _Start] = {}
        """by thread: the component that thread starts"""

    @contextmanager
    def starting(self, component: str) -> Iterator[None]:
        """Mark ``component`` as being started (by this thread) for the duration of the block."""
        thread = threading.get_ident()
        with self._lock:
            self._starts[thread] = _Start(component, time.monotonic())
        try:
            yield
        finally:
            with self._lock:
                self._starts.pop(thread, None)

    def note(self, detail: str) -> None:
        """What this thread's current wait is at (a probe's last answer)."""
        with self._lock:
            start = self._starts.get(threading.get_ident())
            if start is not None:
                start.detail = detail

    def elapsed(self) -> float:
        """Seconds since this thread began starting its component (0 outside ``starting``)."""
        with self._lock:
            start = self._starts.get(threading.get_ident())
            return time.monotonic() - start.since if start else 0.0

    def describe(self) -> str:
        """``starting kafka (12s): waiting for kafka: KafkaConnectionError ... · starting s3
        (3s)``, or ''."""
        now = time.monotonic()
        with self._lock:
            starts = sorted(self._starts.values(), key=lambda s: s.since)
        lines = []
        for start in starts:
            line = f"starting {start.component} ({now - start.since:.0f}s)"
            lines.append(f"{line}: {start.detail}" if start.detail else line)
        return " · ".join(lines)


ACTIVITY = Activity()

"""structlog configuration: JSON lines in containers, readable console output by hand.

Every log line of a run carries the batch id: bind it with
``structlog.contextvars.bind_contextvars(batch_id=...)`` (or ``bound_batch``).

While a broker is down, aiokafka repeats the same two errors in a tight loop (about 2,000
lines a second, measured in the Kafka-restart fault test). ``RepeatedMessageFilter`` lets
each distinct message of a noisy library through once per window, and the next copy after
the window says how many were dropped, so an outage stays visible without filling the disk.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator

import orjson
import structlog


def _orjson_dumps(obj: object, default: object = None) -> str:
    return orjson.dumps(obj, default=default).decode()  # type: ignore[arg-type]


class RepeatedMessageFilter(logging.Filter):
    """Drops copies of a message seen less than ``window`` seconds ago, from loggers under
    ``prefixes``; the first copy let through after the window carries the dropped count."""

    MAX_TRACKED = 1024

    def __init__(
        self,
        prefixes: tuple[str, ...] = ("aiokafka",),
        window: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        message = record.getMessage()
        key = (record.name, record.levelno, message)
        now = self.clock()
        with self._lock:
            shown_at, dropped = self._seen.get(key, (None, 0))
            if shown_at is not None and now - shown_at < self.window:
                self._seen[key] = (shown_at, dropped + 1)
                return False
            if len(self._seen) >= self.MAX_TRACKED:
                self._seen.clear()
            self._seen[key] = (now, 0)
        if dropped:
            record.msg = f"{message} (repeated {dropped} more times in {self.window:g} s)"
            record.args = ()
        return True


def configure_logging(service: str, fmt: str = "json", level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger (uvicorn, aiokafka) the same way."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    handler.addFilter(RepeatedMessageFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiokafka").setLevel(max(logging.getLevelName(level), logging.WARNING))
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("aiobotocore").setLevel(logging.WARNING)


@contextlib.contextmanager
def bound_batch(batch_id: str, **extra: object) -> Iterator[None]:
    """Bind ``batch_id`` (and extras) to every log line inside the block."""
    with structlog.contextvars.bound_contextvars(batch_id=batch_id, **extra):
        yield

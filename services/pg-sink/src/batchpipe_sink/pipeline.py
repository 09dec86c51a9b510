"""Units of polls applied by several connections at once, with no barrier between polls.

The consumer puts each poll's units (a big partition each, the small ones together,
``polling.units``) here and goes on fetching. Up to ``workers`` units run at once, each in its
own transaction on its own connection. A partition has at most one unit running and its units
run in the order they were put, so that its offsets advance without gaps and a chunk and its
redeliveries (same key, same partition) never meet in two open transactions. A worker that
finishes takes the oldest queued unit none of whose partitions is running or waits behind an
older unit, whichever poll it came from: one slow transaction holds up only its own
partitions, never the other connection.

When a unit fails, the pipeline halts: no new unit starts, the failed unit goes back to the
head of the queue (still the first of its partitions), and the consumer waits for the running
ones, holds, and calls ``resume``. What the failed transaction did not commit is applied on the
retry; what it did commit is skipped as duplicates (the chunk claims in ``Loader``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from aiokafka.structs import TopicPartition

from batchpipe_sink.polling import Unit

Apply = Callable[[Unit], Awaitable[None]]


class Pipeline:
    def __init__(self, workers: int, apply: Apply) -> None:
        self._workers = workers
        self._apply = apply
        self._queue: deque[Unit] = deque()
        self._running: dict[Unit, asyncio.Task[None]] = {}
        self._busy: set[TopicPartition] = set()
        self._failure: BaseException | None = None
        self._changed = asyncio.Event()

    @property
    def failure(self) -> BaseException | None:
        """The first failure since the last ``resume`` (the pipeline is halted while set)."""
        return self._failure

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        return not self._queue and not self._running

    def put(self, units: Iterable[Unit]) -> None:
        self._queue.extend(units)
        self._start()

    def resume(self) -> None:
        """Start the queued units again after a failure."""
        self._failure = None
        self._start()

    async def wait_for_room(self) -> None:
        """Until a connection is free and no unit waits (then the next poll is taken), or
        halted. A sink that keeps up with the producer thus polls what arrived while its
        connections were busy, in few transactions, not one per chunk."""
        await self._until(
            lambda: (
                (not self._queue and len(self._running) < self._workers)
                or self._failure is not None
            )
        )

    async def drain(self) -> None:
        """Until every queued unit has been applied, or the pipeline halted and nothing runs."""
        await self._until(
            lambda: not self._running and (not self._queue or self._failure is not None)
        )

    async def settle(self) -> None:
        """Until nothing runs (queued units stay queued)."""
        await self._until(lambda: not self._running)

    async def finish(self, tps: set[TopicPartition]) -> None:
        """Until every unit of ``tps`` has been applied, or, halted, none of them runs.

        A partition's queued units are never dropped: the consumer's position is already past
        their records, and a later unit of the partition (a poll fetched before a rebalance that
        gave the partition back) would otherwise commit an offset past records nobody applied.
        Units of a partition that moved to another member are applied all the same; its claims
        make that harmless, and their offsets are not committed."""

        def done() -> bool:
            if self._busy & tps:
                return False
            return self._failure is not None or not any(u.tps & tps for u in self._queue)

        await self._until(done)

    async def stop(self) -> None:
        """Drop the queue and wait for the running units."""
        self._queue.clear()
        await self.settle()

    async def _until(self, done: Callable[[], bool]) -> None:
        while not done():
            self._changed.clear()
            await self._changed.wait()

    def _start(self) -> None:
        if self._failure is not None:
            return
        while len(self._running) < self._workers:
            unit = self._next()
            if unit is None:
                return
            self._queue.remove(unit)
            self._busy |= unit.tps
            self._running[unit] = asyncio.create_task(self._run(unit), name="pg-sink-apply")

    def _next(self) -> Unit | None:
        """The oldest queued unit that no running or older queued unit shares a partition with."""
        blocked = set(self._busy)
        for unit in self._queue:
            if not blocked & unit.tps:
                return unit
            blocked |= unit.tps
        return None

    async def _run(self, unit: Unit) -> None:
        try:
            await self._apply(unit)
        except Exception as exc:
            self._queue.appendleft(unit)
            if self._failure is None:
                self._failure = exc
        finally:
            del self._running[unit]
            self._busy -= unit.tps
            self._changed.set()
            self._start()

"""What the consumer reports about itself, and how long it waits between held attempts."""

from __future__ import annotations

from pydantic import BaseModel


class ConsumerState(BaseModel):
    instance_id: str
    group_id: str
    running: bool
    paused: bool
    held: str | None
    refused_contracts: dict[str, str]
    assignment: list[str]


class Backoff:
    """Exponential backoff between attempts while the consumer is held."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial, self._max = initial, maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._max, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self._initial

"""The state of a sink consumer group, read from its replicas' ``GET /v1/consumer``."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from tests.support.services import HttpService


def group_settled(sinks: Sequence[HttpService], topic: str, partitions: int = 6) -> bool:
    """Every replica owns data partitions, none twice, all of them covered."""
    owned: list[str] = []
    for sink in sinks:
        try:
            response = sink.get("/v1/consumer")
        except httpx.HTTPError:
            return False
        if response.status_code != 200:
            return False
        mine = [p for p in response.json()["assignment"] if p.rsplit(":", 1)[0] == topic]
        if not mine:
            return False
        owned.extend(mine)
    return len(owned) == len(set(owned)) == partitions

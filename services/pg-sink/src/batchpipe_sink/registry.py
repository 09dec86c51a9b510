"""The contracts the sink consumes, followed from the contracts folder while it runs.

``ContractRegistry`` owns the answer to "which topics does this replica read, and as what": it
creates or evolves each contract's raw table (a table that cannot follow its contract refuses
the contract, named in ``refused`` and on ``/readyz``), creates a new contract's topics when
they are missing, and builds the ``TopicMap`` the consumer decodes with. The consumer asks it
between polls (``sink_contracts_poll_s``) whether the folder changed; re-subscribing is the
consumer's part.
"""

from __future__ import annotations

import time

import asyncpg
import structlog

from batchpipe_common.contract_folder import ContractFolder
from batchpipe_common.contracts import Contract
from batchpipe_common.provision.topics import contract_topic_specs, ensure_topics
from batchpipe_sink import metrics
from batchpipe_sink.messages import TopicMap
from batchpipe_sink.schema import SchemaMismatch, ensure_raw_table
from batchpipe_sink.settings import SinkSettings

log = structlog.get_logger(__name__)


class ContractRegistry:
    def __init__(self, settings: SinkSettings, folder: ContractFolder) -> None:
        self._settings = settings
        self._folder = folder
        self._contracts = folder.current()
        self._next_look = 0.0
        self.refused: dict[str, str] = {}

    def names(self) -> list[str]:
        return sorted(self._contracts)

    async def reconcile(self, conn: asyncpg.Connection) -> TopicMap:
        """Create or evolve each contract's raw table; the map of the contracts accepted."""
        accepted: list[Contract] = []
        self.refused.clear()
        for contract in self._contracts.values():
            try:
                added = await ensure_raw_table(conn, contract)
            except SchemaMismatch as exc:
                self.refused[contract.name] = str(exc)
                log.error("contract refused; its topics are not consumed", error=str(exc))
                continue
            if added:
                log.info("raw table evolved", table=contract.raw_table, added=added)
            accepted.append(contract)
        metrics.CONTRACTS_REFUSED.set(len(self.refused))
        return TopicMap.build(accepted, self._settings.manifests_topic)

    def due(self) -> bool:
        """Time to look at the folder again."""
        return time.monotonic() >= self._next_look

    def changed(self) -> bool:
        """Whether the folder holds other contracts than the ones in use (looks now)."""
        self._next_look = time.monotonic() + self._settings.sink_contracts_poll_s
        current = self._folder.current()
        if current == self._contracts:
            return False
        self._contracts = current
        return True

    def retry_later(self, previous: dict[str, Contract]) -> None:
        """Taking the new contracts in failed: keep ``previous`` so the next look retries."""
        self._contracts = previous

    def snapshot(self) -> dict[str, Contract]:
        return dict(self._contracts)

    async def ensure_topics(self) -> None:
        """The data and dead-letter topics of every contract, created when missing."""
        s = self._settings
        specs = [
            spec
            for c in self._contracts.values()
            for spec in contract_topic_specs(c, s.data_topic_partitions, s.dlq_topic_partitions)
        ]
        await ensure_topics(s.kafka_bootstrap, specs, timeout_s=s.sink_kafka_timeout_s)

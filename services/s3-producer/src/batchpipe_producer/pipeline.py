"""One run, end to end: stream the object, parse on a worker thread, send, close with a manifest.

The event loop reads S3 and talks to Kafka; the parsing, validation and serialization (CPU
work) run on a worker thread so that sends and acknowledgements keep flowing meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer

from batchpipe_common.wire import Manifest, PartitionOffsets
from batchpipe_producer.chunks import BatchWriter, RunIdentity
from batchpipe_producer.errors import UnreadableSource
from batchpipe_producer.formats import produce
from batchpipe_producer.runs import Run
from batchpipe_producer.sender import KafkaSender, ThreadOutbox
from batchpipe_producer.settings import ProducerSettings
from batchpipe_producer.source import ObjectStream, decompressed

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Pipeline:
    settings: ProducerSettings
    s3: Any
    producer: AIOKafkaProducer

    async def __call__(self, run: Run) -> Manifest:
        settings = self.settings
        response = await self.s3.get_object(Bucket=run.bucket, Key=run.key)
        body = response["Body"]
        run.progress.bytes_total = int(response.get("ContentLength", 0))
        loop = asyncio.get_running_loop()
        sender = KafkaSender(self.producer, settings.producer_max_in_flight)
        outbox = ThreadOutbox(sender, loop)
        writer = BatchWriter(
            RunIdentity(run.batch_id, run.contract, run.source_uri),
            outbox,
            max_rows=settings.producer_chunk_rows,
            max_bytes=settings.producer_chunk_bytes,
            progress=run.progress,
            cancel=run.cancel,
        )
        stream = ObjectStream(body, loop, run.progress, run.cancel, run.contract.name)
        stream.start()
        try:
            await asyncio.to_thread(_parse, stream, run, writer, settings.producer_spool_dir)
        except BaseException:
            await asyncio.shield(_settle(outbox, sender))
            raise
        finally:
            await stream.stop()
        await outbox.handed_over()
        await sender.drain()
        digest = stream.sha256.hexdigest()
        if digest != run.sha256:
            raise UnreadableSource(
                f"the object's content has sha256 {digest}, not {run.sha256} as its metadata says"
            )
        progress = run.progress
        manifest = Manifest(
            batch_id=run.batch_id,
            dataset=run.contract.name,
            contract_version=run.contract.version,
            source_uri=run.source_uri,
            sha256=run.sha256,
            rows_read=progress.rows_read,
            rows_valid=progress.rows_valid,
            rows_rejected=progress.rows_rejected,
            chunk_count=writer.chunk_seq,
            data=PartitionOffsets(topic=run.contract.topic, offsets=sender.last_offsets["chunk"]),
            dlq=PartitionOffsets(
                topic=run.contract.dlq_topic, offsets=sender.last_offsets["dead_letter"]
            ),
        )
        sent = await self.producer.send(
            settings.manifests_topic, manifest.to_bytes(), key=run.batch_id.encode()
        )
        await sent
        log.info("manifest sent", chunks=manifest.chunk_count, rows_valid=manifest.rows_valid)
        return manifest


async def _settle(outbox: ThreadOutbox, sender: KafkaSender) -> None:
    """After a failed parse, wait for what is in flight so no send outlives its run."""
    try:
        await outbox.handed_over()
    except Exception as exc:
        log.warning("handing over sends failed after the run failed", error=str(exc))
    try:
        await sender.drain()
    except Exception as exc:
        log.warning("in-flight sends failed after the run failed", error=str(exc))


def _parse(stream: ObjectStream, run: Run, writer: BatchWriter, spool_dir: Path | None) -> None:
    with decompressed(stream, run.key) as content:
        produce(run.format, content, writer, spool_dir)
    stream.drain()

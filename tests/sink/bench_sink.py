"""Benchmark: rows/s of the pg-sink loading a batch already in Kafka, against server-side COPY.

Not a test (no timing assertions): ``python -m tests.sink.bench_sink [ROWS]`` with the stack's
``BATCHPIPE_STACK_DIR`` exported. It produces ROWS generated bank rows (default 1,000,000) as
10,000-row chunks to a private topic while one sink replica is paused, then resumes the sink and
times until the ledger says loaded. For comparison it times ``COPY ... FROM '<file>'`` of the
same CSV (server side, superuser) into a table of the same shape.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from batchpipe_cli.stack.envfile import read_env_file
from batchpipe_common.ddl import BATCH_ID_SETTING, raw_table_ddl
from batchpipe_common.kafka import admin_client, reliable_producer
from batchpipe_common.settings import REPO_ROOT, EndpointSettings, load_settings
from tests.sink.conftest import Dataset, free_port, write_contract
from tests.sink.wire_producer import BankBatch, chunk_csv, generated_rows


async def server_side_copy(admin_dsn: str, batch: BankBatch, directory: Path) -> float:
    """Seconds for PostgreSQL to COPY the batch's CSV from a file into a fresh table."""
    contract = batch.contract
    path = directory / "bench.csv"
    path.write_bytes(chunk_csv(contract.wire_columns, [(*r, str(i)) for i, r in batch.valid]))
    path.chmod(0o644)
    directory.chmod(0o755)
    conn = await asyncpg.connect(admin_dsn)
    try:
        table = f"{contract.raw_table}_copy"
        ddl = raw_table_ddl(contract).replace(
            contract.raw_table_name, contract.raw_table_name + "_copy", 1
        )
        await conn.execute(ddl)
        cols = ", ".join(contract.wire_columns)
        await conn.execute("SELECT set_config($1, $2, false)", BATCH_ID_SETTING, batch.batch_id)
        started = time.perf_counter()
        await conn.execute(f"COPY {table} ({cols}) FROM '{path}' (FORMAT csv, HEADER true)")
        elapsed = time.perf_counter() - started
        await conn.execute(f"DROP TABLE {table}")
        return elapsed
    finally:
        await conn.close()


async def drop_bench_data(admin_dsn: str, batch: BankBatch) -> None:
    """Leave no trace: the raw table and the batch's bookkeeping rows."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {batch.contract.raw_table}")
        for table in ("chunks", "rejects", "batches"):
            await conn.execute(f"DELETE FROM batchpipe.{table} WHERE batch_id = $1", batch.batch_id)
    finally:
        await conn.close()


async def main(rows: int) -> None:
    state = Path(os.environ.get("BATCHPIPE_STACK_DIR", REPO_ROOT / ".stack"))
    env = read_env_file(str(state / "env"))
    os.environ.update(env)
    endpoints = load_settings(EndpointSettings)
    work = Path(tempfile.mkdtemp(prefix="bench-sink-"))
    name = f"bench_{int(time.time())}"
    contract = write_contract(work / "contracts", name)
    dataset = Dataset(contract, work / "contracts", f"bench-{name}")
    from aiokafka.admin import NewTopic

    admin = admin_client(endpoints)
    await admin.start()
    await admin.create_topics([NewTopic(contract.topic, 6, 1), NewTopic(contract.dlq_topic, 3, 1)])
    batch = BankBatch(contract, generated_rows(rows), chunk_rows=10_000)
    copy_s = await server_side_copy(env["BATCHPIPE_PG_ADMIN_DSN"], batch, work)

    port = free_port()
    log = (work / "sink.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "uvicorn"),
        "batchpipe_sink.app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        stdout=log,
        stderr=log,
        env={
            **os.environ,
            "BATCHPIPE_CONTRACTS_DIR": str(dataset.contracts_dir),
            "BATCHPIPE_SINK_GROUP_ID": dataset.group_id,
            "BATCHPIPE_INSTANCE_ID": "bench",
        },
    )
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {env['BATCHPIPE_API_TOKEN']}"}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while True:
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            await http.post("/v1/pause", headers=auth)
            producer = reliable_producer(endpoints)
            await producer.start()
            await batch.send_all(producer, endpoints.manifests_topic)
            await producer.stop()
            started = time.perf_counter()
            await http.post("/v1/resume", headers=auth)
            while (await http.get(f"/v1/batches/{batch.batch_id}")).json().get(
                "status"
            ) != "loaded":
                await asyncio.sleep(0.05)
            sink_s = time.perf_counter() - started
            for line in (await http.get("/metrics")).text.splitlines():
                if line.startswith(
                    ("batchpipe_sink_transaction_seconds_", "batchpipe_sink_copy_seconds_")
                ) and ("_sum" in line or "_count" in line):
                    print(line)
    finally:
        proc.terminate()
        await proc.wait()
        await admin.delete_topics([contract.topic, contract.dlq_topic])
        await admin.close()
        await drop_bench_data(env["BATCHPIPE_PG_ADMIN_DSN"], batch)
        shutil.rmtree(work, ignore_errors=True)
    n = len(batch.valid)
    print(f"rows: {n}")
    print(f"server-side COPY: {copy_s:.2f}s = {n / copy_s:,.0f} rows/s")
    print(f"pg-sink:          {sink_s:.2f}s = {n / sink_s:,.0f} rows/s")
    print(f"ratio sink/COPY:  {copy_s / sink_s:.2f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000))

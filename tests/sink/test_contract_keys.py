"""Every contract key for real-world files, through the real uploader, s3-producer and pg-sink:
a file that uses the key loads with the counts and sums computed from the file; a file that
breaks it has its bad rows rejected with a reason naming the column and the expected form."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from batchpipe_common.contracts import Contract, load_contract
from batchpipe_common.kafka import admin_client
from batchpipe_common.settings import EndpointSettings
from tests.sink.checks import wait_loaded
from tests.sink.conftest import ServiceProcess, spawn_app, stop_all, wait_ready

pytestmark = pytest.mark.integration

CONTRACTS = {
    "nulls": """
null_values: ["", "NA", "N/A", "-", "\\\\N"]
columns:
  - {source: id, name: id, type: integer, nullable: false}
  - {source: amount, name: amount, type: "numeric(10,2)"}
  - {source: qty, name: qty, type: integer}
  - {source: note, name: note, type: text, null_values: ["NULL"]}
""",
    "formats": """
columns:
  - {source: day, name: day, type: date, format: "%d/%m/%Y", nullable: false}
  - {source: at, name: at, type: timestamp, format: "%m/%d/%Y %H:%M"}
  - {source: local, name: local_at, type: timestamptz, timezone: Europe/Paris}
  - {source: epoch, name: epoch_at, type: timestamptz, format: epoch_seconds}
  - {source: ms, name: ms_at, type: timestamp, format: epoch_millis}
""",
    "booleans": """
columns:
  - {source: id, name: id, type: integer}
  - {source: flag, name: flag, type: boolean, true_values: [oui, vrai], false_values: [non, faux]}
""",
    "dialect": """
dialect: {delimiter: ";", skip_rows: 2, trim: true, escape: "\\\\", comment: "#"}
decimal_separator: ","
extra_columns: ignore
columns:
  - {source: name, name: name, type: text}
  - {source: amount, name: amount, type: "numeric(10,2)"}
  - {source: ratio, name: ratio, type: double}
""",
}


@dataclass
class Stack:
    contracts: dict[str, Contract]
    uploader: ServiceProcess
    producer: ServiceProcess
    sink: ServiceProcess


def _write_contracts(directory: Path, prefix: str) -> dict[str, Contract]:
    directory.mkdir(parents=True)
    contracts = {}
    for key, body in CONTRACTS.items():
        name = f"{prefix}_{key}"
        text = f"name: {name}\nversion: 1\nformat: csv\n{body.strip()}\n"
        text += f"raw_table: raw.{name}\ntopic: {name}\n"
        (directory / f"{name}.yaml").write_text(text)
        contracts[key] = load_contract(directory / f"{name}.yaml")
    return contracts


async def _topics(endpoints: EndpointSettings, contracts: list[Contract], create: bool) -> None:
    from aiokafka.admin import NewTopic

    admin = admin_client(endpoints)
    await admin.start()
    try:
        if create:
            await admin.create_topics(
                [NewTopic(c.topic, num_partitions=3, replication_factor=1) for c in contracts]
                + [NewTopic(c.dlq_topic, num_partitions=1, replication_factor=1) for c in contracts]
            )
        else:
            await admin.delete_topics([t for c in contracts for t in (c.topic, c.dlq_topic)])
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def stack(
    stack_env: dict[str, str], endpoints: EndpointSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Uploader, s3-producer and pg-sink on four fresh datasets, one per group of keys."""
    tmp = tmp_path_factory.mktemp("contract-keys")
    prefix = f"ck_{uuid.uuid4().hex[:8]}"
    contracts = _write_contracts(tmp / "contracts", prefix)
    asyncio.run(_topics(endpoints, list(contracts.values()), create=True))
    env = {
        **os.environ,
        **stack_env,
        "BATCHPIPE_CONTRACTS_DIR": str(tmp / "contracts"),
        "BATCHPIPE_SINK_GROUP_ID": f"test-{prefix}",
        "BATCHPIPE_LOG_FORMAT": "json",
    }
    token = stack_env["BATCHPIPE_API_TOKEN"]
    services = [
        spawn_app(f"batchpipe_{app}.app:app", app, env, tmp, token)
        for app in ("uploader", "producer", "sink")
    ]
    try:
        for service in services:
            wait_ready(service)
        yield Stack(contracts, *services)
    finally:
        stop_all(services)
        asyncio.run(_topics(endpoints, list(contracts.values()), create=False))


async def _load(stack: Stack, key: str, data: bytes) -> tuple[str, dict[str, Any]]:
    """Upload ``data`` for the dataset of ``key``, run it, wait until the sink loaded it."""
    dataset = stack.contracts[key].name
    auth = {"Authorization": f"Bearer {stack.uploader.token}"}
    async with httpx.AsyncClient(headers=auth, timeout=60) as client:
        upload = await client.post(
            f"{stack.uploader.url}/v1/uploads",
            params={"dataset": dataset, "file_name": f"{key}-{uuid.uuid4().hex[:6]}.csv"},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert upload.status_code == 200, upload.text
        run = await client.post(
            f"{stack.producer.url}/v1/runs",
            json={"s3_uri": upload.json()["s3_uri"], "dataset": dataset},
        )
        assert run.status_code == 202, run.text
    batch_id: str = run.json()["batch_id"]
    return batch_id, await wait_loaded(stack.sink, batch_id, timeout=180)


async def _rejects(conn: asyncpg.Connection, batch_id: str) -> dict[int, list[dict[str, Any]]]:
    rows = await conn.fetch(
        "SELECT source_row, errors FROM batchpipe.rejects WHERE batch_id = $1", batch_id
    )
    return {r["source_row"]: json.loads(r["errors"]) for r in rows}


async def _one(conn: asyncpg.Connection, sql: str, batch_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(sql, batch_id)
    assert row is not None
    return row


def _csv(header: list[str], rows: list[list[str]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


# -- null_values ----------------------------------------------------------------------------

MARKERS = ["", "NA", "N/A", "-", "\\N"]


async def test_null_markers_load_as_null(stack: Stack, warehouse: asyncpg.Connection) -> None:
    rng = random.Random(19)
    rows = []
    for i in range(1, 3001):
        amount = rng.choice(MARKERS) if i % 7 == 0 else f"{rng.randint(0, 99999)}.{i % 100:02d}"
        qty = rng.choice(MARKERS) if i % 5 == 0 else str(rng.randint(-50, 50))
        note = rng.choice(["NULL", "NA", "text", ""])
        rows.append([str(i), amount, qty, note])
    batch_id, ledger = await _load(stack, "nulls", _csv(["id", "amount", "qty", "note"], rows))

    amounts = [Decimal(r[1]) for r in rows if r[1] not in MARKERS]
    quantities = [int(r[2]) for r in rows if r[2] not in MARKERS]
    got = await _one(
        warehouse,
        f"SELECT count(*) n, count(amount) a, sum(amount) sa, count(qty) q, sum(qty) sq,"
        f" count(note) notes, count(*) FILTER (WHERE note = 'NA') na,"
        f" count(*) FILTER (WHERE note = '') empty"
        f" FROM {stack.contracts['nulls'].raw_table} WHERE _batch_id = $1",
        batch_id,
    )
    assert ledger["loaded"]["rows"] == got["n"] == len(rows)
    assert (got["a"], got["sa"]) == (len(amounts), sum(amounts))
    assert (got["q"], got["sq"]) == (len(quantities), sum(quantities))
    assert got["notes"] == sum(1 for r in rows if r[3] != "NULL")  # the column's own list
    assert got["na"] == sum(1 for r in rows if r[3] == "NA")
    assert got["empty"] == sum(1 for r in rows if r[3] == "")


async def test_undeclared_markers_are_rejected(stack: Stack, warehouse: asyncpg.Connection) -> None:
    rows = [["1", "1.00", "1", "a"], ["NA", "2.00", "2", "b"], ["3", "3.00", "n/a", "c"]]
    batch_id, ledger = await _load(stack, "nulls", _csv(["id", "amount", "qty", "note"], rows))
    rejects = await _rejects(warehouse, batch_id)
    assert ledger["loaded"]["rows"] == 1
    assert rejects[2] == [
        {"column": "id", "value": "NA", "reason": "missing value for a non-nullable column"}
    ]
    assert rejects[3] == [{"column": "qty", "value": "n/a", "reason": "not an integer"}]


# -- format and timezone --------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")


async def test_formats_epochs_and_timezones(stack: Stack, warehouse: asyncpg.Connection) -> None:
    rng = random.Random(20)
    rows, moments = [], []
    for _ in range(2000):
        moment = datetime(2020, 1, 1) + (datetime(2025, 1, 1) - datetime(2020, 1, 1)) * rng.random()
        moment = moment.replace(second=0, microsecond=0)
        moments.append(moment)
        epoch = int(moment.replace(tzinfo=UTC).timestamp())
        rows.append(
            [
                moment.strftime("%d/%m/%Y"),
                moment.strftime("%m/%d/%Y %H:%M"),
                moment.isoformat(sep=" "),
                str(epoch),
                str(epoch * 1000 + 250),
            ]
        )
    header = ["day", "at", "local", "epoch", "ms"]
    batch_id, ledger = await _load(stack, "formats", _csv(header, rows))

    got = await _one(
        warehouse,
        f"SELECT count(*) n, sum(day - date '1970-01-01') days, sum(extract(epoch FROM at)) at,"
        f" sum(extract(epoch FROM local_at)) local, sum(extract(epoch FROM epoch_at)) epoch,"
        f" sum(extract(epoch FROM ms_at)) ms"
        f" FROM {stack.contracts['formats'].raw_table} WHERE _batch_id = $1",
        batch_id,
    )
    utc = [int(m.replace(tzinfo=UTC).timestamp()) for m in moments]
    assert ledger["loaded"]["rows"] == got["n"] == len(rows)
    assert got["days"] == sum((m.date() - date(1970, 1, 1)).days for m in moments)
    assert got["at"] == got["epoch"] == sum(utc)
    assert got["local"] == sum(int(m.replace(tzinfo=PARIS).timestamp()) for m in moments)
    assert got["ms"] == sum(utc) + Decimal("0.25") * len(rows)


async def test_values_not_in_the_declared_format_are_rejected(
    stack: Stack, warehouse: asyncpg.Connection
) -> None:
    good = ["31/01/2024", "01/31/2024 13:05", "2024-01-31 13:05", "1706706300", "1706706300000"]
    breaks = {
        "day": ("2024-01-31", "not a date in the format '%d/%m/%Y'"),
        "at": ("31/01/2024 13:05", "not a timestamp in the format '%m/%d/%Y %H:%M'"),
        "local": ("31.01.2024", "not an ISO 8601 timestamp"),
        "epoch": ("2024-01-31", "not an integer count of seconds since 1970-01-01 (epoch_seconds)"),
        "ms": ("1.5", "not an integer count of milliseconds since 1970-01-01 (epoch_millis)"),
    }
    header = list(breaks)
    rows = [good]
    for index, (value, _) in enumerate(breaks.values()):
        rows.append([value if i == index else v for i, v in enumerate(good)])
    batch_id, ledger = await _load(stack, "formats", _csv(header, rows))
    rejects = await _rejects(warehouse, batch_id)
    assert ledger["loaded"]["rows"] == 1
    names = {"local": "local_at", "epoch": "epoch_at", "ms": "ms_at"}
    for row, (source, (value, reason)) in enumerate(breaks.items(), start=2):
        assert rejects[row] == [
            {"column": names.get(source, source), "value": value, "reason": reason}
        ]


# -- true_values / false_values -------------------------------------------------------------


async def test_declared_booleans(stack: Stack, warehouse: asyncpg.Connection) -> None:
    rng = random.Random(21)
    words = ["oui", "vrai", "non", "faux", "OUI", " Non ", ""]
    rows = [[str(i), rng.choice(words)] for i in range(1, 2001)]
    batch_id, ledger = await _load(stack, "booleans", _csv(["id", "flag"], rows))
    got = await _one(
        warehouse,
        f"SELECT count(*) n, count(*) FILTER (WHERE flag) t, count(*) FILTER (WHERE NOT flag) f"
        f" FROM {stack.contracts['booleans'].raw_table} WHERE _batch_id = $1",
        batch_id,
    )
    truth = [r[1].strip().lower() for r in rows]
    assert ledger["loaded"]["rows"] == got["n"] == len(rows)
    assert got["t"] == sum(1 for t in truth if t in ("oui", "vrai"))
    assert got["f"] == sum(1 for t in truth if t in ("non", "faux"))

    batch_id, ledger = await _load(stack, "booleans", _csv(["id", "flag"], [["1", "yes"]]))
    assert (await _rejects(warehouse, batch_id))[1] == [
        {"column": "flag", "value": "yes", "reason": "not a boolean (oui/non, vrai/faux)"}
    ]


# -- dialect: skip_rows, comment, trim, escape; decimal_separator; extra_columns -------------


async def test_dialect_keys_decimal_comma_and_ignored_columns(
    stack: Stack, warehouse: asyncpg.Connection
) -> None:
    rng = random.Random(22)
    lines = ["Exported by Ledger 3.1", "period: 2024-01", "name;junk;amount;ratio", "# totals"]
    expected_rows: list[tuple[str, Decimal, Decimal]] = []
    for i in range(1, 1501):
        name = rng.choice(["Alice", 'Bob \\"the\\" builder', "Chloé"])
        cents = rng.randint(0, 10_000_000)
        ratio = Decimal(rng.randint(-400, 400)) / 4
        amount = f"{cents // 100},{cents % 100:02d}"
        field = f'"{name}"' if "\\" in name else f"  {name} "  # spaces only outside quotes
        lines.append(f"{field};x{i}; {amount} ;{str(ratio).replace('.', ',')}")
        expected_rows.append((name.replace("\\", ""), Decimal(cents) / 100, ratio))
        if i % 100 == 0:
            lines.append(f"# subtotal {i}")
    batch_id, ledger = await _load(stack, "dialect", ("\n".join(lines) + "\n").encode())

    got = await _one(
        warehouse,
        f"SELECT count(*) n, sum(amount) a, sum(ratio) r,"
        f" count(*) FILTER (WHERE name = 'Bob \"the\" builder') bob,"
        f" count(*) FILTER (WHERE name = 'Alice') alice"
        f" FROM {stack.contracts['dialect'].raw_table} WHERE _batch_id = $1",
        batch_id,
    )
    assert ledger["loaded"]["rows"] == got["n"] == len(expected_rows)
    assert got["a"] == sum(r[1] for r in expected_rows)
    assert Decimal(got["r"]) == sum(r[2] for r in expected_rows)
    assert got["bob"] == sum(1 for r in expected_rows if r[0].startswith("Bob"))
    assert got["alice"] == sum(1 for r in expected_rows if r[0] == "Alice")

    broken = "one\ntwo\nname;junk;amount;ratio\nA;x;12.50;1\nB;x;1;1;5\n"
    batch_id, ledger = await _load(stack, "dialect", broken.encode())
    rejects = await _rejects(warehouse, batch_id)
    assert ledger["loaded"]["rows"] == 0
    assert rejects[1] == [
        {
            "column": "amount",
            "value": "12.50",
            "reason": "not a numeric(10,2) value with ',' as the decimal separator",
        }
    ]
    assert rejects[2] == [{"column": None, "value": None, "reason": "expected 4 columns, found 5"}]

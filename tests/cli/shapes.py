"""Three files of different shapes, none from the bank generator, with what they hold.

Each maker writes a file and returns the facts a test compares a load against, computed from
the rows it wrote (row count, sums, null counts), never typed in by hand.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path


@dataclass
class Shape:
    path: Path
    rows: int
    types: dict[str, str]
    """Expected inferred type per column name."""
    sums: dict[str, Decimal] = field(default_factory=dict)
    nulls: dict[str, int] = field(default_factory=dict)


def sensors_csv(folder: Path, rows: int = 300, seed: int = 1) -> Shape:
    """Comma CSV, ``NA`` markers in two numeric columns, an ISO timestamp column."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, 8, 0, 0)
    lines = ["Sensor ID,Reading Time,Temperature C,Humidity,Status"]
    temp_sum, hum_sum, temp_na, hum_na = Decimal(0), 0, 0, 0
    for i in range(rows):
        when = (start + timedelta(minutes=7 * i)).isoformat()
        if i % 9 == 4:
            temp, temp_na = "NA", temp_na + 1
        else:
            value = Decimal(rng.randrange(-500, 4000)) / 100
            temp, temp_sum = f"{value:.2f}", temp_sum + value
        if i % 11 == 3:
            hum, hum_na = "NA", hum_na + 1
        else:
            h = rng.randrange(10, 100)
            hum, hum_sum = str(h), hum_sum + h
        status = rng.choice(["ok", "warn", "fault"])
        lines.append(f"{1000 + i % 17},{when},{temp},{hum},{status}")
    path = folder / "sensors.csv"
    path.write_text("\n".join(lines) + "\n")
    return Shape(
        path,
        rows,
        {
            "sensor_id": "integer",
            "reading_time": "timestamp",
            "temperature_c": "numeric(14,2)",
            "humidity": "integer",
            "status": "text",
        },
        sums={"temperature_c": temp_sum, "humidity": Decimal(hum_sum)},
        nulls={"temperature_c": temp_na, "humidity": hum_na},
    )


def orders_csv(folder: Path, rows: int = 250, seed: int = 2) -> Shape:
    """Semicolon CSV, day-first dates, ``NULL`` markers, and a column the contract may drop."""
    rng = random.Random(seed)
    lines = ["Order No;Order Date;Amount EUR;Paid;Internal Ref"]
    amount_sum, amount_null = Decimal(0), 0
    for i in range(rows):
        day = datetime(2023, 1, 1) + timedelta(days=(i * 5) % 700)
        if i % 7 == 2:
            amount, amount_null = "NULL", amount_null + 1
        else:
            value = Decimal(rng.randrange(100, 99_999_99)) / 100
            amount, amount_sum = f"{value:.2f}", amount_sum + value
        paid = rng.choice(["true", "false"])
        lines.append(f"{50_000 + i};{day:%d/%m/%Y};{amount};{paid};ref-{rng.randrange(10**6)}")
    path = folder / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    return Shape(
        path,
        rows,
        {
            "order_no": "integer",
            "order_date": "date",
            "amount_eur": "numeric(14,2)",
            "paid": "boolean",
            "internal_ref": "text",
        },
        sums={"amount_eur": amount_sum},
        nulls={"amount_eur": amount_null},
    )


def members_jsonl(folder: Path, rows: int = 200, seed: int = 3) -> Shape:
    """JSON Lines whose records leave keys out (a missing key is a NULL)."""
    rng = random.Random(seed)
    score_sum, missing_score, missing_email = Decimal(0), 0, 0
    lines = []
    for i in range(rows):
        record: dict[str, object] = {"id": i + 1, "name": f"member {i}"}
        if i % 5 == 1:
            missing_score += 1
        else:
            score = rng.randrange(0, 100_000) / 4  # exact in binary: the sum is exact
            record["score"] = score
            score_sum += Decimal(str(score))
        if i % 3 == 0:
            missing_email += 1
        else:
            record["email"] = f"m{i}@example.org"
        record["active"] = bool(i % 2)
        lines.append(json.dumps(record))
    path = folder / "members.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return Shape(
        path,
        rows,
        {
            "id": "integer",
            "name": "text",
            "score": "numeric(14,2)",
            "email": "text",
            "active": "boolean",
        },
        sums={"score": score_sum},
        nulls={"score": missing_score, "email": missing_email},
    )

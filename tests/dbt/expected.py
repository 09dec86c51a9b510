"""The marts' expected values, computed in plain Python from the generated rows.

Independent of the SQL: the same normalization (trim, domain upper case, city capitalized),
the same deduplication (an exact duplicate by all five columns is one fact), then sums,
amount per transaction rounded half up to paise, ranks with ties sharing a rank, and each
domain's share of its city's monthly amount rounded to 6 decimals.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from tests.dbt.warehouse import Fact

CENT = Decimal("0.01")
SHARE = Decimal("0.000001")

DailyKey = tuple[dt.date, str]
MonthlyKey = tuple[dt.date, str]
ShareKey = tuple[dt.date, str, str]
K = TypeVar("K", DailyKey, ShareKey)


@dataclass(frozen=True)
class Totals:
    amount: Decimal
    count: int

    @property
    def per_transaction(self) -> Decimal | None:
        if self.count == 0:
            return None
        return (self.amount / self.count).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ExpectedMarts:
    daily: dict[DailyKey, tuple[Decimal, int, Decimal | None]]
    monthly: dict[MonthlyKey, tuple[Decimal, int, Decimal | None, int]]
    shares: dict[ShareKey, tuple[Decimal, Decimal, Decimal]]


def normalize(fact: Fact) -> Fact:
    day, domain, location, amount, count = fact
    return day, domain.strip().upper(), location.strip().title(), amount, count


def _add(into: dict[K, Totals], key: K, fact: Fact) -> None:
    old = into.get(key, Totals(Decimal(0), 0))
    into[key] = Totals(old.amount + fact[3], old.count + fact[4])


def expected_marts(facts: Iterable[Fact]) -> ExpectedMarts:
    unique = {normalize(f) for f in facts}
    daily: dict[DailyKey, Totals] = {}
    monthly: dict[MonthlyKey, Totals] = {}
    by_domain: dict[ShareKey, Totals] = {}
    for fact in unique:
        day, domain, location = fact[0], fact[1], fact[2]
        month = day.replace(day=1)
        _add(daily, (day, domain), fact)
        _add(monthly, (month, location), fact)
        _add(by_domain, (month, location, domain), fact)

    amounts_by_month: dict[dt.date, list[Decimal]] = defaultdict(list)
    for (month, _), totals in monthly.items():
        amounts_by_month[month].append(totals.amount)

    def rank(month: dt.date, amount: Decimal) -> int:
        return 1 + sum(1 for other in amounts_by_month[month] if other > amount)

    def share(key: ShareKey, totals: Totals) -> tuple[Decimal, Decimal, Decimal]:
        city = monthly[(key[0], key[1])].amount
        return totals.amount, city, (totals.amount / city).quantize(SHARE, ROUND_HALF_UP)

    return ExpectedMarts(
        daily={k: (t.amount, t.count, t.per_transaction) for k, t in daily.items()},
        monthly={
            k: (t.amount, t.count, t.per_transaction, rank(k[0], t.amount))
            for k, t in monthly.items()
        },
        shares={k: share(k, t) for k, t in by_domain.items()},
    )

"""Draws the rows/s bar chart (runs in .venvs/bench, which has matplotlib).

echo '[["loader", rows_per_s], ...]' | python bench/chart.py out.png
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    data = json.load(sys.stdin)
    names = [name for name, _ in data][::-1]
    rates = [rate for _, rate in data][::-1]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(data) + 1.2))
    bars = ax.barh(names, rates, color="#4C72B0")
    ax.bar_label(bars, labels=[f"{r:,.0f}" for r in rates], padding=3, fontsize=8)
    ax.set_xlabel("rows per second (median)")
    ax.set_title("Loading the bank transactions CSV into PostgreSQL")
    ax.set_xscale("log")
    fig.tight_layout()
    fig.savefig(sys.argv[1], dpi=110)


if __name__ == "__main__":
    main()

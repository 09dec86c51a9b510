"""A proposed contract from a sample: names, types, nullability and null markers, each with
the reason it was chosen, rendered as commented YAML that ``parse_contract`` accepts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from batchpipe_cli.infer.sample import Sample
from batchpipe_cli.infer.types import NULL_MARKERS, Inferred, infer_type
from batchpipe_common.contracts import Contract, parse_contract


@dataclass(frozen=True)
class ProposedColumn:
    source: str
    name: str
    inferred: Inferred
    nullable: bool
    nulls_seen: int


def snake_case(name: str) -> str:
    """``Total Amount``, ``totalAmount``, ``Total-Amount`` -> ``total_amount``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    if not text:
        return "column"
    return f"c_{text}" if text[0].isdigit() else text


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def propose(sample: Sample) -> tuple[list[ProposedColumn], list[str]]:
    """The columns of the sample and the null markers seen (beyond the empty CSV field)."""
    markers_seen: dict[str, None] = {}
    columns = []
    names = _unique([snake_case(s) for s in sample.columns])
    for (source, values), name in zip(sample.columns.items(), names, strict=True):
        present = []
        nulls = 0
        for value in values:
            if value is None or value in NULL_MARKERS:
                nulls += 1
                if value:
                    markers_seen[value] = None
            else:
                present.append(value)
        columns.append(ProposedColumn(source, name, infer_type(present), nulls > 0, nulls))
    return columns, list(markers_seen)


def _q(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def render(sample: Sample, name: str, origin: Path) -> str:
    """The proposed contract as YAML, a comment on each inferred choice."""
    columns, markers = propose(sample)
    gz = " (gzip)" if sample.gzipped else ""
    lines = [
        f"# Proposed by `batchpipe contract infer` from {origin.name}{gz}: {sample.rows} rows"
        " sampled.",
        "# Review every commented choice, then save it as contracts/<name>.yaml to register it.",
        f"name: {name}",
        "version: 1",
        f"description: {_q(f'Inferred from {origin.name}; describe the data set here.')}",
        f"format: {sample.fmt}",
    ]
    if sample.fmt == "csv":
        lines += [
            "dialect:",
            f"  delimiter: {_q(sample.delimiter)}  # {sample.notes['delimiter']}",
            "  quote: '\"'",
            f"  header: {str(sample.header).lower()}  # {sample.notes['header']}",
            f"  encoding: {sample.encoding}  # {sample.notes['encoding']}",
        ]
    if markers:
        nulls = ([""] if sample.fmt == "csv" else []) + markers
        seen = ", ".join(_q(m) for m in markers)
        lines.append(f"null_values: [{', '.join(_q(m) for m in nulls)}]  # markers seen: {seen}")
    lines.append("columns:")
    for column in columns:
        inferred = column.inferred
        nested = sample.notes.get(f"nested:{column.source}")
        why = (
            f"{inferred.why}; {nested} (the producer rejects such values)"
            if nested
            else inferred.why
        )
        lines += [
            f"  - source: {_q(column.source)}",
            f"    name: {column.name}",
            f"    type: {inferred.type}  # {why}",
        ]
        if inferred.format:
            lines.append(f"    format: {_q(inferred.format)}")
        reason = (
            f"{column.nulls_seen} of {sample.rows} sampled values missing"
            if column.nullable
            else f"no missing value in {sample.rows} sampled rows"
        )
        lines.append(f"    nullable: {str(column.nullable).lower()}  # {reason}")
    lines += [f"raw_table: raw.{name}", f"topic: {name}", ""]
    return "\n".join(lines)


def infer_contract(sample: Sample, name: str, origin: Path) -> tuple[str, Contract]:
    """The YAML text and the contract it parses to (so a proposal is always a valid contract)."""
    text = render(sample, name, origin)
    return text, parse_contract(text, origin=f"proposed contract for {origin.name}")

"""The end-of-run summary of ``batchpipe_ingest``: rows per stage and time per stage.

``stage_durations`` folds the run's task instances (from the REST API) into the pipeline's
stages; ``render`` gives the lines for the task log, ``note`` a compact form that fits the
run note (Airflow caps notes at 1000 characters).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

NOTE_LIMIT = 1000

STAGES: dict[str, tuple[str, ...]] = {
    "upload": ("upload",),
    "produce": ("produce", "wait_for_producer"),
    "sink": ("wait_for_sink", "wait_for_ledger"),
    "dbt": ("dbt.",),
    "reconcile": ("reconcile",),
}


def _stage_of(task_id: str) -> str | None:
    for stage, prefixes in STAGES.items():
        for prefix in prefixes:
            if task_id == prefix or (prefix.endswith(".") and task_id.startswith(prefix)):
                return stage
    return None


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def stage_durations(task_instances: list[dict[str, Any]]) -> dict[str, float]:
    """Wall-clock seconds per stage: first start to last end of the stage's tasks."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for ti in task_instances:
        stage = _stage_of(str(ti.get("task_id")))
        start, end = _parse(ti.get("start_date")), _parse(ti.get("end_date"))
        if stage is None or start is None or end is None:
            continue
        if stage in spans:
            first, last = spans[stage]
            spans[stage] = (min(first, start), max(last, end))
        else:
            spans[stage] = (start, end)
    return {
        stage: (spans[stage][1] - spans[stage][0]).total_seconds()
        for stage in STAGES
        if stage in spans
    }


def rows_per_stage(
    upload: dict[str, Any] | None, manifest: dict[str, Any], ledger: dict[str, Any]
) -> dict[str, Any]:
    return {
        "uploaded_bytes": (upload or {}).get("size"),
        "deduplicated_upload": (upload or {}).get("deduplicated"),
        "rows_read": manifest.get("rows_read"),
        "rows_valid": manifest.get("rows_valid"),
        "rejected_by_producer": ledger.get("rejected_by_producer"),
        "chunks": manifest.get("chunk_count"),
        "rows_loaded": ledger.get("rows_loaded"),
        "rejected_by_sink": ledger.get("rejected_by_sink"),
        "reconciles": ledger.get("reconciles"),
    }


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"batch {summary['batch_id']} ({summary['dataset']}) from {summary['source_uri']}",
        "rows per stage:",
    ]
    lines += [f"  {k:<22} {_fmt(v)}" for k, v in summary["rows"].items()]
    if summary.get("durations"):
        lines.append("seconds per stage:")
        lines += [f"  {k:<22} {v:,.1f}" for k, v in summary["durations"].items()]
    lines.append(summary["reconciliation"])
    return lines


def note(summary: dict[str, Any]) -> str:
    rows = summary["rows"]
    text = (
        f"**batch** `{summary['batch_id']}`\n\n"
        f"read {_fmt(rows['rows_read'])} · valid {_fmt(rows['rows_valid'])} · "
        f"loaded {_fmt(rows['rows_loaded'])} · rejected "
        f"{_fmt((rows['rejected_by_producer'] or 0) + (rows['rejected_by_sink'] or 0))} · "
        f"reconciles: {_fmt(rows['reconciles'])}\n\n"
    )
    if summary.get("durations"):
        text += " · ".join(f"{k} {v:,.0f}s" for k, v in summary["durations"].items())
    return text[:NOTE_LIMIT]

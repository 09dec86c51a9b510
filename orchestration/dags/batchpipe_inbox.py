"""
### batchpipe_inbox: one `batchpipe_ingest` run per new file

Every 5 minutes, lists the inbox folder (`BATCHPIPE_INBOX_DIR`) and, when set, the S3 prefix
`BATCHPIPE_INBOX_S3_PREFIX`, hashes what it finds (SHA-256; S3 objects by the uploader's
`sha256` metadata) and starts one `batchpipe_ingest` run per file whose content is not in
the ledger `batchpipe.batches` yet. The run id is derived from the content hash, so a file
whose run is already queued or running is skipped too. Files in `<inbox>/<dataset>/` go to
that dataset; others to the `dataset` param.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import BaseHook, Param, dag, task

from batchpipe_airflow import config
from batchpipe_airflow.inbox import local_candidates, new_candidates, s3_candidates

log = logging.getLogger("batchpipe.inbox")


def _ingested_hashes() -> set[str]:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=config.WAREHOUSE_CONN_ID)
    rows = hook.get_records("select distinct sha256 from batchpipe.batches")
    return {str(r[0]) for r in rows}


def _s3_client() -> Any:
    import boto3

    conn = BaseHook.get_connection(config.S3_CONN_ID)
    extra = conn.extra_dejson
    return boto3.client(
        "s3",
        endpoint_url=extra.get("endpoint_url"),
        region_name=extra.get("region_name", "us-east-1"),
        aws_access_key_id=conn.login,
        aws_secret_access_key=conn.password,
    )


@dag(
    dag_id=config.INBOX_DAG_ID,
    schedule=timedelta(minutes=5),
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["batchpipe", "inbox"],
    doc_md=__doc__,
    default_args={"owner": "batchpipe", "retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "dataset": Param(
            "bank_transactions",
            type="string",
            description="Dataset of files outside a dataset folder",
        ),
    },
)
def batchpipe_inbox() -> None:
    @task
    def scan(params: dict[str, Any]) -> list[dict[str, Any]]:
        datasets = set(config.datasets())
        default = params["dataset"]
        candidates = []
        inbox = config.inbox_dir()
        if inbox.is_dir():
            candidates += local_candidates(inbox, datasets, default)
        else:
            log.warning("inbox folder %s does not exist; nothing to scan there", inbox)
        prefix = config.inbox_s3_prefix()
        if prefix:
            candidates += s3_candidates(_s3_client(), prefix, datasets, default)
        fresh = new_candidates(candidates, _ingested_hashes())
        log.info("%d files found, %d not ingested yet", len(candidates), len(fresh))
        return [
            {
                "trigger_run_id": c.run_id(),
                "conf": {"source": c.source, "dataset": c.dataset},
            }
            for c in fresh
        ]

    TriggerDagRunOperator.partial(
        task_id="start_ingest",
        trigger_dag_id=config.INGEST_DAG_ID,
        skip_when_already_exists=True,
        wait_for_completion=False,
    ).expand_kwargs(scan())  # type: ignore[call-arg, misc]  # Airflow injects `params`


batchpipe_inbox()

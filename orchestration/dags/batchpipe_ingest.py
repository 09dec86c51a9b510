"""
### batchpipe_ingest: one file, from the inbox (or S3) to tested marts

Params: `source` (a file under the inbox folder, relative or absolute, or an `s3://` URI) and
`dataset` (a contract name).

1. **upload**: the uploader streams the file to S3 (skipped for an `s3://` source).
2. **produce** / **wait_for_producer**: the s3-producer streams the object through Kafka;
   the sensor (reschedule mode) fails with the producer's error if the run fails.
3. **wait_for_sink**: deferred on the triggerer until the pg-sink's consumer group has
   committed past every partition offset in the batch's manifest (other batches do not
   count). **wait_for_ledger**: the sink has recorded the manifest in `batchpipe.batches`.
4. **dbt**: the models and per-run tests downstream of the run's dataset (Cosmos WATCHER
   mode: one `dbt build`, one sensor per model; dbt in its own virtualenv).
5. **reconcile**: the ledger's verdict (`batchpipe.batch_status.reconciles`: rows read =
   rows loaded + rows rejected); fails naming the numbers otherwise.
6. **summary**: rows and seconds per stage, in the log and as this run's note.

HTTP steps retry with exponential backoff; the services are idempotent by batch id, so a
retry never duplicates rows. Connections come from `AIRFLOW_CONN_BATCHPIPE_*` variables.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

from airflow.sdk import (
    BaseSensorOperator,
    Param,
    PokeReturnValue,
    TaskGroup,
    TriggerRule,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowFailException
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode

from batchpipe_airflow import config
from batchpipe_airflow.ledger import read_ledger
from batchpipe_airflow.sensors import BatchDrainedSensor
from batchpipe_airflow.services import AirflowApi, ServiceClient, ServiceError
from batchpipe_airflow.summary import note, render, rows_per_stage, stage_durations

log = logging.getLogger("batchpipe.ingest")


class Retries(TypedDict):
    retries: int
    retry_delay: timedelta
    retry_exponential_backoff: bool
    max_retry_delay: timedelta


HTTP_RETRIES: Retries = {
    "retries": 4,
    "retry_delay": timedelta(seconds=5),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=2),
}
PRODUCER_TIMEOUT = timedelta(hours=2)


# rescheduled pokes: the first after ~2 s (a 1M-row run takes a few seconds), then twice as
# long each time up to a minute (each poke is a task launch: a two-hour run stays cheap)
class Pokes(TypedDict):
    poke_interval: float
    exponential_backoff: bool
    max_wait: timedelta


SOON_THEN_SELDOM: Pokes = {
    "poke_interval": 2,
    "exponential_backoff": True,
    "max_wait": timedelta(minutes=1),
}
# how often a model's deferred watcher looks at the dbt build's progress (Cosmos: 10 s); the
# dbt stage ends at most this long after the build
WATCHER_POKE_INTERVAL = 2
SINK_TIMEOUT = timedelta(hours=2)


def _dbt_for_each_dataset() -> TaskGroup:
    """Group ``dbt``: a branch on the run's dataset, then that dataset's models and tests.

    One Cosmos task group per contract, each in WATCHER mode: a producer task runs ONE
    ``dbt build`` of the models downstream of the dataset's raw table (and their per-run
    tests), with dbt's own threads, while one deferred sensor per model and per model's tests
    mirrors the producer's structured log, so the Airflow UI keeps model-level status. dbt
    lives in its own virtualenv: the producer runs its executable as a subprocess with
    ``--log-format json`` (Cosmos >= 1.12 reads that log when dbt is not importable). The
    branch skips every other dataset's group, so a run builds only its own dataset's models.
    """
    dbt = str(config.dbt_executable())
    project = config.dbt_project_dir()
    roots: dict[str, list[str]] = {}
    with TaskGroup(group_id="dbt") as group:

        @task.branch(task_id="route", retries=0)
        def route(params: dict[str, Any]) -> list[str]:
            dataset = str(params["dataset"])
            if dataset not in roots:
                raise AirflowFailException(
                    f"no dbt models for dataset {dataset!r}: known {sorted(roots)}"
                )
            return roots[dataset]

        routed = route()  # type: ignore[call-arg]  # Airflow injects params
        for dataset in config.datasets():
            models = DbtTaskGroup(
                group_id=dataset,
                project_config=ProjectConfig(dbt_project_path=project, install_dbt_deps=False),
                profile_config=ProfileConfig(
                    profile_name="batchpipe",
                    target_name="stack",
                    profiles_yml_filepath=project / "profiles.yml",
                ),
                execution_config=ExecutionConfig(
                    execution_mode=ExecutionMode.WATCHER,
                    invocation_mode=InvocationMode.SUBPROCESS,
                    dbt_executable_path=dbt,
                ),
                render_config=RenderConfig(
                    load_method=LoadMode.DBT_LS,
                    invocation_mode=InvocationMode.SUBPROCESS,
                    dbt_executable_path=dbt,
                    # the dataset's staging model and everything downstream of it (its marts,
                    # batch_audit); the full-history tests run in batchpipe_quality
                    select=[f"source:{config.raw_source(dataset)}+"],
                    exclude=["tag:full_history", "resource_type:unit_test"],
                    # a test over several models (totals match) runs after all of them
                    should_detach_multiple_parents_tests=True,
                ),
                # dbt reruns are harmless, but a failed test should be looked at, not retried
                default_args={"retries": 0},
            )
            for watcher in models.iter_tasks():
                if isinstance(watcher, BaseSensorOperator):
                    watcher.poke_interval = WATCHER_POKE_INTERVAL
                    # a deferred watcher whose trigger fires at once (the producer's dbt build
                    # already passed that node) can be failed by Airflow 3.3's race
                    # (docs/reliability.md); its retry finds the producer done and runs the
                    # node itself (harmless: staging and the marts are idempotent). Poking
                    # instead never ends for tests detached from several parents (Cosmos 1.15).
                    watcher.retries = 1
                    watcher.retry_delay = timedelta(seconds=5)
            routed >> models
            roots[dataset] = [t.task_id for t in models.roots]
    return group


def _inbox_relative(source: str) -> str:
    """The uploader takes paths under its inbox; pass absolute ones relative to it."""
    path = Path(source)
    if path.is_absolute():
        try:
            return str(path.resolve().relative_to(config.inbox_dir().resolve()))
        except ValueError as exc:
            raise AirflowFailException(
                f"{source} is not under the inbox folder {config.inbox_dir()}"
            ) from exc
    return source


@dag(
    dag_id=config.INGEST_DAG_ID,
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=2,
    tags=["batchpipe", "ingest"],
    doc_md=__doc__,
    default_args={"owner": "batchpipe", "retries": 1, "retry_delay": timedelta(seconds=30)},
    params={
        "source": Param(
            type="string",
            minLength=1,
            description="A file under the inbox folder, or an s3:// URI of an uploaded object",
        ),
        "dataset": Param(
            "bank_transactions", type="string", description="Contract name of the data set"
        ),
    },
)
def batchpipe_ingest() -> None:
    @task.branch(retries=0)
    def route(params: dict[str, Any]) -> str:
        return "produce" if str(params["source"]).startswith("s3://") else "upload"

    @task(**HTTP_RETRIES)
    def upload(params: dict[str, Any]) -> dict[str, Any]:
        body = {"path": _inbox_relative(params["source"]), "dataset": params["dataset"]}
        result: dict[str, Any] = ServiceClient(config.UPLOADER_CONN_ID).post("/v1/uploads", body)
        log.info(
            "uploaded %s bytes to %s (deduplicated: %s)",
            f"{result['size']:,}",
            result["s3_uri"],
            result["deduplicated"],
        )
        return result

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, **HTTP_RETRIES)
    def produce(params: dict[str, Any]) -> dict[str, Any]:
        ti = get_current_context()["ti"]
        uploaded = ti.xcom_pull(task_ids="upload")
        s3_uri = uploaded["s3_uri"] if uploaded else params["source"]
        body = {"s3_uri": s3_uri, "dataset": params["dataset"]}
        run: dict[str, Any] = ServiceClient(config.PRODUCER_CONN_ID).post("/v1/runs", body)
        log.info("producer run %s accepted for %s", run["batch_id"], s3_uri)
        return {"batch_id": run["batch_id"], "s3_uri": s3_uri, "upload": uploaded}

    @task.sensor(
        timeout=PRODUCER_TIMEOUT.total_seconds(),
        mode="reschedule",
        **SOON_THEN_SELDOM,
        **HTTP_RETRIES,
    )
    def wait_for_producer(run: dict[str, Any]) -> PokeReturnValue:
        status = ServiceClient(config.PRODUCER_CONN_ID).get(f"/v1/runs/{run['batch_id']}")
        state = status.get("state")
        if state == "failed":
            raise AirflowFailException(
                f"producer run {run['batch_id']} failed: {status.get('error')}"
            )
        if state == "succeeded":
            manifest = status.get("manifest")
            if not manifest:
                raise AirflowFailException(f"producer run {run['batch_id']} has no manifest")
            return PokeReturnValue(is_done=True, xcom_value=manifest)
        log.info("producer run %s is %s: %s", run["batch_id"], state, status.get("progress"))
        return PokeReturnValue(is_done=False)

    @task.sensor(timeout=600, mode="reschedule", **SOON_THEN_SELDOM)
    def wait_for_ledger(manifest: dict[str, Any]) -> PokeReturnValue:
        ledger = read_ledger(config.WAREHOUSE_CONN_ID, manifest["batch_id"])
        if ledger is None:
            log.info("batch %s not yet in batchpipe.batches", manifest["batch_id"])
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=ledger.as_dict())

    # after the dataset's dbt group; the other datasets' groups are skipped by the branch
    @task(retries=0, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def reconcile(manifest: dict[str, Any]) -> dict[str, Any]:
        ledger = read_ledger(config.WAREHOUSE_CONN_ID, manifest["batch_id"])
        if ledger is None:
            raise AirflowFailException(f"batch {manifest['batch_id']} is not in the ledger")
        log.info("%s", ledger.explain())
        if not ledger.reconciles:
            raise AirflowFailException(ledger.explain())
        return ledger.as_dict()

    @task(retries=0)
    def summary(
        run: dict[str, Any], manifest: dict[str, Any], ledger: dict[str, Any]
    ) -> dict[str, Any]:
        context = get_current_context()
        dag_run = context["dag_run"]
        result: dict[str, Any] = {
            "batch_id": manifest["batch_id"],
            "dataset": manifest["dataset"],
            "source_uri": manifest["source_uri"],
            "rows": rows_per_stage(run.get("upload"), manifest, ledger),
            "reconciliation": (
                f"reconciliation: {ledger['rows_read']:,} read = {ledger['rows_loaded']:,} "
                f"loaded + {ledger['rejected']:,} rejected"
            ),
            "durations": {},
        }
        api = AirflowApi(config.AIRFLOW_API_CONN_ID)
        run_path = f"/dags/{dag_run.dag_id}/dagRuns/{dag_run.run_id}"
        try:
            listing = api.request("GET", f"{run_path}/taskInstances", params={"limit": 500})
            result["durations"] = stage_durations(listing["task_instances"])
            api.request(
                "PATCH", run_path, params={"update_mask": "note"}, json={"note": note(result)}
            )
        except ServiceError as exc:
            log.warning("run note and durations not set: %s", exc)
        for line in render(result):
            log.info("%s", line)
        return result

    # Wiring at parse time: Airflow injects `params` from the context and resolves XComArgs to
    # their values at run time, which the tasks' signatures cannot say (hence the ignores).
    routed = route()  # type: ignore[call-arg, misc]
    uploaded = upload()  # type: ignore[call-arg, misc]
    produced = produce()  # type: ignore[call-arg, misc]
    manifest = wait_for_producer(produced)  # type: ignore[arg-type]
    drained = BatchDrainedSensor(
        task_id="wait_for_sink",
        manifest=manifest,  # type: ignore[arg-type]
        kafka_conn_id=config.KAFKA_CONN_ID,
        timeout=SINK_TIMEOUT.total_seconds(),
        poll_interval=5,
    )
    ledger_seen = wait_for_ledger(manifest)  # type: ignore[arg-type]
    dbt = _dbt_for_each_dataset()
    reconciled = reconcile(manifest)  # type: ignore[arg-type]

    routed >> [uploaded, produced]
    uploaded >> produced
    manifest >> drained >> ledger_seen >> dbt >> reconciled
    summary(produced, manifest, reconciled)  # type: ignore[arg-type]


batchpipe_ingest()

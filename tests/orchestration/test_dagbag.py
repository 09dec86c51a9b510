"""Every DAG in orchestration/dags imports cleanly and carries tags, retries and a doc."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("airflow", reason="runs in .venvs/airflow: make test-orchestration")

from tests.orchestration.conftest import REPO_ROOT

DAGS_FOLDER = REPO_ROOT / "orchestration" / "dags"


@pytest.fixture(scope="module")
def dagbag(stack_env: dict[str, str]) -> Any:
    # the stack's BATCHPIPE_DBT_* variables let Cosmos run `dbt ls` while parsing
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}


def test_both_dags_are_there(dagbag: Any) -> None:
    assert {"batchpipe_ingest", "batchpipe_inbox", "batchpipe_quality"} <= set(dagbag.dag_ids)


def test_every_dag_has_tags_retries_and_a_doc(dagbag: Any) -> None:
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and dag.doc_md.strip(), f"{dag_id} has no doc"
        assert dag.default_args.get("retries", 0) >= 1, f"{dag_id} has no default retries"


def test_ingest_runs_the_stages_in_order_with_dbt_between_sink_and_reconcile(
    dagbag: Any,
) -> None:
    dag = dagbag.dags["batchpipe_ingest"]
    assert dag.task_dict["upload"].retry_exponential_backoff
    assert dag.task_dict["wait_for_sink"].deferrable
    assert "wait_for_sink" in dag.task_dict["wait_for_ledger"].upstream_task_ids
    dbt_tasks = [t for t in dag.task_ids if t.startswith("dbt.")]
    assert dbt_tasks, "the Cosmos task group rendered no dbt tasks"
    reconcile_upstream = dag.task_dict["reconcile"].upstream_task_ids
    assert any(t.startswith("dbt.") for t in reconcile_upstream)
    # besides dbt, only the task whose XCom is the manifest
    assert {t for t in reconcile_upstream if not t.startswith("dbt.")} == {"wait_for_producer"}
    assert dag.params["dataset"] == "bank_transactions"


def test_ingest_runs_one_dbt_build_per_run_and_watches_each_model(dagbag: Any) -> None:
    dag = dagbag.dags["batchpipe_ingest"]
    producer = dag.task_dict["dbt.bank_transactions.dbt_producer_watcher"]
    assert type(producer).__name__ == "DbtProducerWatcherOperator"
    assert producer.select == "source:raw.bank_transactions+"
    assert producer.exclude == "tag:full_history resource_type:unit_test"
    for model in ("stg_raw__bank_transactions", "int_bank_transactions_aggregated_to_days"):
        watcher = dag.task_dict[f"dbt.bank_transactions.{model}.run"]
        assert type(watcher).__name__ == "DbtRunWatcherOperator", model
        assert watcher.deferrable
    assert type(dag.task_dict["dbt.bank_transactions.batch_audit.test"]).__name__ == (
        "DbtTestWatcherOperator"
    )
    # the branch on the run's dataset leads into each dataset's group
    route = dag.task_dict["dbt.route"]
    assert producer.task_id in route.downstream_task_ids


def test_quality_runs_every_test_over_every_row_daily(dagbag: Any) -> None:
    dag = dagbag.dags["batchpipe_quality"]
    assert dag.schedule == "@daily"
    (check,) = dag.tasks
    assert check.selector == "full_history"
    assert check.vars == {"test_scope": "full"}

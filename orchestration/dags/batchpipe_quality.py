"""
### batchpipe_quality: every dbt test over every row, daily

The ingest runs (`batchpipe_ingest`) test only the rows their own batches brought: staging
and audit tests read the rows the run took (`where` on the run's start), so a run costs what
its batch costs. Here, once a day, the same tests read every row (`test_scope: full`), and
the tests that only make sense over whole tables run too (selector `full_history`: a raw
table's rows per batch against the ledger, exactly-once by source row, the intermediate
totals against staging). Nothing is tested less, only elsewhere: a bad row in an old batch
fails this DAG, and the failing test names it in the log.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import dag
from cosmos import ProfileConfig
from cosmos.constants import InvocationMode
from cosmos.operators.local import DbtTestLocalOperator

from batchpipe_airflow import config


@dag(
    dag_id=config.QUALITY_DAG_ID,
    schedule="@daily",
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["batchpipe", "quality"],
    doc_md=__doc__,
    default_args={"owner": "batchpipe", "retries": 1, "retry_delay": timedelta(minutes=5)},
)
def batchpipe_quality() -> None:
    project = config.dbt_project_dir()
    DbtTestLocalOperator(
        task_id="full_history_tests",
        project_dir=str(project),
        profile_config=ProfileConfig(
            profile_name="batchpipe",
            target_name="stack",
            profiles_yml_filepath=project / "profiles.yml",
        ),
        dbt_executable_path=str(config.dbt_executable()),
        invocation_mode=InvocationMode.SUBPROCESS,
        install_deps=False,
        selector="full_history",
        vars={"test_scope": "full"},
        # a failed test is a finding to look at, not a flake to retry
        retries=0,
    )


batchpipe_quality()

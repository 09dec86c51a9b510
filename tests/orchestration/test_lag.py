"""The manifest -> partition targets mapping and the progress arithmetic (no broker)."""

from __future__ import annotations

import pytest

pytest.importorskip("batchpipe_airflow", reason="runs in .venvs/airflow: make test-orchestration")

from batchpipe_airflow.lag import (
    BatchProgress,
    ManifestError,
    PartitionProgress,
    PartitionTarget,
    targets_from_manifest,
)


def test_targets_come_from_data_and_dlq_offsets_of_the_json_manifest() -> None:
    manifest = {
        "batch_id": "b1",
        "data": {"topic": "bank_transactions", "offsets": {"3": 17, "0": 4}},
        "dlq": {"topic": "bank_transactions.dlq", "offsets": {"1": 2}},
    }
    assert targets_from_manifest(manifest) == [
        PartitionTarget("bank_transactions", 0, 4),
        PartitionTarget("bank_transactions", 3, 17),
        PartitionTarget("bank_transactions.dlq", 1, 2),
    ]


def test_a_manifest_without_offsets_sections_is_refused_by_name() -> None:
    with pytest.raises(ManifestError, match="has no 'dlq'"):
        targets_from_manifest({"batch_id": "b1", "data": {"topic": "t", "offsets": {}}})


def test_a_partition_is_done_only_when_committed_passes_the_batch_end() -> None:
    target = PartitionTarget("t", 0, 9)
    assert PartitionProgress(target, None).remaining == 10
    assert not PartitionProgress(target, 9).done
    assert PartitionProgress(target, 9).remaining == 1
    assert PartitionProgress(target, 10).done
    assert PartitionProgress(target, 25).remaining == 0


def test_an_empty_batch_is_drained_and_the_description_names_pending_partitions() -> None:
    assert BatchProgress(()).drained
    progress = BatchProgress(
        (
            PartitionProgress(PartitionTarget("t", 0, 9), 10),
            PartitionProgress(PartitionTarget("t", 1, 4), 2),
        )
    )
    assert not progress.drained
    assert progress.remaining == 3
    assert "t[1] committed=2 batch_end=4 remaining=3" in progress.describe()
    assert "t[0]" not in progress.describe()

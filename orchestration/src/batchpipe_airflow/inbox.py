"""Finding new files for ``batchpipe_inbox``: the inbox folder and an S3 prefix, by content hash.

A file is new when its SHA-256 is not in the ledger (``batchpipe.batches.sha256``) and was
not seen twice in the same scan. Local files are hashed by streaming them; S3 objects use the
``sha256`` metadata the uploader stores, and are streamed and hashed when it is missing.
The dataset of a file is the first folder under the inbox (or the prefix) when it names a
contract, else the default dataset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial")


@dataclass(frozen=True)
class Candidate:
    source: str
    dataset: str
    sha256: str
    size: int

    def run_id(self) -> str:
        """One ingest run per content: triggering it twice is skipped by Airflow."""
        return f"inbox__{self.dataset}__{self.sha256[:24]}"


def sha256_of(chunks: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def _body_chunks(body: Any) -> Iterator[bytes]:
    while chunk := body.read(CHUNK):
        yield chunk


def _dataset_for(parts: tuple[str, ...], datasets: set[str], default: str) -> str:
    return parts[0] if len(parts) > 1 and parts[0] in datasets else default


def local_candidates(inbox: Path, datasets: set[str], default: str) -> list[Candidate]:
    found = []
    for path in sorted(inbox.rglob("*")):
        rel = path.relative_to(inbox)
        if not path.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        if path.name.endswith(IGNORED_SUFFIXES):
            continue
        found.append(
            Candidate(
                source=str(rel),
                dataset=_dataset_for(rel.parts, datasets, default),
                sha256=sha256_of(_file_chunks(path)),
                size=path.stat().st_size,
            )
        )
    return found


def s3_candidates(s3: Any, prefix_uri: str, datasets: set[str], default: str) -> list[Candidate]:
    """Objects under ``s3://bucket/prefix/``; ``s3`` is a boto3 S3 client."""
    bucket, _, prefix = prefix_uri.removeprefix("s3://").partition("/")
    found = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith("/"):
                continue
            head = s3.head_object(Bucket=bucket, Key=key)
            sha = head.get("Metadata", {}).get("sha256")
            if not sha:
                sha = sha256_of(_body_chunks(s3.get_object(Bucket=bucket, Key=key)["Body"]))
            rel = tuple(key[len(prefix) :].lstrip("/").split("/"))
            found.append(
                Candidate(
                    source=f"s3://{bucket}/{key}",
                    dataset=_dataset_for(rel, datasets, default),
                    sha256=sha,
                    size=int(obj["Size"]),
                )
            )
    return found


def new_candidates(candidates: Iterable[Candidate], ingested: set[str]) -> list[Candidate]:
    """Those whose content is not ingested yet, each content once (the first seen wins)."""
    seen = set(ingested)
    fresh = []
    for candidate in candidates:
        if candidate.sha256 in seen:
            continue
        seen.add(candidate.sha256)
        fresh.append(candidate)
    return fresh

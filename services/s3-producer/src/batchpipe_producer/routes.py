"""``POST /v1/runs`` and ``GET /v1/runs/{batch_id}``."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Depends, HTTPException, Request, status

from batchpipe_common.api import AUTH_RESPONSES, ErrorBody, RequireToken
from batchpipe_common.contract_folder import ContractFolder
from batchpipe_common.contracts import Contract
from batchpipe_common.provision import ProvisionError
from batchpipe_common.provision.topics import contract_topic_specs, ensure_topics
from batchpipe_common.s3 import parse_s3_uri
from batchpipe_common.wire import batch_id_for
from batchpipe_producer.formats import resolve_format
from batchpipe_producer.models import RunAccepted, RunRequest, RunStatus
from batchpipe_producer.runs import Run, RunRegistry

router = APIRouter(prefix="/v1/runs", tags=["runs"])
HASH_READ = 1024 * 1024


def _registry(request: Request) -> RunRegistry:
    registry: RunRegistry = request.app.state.registry
    return registry


Registry = Annotated[RunRegistry, Depends(_registry)]


def _s3_error(exc: Exception, uri: str) -> HTTPException:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            return HTTPException(status.HTTP_404_NOT_FOUND, f"no such object: {uri}")
        if code in ("403", "AccessDenied"):
            return HTTPException(status.HTTP_403_FORBIDDEN, f"access denied to {uri}")
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 400:
            # SeaweedFS refuses a key it cannot take (a NUL byte) as a bad request
            return HTTPException(status.HTTP_400_BAD_REQUEST, f"S3 refused the key of {uri}")
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"S3 unavailable: {exc}")


async def _object_sha256(s3: Any, bucket: str, key: str, uri: str) -> str:
    """The uploader's ``sha256`` metadata, or the hash of the content streamed once."""
    try:
        head = await s3.head_object(Bucket=bucket, Key=key)
        recorded = head.get("Metadata", {}).get("sha256")
        if recorded:
            return str(recorded)
        response = await s3.get_object(Bucket=bucket, Key=key)
        digest = hashlib.sha256()
        async with response["Body"] as body:
            while chunk := await body.read(HASH_READ):
                digest.update(chunk)
        return digest.hexdigest()
    except (ClientError, BotoCoreError, OSError) as exc:
        raise _s3_error(exc, uri) from exc


async def _ensure_topics(request: Request, contract: Contract) -> None:
    """The contract's data and dead-letter topics, created when missing (a contract registered
    while the producer runs); checked once per topic and process."""
    ready: set[str] = request.app.state.topics_ready
    if contract.topic in ready:
        return
    settings = request.app.state.settings
    specs = contract_topic_specs(
        contract, settings.data_topic_partitions, settings.dlq_topic_partitions
    )
    try:
        await ensure_topics(settings.kafka_bootstrap, specs, timeout_s=15)
    except ProvisionError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    ready.add(contract.topic)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunAccepted,
    dependencies=[RequireToken],
    responses={
        **AUTH_RESPONSES,
        400: {"model": ErrorBody, "description": "not an s3:// URI, or a key S3 refuses"},
        404: {"model": ErrorBody, "description": "unknown dataset or no such object"},
        503: {"model": ErrorBody, "description": "S3 unavailable"},
    },
)
async def trigger_run(body: RunRequest, request: Request, registry: Registry) -> RunAccepted:
    """Produce an S3 object into Kafka. The batch id comes from dataset, contract version and
    content hash, so a second trigger of the same object returns the same batch: the existing
    run while it is queued, running or succeeded; a new run after a failure."""
    contracts: ContractFolder = request.app.state.contracts
    contract = contracts.get(body.dataset)
    if contract is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, contracts.unknown(body.dataset))
    await _ensure_topics(request, contract)
    try:
        bucket, key = parse_s3_uri(body.s3_uri)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    sha256 = await _object_sha256(request.app.state.s3, bucket, key, body.s3_uri)
    run = Run(
        batch_id=batch_id_for(contract.name, contract.version, sha256),
        contract=contract,
        bucket=bucket,
        key=key,
        sha256=sha256,
        format=resolve_format(key, contract, body.format),
    )
    run, started = registry.trigger(run)
    return RunAccepted(
        batch_id=run.batch_id,
        status_url=str(request.url_for("get_run", batch_id=run.batch_id)),
        state=run.state,
        started=started,
    )


@router.get(
    "/{batch_id}",
    response_model=RunStatus,
    name="get_run",
    responses={404: {"model": ErrorBody, "description": "no run of this batch in this process"}},
)
async def get_run(batch_id: str, registry: Registry) -> RunStatus:
    """State, progress, manifest (when succeeded) or error (when failed) of a run."""
    run = registry.get(batch_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run of batch {batch_id!r} here")
    return RunStatus.of(run)

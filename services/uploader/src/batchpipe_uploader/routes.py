"""``POST /v1/uploads``: a streamed body, or a JSON reference to a file in the inbox."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
import structlog
from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import ValidationError

from batchpipe_common.api import AUTH_RESPONSES, ErrorBody, RequireToken
from batchpipe_common.contract_folder import ContractFolder
from batchpipe_common.contracts import Contract
from batchpipe_uploader import metrics
from batchpipe_uploader.inbox import InboxPathError, resolve_in_inbox
from batchpipe_uploader.models import InboxUpload, UploadResult
from batchpipe_uploader.multipart import (
    StoredObject,
    UploadError,
    safe_file_name,
    upload_file,
    upload_stream,
)
from batchpipe_uploader.settings import UploaderSettings

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])
log = structlog.get_logger(__name__)

_REQUEST_BODIES = {
    "requestBody": {
        "description": "Either the file's bytes (any content type but JSON; `dataset` and "
        "`file_name` as query parameters) or a JSON reference to a file in the inbox folder.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": InboxUpload.model_json_schema()},
        },
    }
}


def _contract(request: Request, dataset: str) -> Contract:
    contracts: ContractFolder = request.app.state.contracts
    contract = contracts.get(dataset)
    if contract is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, contracts.unknown(dataset))
    return contract


@router.post(
    "",
    response_model=UploadResult,
    dependencies=[RequireToken],
    openapi_extra=_REQUEST_BODIES,
    responses={
        **AUTH_RESPONSES,
        400: {"model": ErrorBody, "description": "bad parameters or an absolute inbox path"},
        403: {"model": ErrorBody, "description": "the inbox path resolves outside the inbox"},
        404: {"model": ErrorBody, "description": "unknown dataset or no such inbox file"},
        502: {"model": ErrorBody, "description": "S3 refused the upload"},
        503: {"model": ErrorBody, "description": "S3 unavailable (after bounded retries)"},
    },
)
async def create_upload(
    request: Request,
    dataset: str | None = Query(default=None, description="dataset (streamed body only)"),
    file_name: str | None = Query(default=None, description="file name (streamed body only)"),
) -> UploadResult:
    """Store a file in S3 under ``<dataset>/sha256=<hash>/<file name>`` with a multipart
    upload: an inbox file is hashed, then sent straight to that key; a streamed body is hashed
    while sent to a staging key, then copied there. The same content stored twice is one
    object (``deduplicated: true``; an inbox file already stored is not sent again)."""
    settings: UploaderSettings = request.app.state.settings
    s3 = request.app.state.s3
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    started = time.perf_counter()
    if content_type == "application/json":
        try:
            ref = InboxUpload.model_validate(orjson.loads(await request.body()))
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"bad JSON body: {exc}") from exc
        _contract(request, ref.dataset)
        try:
            path = resolve_in_inbox(settings.inbox_dir, ref.path)
        except InboxPathError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        target_dataset = ref.dataset
        meter = metrics.BYTES.labels(dataset=target_dataset)
        coro = upload_file(
            s3,
            settings.s3_bucket,
            ref.dataset,
            path,
            part_size=settings.uploader_part_size,
            progress=meter.inc,
            leftovers=request.app.state.leftovers,
        )
    else:
        if not dataset or not file_name:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "a streamed upload needs the query parameters dataset and file_name",
            )
        _contract(request, dataset)
        try:
            safe_file_name(file_name)
        except UploadError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
        target_dataset = dataset
        meter = metrics.BYTES.labels(dataset=target_dataset)
        coro = upload_stream(
            s3,
            settings.s3_bucket,
            dataset,
            file_name,
            _body(request),
            part_size=settings.uploader_part_size,
            progress=meter.inc,
            leftovers=request.app.state.leftovers,
        )
    try:
        stored: StoredObject = await coro
    except UploadError as exc:
        metrics.UPLOADS.labels(dataset=target_dataset, outcome="failed").inc()
        log.warning("upload failed", dataset=target_dataset, error=str(exc))
        unavailable = exc.unavailable
        code = status.HTTP_503_SERVICE_UNAVAILABLE if unavailable else status.HTTP_502_BAD_GATEWAY
        raise HTTPException(code, str(exc)) from exc
    outcome = "deduplicated" if stored.deduplicated else "stored"
    metrics.UPLOADS.labels(dataset=target_dataset, outcome=outcome).inc()
    metrics.UPLOAD_DURATION.labels(dataset=target_dataset).observe(time.perf_counter() - started)
    log.info(
        "upload done",
        dataset=target_dataset,
        s3_uri=stored.s3_uri,
        size=stored.size,
        sha256=stored.sha256,
        deduplicated=stored.deduplicated,
    )
    return UploadResult.of(stored)


async def _body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        yield chunk

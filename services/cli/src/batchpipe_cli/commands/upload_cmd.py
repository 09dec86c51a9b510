"""``batchpipe upload FILE --dataset NAME [--via-service]``: a local file to S3."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.progress import Progress

    from batchpipe_uploader.multipart import StoredObject
    from batchpipe_uploader.settings import UploaderSettings

READ_SIZE = 1024 * 1024


def stack_defaults() -> None:
    """Fill unset ``BATCHPIPE_*`` variables from the local stack's env file, when there is one."""
    import os

    from batchpipe_cli.stack.config import StackConfig
    from batchpipe_cli.stack.envfile import read_env_file

    env_file = StackConfig.load(None).env_file
    if env_file.exists():
        for key, value in read_env_file(str(env_file)).items():
            os.environ.setdefault(key, value)


def _progress() -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from batchpipe_cli.console import console

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


async def _direct(settings: UploaderSettings, path: Path, dataset: str, size: int) -> StoredObject:
    from batchpipe_common.s3 import s3_client
    from batchpipe_uploader.multipart import upload_file

    with _progress() as bar:
        hashing = bar.add_task("sha256", total=size)
        sending = bar.add_task("upload", total=size)
        async with s3_client(settings) as s3:
            return await upload_file(
                s3,
                settings.s3_bucket,
                dataset,
                path,
                part_size=settings.uploader_part_size,
                progress=lambda n: bar.advance(sending, n),
                hashed=lambda n: bar.advance(hashing, n),
            )


async def upload_via_service(path: Path, dataset: str, size: int) -> dict[str, object]:
    import os
    from collections.abc import AsyncIterator

    import anyio
    import httpx

    from batchpipe_cli.console import fail

    url = os.environ.get("BATCHPIPE_UPLOADER_URL")
    if not url:
        fail("BATCHPIPE_UPLOADER_URL is required with --via-service but not set")
    token = os.environ.get("BATCHPIPE_API_TOKEN")
    headers = {"Content-Type": "application/octet-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with _progress() as bar:
        task = bar.add_task("upload", total=size)

        async def body() -> AsyncIterator[bytes]:
            async with await anyio.open_file(path, "rb") as fh:
                while chunk := await fh.read(READ_SIZE):
                    bar.advance(task, len(chunk))
                    yield chunk

        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=None)) as client:
                response = await client.post(
                    f"{url.rstrip('/')}/v1/uploads",
                    params={"dataset": dataset, "file_name": path.name},
                    content=body(),
                    headers=headers,
                )
        except httpx.HTTPError as exc:
            fail(
                f"the uploader at {url} did not answer ({type(exc).__name__}); start it with "
                "`batchpipe stack up` (`batchpipe stack status` shows it) or fix "
                "BATCHPIPE_UPLOADER_URL"
            )
    if response.status_code in (401, 403):
        fail(
            f"the uploader at {url} refused the token ({response.status_code}); set "
            "BATCHPIPE_API_TOKEN to the stack's token (`batchpipe stack env` prints it)"
        )
    if response.status_code != 200:
        detail = " ".join(response.text.split())[:300]
        fail(f"the uploader answered {response.status_code}: {detail}")
    result: dict[str, object] = response.json()
    return result


def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset contract name")],
    via_service: Annotated[
        bool, typer.Option("--via-service", help="Send through the uploader service")
    ] = False,
) -> None:
    """Upload FILE to S3 under its dataset and content hash (stored once per content)."""
    import asyncio

    from botocore.exceptions import BotoCoreError

    from batchpipe_cli.console import console, fail
    from batchpipe_common.contracts import ContractError, load_contracts
    from batchpipe_common.settings import SettingsError, load_settings
    from batchpipe_uploader.multipart import UploadError
    from batchpipe_uploader.settings import UploaderSettings

    stack_defaults()
    if via_service:
        result = asyncio.run(upload_via_service(file, dataset, file.stat().st_size))
    else:
        try:
            settings = load_settings(UploaderSettings)
            if dataset not in load_contracts(settings.contracts_dir):
                fail(f"unknown dataset {dataset!r}")
            stored = asyncio.run(_direct(settings, file, dataset, file.stat().st_size))
        except (SettingsError, ContractError, UploadError) as exc:
            fail(str(exc))
        except BotoCoreError as exc:
            fail(
                f"S3 did not answer ({type(exc).__name__}: {exc}); start the stack with "
                "`batchpipe stack up` or fix BATCHPIPE_S3_ENDPOINT_URL"
            )
        result = {
            "dataset": stored.dataset,
            "s3_uri": stored.s3_uri,
            "sha256": stored.sha256,
            "size": stored.size,
            "etag": stored.etag,
            "deduplicated": stored.deduplicated,
        }
    for key, value in result.items():
        console.print(f"{key}: {value}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(upload)

"""Settings of the uploader: the shared endpoints, the inbox folder and the part size."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from batchpipe_common.settings import ServiceSettings


class UploaderSettings(ServiceSettings):
    inbox_dir: Path = Field(description="Folder whose files may be uploaded by reference")
    uploader_part_size: int = Field(
        default=8 * 1024 * 1024,
        ge=5 * 1024 * 1024,
        le=5 * 1024**3,
        description="Multipart part size in bytes; memory per upload is bounded by it",
    )

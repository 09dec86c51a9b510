"""Request and response bodies of the uploader API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from batchpipe_uploader.multipart import StoredObject


class InboxUpload(BaseModel):
    dataset: str = Field(description="name of the dataset contract")
    path: str = Field(description="file path relative to the inbox folder")


class UploadResult(BaseModel):
    dataset: str
    s3_uri: str
    sha256: str
    size: int
    etag: str
    deduplicated: bool = Field(description="true when the same content was already stored")

    @classmethod
    def of(cls, stored: StoredObject) -> UploadResult:
        return cls(
            dataset=stored.dataset,
            s3_uri=stored.s3_uri,
            sha256=stored.sha256,
            size=stored.size,
            etag=stored.etag,
            deduplicated=stored.deduplicated,
        )

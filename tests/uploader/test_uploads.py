"""The uploader against the real stack's S3 API server."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import httpx
import pytest

from batchpipe_cli.stack.config import StackConfig
from batchpipe_common.s3 import parse_s3_uri, s3_client
from batchpipe_common.settings import EndpointSettings, load_settings
from batchpipe_uploader.app import build_app
from batchpipe_uploader.multipart import STAGING_PREFIX, UploadError, upload_file
from batchpipe_uploader.settings import UploaderSettings

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


def _inbox() -> Path:
    return Path(os.environ["BATCHPIPE_INBOX_DIR"])


async def test_streamed_upload_is_stored_once_with_metadata(
    uploader: httpx.AsyncClient, endpoints: EndpointSettings
) -> None:
    data = random.randbytes(11 * MiB)  # a multipart upload: 8 MiB + 3 MiB parts
    params = {"dataset": "bank_transactions", "file_name": "big file é.csv"}
    first = (await uploader.post("/v1/uploads", params=params, content=data)).json()
    second = (await uploader.post("/v1/uploads", params=params, content=data)).json()
    sha = hashlib.sha256(data).hexdigest()
    assert first["sha256"] == sha and first["size"] == len(data)
    assert (first["deduplicated"], second["deduplicated"]) == (False, True)
    assert first["s3_uri"] == second["s3_uri"]
    bucket, key = parse_s3_uri(first["s3_uri"])
    assert key == f"bank_transactions/sha256={sha}/big_file__.csv"
    async with s3_client(endpoints) as s3:
        head = await s3.head_object(Bucket=bucket, Key=key)
        assert head["Metadata"]["sha256"] == sha
        assert head["Metadata"]["dataset"] == "bank_transactions"
        listing = await s3.list_objects_v2(Bucket=bucket, Prefix=f"bank_transactions/sha256={sha}/")
        assert len(listing["Contents"]) == 1
        staging = await s3.list_objects_v2(Bucket=bucket, Prefix=STAGING_PREFIX)
        assert not staging.get("Contents")
        uploads = await s3.list_multipart_uploads(Bucket=bucket)
        assert not uploads.get("Uploads")


async def test_inbox_file_upload_is_stored_intact_and_once(
    uploader: httpx.AsyncClient, endpoints: EndpointSettings
) -> None:
    data = random.randbytes(16 * MiB)  # three parts of 5 MiB and one of 1 MiB below
    (_inbox() / "sub").mkdir(parents=True, exist_ok=True)
    path = _inbox() / "sub" / "inbox-file.csv"
    path.write_bytes(data)
    body = {"dataset": "bank_transactions", "path": "sub/inbox-file.csv"}
    first = await uploader.post("/v1/uploads", json=body)
    assert first.status_code == 200, first.text
    assert first.json()["sha256"] == hashlib.sha256(data).hexdigest()
    assert first.json()["deduplicated"] is False
    settings = load_settings(UploaderSettings)
    async with s3_client(endpoints) as s3:
        sent: list[int] = []
        again = await upload_file(
            s3,
            settings.s3_bucket,
            "bank_transactions",
            path,
            part_size=5 * MiB,
            progress=sent.append,
        )
        assert sent == [], "a file stored already is not sent again"
        bucket, key = parse_s3_uri(again.s3_uri)
        stored = await s3.get_object(Bucket=bucket, Key=key)
        assert await stored["Body"].read() == data
        assert stored["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
        staging = await s3.list_objects_v2(Bucket=bucket, Prefix=STAGING_PREFIX)
        assert not staging.get("Contents")
        uploads = await s3.list_multipart_uploads(Bucket=bucket)
        assert not uploads.get("Uploads")
    assert again.deduplicated is True
    assert again.s3_uri == first.json()["s3_uri"]


async def test_parts_of_a_text_file_are_stored_as_sent(
    uploader: httpx.AsyncClient, endpoints: EndpointSettings
) -> None:
    """SeaweedFS's volume server gzips a part it sniffs as text, and unzips it on every read:
    the parts of an inbox file go as opaque bytes, straight to its key, and are stored as sent
    (a streamed body's are too, but SeaweedFS's server-side copy to the final key gzips anew).
    The filer's chunk list does not say whether the volume server compressed a chunk; the
    volume server does, when asked for the chunk as stored (``Accept-Encoding: gzip``)."""
    config = StackConfig.load()
    if config.s3_backend != "seaweedfs":
        pytest.skip("only SeaweedFS compresses what it stores")
    line = f"2026-01-01T00:00:00Z,ACC-{random.randrange(1 << 30)},DEPOSIT,123.45,EUR\n".encode()
    data = line * (11 * MiB // len(line))  # two parts of CSV text, new each run (not deduplicated)
    (_inbox() / "text.csv").write_bytes(data)
    body = {"dataset": "bank_transactions", "path": "text.csv"}
    answer = await uploader.post("/v1/uploads", json=body)
    assert answer.status_code == 200, answer.text
    bucket, key = parse_s3_uri(answer.json()["s3_uri"])
    filer = f"http://127.0.0.1:{config.ports['seaweedfs_filer']}"
    volume = f"http://127.0.0.1:{config.ports['seaweedfs_volume']}"
    async with httpx.AsyncClient() as client:
        entry = await client.get(f"{filer}/buckets/{bucket}/{key}", params={"metadata": "true"})
        chunks = entry.json()["chunks"]
        stored_as = [
            (
                await client.get(
                    f"{volume}/{chunk['file_id']}", headers={"Accept-Encoding": "gzip"}
                )
            ).headers.get("Content-Encoding", "as sent")
            for chunk in chunks
        ]
    assert sum(int(chunk["size"]) for chunk in chunks) == len(data)
    assert stored_as == ["as sent"] * len(chunks)
    async with s3_client(endpoints) as s3:
        stored = await s3.get_object(Bucket=bucket, Key=key)
        assert await stored["Body"].read() == data


@pytest.mark.parametrize(
    ("path", "status"),
    [("../env", 403), ("/etc/passwd", 400), ("escape-link", 403), ("missing.csv", 404)],
)
async def test_paths_outside_the_inbox_are_refused(
    uploader: httpx.AsyncClient, path: str, status: int
) -> None:
    link = _inbox() / "escape-link"
    if not link.is_symlink():
        link.symlink_to("/etc/hostname")
    response = await uploader.post(
        "/v1/uploads", json={"dataset": "bank_transactions", "path": path}
    )
    assert response.status_code == status, response.text


async def test_bad_requests(uploader: httpx.AsyncClient) -> None:
    unknown = await uploader.post(
        "/v1/uploads", params={"dataset": "nope", "file_name": "a.csv"}, content=b"x"
    )
    assert unknown.status_code == 404
    no_name = await uploader.post(
        "/v1/uploads", params={"dataset": "bank_transactions"}, content=b"x"
    )
    assert no_name.status_code == 400
    no_token = await uploader.post(
        "/v1/uploads",
        params={"dataset": "bank_transactions", "file_name": "a.csv"},
        content=b"x",
        headers={"Authorization": ""},
    )
    assert no_token.status_code == 401


async def test_s3_unreachable_gives_503(stack_env: dict[str, str]) -> None:
    settings = load_settings(
        UploaderSettings, s3_endpoint_url="http://127.0.0.1:9", log_format="console"
    )
    app = build_app(settings)
    token = stack_env["BATCHPIPE_API_TOKEN"]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers={"Authorization": f"Bearer {token}"},
        ) as client,
    ):
        response = await client.post(
            "/v1/uploads",
            params={"dataset": "bank_transactions", "file_name": "a.csv"},
            content=b"some bytes",
        )
        assert response.status_code == 503, response.text
        assert "S3 unavailable" in response.json()["detail"]
        assert (await client.get("/readyz")).status_code == 503


async def test_a_file_that_changes_while_read_is_refused(endpoints: EndpointSettings) -> None:
    path = _inbox() / "growing.csv"
    path.write_bytes(random.randbytes(12 * MiB))
    grown: list[int] = []

    def grow(_read: int) -> None:  # a writer appends while the upload reads
        if not grown:
            with path.open("ab") as out:
                grown.append(out.write(b"one more line\n"))

    settings = load_settings(UploaderSettings)
    async with s3_client(endpoints) as s3:
        with pytest.raises(UploadError, match="changed while"):
            await upload_file(
                s3, settings.s3_bucket, "bank_transactions", path, part_size=5 * MiB, progress=grow
            )
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        stored = await s3.list_objects_v2(
            Bucket=settings.s3_bucket, Prefix=f"bank_transactions/sha256={sha}/"
        )
        assert not stored.get("Contents")
        staging = await s3.list_objects_v2(Bucket=settings.s3_bucket, Prefix=STAGING_PREFIX)
        assert not staging.get("Contents")
        uploads = await s3.list_multipart_uploads(Bucket=settings.s3_bucket)
        assert not uploads.get("Uploads")


async def test_a_file_changed_between_hashing_and_upload_is_refused(
    endpoints: EndpointSettings,
) -> None:
    """Rewritten in place after its first MiB was hashed, same size, modification time put
    back: only the second read's hash can tell, and nothing is stored."""
    path = _inbox() / "rewritten.csv"
    original = random.randbytes(12 * MiB)
    path.write_bytes(original)
    rewritten: list[bool] = []

    def rewrite(_hashed: int) -> None:
        if not rewritten:
            stat = path.stat()
            with path.open("r+b") as out:
                out.write(random.randbytes(MiB))
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            rewritten.append(True)

    settings = load_settings(UploaderSettings)
    async with s3_client(endpoints) as s3:
        with pytest.raises(UploadError, match="changed between"):
            await upload_file(
                s3, settings.s3_bucket, "bank_transactions", path, part_size=5 * MiB, hashed=rewrite
            )
        for content in (original, path.read_bytes()):
            sha = hashlib.sha256(content).hexdigest()
            stored = await s3.list_objects_v2(
                Bucket=settings.s3_bucket, Prefix=f"bank_transactions/sha256={sha}/"
            )
            assert not stored.get("Contents")
        uploads = await s3.list_multipart_uploads(Bucket=settings.s3_bucket)
        assert not uploads.get("Uploads")

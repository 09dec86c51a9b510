"""The S3 client's part hook: every part goes with one ``Content-Type``, opaque bytes."""

from __future__ import annotations

from botocore.awsrequest import AWSRequest

from batchpipe_common.s3 import PART_CONTENT_TYPE, send_part_as_bytes


def test_a_part_goes_as_bytes() -> None:
    request = AWSRequest(method="PUT", url="http://s3/b/k?partNumber=1&uploadId=u", data=b"a,b\n")
    send_part_as_bytes(request)
    assert request.headers.get_all("Content-Type") == [PART_CONTENT_TYPE]


def test_a_content_type_already_there_is_replaced_not_doubled() -> None:
    """botocore's headers keep duplicates; two ``Content-Type`` break the signature."""
    request = AWSRequest(method="PUT", url="http://s3/b/k", headers={"Content-Type": "text/csv"})
    send_part_as_bytes(request)
    assert request.headers.get_all("Content-Type") == [PART_CONTENT_TYPE]

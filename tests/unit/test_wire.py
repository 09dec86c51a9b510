"""The wire format's fast paths give exactly what its models give."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from batchpipe_common.wire import DeadLetter, FieldError

TEXTS = [
    "2024-01-31,RETAIL,Pune,abc,3",
    'quoted "value", with \\ backslash',
    "tab\there, newline\nthere, carriage\rreturn, bell\x07, unit\x1f, del\x7f",
    "unicode: café, 東京, emoji 🙂, nbsp\u00a0, line sep\u2028",
    "escaped bytes as the producer writes them: \\xff\\xfe",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_dead_letter_encode_is_the_models_json(text: str) -> None:
    fields: dict[str, Any] = {
        "batch_id": "bank_transactions-v1-0123456789abcdef0123",
        "dataset": "bank_transactions",
        "source_uri": f"s3://inbox/{text[:5]}.csv",
        "source_row": 123_456_789,
        "raw_line": text,
        "raw_truncated": bool(len(text) % 2),
    }
    errors = [
        FieldError(column="total_amount", value=text, reason=f"not a number: {text}"),
        FieldError(column=None, value=None, reason="expected 5 columns, found 4"),
    ]
    encoded = DeadLetter.encode(**fields, errors=errors)
    model = DeadLetter(**fields, errors=errors)
    assert encoded == model.to_bytes()
    assert DeadLetter.model_validate_json(encoded) == model


def test_dead_letter_encode_names_every_field_of_the_model() -> None:
    encoded = orjson.loads(
        DeadLetter.encode(
            batch_id="b",
            dataset="d",
            source_uri="s3://x/y",
            source_row=1,
            raw_line="x",
            raw_truncated=False,
            errors=[],
        )
    )
    assert list(encoded) == list(DeadLetter.model_fields)
    assert list(FieldError.model_fields) == ["column", "value", "reason"]

"""Splitting a chunk body into CSV records (the refused-chunk path) honours quoting."""

from __future__ import annotations

from batchpipe_sink.csv_records import field_of, split_records


def test_split_keeps_quoted_line_feeds_and_doubled_quotes() -> None:
    body = b'a,1\n"x\ny","say ""hi""\n",2\nlast,3'
    records = split_records(body)
    assert records == [b"a,1\n", b'"x\ny","say ""hi""\n",2\n', b"last,3\n"]
    assert field_of(records[1], 1) == 'say "hi"\n'
    assert field_of(records[1], 2) == "2"


def test_field_of_an_unparseable_or_short_record_is_none() -> None:
    assert field_of(b"a,b\n", 5) is None
    assert field_of(b'"open,b\n', 0) is None

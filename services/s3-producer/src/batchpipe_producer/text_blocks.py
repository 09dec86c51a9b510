"""A CSV stream as decoded blocks of whole lines, read line by line or taken by the fast path.

The bytes are cut into blocks at the last line break and each block is decoded on its own. A
block that is not valid in the contract's encoding is decoded with ``surrogateescape``: the
rows that hold the bad bytes are rejected when their chunk is encoded, the others go through.
Clean blocks (see ``csv_fast``) are also parsed by Arrow when a parser is given.

``LineFeed`` is the iterator the ``csv.reader`` pulls its lines from. The reader never reads
ahead of the record it returns, so between two records the feed is at a record boundary and
the fast path may take the next lines directly (``clean_rows`` then ``skip``); the feed's
``line_num`` counts every line handed out or skipped, as the reader's own would have. The
blocks of the current group (and the lookahead) are kept to recover the raw text of a
rejected record.
"""

from __future__ import annotations

import codecs
import io
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import BinaryIO

import pyarrow as pa

from batchpipe_producer.csv_fast import CleanBlockParser, is_clean
from batchpipe_producer.errors import UnreadableSource

BLOCK_SIZE = 1024 * 1024
MAX_LINE = 64 * 1024 * 1024
"""A physical line longer than this fails the run instead of growing memory without bound."""
KEPT_BLOCKS = 16
"""Blocks kept at most for raw-text lookup (more only while they are still ahead)."""


class Block:
    """Whole lines of the object; the text is decoded when the exact path first needs it."""

    def __init__(
        self,
        first_line: int,
        count: int,
        data: bytes,
        encoding: str,
        text: str | None = None,
        clean: pa.Table | None = None,
        clean_from: int = 0,
    ) -> None:
        self.first_line = first_line
        """0-based number, in the object, of the block's first line (the header is line 0)."""
        self.count = count
        self.end = first_line + count
        self.clean = clean
        """The lines from ``clean_from`` on, parsed by Arrow, when they are clean."""
        self.clean_from = clean_from
        self._data = data
        self._encoding = encoding
        self._text = text

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = _decode(self._data, self._encoding)[0]
        return self._text


def _decode(data: bytes, encoding: str) -> tuple[str, bool]:
    """The text, and whether it decoded strictly (else undecodable bytes are surrogates)."""
    try:
        return data.decode(encoding), True
    except UnicodeDecodeError:
        return data.decode(encoding, "surrogateescape"), False


def _strict_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _line_count(text: str) -> int:
    count = text.count("\n") + text.count("\r") - text.count("\r\n")
    return count + 1 if text and text[-1] not in "\r\n" else count


class TextBlocks:
    """Reads, cuts and decodes the stream; ``__iter__`` yields ``Block``s."""

    def __init__(
        self,
        stream: BinaryIO,
        encoding: str,
        check: Callable[[], None],
        block_size: int = BLOCK_SIZE,
        parser: CleanBlockParser | None = None,
        header: bool = True,
    ) -> None:
        if "\n,\"'".encode(encoding, "replace") != b"\n,\"'":
            raise UnreadableSource(
                f"encoding {encoding!r} is not ASCII-compatible; the CSV reader needs one"
            )
        self.stream = stream
        self.encoding = encoding
        self.check = check
        self.block_size = block_size
        self.parser = parser
        self.header = header
        self.bytes_seen = 0
        self.lines_seen = 0
        self._utf8 = codecs.lookup(encoding).name == "utf-8"

    def _block(self, data: bytes) -> Block:
        first = self.lines_seen
        block = self._clean_block(data, first) if self.parser is not None else None
        if block is None:
            text, _ = _decode(data, self.encoding)
            block = Block(first, _line_count(text), data, self.encoding, text)
        self.lines_seen = block.end
        return block

    def _clean_block(self, data: bytes, first: int) -> Block | None:
        """The block with its lines parsed by Arrow, when they are clean (and valid UTF-8)."""
        assert self.parser is not None
        skip = 0
        if first == 0 and self.header:
            skip = data.find(b"\n") + 1
            if skip == 0:
                return None
        rest = data[skip:] if skip else data
        if not rest or not is_clean(rest) or not _strict_utf8(rest):
            return None
        lines = rest.count(b"\n") + (0 if rest.endswith(b"\n") else 1)
        table = self.parser.parse(rest, lines)
        if table is None:
            return None
        head = data[:skip]
        head_lines = head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n")
        return Block(
            first, head_lines + lines, data, self.encoding, None, table, first + head_lines
        )

    def __iter__(self) -> Iterator[Block]:
        carry = b""
        first = True
        while True:
            self.check()
            data = self.stream.read(self.block_size)
            if not data:
                break
            self.bytes_seen += len(data)
            if first and self._utf8 and data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8) :]
            first = False
            buf = carry + data if carry else data
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                if len(buf) > MAX_LINE:
                    raise UnreadableSource(f"a line is longer than {MAX_LINE} bytes")
                carry = buf
                continue
            carry = buf[cut:]
            yield self._block(buf[:cut])
        if carry:
            yield self._block(carry)


class LineFeed:
    """The lines of the blocks, for a ``csv.reader``, with a fast path around it."""

    def __init__(self, blocks: TextBlocks) -> None:
        self.source = blocks
        self._blocks = iter(blocks)
        self._kept: deque[Block] = deque()
        self._lines: Iterator[str] | None = None
        self._done = False
        self.line_num = 0

    def __iter__(self) -> LineFeed:
        return self

    def __next__(self) -> str:
        while True:
            if self._lines is None:
                block = self._block_at(self.line_num)
                if block is None:
                    raise StopIteration
                lines = iter(io.StringIO(block.text, newline=""))
                self._lines = islice(lines, self.line_num - block.first_line, None)
            line = next(self._lines, None)
            if line is not None:
                self.line_num += 1
                return line
            self._lines = None

    def _load(self) -> bool:
        if self._done:
            return False
        block = next(self._blocks, None)
        if block is None:
            self._done = True
            return False
        self._kept.append(block)
        return True

    def _block_at(self, line: int) -> Block | None:
        """The block holding ``line``, loading blocks as needed; None past the end."""
        while not self._kept or self._kept[-1].end <= line:
            if not self._load():
                return None
        for block in self._kept:
            if block.end > line:
                return block
        return None

    def mark(self) -> None:
        """A group starts here: forget blocks entirely before it (beyond the lookahead cap)."""
        while self._kept and self._kept[0].end <= self.line_num:
            self._kept.popleft()
        while len(self._kept) > KEPT_BLOCKS and self._kept[0].first_line < self.line_num:
            self._kept.popleft()

    def clean_rows(self, count: int) -> pa.Table | None:
        """The next ``count`` lines (fewer at the end) as Arrow rows, if all of them are clean."""
        start = self.line_num
        end = start + count
        while (not self._kept or self._kept[-1].end < end) and self._load():
            pass
        parts = []
        for block in self._kept:
            if block.end <= start:
                continue
            if block.first_line >= end:
                break
            if block.clean is None or block.clean_from > start:
                return None
            stop = min(end, block.end)
            parts.append(block.clean.slice(start - block.clean_from, stop - start))
            start = stop
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else pa.concat_tables(parts)

    def skip(self, count: int) -> None:
        """Move past ``count`` lines the fast path has taken."""
        self.line_num += count
        self._lines = None

    def raw(self, start: int, end: int) -> str:
        """Source text of lines ``start`` to ``end`` (0-based, end excluded), if still kept."""
        parts: list[str] = []
        for block in self._kept:
            if block.end <= start or block.first_line >= end:
                continue
            lines = io.StringIO(block.text, newline="").readlines()
            parts.extend(lines[max(0, start - block.first_line) : end - block.first_line])
        raw = "".join(parts)
        if raw.endswith("\r\n"):
            return raw[:-2]
        return raw[:-1] if raw.endswith(("\n", "\r")) else raw

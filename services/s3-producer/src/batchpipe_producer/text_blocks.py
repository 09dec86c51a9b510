"""A CSV stream as decoded blocks of whole lines, read line by line or taken as clean rows.

The bytes are cut into blocks at the last line break; the lines before the header
(``dialect.skip_rows``) and comment lines (``dialect.comment``) are dropped there, so no
other part sees them. Each block is decoded on its own. A block that is not valid in the
contract's encoding is decoded with ``surrogateescape``: the rows that hold the bad bytes are
rejected by the validator (``invalid byte sequence``), the others go through.

A *clean* block (strict UTF-8 without a quote, escape, NUL or lone carriage return) is one
record per line: Arrow splits it into string columns (``clean_lines``) and the block never
meets the ``csv`` module.

``LineFeed`` is the iterator the ``csv.reader`` pulls the other lines from. The reader never
reads ahead of the record it returns, so between two records the feed is at a record boundary
and clean rows may be taken directly (``clean_rows`` then ``skip``); the feed's ``line_num``
counts every line handed out or skipped, as the reader's own would have. The blocks of the
current group (and the lookahead) are kept to recover the raw text of a rejected record.
"""

from __future__ import annotations

import codecs
import io
import re
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import BinaryIO

from batchpipe_common.contracts import Dialect
from batchpipe_producer.clean_lines import CleanBlockParser, CleanRows
from batchpipe_producer.errors import UnreadableSource

BLOCK_SIZE = 1024 * 1024
MAX_LINE = 64 * 1024 * 1024
"""A physical line longer than this fails the run instead of growing memory without bound."""
KEPT_BLOCKS = 16
"""Blocks kept at most for raw-text lookup (more only while they are still ahead)."""


class Block:
    """Whole lines of the object; the text is decoded when the line path first needs it."""

    def __init__(
        self,
        first_line: int,
        count: int,
        data: bytes,
        encoding: str,
        text: str | None = None,
        clean_from: int | None = None,
    ) -> None:
        self.first_line = first_line
        """0-based number, in the object, of the block's first line (the header is line 0)."""
        self.count = count
        self.end = first_line + count
        self.clean_from = clean_from
        """The first line from which the block is clean (None: it is not)."""
        self._data = data
        self._encoding = encoding
        self._text = text
        self._clean: CleanRows | None = None
        self._lines: list[str] | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = _decode(self._data, self._encoding)[0]
        return self._text

    @property
    def lines(self) -> list[str]:
        """The block's lines with their line ends (split once, for raw-text lookups)."""
        if self._lines is None:
            self._lines = io.StringIO(self.text, newline="").readlines()
        return self._lines

    def clean(self, parser: CleanBlockParser, width: int) -> CleanRows:
        """The clean lines split into ``width`` columns (parsed once)."""
        assert self.clean_from is not None
        if self._clean is None:
            skip = 0
            for _ in range(self.clean_from - self.first_line):
                skip = self._data.index(b"\n", skip) + 1
            self._clean = parser.parse(self._data[skip:], self.end - self.clean_from, width)
        return self._clean


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
        dialect: Dialect,
        check: Callable[[], None],
        block_size: int = BLOCK_SIZE,
    ) -> None:
        encoding = dialect.encoding
        if "\n,\"'".encode(encoding, "replace") != b"\n,\"'":
            raise UnreadableSource(
                f"encoding {encoding!r} is not ASCII-compatible; the CSV reader needs one"
            )
        self.stream = stream
        self.encoding = encoding
        self.check = check
        self.block_size = block_size
        self.header = dialect.header
        self.bytes_seen = 0
        self.lines_seen = 0
        self._utf8 = codecs.lookup(encoding).name == "utf-8"
        self.parser = CleanBlockParser(dialect) if self._utf8 else None
        self._to_skip = dialect.skip_rows
        comment = dialect.comment
        self._comment = _comment_lines(comment.encode(encoding)) if comment else None

    def _block(self, data: bytes) -> Block | None:
        if self._to_skip:
            while self._to_skip and data:
                data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
                self._to_skip -= 1
        if self._comment is not None:
            data = self._comment(data)
        if not data:
            return None
        first = self.lines_seen
        block = self._clean_block(data, first) if self.parser is not None else None
        if block is None:
            text, _ = _decode(data, self.encoding)
            block = Block(first, _line_count(text), data, self.encoding, text)
        self.lines_seen = block.end
        return block

    def _clean_block(self, data: bytes, first: int) -> Block | None:
        """The block marked clean from its first record line on, when it is (and UTF-8)."""
        assert self.parser is not None
        skip = 0
        if first == 0 and self.header:
            skip = data.find(b"\n") + 1
            if skip == 0:
                return None
        rest = data[skip:] if skip else data
        if not rest or not self.parser.is_clean(rest) or not _strict_utf8(rest):
            return None
        lines = rest.count(b"\n") + (0 if rest.endswith(b"\n") else 1)
        head = data[:skip]
        head_lines = head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n")
        return Block(first, head_lines + lines, data, self.encoding, None, first + head_lines)

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
            block = self._block(buf[:cut])
            if block is not None:
                yield block
        if carry:
            block = self._block(carry)
            if block is not None:
                yield block


def _comment_lines(comment: bytes) -> Callable[[bytes], bytes]:
    """Drops the lines that start with ``comment`` from whole lines of bytes."""
    pattern = re.compile(rb"(?m)^" + re.escape(comment) + rb"[^\n]*(?:\n|$)")
    at_start = b"\n" + comment

    def drop(data: bytes) -> bytes:
        if data.startswith(comment) or at_start in data:
            return pattern.sub(b"", data)
        return data

    return drop


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

    def clean_rows(self, count: int, width: int) -> CleanRows | None:
        """The next ``count`` lines (fewer at the end) in ``width`` columns, if all are clean."""
        parser = self.source.parser
        if parser is None:
            return None
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
            if block.clean_from is None or block.clean_from > start:
                return None
            stop = min(end, block.end)
            rows = block.clean(parser, width)
            parts.append(rows.slice(start - block.clean_from, stop - start))
            start = stop
        if not parts:
            return None
        return CleanRows.concat(parts)

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
            lines = block.lines
            parts.extend(lines[max(0, start - block.first_line) : end - block.first_line])
        raw = "".join(parts)
        if raw.endswith("\r\n"):
            return raw[:-2]
        return raw[:-1] if raw.endswith(("\n", "\r")) else raw

"""Reading a plain pg_dump stream: COPY headers, per-table row counts, pg_dump's closing line.

A backup counts its rows from the dump stream itself (``CopyRowCounter``) instead of
extra queries; a restore's filter (``dump_filter``) parses the same COPY headers. Both
read identifiers as pg_dump writes them (``parse_copy_header``). A plain dump ends with
``DUMP_COMPLETE``: a stream without it is truncated. ``RefusedBackup`` is what a restore
raises when a stream holds more than a plain pg_dump writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lumidb.errors import UsageError

DUMP_COMPLETE = b"-- PostgreSQL database dump complete"
HEAD_CAP = 1 << 16  # a statement's first line is judged on at most this much


class RefusedBackup(UsageError):
    """The stream holds something a plain pg_dump does not write (exit 2)."""


def first_words(head: bytes) -> str:
    """A statement's first words (60 characters at most), for messages."""
    words = head.split()
    text = b" ".join(words[:3]).decode("utf-8", "replace")
    return text[:60] + ("…" if len(text) > 60 else "")


# --- the COPY header ----------------------------------------------------------------

IDENT = rb'(?:"(?:[^"\n]|"")+"|[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*)'
_COPY_HEADER_RE = re.compile(
    rb"COPY (" + IDENT + rb")(?:\.(" + IDENT + rb"))?"
    rb"(?: \((" + IDENT + rb"(?:, " + IDENT + rb")*)\))? FROM stdin;[ \t\r]*"
)
IDENT_RE = re.compile(IDENT)


@dataclass(frozen=True)
class CopyHeader:
    """``COPY schema.table (columns) FROM stdin;`` as pg_dump writes it, names unquoted."""

    schema: str | None
    table: str
    columns: tuple[str, ...]

    @property
    def qualified(self) -> str:
        """``schema.table`` (names unquoted), how a restore reports its rows."""
        return f"{self.schema}.{self.table}" if self.schema else self.table


def unquote_ident(raw: bytes | str) -> str:
    """A quoted name without its quotes (doubled quotes undone); a bare one in lower case."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text.lower()


def parse_copy_header(line: bytes) -> CopyHeader | None:
    """The COPY header on ``line`` (without its newline), or None when it is not one.

    Handles every identifier pg_dump writes: bare names, and quoted names holding
    spaces, quotes, dots or any other character but a newline.
    """
    match = _COPY_HEADER_RE.fullmatch(line)
    if match is None:
        return None
    first, second, columns = match.groups()
    schema, table = (first, second) if second is not None else (None, first)
    names = tuple(unquote_ident(m.group()) for m in IDENT_RE.finditer(columns or b""))
    return CopyHeader(
        schema=unquote_ident(schema) if schema is not None else None,
        table=unquote_ident(table),
        columns=names,
    )


# --- the backup's row counter -------------------------------------------------------


class CopyRowCounter:
    """Counts the rows of each ``COPY ... FROM stdin;`` block of a plain dump stream.

    Data rows in COPY text format escape backslashes, so the only line that is exactly
    ``\\.`` is a block's end. Work is per chunk (``find`` and ``count`` run at memchr
    speed); only the incomplete last line of a chunk is remembered, and inside a COPY
    block no more than its first bytes (enough to tell whether it is ``\\.``).
    Counts are keyed by the bare table name (``parse_copy_header``).
    """

    _HEADER_CAP = HEAD_CAP

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._table: str | None = None
        self._rows = 0
        self._partial = b""  # the unfinished line at the end of the last chunk
        self._partial_len = 0  # its real length (inside COPY, only a prefix is kept)

    def feed(self, data: bytes | bytearray, end: int | None = None) -> None:
        """Count ``data[:end]``."""
        end = len(data) if end is None else end
        pos = 0
        if self._partial_len:
            newline = data.find(b"\n", 0, end)
            if newline < 0:
                self._extend_partial(data, 0, end)
                return
            self._finish_line(data, newline)
            pos = newline + 1
        self._scan(data, pos, end)

    @property
    def in_copy(self) -> bool:
        return self._table is not None

    def _extend_partial(self, data: bytes | bytearray, start: int, end: int) -> None:
        room = (4 if self.in_copy else self._HEADER_CAP) - len(self._partial)
        if room > 0:
            self._partial += bytes(data[start : min(end, start + room)])
        self._partial_len += end - start

    def _finish_line(self, data: bytes | bytearray, newline: int) -> None:
        """The line begun in an earlier chunk ends at ``data[newline]``."""
        length = self._partial_len + newline
        if self.in_copy:
            line = self._partial + bytes(data[: min(newline, 4)])
            if length in (2, 3) and line[:length] in (b"\\.", b"\\.\r"):
                self._end_copy()
            else:
                self._rows += 1
        else:
            line = self._partial + bytes(data[: min(newline, self._HEADER_CAP)])
            self._header(line)
        self._partial = b""
        self._partial_len = 0

    def _scan(self, data: bytes | bytearray, pos: int, end: int) -> None:
        """Scan from ``pos``, which is at the start of a line."""
        while pos < end:
            if self.in_copy:
                marker = copy_end_at(data, pos, end)
                if marker:
                    self._end_copy()
                    pos += marker
                    continue
                # The whole end line at once (about twice as fast as find and a check).
                match = _COPY_END_LINE.search(data, pos, end)
                found = match.start() if match is not None else -1
                if found >= 0:
                    self._rows += data.count(b"\n", pos, found + 1)
                    pos = found + 1
                    continue
                self._rows += data.count(b"\n", pos, end)
                pos = data.rfind(b"\n", pos, end) + 1 or pos
                break
            if data.startswith(b"COPY ", pos, end):
                start = pos
            else:
                found = data.find(b"\nCOPY ", pos, end)
                if found < 0:
                    pos = data.rfind(b"\n", pos, end) + 1 or pos
                    break
                start = found + 1
            newline = data.find(b"\n", start, end)
            if newline < 0:
                pos = start
                break
            self._header(bytes(data[start:newline]))
            pos = newline + 1
        if pos < end:
            self._extend_partial(data, pos, end)

    def _header(self, line: bytes) -> None:
        header = parse_copy_header(line)
        if header is not None:
            self._table = header.table
            self._rows = 0

    def _end_copy(self) -> None:
        assert self._table is not None
        self.counts[self._table] = self.counts.get(self._table, 0) + self._rows
        self._table = None
        self._rows = 0


# A COPY block's end line after a newline (``\\.`` + LF or CRLF, as ``copy_end_at``).
_COPY_END_LINE = re.compile(rb"\n\\\.\r?\n")


def copy_end_at(data: bytes | bytearray, pos: int, end: int) -> int:
    """Length of the end-of-data line (``\\.`` + LF or CRLF, as psql reads it) at ``pos``, or 0."""
    if data.startswith(b"\\.\n", pos, end):
        return 3
    if data.startswith(b"\\.\r\n", pos, end):
        return 4
    return 0

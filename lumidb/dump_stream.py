"""Reading a plain pg_dump stream: COPY headers, row counts, and the restore's allowlist filter.

A backup file is data, never code. ``DumpFilter`` lets through only the statement forms
a plain ``pg_dump`` writes (read from PostgreSQL's ``src/bin/pg_dump``) and refuses the
file at the first anything else, BEFORE that statement is passed on: another psql
backslash command, transaction control, ``DROP``, roles, ``ALTER SYSTEM``/``DATABASE``,
``DO``, ``COPY`` to or from a program or file, server-side file functions. COPY data
passes through untouched, in slices, never split into lines; SQL is lexed once, as
psql lexes it (quotes, escape strings, dollar quotes, comments, parentheses), so the
work is linear in the input and memory is bounded by a chunk.

pg_dump's own exceptions, on purpose: ``\\restrict``/``\\unrestrict`` lines are dropped
(the restore puts its own ``\\restrict`` first); ownership and privilege statements are
dropped (DECISIONS: a backup of another role restores); ``SET`` of a setting the target
server does not know is dropped; statistics (``pg_restore_*_stats``) are dropped;
large objects are refused (they carry their own ``BEGIN``/``COMMIT``); objects of the
``lumidb`` schema (a full ``pg_dump`` of a lumidb-managed database) are skipped with a
note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lumidb.errors import UsageError

DUMP_COMPLETE = b"-- PostgreSQL database dump complete"
RECORD_SCHEMA = "lumidb"
HEAD_CAP = 1 << 16  # a statement's first line is judged on at most this much
_PENDING_CAP = 1 << 20  # an undecidable tail (a dollar tag, a meta-command line) longer: refused

# --- the COPY header ----------------------------------------------------------------

_IDENT = rb'(?:"(?:[^"\n]|"")+"|[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*)'
_COPY_HEADER_RE = re.compile(
    rb"COPY (" + _IDENT + rb")(?:\.(" + _IDENT + rb"))?"
    rb"(?: \((" + _IDENT + rb"(?:, " + _IDENT + rb")*)\))? FROM stdin;[ \t\r]*"
)
_IDENT_RE = re.compile(_IDENT)


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
    names = tuple(unquote_ident(m.group()) for m in _IDENT_RE.finditer(columns or b""))
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
                marker = _copy_end_at(data, pos, end)
                if marker:
                    self._end_copy()
                    pos += marker
                    continue
                # The needle ends in ".", rare in data, so the search skips fast.
                found = data.find(b"\n\\.", pos, end)
                while found >= 0 and not _copy_end_at(data, found + 1, end):
                    found = data.find(b"\n\\.", found + 1, end)
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


def _copy_end_at(data: bytes | bytearray, pos: int, end: int) -> int:
    """Length of the end-of-data line (``\\.`` + LF or CRLF, as psql reads it) at ``pos``, or 0."""
    if data.startswith(b"\\.\n", pos, end):
        return 3
    if data.startswith(b"\\.\r\n", pos, end):
        return 4
    return 0


# --- the allowlist ------------------------------------------------------------------

_KEPT_RE = re.compile(
    rb"""(?:
      CREATE\ (?:OR\ REPLACE\ )?(?:
          (?:UNLOGGED\ |FOREIGN\ )?TABLE | (?:RECURSIVE\ )?VIEW | MATERIALIZED\ VIEW
        | SEQUENCE | (?:UNIQUE\ )?INDEX | TYPE | DOMAIN | FUNCTION | PROCEDURE | AGGREGATE
        | OPERATOR(?:\ CLASS|\ FAMILY)? | (?:CONSTRAINT\ )?TRIGGER | RULE | POLICY
        | STATISTICS | COLLATION | (?:DEFAULT\ )?CONVERSION
        | TEXT\ SEARCH\ (?:CONFIGURATION|DICTIONARY|PARSER|TEMPLATE)
        | EXTENSION\ IF\ NOT\ EXISTS | SCHEMA )[ ]
    | ALTER\ (?:TABLE|FOREIGN\ TABLE|SEQUENCE|INDEX|TYPE|DOMAIN|FUNCTION|PROCEDURE|AGGREGATE
        | VIEW|MATERIALIZED\ VIEW|STATISTICS|OPERATOR(?:\ CLASS|\ FAMILY)?|COLLATION
        | CONVERSION|TEXT\ SEARCH\ (?:CONFIGURATION|DICTIONARY))[ ]
    | COMMENT\ ON\ (?:TABLE|COLUMN|INDEX|SEQUENCE|VIEW|MATERIALIZED\ VIEW|TYPE|DOMAIN
        | FUNCTION|PROCEDURE|AGGREGATE|CONSTRAINT|TRIGGER|RULE|POLICY|SCHEMA|EXTENSION
        | FOREIGN\ TABLE|OPERATOR|COLLATION|CONVERSION|TEXT\ SEARCH|STATISTICS)[ ]
    | REFRESH\ MATERIALIZED\ VIEW[ ]
    )""",
    re.VERBOSE,
)
_ROUTINE_RE = re.compile(rb"CREATE (?:OR REPLACE )?(?:FUNCTION|PROCEDURE) ")
_DROPPED_RE = re.compile(
    rb"(?:ALTER [A-Z ]+ .* OWNER TO |GRANT |REVOKE |ALTER DEFAULT PRIVILEGES )"
)
_STATS_RE = re.compile(rb"SELECT \* FROM pg_catalog\.pg_restore_(?:relation|attribute)_stats\(")
_SET_RE = re.compile(
    rb"SET ([a-z_]+) (?:=|TO) ('(?:[^'\n]|'')*'|[A-Za-z0-9_.\-]+(?:, *[A-Za-z0-9_.\-\"]+)*);[ \t\r]*"
)
_SEARCH_PATH_RESET = b"SELECT pg_catalog.set_config('search_path', '', false);"
_SETVAL_RE = re.compile(
    rb"SELECT pg_catalog\.setval\('((?:[^'\n]|'')+)', -?\d+, (?:true|false)\);[ \t\r]*"
)
_SCHEMA_STMT_RE = re.compile(
    rb"(?:CREATE SCHEMA(?: IF NOT EXISTS)?|COMMENT ON SCHEMA) (" + _IDENT + rb")"
)
_RESTRICT_RE = re.compile(rb"\\(?:un)?restrict [A-Za-z0-9]+[ \t\r]*")
# Settings a plain pg_dump writes (pg_backup_archiver.c _doSetFixedOutputState and friends).
_DUMP_SETTINGS = frozenset(
    {
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
        "transaction_timeout",
        "client_encoding",
        "standard_conforming_strings",
        "check_function_bodies",
        "xmloption",
        "client_min_messages",
        "row_security",
        "default_tablespace",
        "default_table_access_method",
        "default_with_oids",
        "search_path",
        "escape_string_warning",
    }
)
# Client encodings where a multibyte character can hold a quote or backslash byte: psql
# would lex the rest of the stream differently from this filter.
_UNSAFE_ENCODINGS = frozenset(
    {b"sjis", b"shift_jis_2004", b"big5", b"gbk", b"uhc", b"gb18030", b"johab"}
)
# Names whose owner the object belongs to: the record schema's objects are skipped.
_RECORD_OBJECT_RE = re.compile(
    rb"""(?:
      (?:CREATE|ALTER|COMMENT\ ON)\ [A-Z ]*?(?:ONLY\ |IF\ NOT\ EXISTS\ |IF\ EXISTS\ )?"?lumidb"?\.
    | CREATE\ (?:UNIQUE\ )?INDEX\ \S+\ ON\ (?:ONLY\ )?"?lumidb"?\.
    | CREATE\ (?:CONSTRAINT\ )?TRIGGER\ .*\ ON\ "?lumidb"?\.
    | (?:CREATE\ SCHEMA|COMMENT\ ON\ SCHEMA|ALTER\ SCHEMA)\ "?lumidb"?[ ;]
    | SELECT\ pg_catalog\.setval\('"?lumidb"?\.
    )""",
    re.VERBOSE,
)
# The schema of the object a CREATE or ALTER is about (an index or trigger: of its table).
_OBJECT_SCHEMA_RE = re.compile(
    rb"(?:CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?"
    + _IDENT
    + rb" ON (?:ONLY )?("
    + _IDENT
    + rb")\.|(?:CREATE|ALTER)(?: [A-Z]+)+? (?:ONLY |IF NOT EXISTS |IF EXISTS )?("
    + _IDENT
    + rb")\.)"
)
# Server-side file and program access, anywhere outside COPY data (also inside quotes).
_SERVER_FILE_RE = re.compile(
    rb"(?i)\b(?:pg_read_file|pg_read_binary_file|pg_ls_dir|pg_stat_file|lo_import|lo_export"
    rb"|pg_file_write|pg_file_rename|pg_file_unlink|dblink\w*)\b"
)
_TX_WORDS = (b"BEGIN", b"COMMIT", b"ROLLBACK", b"SAVEPOINT", b"RELEASE", b"END", b"ABORT", b"START")


class RefusedBackup(UsageError):
    """The stream holds something a plain pg_dump does not write (exit 2)."""


@dataclass(frozen=True)
class _Statement:
    action: str  # "keep" | "drop" | "skip" (the record schema) | "copy"
    routine: bool = False
    copy: CopyHeader | None = None


def _what(head: bytes) -> str:
    words = head.split()
    text = b" ".join(words[:3]).decode("utf-8", "replace")
    return text[:60] + ("…" if len(text) > 60 else "")


class DumpFilter:
    """Filters a plain dump on its way to psql, chunk by chunk; raises ``RefusedBackup``.

    ``feed`` returns the bytes that may go to psql; a refusal is raised before any
    byte of the offending statement is returned. ``rows`` counts COPY rows per
    ``schema.table``; ``notes`` says what was skipped and why; ``complete`` is true once
    pg_dump's closing line went by; ``at_rest`` is false when the stream ended inside
    a statement, a quote, a comment or COPY data.
    """

    def __init__(
        self,
        *,
        known_settings: frozenset[str],
        existing_schemas: frozenset[str],
        target_schema: str = "public",
    ) -> None:
        self.known_settings = known_settings
        self.existing_schemas = existing_schemas
        self.target_schema = target_schema
        self.rows: dict[str, int] = {}
        self.complete = False
        self.dropped: list[str] = []
        self.notes: list[str] = []
        self.truncated = False
        self._buf = b""
        self._line = 1  # line number of _buf[0]
        self._stmt: _Statement | None = None
        self._stmt_line = 1
        self._quote: bytes | None = None  # b"'", b'"', b"E" (escape string) or a $tag$
        self._comment_depth = 0
        self._line_comment = False
        self._parens = 0
        self._copy: CopyHeader | None = None
        self._copy_skip = False
        self._copy_mid_line = False
        self._skipped_record: set[str] = set()
        self._tail = b""  # the last bytes passed, for what precedes a quote
        self._pos0 = 0

    @property
    def at_rest(self) -> bool:
        return (
            self._stmt is None
            and self._copy is None
            and not self._line_comment
            and not self.truncated
        )

    def feed(self, chunk: bytes) -> bytes:
        self._buf = self._buf + chunk if self._buf else chunk
        return self._drain(final=False)

    def finish(self) -> bytes:
        return self._drain(final=True)

    # --- the loop ---

    def _drain(self, *, final: bool) -> bytes:
        buf = self._buf
        n = len(buf)
        out: list[bytes] = []
        pos = 0
        while pos < n:
            self._pos0 = pos
            if self._copy is not None:
                new = self._copy_data(buf, pos, n, final, out)
            elif self._stmt is None and self._line_comment:
                end = buf.find(b"\n", pos)
                new = n if end < 0 else end + 1
                self._line_comment = end < 0
                out.append(buf[pos:new])
            elif self._stmt is None:
                new = self._statement_start(buf, pos, n, final, out)
            else:
                new = self._lex(buf, pos, n, final, out)
            if new == pos:
                break
            self._line += buf.count(b"\n", pos, new)
            self._tail = (self._tail + buf[max(pos, new - 2) : new])[-2:]
            pos = new
        rest = buf[pos:]
        if len(rest) > _PENDING_CAP:
            self._refuse(self._line, "a line or quote delimiter longer than pg_dump ever writes")
        if final and rest:
            if self._stmt is not None and self._stmt.action == "keep":
                out.append(rest)  # psql reads the same end of input
            self._line += rest.count(b"\n")
            rest = b""
        self._buf = rest
        return b"".join(out)

    def _line_at(self, buf: bytes, at: int) -> int:
        return self._line + buf.count(b"\n", self._pos0, at)

    def _refuse(self, line: int, what: str) -> None:
        raise RefusedBackup(
            f"refused: line {line} of the backup holds {what}; a restore runs only the "
            "statements pg_dump writes, so nothing was run and nothing changed",
            hint="restore a backup made by lumidb backup or pg_dump; do not edit backups",
        )

    # --- COPY data ---

    def _copy_data(self, buf: bytes, pos: int, n: int, final: bool, out: list[bytes]) -> int:
        """Pass COPY data through in slices, up to psql's end-of-data line."""
        start = pos
        while pos < n:
            if not self._copy_mid_line:
                marker = _copy_end_at(buf, pos, n)
                if not marker and final and buf[pos:] in (b"\\.", b"\\.\r"):
                    marker = n - pos
                if marker:
                    if start < pos:
                        self._emit_copy(buf[start:pos], out)
                    if not self._copy_skip:
                        out.append(buf[pos : pos + marker])
                    self._copy = None
                    return pos + marker
                if not final and n - pos < 4 and b"\\.\r\n".startswith(buf[pos:n]):
                    break  # this may yet be the end-of-data line
            found = buf.find(b"\n\\.", pos, n)
            if found >= 0:
                pos = found + 1
                self._copy_mid_line = False
                continue
            last = buf.rfind(b"\n", pos, n)
            if (
                not final
                and buf[n - 1] == 0x5C
                and (last == n - 2 or (last < 0 and pos == n - 1 and not self._copy_mid_line))
            ):
                pos = n - 1  # a lone backslash at a line start: wait for the next byte
                self._copy_mid_line = False
                break
            pos = n
            self._copy_mid_line = buf[n - 1] != 0x0A
        if start < pos:
            self._emit_copy(buf[start:pos], out)
        return pos

    def _emit_copy(self, data: bytes, out: list[bytes]) -> None:
        if self._copy_skip:
            return
        assert self._copy is not None
        table = self._copy.qualified
        self.rows[table] = self.rows.get(table, 0) + data.count(b"\n")
        out.append(data)

    # --- statements ---

    def _statement_start(self, buf: bytes, pos: int, n: int, final: bool, out: list[bytes]) -> int:
        start = pos
        while pos < n and buf[pos] in b" \t\r\n":
            pos += 1
        if pos > start:
            out.append(buf[start:pos])
            return pos
        newline = buf.find(b"\n", pos)
        if newline < 0 and not final and n - pos < HEAD_CAP:
            return pos  # wait for the first line (or enough of it)
        end = n if newline < 0 else newline
        head = buf[pos : min(end, pos + HEAD_CAP)]
        if final and newline < 0 and not head.startswith(b"--"):
            self.truncated = True  # an unfinished last line: nothing of it goes to psql
            return n
        line = self._line_at(buf, pos)
        if head.startswith(b"--"):
            if head.rstrip() == DUMP_COMPLETE:
                self.complete = True
            stop = n if newline < 0 else newline + 1
            self._line_comment = newline < 0
            out.append(buf[pos:stop])
            return stop
        if head.startswith(b"\\"):
            if newline < 0 and not final:
                self._refuse(line, "a psql meta-command line without end")
            if _RESTRICT_RE.fullmatch(head):
                self.dropped.append(head.split()[0].decode())
                return end + 1 if newline >= 0 else n
            self._refuse(line, f"the psql meta-command {_what(head)!r}")
        statement = self._classify(head, line)
        self._stmt = statement
        self._stmt_line = line
        if statement.action == "copy":
            assert statement.copy is not None
            self._stmt = None
            self._copy = statement.copy
            self._copy_mid_line = False
            self._copy_skip = statement.copy.schema == RECORD_SCHEMA
            if not self._copy_skip:
                self.rows.setdefault(statement.copy.qualified, 0)
                out.append(buf[pos : end + 1])
            return end + 1 if newline >= 0 else n
        return self._lex(buf, pos, n, final, out)

    def _classify(self, head: bytes, line: int) -> _Statement:
        first_line = head.rstrip(b"\r")
        if _RECORD_OBJECT_RE.match(first_line):
            copy = parse_copy_header(first_line)
            self._note_record(first_line)
            return _Statement("copy", copy=copy) if copy else _Statement("skip")
        if first_line.startswith(b"COPY "):
            copy = parse_copy_header(first_line)
            if copy is None:
                self._refuse(
                    line, f"a COPY that is not pg_dump's COPY ... FROM stdin: {_what(head)!r}"
                )
            assert copy is not None
            if copy.schema == RECORD_SCHEMA:
                self._note_record(first_line)
            elif copy.schema is not None and copy.schema != self.target_schema:
                self._refuse(
                    line,
                    f"COPY into schema {copy.schema!r}, not the target's {self.target_schema!r}",
                )
            return _Statement("copy", copy=copy)
        if _DROPPED_RE.match(first_line):
            self.dropped.append(first_line[:80].decode("utf-8", "replace"))
            return _Statement("drop")
        schema = _SCHEMA_STMT_RE.match(first_line)
        if schema and unquote_ident(schema.group(1)) in self.existing_schemas:
            return _Statement("drop")
        if _KEPT_RE.match(first_line):
            self._check_server_files(first_line, line)
            owner = _OBJECT_SCHEMA_RE.match(first_line)
            if owner is not None:
                where = unquote_ident(owner.group(1) or owner.group(2))
                if where != self.target_schema:
                    self._refuse(
                        line,
                        f"{_what(head)!r} on an object in schema {where!r}, "
                        f"not the target's {self.target_schema!r}",
                    )
            return _Statement("keep", routine=bool(_ROUTINE_RE.match(first_line)))
        if first_line.startswith(b"SET "):
            return self._setting(first_line, line)
        if first_line == _SEARCH_PATH_RESET:
            return _Statement("keep")
        setval = _SETVAL_RE.fullmatch(first_line)
        if setval:
            name = setval.group(1).replace(b"''", b"'")
            parts = [unquote_ident(m.group()) for m in _IDENT_RE.finditer(name)]
            if len(parts) != 2 or parts[0] != self.target_schema:
                self._refuse(line, f"setval of a sequence outside schema {self.target_schema!r}")
            return _Statement("keep")
        if _STATS_RE.match(first_line):
            if "statistics" not in self.notes:
                self.notes.append(
                    "the backup's planner statistics were left out (run ANALYZE after the restore)"
                )
            return _Statement("drop")
        if first_line.startswith(b"SELECT pg_catalog.lo_"):
            self._refuse(line, "large objects, which lumidb does not restore (LumiAI keeps none)")
        word = first_line.split(b" ", 1)[0].rstrip(b";").upper()
        if word in _TX_WORDS or first_line.startswith(b"PREPARE TRANSACTION"):
            self._refuse(line, f"transaction control ({_what(head)!r})")
        self._refuse(line, f"{_what(head)!r}, which is not a statement pg_dump writes")
        raise AssertionError("unreachable")

    def _setting(self, first_line: bytes, line: int) -> _Statement:
        match = _SET_RE.fullmatch(first_line)
        name = match.group(1).decode() if match else ""
        if match is None or name not in _DUMP_SETTINGS:
            self._refuse(line, f"{_what(first_line)!r}, a setting pg_dump does not write")
        assert match is not None
        value = match.group(2).strip(b"'").lower()
        if name == "standard_conforming_strings" and value != b"on":
            self._refuse(line, "standard_conforming_strings other than on")
        if name == "client_encoding" and value.replace(b"-", b"_") in _UNSAFE_ENCODINGS:
            self._refuse(line, f"client_encoding {value.decode()!r}, which psql lexes differently")
        if name not in self.known_settings:
            self.dropped.append(first_line.decode("utf-8", "replace"))
            return _Statement("drop")
        return _Statement("keep")

    def _note_record(self, first_line: bytes) -> None:
        if not self._skipped_record:
            self.notes.append(
                f"objects of the {RECORD_SCHEMA} schema in the backup (a full pg_dump?) were "
                "skipped: the environment record is never restored"
            )
        self._skipped_record.add(_what(first_line))

    def _check_server_files(self, text: bytes, line: int) -> None:
        found = _SERVER_FILE_RE.search(text)
        if found:
            self._refuse(line, f"a call of the server-side file function {found.group().decode()}")

    # --- the SQL lexer ---

    def _lex(self, buf: bytes, pos: int, n: int, final: bool, out: list[bytes]) -> int:
        """Lex from ``pos`` to the end of the statement or of what can be decided now."""
        assert self._stmt is not None
        start = pos
        pos, ended = self._lex_until(buf, pos, n, final)
        if pos > start and self._stmt.action == "keep":
            found = _SERVER_FILE_RE.search(buf, start, min(n, pos + _HOLD))
            if found and found.start() < pos:
                self._refuse(
                    self._line_at(buf, found.start()),
                    f"a call of the server-side file function {found.group().decode()}",
                )
            out.append(buf[start:pos])
        if ended:
            self._stmt = None
            self._parens = 0
        return pos

    def _lex_until(self, buf: bytes, pos: int, n: int, final: bool) -> tuple[int, bool]:
        """Return (position reached, statement ended); never decides on bytes not here yet.

        Short of the end, the last ``_HOLD`` bytes are kept for the next chunk, so a
        token, a word or a function name is never judged half seen.
        """
        hold = n if final else max(pos, n - _HOLD)
        while pos < n:
            if self._line_comment:
                end = buf.find(b"\n", pos)
                if end < 0:
                    return max(pos, hold), False
                self._line_comment = False
                pos = end + 1
                continue
            if self._comment_depth:
                opening = buf.find(b"/*", pos)
                closing = buf.find(b"*/", pos)
                if closing < 0:
                    return max(pos, hold), False
                if 0 <= opening < closing:
                    self._comment_depth += 1
                    pos = opening + 2
                else:
                    self._comment_depth -= 1
                    pos = closing + 2
                continue
            if self._quote is not None:
                reached = self._in_quote(buf, pos, n, final)
                if reached is None:
                    return pos, False
                pos = reached
                continue
            match = _TOKEN_RE.search(buf, pos)
            reach = match.start() if match else max(pos, hold)
            if self._stmt is not None and self._stmt.routine:
                self._check_routine(buf, pos, reach)
            if match is None:
                return reach, False
            token = match.group()
            at = match.start()
            if token == b";":
                if self._parens == 0:
                    return at + 1, True
                pos = at + 1
            elif token == b"(":
                self._parens += 1
                pos = at + 1
            elif token == b")":
                self._parens = max(0, self._parens - 1)
                pos = at + 1
            elif token == b"\\":
                self._refuse(
                    self._line_at(buf, at),
                    f"a psql meta-command inside a statement ({_what(buf[at : at + 40])!r})",
                )
            elif token in (b"-", b"/"):
                if not final:
                    return at, False  # "--" or "/*" may follow in the next chunk
                pos = at + 1
            elif token == b"--":
                self._line_comment = True
                pos = at + 2
            elif token == b"/*":
                self._comment_depth = 1
                pos = at + 2
            elif token in (b"'", b'"'):
                before = self._context(buf, at)
                escape = (
                    token == b"'"
                    and before[-1:] in (b"E", b"e")
                    and not (len(before) == 2 and _is_ident_byte(before[0]))
                )
                self._quote = b"E" if escape else token
                pos = at + 1
            else:  # "$": a dollar quote, a positional parameter, or part of a name
                before = self._context(buf, at)
                if before and _is_ident_byte(before[-1]):
                    # Part of a name or a number for psql, depending on how the run
                    # started; pg_dump quotes every name holding "$": refused.
                    self._refuse(self._line_at(buf, at), "a '$' right after a name or number")
                tag = _DOLLAR_RE.match(buf, at)
                if tag is None:
                    run = _TAG_RUN_RE.match(buf, at + 1)
                    if run is not None and run.end() >= n and not final:
                        return at, False  # the tag may go on in the next chunk
                    pos = at + 1
                    continue
                self._quote = tag.group()
                pos = tag.end()
        return pos, False

    def _context(self, buf: bytes, at: int) -> bytes:
        """The two bytes before ``buf[at]``, from the previous chunk when need be."""
        return (self._tail + buf[max(0, at - 2) : at])[-2:]

    def _in_quote(self, buf: bytes, pos: int, n: int, final: bool) -> int | None:
        """Past the closing quote, or how far quoted text is known to go (None: wait)."""
        quote = self._quote
        assert quote is not None
        hold = n if final else n - _HOLD
        if quote in (b"E", b"'", b'"'):
            finder = _E_STRING_RE if quote == b"E" else (_SQ_RE if quote == b"'" else _DQ_RE)
            while True:
                found = finder.search(buf, pos)
                if found is None:
                    return max(pos, hold) if max(pos, hold) > pos else None
                at = found.start()
                if at + 1 >= n and not final:
                    return at if at > pos else None
                if buf[at] == 0x5C:  # in an escape string a backslash escapes the next byte
                    pos = at + 2
                    continue
                if at + 1 < n and buf[at + 1] == buf[at]:
                    pos = at + 2
                    continue
                if quote == b"E":
                    # psql goes on with an escape string across a newline and another
                    # quote ('...'<newline>'...'); pg_dump never writes that: refused.
                    run = _SPACE_RUN_RE.match(buf, at + 1)
                    if run is not None and run.end() >= n and not final:
                        return at if at > pos else None
                    if _E_CONTINUED_RE.match(buf, at + 1):
                        self._refuse(
                            self._line_at(buf, at), "an escape string continued on another line"
                        )
                self._quote = None
                return at + 1
        at = buf.find(quote, pos)
        if at < 0:
            reach = n if final else max(pos, n - max(len(quote), _HOLD))
            return reach if reach > pos else None
        self._quote = None
        return at + len(quote)

    def _check_routine(self, buf: bytes, start: int, end: int) -> None:
        """psql does not end a statement at ``;`` inside BEGIN ... END of a routine body."""
        found = _BEGIN_WORD_RE.search(buf, start, min(len(buf), end + 8))
        if found and found.start() < end:
            self._refuse(
                self._stmt_line,
                "a function with an SQL-standard body (BEGIN ATOMIC), which lumidb does not restore",
            )


_HOLD = 32
_TOKEN_RE = re.compile(rb"""[;()'"$\\]|--|/\*|-\Z|/\Z""")
_SQ_RE = re.compile(rb"'")
_SPACE_RUN_RE = re.compile(rb"(?:[ \t\r\f\n]+|--[^\n]*)*")
_E_CONTINUED_RE = re.compile(rb"[ \t\r\f]*(?:--[^\n]*)?\n(?:[ \t\r\f\n]+|--[^\n]*)*'")
_DQ_RE = re.compile(rb'"')
_DOLLAR_RE = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_TAG_RUN_RE = re.compile(rb"[A-Za-z0-9_\x80-\xff]*")
_E_STRING_RE = re.compile(rb"['\\]")
_BEGIN_WORD_RE = re.compile(rb"(?i)(?<![A-Za-z0-9_$\x80-\xff])begin(?![A-Za-z0-9_$\x80-\xff])")


def _is_ident_byte(byte: int) -> bool:
    return byte >= 0x80 or chr(byte).isalnum() or byte in (0x5F, 0x24)

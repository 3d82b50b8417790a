"""The restore's allowlist: only the statements a plain pg_dump writes reach psql.

A backup file is data, never code. ``DumpFilter`` lets through only the statement forms
a plain ``pg_dump`` writes (read from PostgreSQL's ``src/bin/pg_dump``) and refuses the
file at the first anything else, BEFORE that statement is passed on: another psql
backslash command, transaction control, ``DROP``, roles, ``ALTER SYSTEM``/``DATABASE``,
``DO``, ``COPY`` to or from a program or file, server-side file functions. COPY data
passes through untouched, in slices, never split into lines; SQL is lexed once, as
psql lexes it (``sql_lexer``), so the work is linear in the input and memory is bounded
by a chunk.

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

from lumidb.dump_stream import (
    DUMP_COMPLETE,
    HEAD_CAP,
    IDENT,
    IDENT_RE,
    CopyHeader,
    copy_end_at,
    first_words,
    parse_copy_header,
    unquote_ident,
)
from lumidb.guard import RECORD_SCHEMA
from lumidb.sql_lexer import HOLD, SqlLexer

_PENDING_CAP = 1 << 20  # an undecidable tail (a dollar tag, a meta-command line) longer: refused

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
    rb"(?:CREATE SCHEMA(?: IF NOT EXISTS)?|COMMENT ON SCHEMA) (" + IDENT + rb")"
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
      (?:CREATE|ALTER|COMMENT\ ON)\ [A-Z ]*?(?:ONLY\ |IF\ NOT\ EXISTS\ |IF\ EXISTS\ )?RECORD\.
    | CREATE\ (?:UNIQUE\ )?INDEX\ \S+\ ON\ (?:ONLY\ )?RECORD\.
    | CREATE\ (?:CONSTRAINT\ )?TRIGGER\ .*\ ON\ RECORD\.
    | (?:CREATE\ SCHEMA|COMMENT\ ON\ SCHEMA|ALTER\ SCHEMA)\ RECORD[ ;]
    | SELECT\ pg_catalog\.setval\('RECORD\.
    )""".replace(b"RECORD", b'"?' + re.escape(RECORD_SCHEMA.encode()) + b'"?'),
    re.VERBOSE,
)
# The schema of the object a CREATE or ALTER is about (an index or trigger: of its table).
_OBJECT_SCHEMA_RE = re.compile(
    rb"(?:CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?"
    + IDENT
    + rb" ON (?:ONLY )?("
    + IDENT
    + rb")\.|(?:CREATE|ALTER)(?: [A-Z]+)+? (?:ONLY |IF NOT EXISTS |IF EXISTS )?("
    + IDENT
    + rb")\.)"
)
# Server-side file and program access, anywhere outside COPY data (also inside quotes).
# U&"..." and U&'...': escapes could spell a schema name the allowlist does not see.
_UNICODE_NAME_RE = re.compile(rb"(?<![A-Za-z0-9_$\x80-\xff])[Uu]&[\"']")
_SERVER_FILE_RE = re.compile(
    rb"(?i)\b(?:pg_read_file|pg_read_binary_file|pg_ls_dir|pg_stat_file|lo_import|lo_export"
    rb"|pg_file_write|pg_file_rename|pg_file_unlink|dblink\w*)\b"
)
_TX_WORDS = (b"BEGIN", b"COMMIT", b"ROLLBACK", b"SAVEPOINT", b"RELEASE", b"END", b"ABORT", b"START")


@dataclass(frozen=True)
class _Statement:
    action: str  # "keep" | "drop" | "skip" (the record schema) | "copy"
    routine: bool = False
    copy: CopyHeader | None = None


class DumpFilter(SqlLexer):
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
        super().__init__()
        self.known_settings = known_settings
        self.existing_schemas = existing_schemas
        self.target_schema = target_schema
        self.rows: dict[str, int] = {}
        self.complete = False
        self.notes: list[str] = []
        self.truncated = False
        self._buf = b""
        self._stmt: _Statement | None = None
        self._copy: CopyHeader | None = None
        self._copy_skip = False
        self._copy_mid_line = False
        self._skipped_record: set[str] = set()

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
            counted = self._copy is not None  # COPY data counts its own lines, once
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
            if not counted:
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

    def _routine_body(self) -> bool:
        return self._stmt is not None and self._stmt.routine

    # --- COPY data ---

    def _copy_data(self, buf: bytes, pos: int, n: int, final: bool, out: list[bytes]) -> int:
        """Pass COPY data through in slices, up to psql's end-of-data line."""
        start = pos
        while pos < n:
            if not self._copy_mid_line:
                marker = copy_end_at(buf, pos, n)
                if not marker and final and buf[pos:] in (b"\\.", b"\\.\r"):
                    marker = n - pos
                if marker:
                    if start < pos:
                        self._emit_copy(buf[start:pos], out)
                    self._line += buf.count(b"\n", pos, pos + marker)
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
        """Pass a slice of COPY data on; its lines are its rows, counted once for both."""
        lines = data.count(b"\n")
        self._line += lines
        if self._copy_skip:
            return
        assert self._copy is not None
        table = self._copy.qualified
        self.rows[table] = self.rows.get(table, 0) + lines
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
                return end + 1 if newline >= 0 else n
            self._refuse(line, f"the psql meta-command {first_words(head)!r}")
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
                    line, f"a COPY that is not pg_dump's COPY ... FROM stdin: {first_words(head)!r}"
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
                        f"{first_words(head)!r} on an object in schema {where!r}, "
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
            parts = [unquote_ident(m.group()) for m in IDENT_RE.finditer(name)]
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
            self._refuse(line, f"transaction control ({first_words(head)!r})")
        self._refuse(line, f"{first_words(head)!r}, which is not a statement pg_dump writes")
        raise AssertionError("unreachable")

    def _setting(self, first_line: bytes, line: int) -> _Statement:
        match = _SET_RE.fullmatch(first_line)
        name = match.group(1).decode() if match else ""
        if match is None or name not in _DUMP_SETTINGS:
            self._refuse(line, f"{first_words(first_line)!r}, a setting pg_dump does not write")
        assert match is not None
        value = match.group(2).strip(b"'").lower()
        if name == "standard_conforming_strings" and value != b"on":
            self._refuse(line, "standard_conforming_strings other than on")
        if name == "client_encoding" and value.replace(b"-", b"_") in _UNSAFE_ENCODINGS:
            self._refuse(line, f"client_encoding {value.decode()!r}, which psql lexes differently")
        if name not in self.known_settings:
            return _Statement("drop")
        return _Statement("keep")

    def _note_record(self, first_line: bytes) -> None:
        if not self._skipped_record:
            self.notes.append(
                f"objects of the {RECORD_SCHEMA} schema in the backup (a full pg_dump?) were "
                "skipped: the environment record is never restored"
            )
        self._skipped_record.add(first_words(first_line))

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
            found = _SERVER_FILE_RE.search(buf, start, min(n, pos + HOLD))
            if found and found.start() < pos:
                self._refuse(
                    self._line_at(buf, found.start()),
                    f"a call of the server-side file function {found.group().decode()}",
                )
            unicode = _UNICODE_NAME_RE.search(buf, start, min(n, pos + HOLD))
            if unicode and unicode.start() < pos:
                self._refuse(
                    self._line_at(buf, unicode.start()),
                    "a U& name or string (Unicode escapes), which pg_dump never writes",
                )
            out.append(buf[start:pos])
        if ended:
            self._stmt = None
            self._parens = 0
        return pos

"""The restore's allowlist for a staged load: pg_dump's statements, judged, then moved to a staging schema.

A staged restore (``staged_load``) loads a backup of schema ``public`` into
``lumidb_stage_<hex>`` beside the live schema. ``StagingFilter`` is the allowlist of
``dump_filter`` (every rule unchanged: a statement is judged as pg_dump wrote it, for
the target schema, before anything of it is passed on) that hands out events instead of
bytes: whole statements, rewritten from the target schema to the staging one, and COPY
blocks as a header, data slices and an end. ``rewrite_schema`` moves names only where it
is certain: outside quotes and comments, a name ``schema.`` (bare or quoted, not after a
dot); inside quotes, only pg_dump's two forms, a ``'schema.x'::reg...`` literal and the
first argument of ``pg_catalog.setval``. Dollar-quoted routine bodies stay as written:
they are resolved when they run, after the swap, when the staging schema bears the
target's name. What cannot be moved with certainty (an unqualified COPY, a
``search_path`` naming schemas, an extension) raises ``NotStageable``: the restore then
takes the one-transaction path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lumidb.dump_filter import DumpFilter
from lumidb.dump_stream import unquote_ident

STAGE_PREFIX = "lumidb_stage_"
PREV_PREFIX = "lumidb_prev_"

_NAME_RE = re.compile(rb'"(?:[^"]|"")+"|[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*')
_SCAN_RE = re.compile(
    rb"""['"$]|--|/\*|[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*|[0-9][A-Za-z0-9_$.]*"""
)
_DOLLAR_RE = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_REG_CAST_RE = re.compile(rb"::(?:pg_catalog\.)?reg[a-z]+\b")
_SETVAL = b"SELECT pg_catalog.setval("
_SETTING_RE = re.compile(rb"(?:SET |SELECT pg_catalog\.set_config\()")
_SEARCH_PATH_RE = re.compile(rb"SET search_path ")
_EXTENSION_RE = re.compile(rb"(?:CREATE|COMMENT ON) EXTENSION ")


class NotStageable(Exception):
    """The backup holds something a staged load cannot move with certainty."""


@dataclass(frozen=True)
class Sql:
    """A statement, rewritten to the staging schema; ``setting``: a session setting."""

    text: bytes
    setting: bool = False


@dataclass(frozen=True)
class CopyStart:
    """A COPY block begins: the statement for the staging table, and the table's name."""

    sql: str
    table: str


@dataclass(frozen=True)
class CopyData:
    data: bytes


@dataclass(frozen=True)
class CopyEnd:
    pass


Event = Sql | CopyStart | CopyData | CopyEnd
_SINK: list[bytes] = []


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rewrite_schema(text: bytes, schema: str, stage: str) -> bytes:
    """``text`` with names in ``schema`` moved to ``stage`` (a bare lower-case name)."""
    out: list[bytes] = []
    new = stage.encode()
    n = len(text)
    pos = 0
    last = 0  # text[last:pos] is not yet in out
    setval = text.startswith(_SETVAL)
    while pos < n:
        match = _SCAN_RE.search(text, pos)
        if match is None:
            break
        at = match.start()
        token = match.group()
        if token == b"'":
            end = _string_end(text, at)
            literal = text[at + 1 : end - 1]
            cast = _REG_CAST_RE.match(text, end)
            first_setval = setval and at == len(_SETVAL)
            if cast or first_setval:
                moved = _moved_literal(literal, schema, new)
                if moved is not None:
                    out.append(text[last : at + 1])
                    out.append(moved)
                    last = end - 1
            pos = end
        elif token == b'"':
            end = _quoted_end(text, at)
            if _names_schema(text, at, end, schema):
                out += [text[last:at], new]
                last = end
            pos = end
        elif token == b"$":
            tag = _DOLLAR_RE.match(text, at)
            if tag is None:
                pos = at + 1
                continue
            close = text.find(tag.group(), tag.end())
            pos = n if close < 0 else close + len(tag.group())
        elif token == b"--":
            newline = text.find(b"\n", at)
            pos = n if newline < 0 else newline + 1
        elif token == b"/*":
            pos = _comment_end(text, at)
        elif token[:1].isdigit():
            pos = match.end()
        else:
            end = match.end()
            if _names_schema(text, at, end, schema):
                out += [text[last:at], new]
                last = end
            pos = end
    out.append(text[last:])
    return b"".join(out)


def _names_schema(text: bytes, at: int, end: int, schema: str) -> bool:
    """Whether the name ``text[at:end]`` is ``schema`` qualifying another (a dot after, none before)."""
    if text[end : end + 1] != b"." or (at > 0 and text[at - 1 : at] == b"."):
        return False
    return unquote_ident(text[at:end]) == schema


def _string_end(text: bytes, at: int) -> int:
    """Past the closing quote of the string literal at ``at`` (escape strings too)."""
    escape = (
        at > 0
        and text[at - 1 : at] in (b"E", b"e")
        and not (
            at > 1 and (text[at - 2 : at - 1].isalnum() or text[at - 2 : at - 1] in (b"_", b"$"))
        )
    )
    pos = at + 1
    n = len(text)
    while pos < n:
        byte = text[pos : pos + 1]
        if escape and byte == b"\\":
            pos += 2
            continue
        if byte == b"'":
            if text[pos + 1 : pos + 2] == b"'":
                pos += 2
                continue
            return pos + 1
        pos += 1
    return n


def _quoted_end(text: bytes, at: int) -> int:
    pos = at + 1
    while True:
        close = text.find(b'"', pos)
        if close < 0:
            return len(text)
        if text[close + 1 : close + 2] == b'"':
            pos = close + 2
            continue
        return close + 1


def _comment_end(text: bytes, at: int) -> int:
    depth = 1
    pos = at + 2
    while depth:
        opening = text.find(b"/*", pos)
        closing = text.find(b"*/", pos)
        if closing < 0:
            return len(text)
        if 0 <= opening < closing:
            depth += 1
            pos = opening + 2
        else:
            depth -= 1
            pos = closing + 2
    return pos


def _moved_literal(literal: bytes, schema: str, new: bytes) -> bytes | None:
    """``schema.x`` inside a literal (quotes doubled) → ``stage.x``; None when it is not."""
    inner = literal.replace(b"''", b"'")
    match = _NAME_RE.match(inner)
    if match is None or inner[match.end() : match.end() + 1] != b".":
        return None
    if unquote_ident(match.group()) != schema:
        return None
    return (new + inner[match.end() :]).replace(b"'", b"''")


class StagingFilter(DumpFilter):
    """``DumpFilter`` whose output is events for a staging schema (``take``), not bytes."""

    def __init__(
        self,
        *,
        known_settings: frozenset[str],
        existing_schemas: frozenset[str],
        target_schema: str,
        stage_schema: str,
    ) -> None:
        super().__init__(
            known_settings=known_settings,
            existing_schemas=existing_schemas,
            target_schema=target_schema,
        )
        self.stage_schema = stage_schema
        self.events: list[Event] = []
        self._text: list[bytes] = []

    def take(self) -> list[Event]:
        """The events since the last call."""
        events, self.events = self.events, []
        return events

    def _lex(self, buf: bytes, pos: int, n: int, final: bool, out: list[bytes]) -> int:
        mine: list[bytes] = []
        new = super()._lex(buf, pos, n, final, mine)
        self._text.extend(mine)
        if self._stmt is None:
            text = b"".join(self._text).strip()
            self._text = []
            if text:
                self.events.append(self._statement(text))
        return new

    def _statement(self, text: bytes) -> Sql:
        if _SEARCH_PATH_RE.match(text):
            raise NotStageable("the backup sets a search_path naming schemas")
        if _EXTENSION_RE.match(text):
            raise NotStageable("the backup creates an extension")
        setting = bool(_SETTING_RE.match(text))
        return Sql(rewrite_schema(text, self.target_schema, self.stage_schema), setting)

    def _statement_start(self, buf: bytes, pos: int, n: int, final: bool, out: list[bytes]) -> int:
        before = self._copy
        new = super()._statement_start(buf, pos, n, final, _SINK)
        _SINK.clear()
        copy = self._copy
        if before is None and copy is not None and not self._copy_skip:
            if copy.schema is None:
                raise NotStageable("the backup has a COPY without a schema")
            columns = ", ".join(_quoted(c) for c in copy.columns)
            table = f"{_quoted(self.stage_schema)}.{_quoted(copy.table)}"
            sql = f"COPY {table}" + (f" ({columns})" if columns else "") + " FROM STDIN"
            self.events.append(CopyStart(sql=sql, table=copy.table))
        return new

    def _copy_data(self, buf: bytes, pos: int, n: int, final: bool, out: list[bytes]) -> int:
        active = self._copy is not None and not self._copy_skip
        new = super()._copy_data(buf, pos, n, final, _SINK)
        _SINK.clear()
        if active and self._copy is None:
            self.events.append(CopyEnd())
        return new

    def _emit_copy(self, data: bytes, out: list[bytes]) -> None:
        if self._copy_skip:
            return
        super()._emit_copy(data, _SINK)
        _SINK.clear()
        self.events.append(CopyData(data))

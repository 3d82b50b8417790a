"""How psql lexes SQL: quotes, escape strings, dollar quotes, comments and parentheses.

The restore's filter (``dump_filter.DumpFilter``) must see a statement end exactly where
psql sees it, or a hostile file could hide a second statement inside what looks like
one. ``SqlLexer`` holds the lexing state across chunks and never decides on bytes that
have not arrived yet; the filter builds on it. Any surprise refuses the file
(``RefusedBackup``).
"""

from __future__ import annotations

import re

from lumidb.dump_stream import RefusedBackup, first_words

HOLD = 32
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


class SqlLexer:
    """psql's lexing state between chunks; ``_lex_until`` finds where a statement ends."""

    def __init__(self) -> None:
        self._line = 1  # line number of the current chunk's first byte
        self._pos0 = 0  # where in the chunk the current step began
        self._stmt_line = 1  # line number of the statement being lexed
        self._quote: bytes | None = None  # b"'", b'"', b"E" (escape string) or a $tag$
        self._comment_depth = 0
        self._line_comment = False
        self._parens = 0
        self._tail = b""  # the last bytes passed, for what precedes a quote

    def _routine_body(self) -> bool:
        """True while lexing a function or procedure (its body may not be SQL-standard)."""
        return False

    def _line_at(self, buf: bytes, at: int) -> int:
        return self._line + buf.count(b"\n", self._pos0, at)

    def _refuse(self, line: int, what: str) -> None:
        raise RefusedBackup(
            f"refused: line {line} of the backup holds {what}; a restore runs only the "
            "statements pg_dump writes, so nothing was run and nothing changed",
            hint="restore a backup made by lumidb backup or pg_dump; do not edit backups",
        )

    def _lex_until(self, buf: bytes, pos: int, n: int, final: bool) -> tuple[int, bool]:
        """Return (position reached, statement ended); never decides on bytes not here yet.

        Short of the end, the last ``HOLD`` bytes are kept for the next chunk, so a
        token, a word or a function name is never judged half seen.
        """
        hold = n if final else max(pos, n - HOLD)
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
            if self._routine_body():
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
                    f"a psql meta-command inside a statement ({first_words(buf[at : at + 40])!r})",
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
        hold = n if final else n - HOLD
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
            reach = n if final else max(pos, n - max(len(quote), HOLD))
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

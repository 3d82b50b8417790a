"""The restore's allowlist filter on its own, fed in chunks of every size."""

from __future__ import annotations

from lumidb.dump_filter import DumpFilter

# --- the filter alone ---------------------------------------------------------------


def test_filter_keeps_copy_data_and_function_bodies() -> None:
    dump = (
        b"SET transaction_timeout = 0;\nSET lock_timeout = 0;\n"
        b"CREATE SCHEMA public;\n"
        b"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n"
        b"GRANT ALL ON t TO x;\nEND;\n$$;\n"
        b"ALTER FUNCTION public.f() OWNER TO someone;\n"
        b"COMMENT ON TABLE t IS 'a\nGRANT b;\n';\n"
        b"COPY public.t (a) FROM stdin;\nGRANT ALL ON x TO y;\nALTER TABLE t OWNER TO z;\n\\.\n"
        b"GRANT SELECT ON t TO PUBLIC;\n-- PostgreSQL database dump complete\n"
    )
    for size in (1, 7, len(dump)):
        f = DumpFilter(
            known_settings=frozenset({"lock_timeout"}), existing_schemas=frozenset({"public"})
        )
        out = b"".join(f.feed(dump[i : i + size]) for i in range(0, len(dump), size))
        out += f.finish()
        assert b"\n".join(line for line in out.split(b"\n") if line) + b"\n" == (
            b"SET lock_timeout = 0;\n"
            b"CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\n"
            b"GRANT ALL ON t TO x;\nEND;\n$$;\n"
            b"COMMENT ON TABLE t IS 'a\nGRANT b;\n';\n"
            b"COPY public.t (a) FROM stdin;\nGRANT ALL ON x TO y;\nALTER TABLE t OWNER TO z;\n\\.\n"
            b"-- PostgreSQL database dump complete\n"
        )
        assert f.complete and f.rows == {"public.t": 2}


def test_refusals_after_copy_data_name_the_right_line_whatever_the_chunks() -> None:
    """COPY data counts its lines once, for its rows and the line numbers both; a
    skipped COPY (the lumidb schema's) counts its lines too."""
    import re

    import pytest

    from lumidb.dump_stream import RefusedBackup

    rows = b"".join(b"%d\tname\\nwith a newline escape\n" % i for i in range(50))
    dump = (
        b"SET lock_timeout = 0;\n"  # line 1
        b"COPY public.t (a, b) FROM stdin;\n" + rows + b"\\.\n"  # lines 2-53
        b"COPY lumidb.environment (name) FROM stdin;\nproduction\n\\.\n"  # lines 54-56
        b"CREATE TABLE public.u (a int);\n"  # line 57
        b"DROP TABLE public.t;\n"  # line 58: refused
    )
    for size in (1, 2, 3, 5, 64, 1000, len(dump)):
        f = DumpFilter(
            known_settings=frozenset({"lock_timeout"}),
            existing_schemas=frozenset({"public", "lumidb"}),
        )
        with pytest.raises(RefusedBackup) as refused:
            for i in range(0, len(dump), size):
                f.feed(dump[i : i + size])
            f.finish()
        assert re.search(r"\bline 58\b", str(refused.value)), (size, str(refused.value))
        assert f.rows == {"public.t": 50}

"""The plain dump pipeline's pieces: the COPY row counter at every chunk boundary, the pipe reader."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from lumidb.dump_pipeline import _PipeReader
from lumidb.dump_stream import CopyRowCounter

DUMP = (
    b"--\n-- PostgreSQL database dump\n--\n\n"
    b"CREATE TABLE public.a (id integer);\n"
    b"COPY public.a (id) FROM stdin;\n1\n2\n\\\\.not the end\n3\n\\.\n\n"
    b'COPY public."b c" (x, y) FROM stdin;\n\\N\tz\n\\.x\n\\.\r\n'
    b"COPY public.empty (id) FROM stdin;\n\\.\n"
    b"-- a comment that says COPY public.a (id) FROM stdin;\n"
    b"COPY public.a (id) FROM stdin;\n4\n\\.\n"
    b"SELECT 1;\n"
)


def _naive(dump: bytes) -> dict[str, int]:
    """Line by line: what the counter must find."""
    counts: dict[str, int] = {}
    table = None
    for line in dump.split(b"\n"):
        if table is not None:
            if line in (b"\\.", b"\\.\r"):
                table = None
            else:
                counts[table] = counts.get(table, 0) + 1
        elif line.startswith(b"COPY "):
            name = line.removeprefix(b"COPY public.").rsplit(b" (", 1)[0]
            table = name.decode().strip('"')
            counts.setdefault(table, 0)
    return counts


def test_counter_agrees_with_a_line_by_line_count_at_every_split() -> None:
    expected = _naive(DUMP)
    assert expected == {"a": 5, "b c": 2, "empty": 0}
    for size in (1, 2, 3, 5, 7, 64):
        for offset in range(size):
            counter = CopyRowCounter()
            pieces = [DUMP[:offset]] + [DUMP[i : i + size] for i in range(offset, len(DUMP), size)]
            for piece in pieces:
                counter.feed(bytearray(piece))
            assert counter.counts == expected, (size, offset)
            assert not counter.in_copy


def test_pipe_reader_yields_everything_in_order() -> None:
    read_end, write_end = os.pipe()
    data = os.urandom(3 << 20)

    def write() -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(write_end, view[: 1 << 16]) :]
        os.close(write_end)

    writer = threading.Thread(target=write)
    writer.start()
    reader = _PipeReader(read_end)
    try:
        assert b"".join(bytes(buffer[:n]) for buffer, n in reader.chunks()) == data
    finally:
        reader.close()
        writer.join()
        os.close(read_end)


def test_pipe_reader_stops_when_its_consumer_gives_up() -> None:
    """The consumer stops early (an error downstream): close ends the thread even though
    the queue is full and the writer is gone."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    with pytest.raises(BlockingIOError):
        while True:
            os.write(write_end, b"x" * 4096)
    reader = _PipeReader(read_end)
    next(reader.chunks())
    os.close(write_end)
    reader.close()
    assert not reader._thread.is_alive()
    os.close(read_end)


def test_ctrl_c_delivered_to_another_thread_still_stops_the_wait() -> None:
    """The kernel may hand Ctrl-C to any thread (zstd's worker, say); the main thread,
    waiting for pg_dump's next chunk, must still raise KeyboardInterrupt soon."""
    # as in a fresh lumidb process, whatever earlier tests left in this one
    previous_handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    read_end, write_end = os.pipe()
    reader = _PipeReader(read_end)
    bystander = threading.Event()
    other = threading.Thread(target=bystander.wait, daemon=True)
    other.start()
    assert other.ident is not None
    ident = other.ident
    signal_later = threading.Timer(0.3, lambda: signal.pthread_kill(ident, signal.SIGINT))
    unblock_later = threading.Timer(5, lambda: os.write(write_end, b"too late\n"))
    signal_later.start()
    unblock_later.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            next(reader.chunks())
        assert time.monotonic() - started < 3
    finally:
        unblock_later.cancel()
        bystander.set()
        os.close(write_end)
        reader.close()
        os.close(read_end)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        signal.signal(signal.SIGINT, previous_handler)

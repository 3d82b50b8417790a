"""``lumidb backup``: a timestamped, checksummed pg_dump into the backup directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from lumidb.commands.runtime import DebugOption, JsonOption, QuietOption, runtime
from lumidb.formats import BackupFormat, Compression

if TYPE_CHECKING:
    from lumidb.console import Output


@contextmanager
def _progress(output: Output) -> Iterator[Callable[[int], None] | None]:
    """Bytes written and time elapsed, on a terminal's stderr only."""
    if output.quiet or output.json or not output.err.is_terminal:
        yield None
        return
    from rich.progress import (
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("backing up"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=output.err,
        transient=True,
    ) as bar:
        task = bar.add_task("backup", total=None)

        def update(written: int) -> None:
            bar.update(task, completed=written)

        yield update


def backup(
    ctx: typer.Context,
    format: Annotated[
        BackupFormat,
        typer.Option(
            "--format",
            help="plain SQL (default) or custom (.dump, for pg_restore --jobs).",
        ),
    ] = BackupFormat.PLAIN,
    compress: Annotated[
        Compression,
        typer.Option(
            "--compress",
            help="Compression of plain dumps (custom uses pg_dump's own).",
        ),
    ] = Compression.ZSTD,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            min=1,
            help="Afterwards, delete the oldest backups beyond the newest N [LUMIDB_BACKUP_KEEP].",
        ),
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Restore the new backup into a scratch database.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait while another backup runs, instead of exit 3.")
    ] = False,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> object:
    """Dump the database into the backup directory, with a checksummed manifest.

    Example: lumidb backup --keep 14 --quiet
    """
    rt = runtime(ctx, json=json, quiet=quiet, debug=debug)
    from lumidb.backup import BackupOptions, create_backup
    from lumidb.timespec import utc_now

    settings = rt.settings
    options = BackupOptions(
        backup_dir=settings.backup_dir,
        format=format,
        compression=compress,
        keep=keep if keep is not None else settings.backup_keep,
        wait=wait,
        pg_bin_dir=settings.pg_bin_dir,
        environment=settings.environment.value,
        verify=verify,
    )
    target = rt.target()
    with _progress(rt.output) as progress:
        result = create_backup(target, options, now=utc_now(), progress=progress)
    for warning in result.warnings:
        rt.output.warn(warning)
    return result

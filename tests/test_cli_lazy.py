"""The command line's fast start: commands imported when they run, option values coerced
without pydantic, ``--version`` before Typer, and the console script's quick exit.

Each test here failed, or could not run, before these changes (issue 17, goals 1 and 5).
"""

from __future__ import annotations

import enum
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from conftest import LUMIDB, Cli, clean_env
from typer._coercion import RuntimeParam, build_runtime_param, resolve_type_descriptor
from typer.models import OptionInfo

from lumidb import __version__, cli
from lumidb.commands.typer_patches import PlainRuntimeParam, _build_runtime_param
from lumidb.formats import BackupFormat


def test_every_summary_is_the_commands_own_first_paragraph() -> None:
    """`lumidb --help` lists summaries without importing the commands: they must not drift."""
    for name in cli.COMMANDS:
        command = cli.load_command(name)
        first = (command.help or "").split("\n\n")[0].strip()
        assert first == cli.COMMANDS[name].summary, name
        assert "\n" not in first, f"{name}: one line, or the listing and --help differ"
        assert command.name == name


def test_root_help_lists_every_command_without_importing_them(tmp_path: Path) -> None:
    # lumidb.cli in a fresh interpreter, then a look at what it imported.
    probe = (
        "import sys\nsys.argv = ['lumidb', '--help']\nfrom lumidb.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('pydantic' in sys.modules)\n"
        "print(sorted(m for m in sys.modules if m.startswith('lumidb.commands.')))\n"
    )
    run = _fresh_python(probe, tmp_path)
    for name in cli.COMMANDS:
        assert f" {name} " in run.stdout, name
    pydantic_loaded, imported = run.stdout.strip().splitlines()[-2:]
    assert "lumidb.commands.backup'" not in imported and "lumidb.commands.migrate" not in imported
    assert pydantic_loaded == "False"


def test_commands_coerce_plain_values_without_typers_pydantic_adapters(tmp_path: Path) -> None:
    """The patch is in force for real commands: after parsing `backup --keep 3 --format
    custom`, Typer's adapter module (pydantic) was never imported. Fails if a Typer
    upgrade stops calling the function typer_patches replaces."""
    probe = (
        "import sys\n"
        "from lumidb import cli\n"
        "command = cli.load_command('backup')\n"
        "ctx = command.make_context('backup', ['--keep', '3', '--format', 'custom', '--to', 'x'])\n"
        "print(ctx.params['keep'], ctx.params['format'].value, ctx.params['to'])\n"
        "print('typer._adapters' in sys.modules, 'pydantic' in sys.modules)\n"
    )
    run = _fresh_python(probe, tmp_path)
    assert run.stdout.splitlines() == ["3 custom x", "False False"]


def _fresh_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a new interpreter (nothing imported yet), which must exit 0."""
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(COLUMNS="120"),
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return run


def test_a_typo_at_the_root_still_gets_suggestions(cli: Cli) -> None:
    run = cli("backp")
    words = " ".join(run.stderr.replace("│", " ").split())
    assert run.exit_code == 2
    assert "No such command 'backp'. Did you mean 'backup', 'backups'?" in words


def test_a_subcommand_still_works_and_unknown_ones_are_usage_errors(cli: Cli) -> None:
    run = cli("backups", "--help")
    assert run.exit_code == 0 and "check-store" in run.stdout
    run = cli("no-such-command")
    assert run.exit_code == 2 and "No such command" in run.stderr


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


CASES: list[tuple[Any, OptionInfo, Any]] = [
    (bool, OptionInfo(), True),
    (bool, OptionInfo(), False),
    (str, OptionInfo(), "backups/x"),
    (str, OptionInfo(), ""),
    (int, OptionInfo(), "14"),
    (int, OptionInfo(), "007"),
    (int, OptionInfo(), 3),
    (int, OptionInfo(min=1), "1"),
    (int, OptionInfo(min=0, max=5), "5"),
    (BackupFormat, OptionInfo(), "custom"),
    (BackupFormat, OptionInfo(), BackupFormat.PLAIN),
    (Colour, OptionInfo(), "blue"),
    (list[str], OptionInfo(), ("a@x.test", "b@x.test")),
    (list[str], OptionInfo(), ["-c", "select 1"]),
    (list[str], OptionInfo(), ()),
]

BAD: list[tuple[Any, OptionInfo, Any]] = [
    (int, OptionInfo(min=1), "0"),
    (int, OptionInfo(max=5), "6"),
    (int, OptionInfo(), "x"),
    (int, OptionInfo(), "1.5"),
    (int, OptionInfo(), " 3"),
    (BackupFormat, OptionInfo(), "Custom"),
    (Colour, OptionInfo(), "green"),
]


def _both(annotation: Any, info: OptionInfo) -> tuple[RuntimeParam, RuntimeParam]:
    descriptor = resolve_type_descriptor(annotation, info)
    return _build_runtime_param(descriptor), build_runtime_param(descriptor)


@pytest.mark.parametrize(("annotation", "info", "value"), CASES)
def test_plain_coercion_gives_typers_value(annotation: Any, info: OptionInfo, value: Any) -> None:
    ours, theirs = _both(annotation, info)
    assert isinstance(ours, PlainRuntimeParam)
    mine = ours._coerce_value(value, param=None, ctx=None)  # type: ignore[arg-type]
    expected = theirs._coerce_value(value, param=None, ctx=None)  # type: ignore[arg-type]
    assert mine == expected and type(mine) is type(expected)


@pytest.mark.parametrize(("annotation", "info", "value"), BAD)
def test_anything_else_gets_typers_own_answer(
    annotation: Any, info: OptionInfo, value: Any
) -> None:
    ours, theirs = _both(annotation, info)
    outcomes = []
    for param in (ours, theirs):
        try:
            outcomes.append(("value", param._coerce_value(value, param=None, ctx=None)))  # type: ignore[arg-type]
        except typer.BadParameter as exc:
            outcomes.append(("error", exc.message))
    assert outcomes[0] == outcomes[1]


def test_bad_option_values_are_still_typers_usage_errors(cli: Cli) -> None:
    run = cli("backup", "--keep", "0")
    assert run.exit_code == 2 and "--keep" in run.stderr
    run = cli("backup", "--format", "zip")
    words = " ".join(run.stderr.replace("│", " ").split())
    assert run.exit_code == 2 and "'zip' is not one of 'plain', 'custom'" in words


def _installed(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LUMIDB, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_the_installed_program_answers_version_and_keeps_exit_codes(tmp_path: Path) -> None:
    version = _installed("--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, f"lumidb {__version__}\n")
    usage = _installed("backup", "--format", "zip", cwd=tmp_path)
    assert usage.returncode == 2 and "is not one of" in usage.stderr
    # a failure's one line reaches stderr before os._exit (no server is started for it)
    failed = _installed("restore-latest", "--yes", cwd=tmp_path)
    assert failed.returncode == 1 and "nothing to restore" in failed.stderr
    listing = _installed("backups", "list", "--json", cwd=tmp_path)
    assert listing.returncode == 0 and listing.stdout.rstrip().endswith("}")


def test_a_closed_pipe_is_not_a_success(tmp_path: Path) -> None:
    """`lumidb … | head -0`: output that could not be written is not exit 0."""
    for unbuffered in ("", "1"):  # PYTHONUNBUFFERED=1 is common in container images
        for args in (["--version"], ["--help"]):
            assert _closed_pipe_exit(args, tmp_path, unbuffered) == (1, ""), (args, unbuffered)


def test_the_entry_points_exit_code_is_lumidbs_failed() -> None:
    from lumidb import entry, exit_codes

    assert entry.FAILED == exit_codes.FAILED


def _closed_pipe_exit(args: list[str], cwd: Path, unbuffered: str) -> tuple[int, str]:
    """Exit code and stderr (no traceback) when stdout's reader went away first."""
    proc = subprocess.Popen(
        [LUMIDB, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env={**clean_env(COLUMNS="80"), "PYTHONUNBUFFERED": unbuffered},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    errors = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=60), errors


def test_the_listing_is_aligned_and_shows_no_raw_control_characters(cli: Cli) -> None:
    """`backups list` without rich's table: every row lines up under its header, and a
    manifest's text (its revision) cannot move the cursor or colour the terminal."""
    import json as json_module
    from datetime import UTC, datetime, timedelta

    from test_backup_store import fake_backup

    from lumidb import backup_store

    folder = cli.workdir / "backups"
    first = fake_backup(folder, datetime(2026, 11, 1, tzinfo=UTC))
    for day in range(1, 12):
        fake_backup(folder, datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day))
    manifest = backup_store.manifest_path_of(first)
    document = json_module.loads(manifest.read_text())
    document["alembic_revision"] = "\x1b[31mred\x1b[0m\n0002"
    manifest.write_text(json_module.dumps(document))
    cli.setenv("COLUMNS", "160")
    run = cli("backups", "list")
    assert run.exit_code == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("backups in ") and lines[1].split() == [
        "file",
        "kind",
        "age",
        "size",
        "format",
        "revision",
        "checksum",
    ]
    assert len(lines) == 2 + 12
    assert "\x1b" not in run.stdout
    assert "\\x1b[31mred\\x1b[0m\\n0002" in lines[-1]
    start = lines[1].index("checksum")
    assert {line[start:].split()[0] for line in lines[2:-1]} == {"unchecked"}
    # On a terminal: the title in italics, the header bold, the rows plain.
    cli.setenv("FORCE_COLOR", "1")
    coloured = cli("backups", "list").stdout.splitlines()
    assert coloured[0].startswith("\x1b[3mbackups in ") and "\x1b[1mfile" in coloured[1]
    assert not any("\x1b[3m" in line for line in coloured[1:])
    assert "\x1b" not in coloured[2]

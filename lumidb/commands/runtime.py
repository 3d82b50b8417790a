"""What every command gets from ``ctx.obj``: the settings, the output, the target database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lumidb.config import Settings
    from lumidb.connection import DatabaseTarget
    from lumidb.console import Output

# Output options come after the subcommand: `lumidb doctor --json`.
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing on success.")]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _output(*, json: bool = False, quiet: bool = False) -> Output:
    """An ``Output``; rich is imported here, when a command runs, not for ``--help``."""
    from lumidb.console import Output

    return Output(json=json, quiet=quiet)


@dataclass
class Runtime:
    """Built once in the root callback; each command sets its output options on it."""

    debug: bool = False
    output: Output = field(default_factory=_output)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from lumidb.config import load_settings

            self._settings = load_settings()
        return self._settings

    def target(self, *, start_embedded: bool = True) -> DatabaseTarget:
        """The database to work on; reports the local server's URL the first time."""
        from lumidb.target import resolve_target

        resolved = resolve_target(self.settings, start_embedded=start_embedded)
        for notice in resolved.notices:
            self.output.info(notice)
        for warning in resolved.warnings:
            self.output.warn(warning)
        return resolved.target


def runtime(
    ctx: typer.Context, *, json: bool = False, quiet: bool = False, debug: bool = False
) -> Runtime:
    """The runtime of this invocation, with this command's output options applied."""
    root = ctx.find_root()
    if not isinstance(root.obj, Runtime):
        root.obj = Runtime()
    state: Runtime = root.obj
    state.debug = state.debug or debug
    state.output = _output(json=json, quiet=quiet)
    return state

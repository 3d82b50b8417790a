"""Results the command layer builds itself (from a core exception or a bare value).

They are shown through ``render.show`` like the core's own results, so ``--json`` gives
them the same shape: ``lumidb server stop``'s outcome, the drift that makes bare
``lumidb migrate`` ask for a name, and a command that found nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerStopped:
    stopped: bool
    state_dir: str


@dataclass(frozen=True)
class Drift:
    items: list[str]


@dataclass(frozen=True)
class NothingToDo:
    """A command that found nothing to do (exit 0)."""

    message: str

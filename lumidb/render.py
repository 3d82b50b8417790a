"""The one place that turns results into output: a rich view for people, JSON for programs.

Every result a command shows passes through ``show``: with ``--json`` it becomes one
JSON document on stdout (``{"version": 1, "kind": ..., ...}``, the same fields a
person sees); with ``--quiet`` nothing; otherwise the view registered for its class in
``lumidb/views/`` (one module per command family). A result with no view is a bug, and
``show`` says so instead of printing something half-right.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lumidb.console import Output
    from lumidb.views.wording import View

JSON_VERSION = 1


@cache
def views() -> dict[str, View]:
    """Every view, by the class name of the result it shows.

    Keyed by name, so importing the views imports no core module (and none of their
    heavy libraries). ``tests/test_render.py`` checks every result class has one.
    """
    from lumidb.views import (
        backups,
        doctor,
        migrate,
        reset,
        restore,
        seed,
        server,
        setup,
        softdelete,
    )

    found: dict[str, View] = {}
    for module in (backups, doctor, migrate, reset, restore, seed, server, setup, softdelete):
        clash = found.keys() & module.VIEWS.keys()
        if clash:
            raise RuntimeError(f"two views for {', '.join(sorted(clash))}")
        found.update(module.VIEWS)
    return found


def to_document(result: Any) -> dict[str, Any]:
    """The JSON document of a result: a stable shape with a version field."""
    if not dataclasses.is_dataclass(result) or isinstance(result, type):
        raise TypeError(f"{type(result).__name__} is not a result (a dataclass instance)")
    body = dataclasses.asdict(result, dict_factory=_json_fields)
    for name in ("ok", "up_to_date", "revision_change"):
        if hasattr(result, name) and name not in body:
            body[name] = getattr(result, name)
    if "version" in body or "kind" in body:
        raise TypeError(f"{type(result).__name__} must not have a field named version or kind")
    return {"version": JSON_VERSION, "kind": _kind(type(result)), **body}


def _json_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A dataclass's fields for JSON; a pydantic model inside (a manifest) as its JSON form."""
    return {
        key: value.model_dump(mode="json", by_alias=True) if hasattr(value, "model_dump") else value
        for key, value in pairs
    }


def _kind(kind: type) -> str:
    name = kind.__name__
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


def show(output: Output, result: Any, *, to_stderr: bool = False) -> None:
    """Render ``result``: JSON, nothing (quiet), or its human view.

    ``to_stderr`` shows a plan to a person even in ``--json`` mode without touching
    stdout, which then carries only the final document. Raises ``TypeError`` for a
    result no view is registered for (add one in ``lumidb/views/``).
    """
    viewer = views().get(type(result).__name__)
    if viewer is None:
        raise TypeError(
            f"no view for {type(result).__name__}: register one in a module of lumidb/views/"
        )
    if output.json and not to_stderr:
        output.emit_json(to_document(result))
        return
    if output.quiet:
        return
    if to_stderr:
        from lumidb.console import Output

        viewer(Output(json=False, quiet=False, out=output.err, err=output.err), result)
    else:
        viewer(output, result)

"""Every result has a view: a renamed or new result class cannot silently print as ``str()``."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from dataclasses import dataclass

import pytest

import lumidb
from lumidb import render
from lumidb.console import Output

# Dataclasses with these endings are what commands return and the edge shows.
RESULT_ENDINGS = ("Result", "Plan", "Report", "Listing", "Status")
# ... but for these, which no command shows on its own (each named with its reader).
NOT_SHOWN = {
    "S3StoreReport",  # read by doctor's checks of an s3:// location, not shown itself
}


def lumidb_dataclasses() -> dict[str, type]:
    """Every dataclass defined in lumidb (revision files aside), by class name."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(lumidb.__path__, "lumidb."):
        if info.name.startswith("lumidb.schema."):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and value.__module__ == info.name
            ):
                assert name not in found, f"two dataclasses named {name}: views are keyed by name"
                found[name] = value
    return found


def test_every_result_class_has_a_view() -> None:
    classes = lumidb_dataclasses()
    results = {
        name
        for name, cls in classes.items()
        if (name.endswith(RESULT_ENDINGS) and name not in NOT_SHOWN)
        or cls.__module__ == "lumidb.commands.results"
    }
    assert len(results) > 20  # the enumeration itself works
    missing = sorted(results - render.views().keys())
    assert missing == [], f"no view in lumidb/views/ for {missing}"


def test_every_view_shows_a_class_that_exists_under_its_name() -> None:
    """A class renamed without its view leaves the view keyed by the old name: caught here."""
    classes = lumidb_dataclasses()
    for name, view in render.views().items():
        assert name in classes, f"a view is registered for {name}, which no module defines"
        shown = list(inspect.signature(view).parameters.values())[1].annotation
        assert shown == name, f"the view registered for {name} is written for {shown}"


def test_show_refuses_a_result_without_a_view() -> None:
    @dataclass(frozen=True)
    class UnheardOfResult:
        value: int

    for output in (Output(), Output(json=True), Output(quiet=True)):
        with pytest.raises(TypeError, match="no view for UnheardOfResult"):
            render.show(output, UnheardOfResult(1))


def test_json_kind_is_the_class_name_in_snake_case() -> None:
    from lumidb.commands.results import NothingToDo

    assert render.to_document(NothingToDo(message="x")) == {
        "version": 1,
        "kind": "nothing_to_do",
        "message": "x",
    }

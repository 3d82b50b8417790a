"""Two changes to Typer 0.29, installed once by ``lumidb.cli``: flags without a type in
``--help``, and option values coerced without pydantic where the type is plain.

Typer coerces every option value through a pydantic ``TypeAdapter`` it builds on first
use: importing pydantic and building the schemas costs every command 50-90 ms. For a
valid value of a ``bool``, ``int``, ``str``, ``list[str]`` or ``Enum`` option the result
is plain, so it is computed here; anything else (a value out of range, an unknown
choice, text where a number goes, a type lumidb does not use) goes to Typer's own
coercion, so every error message stays Typer's. tests/test_cli_lazy.py checks both give
the same values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, get_args, get_origin

import typer._coercion
import typer.core
from typer._coercion import RuntimeParam, TypeDescriptor
from typer.core import TyperOption

_NOT_PLAIN = object()
_DIGITS = re.compile(r"[0-9]{1,18}")
_typer_build_runtime_param = typer._coercion.build_runtime_param
_typer_display_type_rich = TyperOption.display_type_rich


def plain_value(descriptor: TypeDescriptor, value: Any, ctx: Any) -> Any:
    """``value`` coerced as Typer would, or ``_NOT_PLAIN`` when Typer must decide."""
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None or info.clamp:
        return _NOT_PLAIN
    if annotation is bool:
        return value if isinstance(value, bool) else _NOT_PLAIN
    if annotation is str:
        return value if isinstance(value, str) else _NOT_PLAIN
    if annotation is int:
        if isinstance(value, str) and _DIGITS.fullmatch(value):
            value = int(value)
        if type(value) is not int:
            return _NOT_PLAIN
        if (info.min is not None and value < info.min) or (
            info.max is not None and value > info.max
        ):
            return _NOT_PLAIN
        return value
    origin: Any = get_origin(annotation)
    if origin is list and get_args(annotation) == (str,):
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return list(value)
        return _NOT_PLAIN
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, str) or not info.case_sensitive:
            return _NOT_PLAIN
        if ctx is not None and getattr(ctx, "token_normalize_func", None) is not None:
            return _NOT_PLAIN
        for member in annotation:
            if str(member.value) == value:
                return member
    return _NOT_PLAIN


@dataclass(frozen=True)
class PlainRuntimeParam(RuntimeParam):
    """A parameter coerced by ``plain_value``, falling back to Typer's adapter."""

    descriptor: TypeDescriptor

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        result = plain_value(self.descriptor, value, ctx)
        if result is not _NOT_PLAIN:
            return result
        typer_param = _typer_build_runtime_param(self.descriptor)
        return typer_param._coerce_value(value, param=param, ctx=ctx)


def _build_runtime_param(descriptor: TypeDescriptor) -> RuntimeParam:
    return PlainRuntimeParam(
        parameter_info=descriptor.parameter_info,
        annotation=descriptor.annotation,
        descriptor=descriptor,
    )


def _flag_shows_no_type(self: TyperOption, ctx: Any) -> str | None:
    """Typer 0.29 prints ``<bool>`` after every flag in ``--help``, as if it took a value."""
    return None if self.is_flag else _typer_display_type_rich(self, ctx)


def install() -> None:
    """Both changes; calling it again changes nothing."""
    # typer.core calls the name it imported from typer._coercion
    typer.core.build_runtime_param = _build_runtime_param  # type: ignore[attr-defined]
    TyperOption.display_type_rich = _flag_shows_no_type  # type: ignore[method-assign]

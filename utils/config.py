"""Typed overrides of frozen config dataclasses (``--set key=value``).

Each experiment owns a frozen dataclass. The command line changes a field with
``--set key=value``; the string is parsed by the field's annotated type, and an
unknown key or a value of the wrong type is a ``ValueError`` naming both.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def _parse_scalar(text: str, typ: Any, key: str) -> Any:
    if typ is bool:
        low = text.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{key}: expected a boolean (true/false), got {text!r}")
    if typ is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{key}: expected an integer, got {text!r}") from None
    if typ is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{key}: expected a number, got {text!r}") from None
    if typ is str:
        return text
    raise ValueError(f"{key}: fields of type {typ} cannot be set from the command line")


def parse_value(text: str, typ: Any, key: str) -> Any:
    """Parse ``text`` as a value of annotated type ``typ``.

    Supports ``int``, ``float``, ``bool``, ``str``, ``Optional[...]`` (``none``),
    ``Literal[...]`` and ``tuple[T, ...]`` (comma-separated)."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if text.strip().lower() in ("none", "null", ""):
            if len(non_none) != len(args):
                return None
        if len(non_none) == 1:
            return parse_value(text, non_none[0], key)
        raise ValueError(f"{key}: unsupported union type {typ}")
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == text:
                return choice
        raise ValueError(f"{key}: expected one of {list(args)}, got {text!r}")
    if origin is tuple:
        items = [s for s in text.split(",") if s.strip() != ""]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(s.strip(), args[0], key) for s in items)
        if len(items) != len(args):
            raise ValueError(f"{key}: expected {len(args)} comma-separated values, got {text!r}")
        return tuple(parse_value(s.strip(), a, key) for s, a in zip(items, args))
    return _parse_scalar(text, typ, key)


def field_types(cfg_cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cfg_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cfg_cls)}


def apply_overrides(cfg: Any, overrides: dict[str, str]) -> Any:
    """Return a copy of frozen dataclass ``cfg`` with ``overrides`` (strings)
    parsed by field type. Raises ``ValueError`` for unknown keys or bad values."""
    types_ = field_types(type(cfg))
    parsed = {}
    for key, text in overrides.items():
        if key not in types_:
            known = ", ".join(sorted(types_))
            raise ValueError(f"unknown config key {key!r} for {type(cfg).__name__} "
                             f"(known: {known})")
        parsed[key] = parse_value(text, types_[key], key)
    return dataclasses.replace(cfg, **parsed)


def split_override(item: str) -> tuple[str, str]:
    """``'a.lr=1e-3'`` -> ``('a.lr', '1e-3')``; ValueError without ``=``."""
    if "=" not in item:
        raise ValueError(f"--set expects key=value, got {item!r}")
    key, value = item.split("=", 1)
    key = key.strip().replace("-", "_")
    if not key:
        raise ValueError(f"--set expects key=value, got {item!r}")
    return key, value.strip()

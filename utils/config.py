"""Typed overrides of frozen config dataclasses (``--set key=value``).

Each experiment owns a frozen dataclass. The command line changes a field with
``--set key=value``; the string is parsed by the field's annotated type, and an
unknown key or a value of the wrong type is a ``ValueError`` naming both.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

INT64_MAX = 2**63 - 1


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


def config_from_fields(cls: type, fields: Any) -> Any:
    """A frozen config ``cls`` from the fields a run folder's ``config.json``
    saved (lists become tuples). The one reader of a saved config: unknown
    fields are refused in one line naming the known ones, never dropped."""
    if not isinstance(fields, dict):
        raise ValueError(f"expected the fields of a {cls.__name__}, got {type(fields).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown} (saved by another version?); "
                         f"known: {', '.join(names)}")
    cfg = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
    check_types(cfg)  # "augment": "false" is not a boolean
    return cfg


def split_override(item: str) -> tuple[str, str]:
    """``'a.lr=1e-3'`` -> ``('a.lr', '1e-3')``; ValueError without ``=``."""
    if "=" not in item:
        raise ValueError(f"--set expects key=value, got {item!r}")
    key, value = item.split("=", 1)
    key = key.strip().replace("-", "_")
    if not key:
        raise ValueError(f"--set expects key=value, got {item!r}")
    return key, value.strip()


# --------------------------------------------------------------------------
# numeric fields: finiteness and range, in one place for every config
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric field (each bound optional): ``gt``/``ge``
    below, ``lt``/``le`` above; ``integer``: an int (not a bool)."""
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    integer: bool = False

    def text(self) -> str:
        parts = [f"> {self.gt:g}" if self.gt is not None else "",
                 f">= {self.ge:g}" if self.ge is not None else "",
                 f"< {self.lt:g}" if self.lt is not None else "",
                 f"<= {self.le:g}" if self.le is not None else ""]
        return ("an integer " if self.integer else "a finite number ") + " and ".join(
            p for p in parts if p)

    def ok(self, v) -> bool:
        if self.integer and (isinstance(v, bool) or not isinstance(v, int)):
            return False
        return ((self.gt is None or v > self.gt) and (self.ge is None or v >= self.ge)
                and (self.lt is None or v < self.lt) and (self.le is None or v <= self.le))


def _numbers(value):
    """The numbers inside a field value (itself, or the items of a tuple)."""
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def _type_name(typ: Any) -> str:
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        return f"a list of {_type_name(args[0])}" if len(args) == 2 and args[1] is Ellipsis \
            else f"a list of {len(args)} values"
    return {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
            type(None): "null"}.get(typ, str(typ))


def _fits(value: Any, typ: Any) -> bool:
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if typ is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    if typ is type(None):
        return value is None
    if typ is bool:
        return isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(typ, type):
        return isinstance(value, typ)
    return True


def check_types(cfg: Any) -> None:
    """Every field of config dataclass ``cfg`` holds a value of its annotated
    type, whatever path it came by (a saved config.json, Python): ``"false"``
    is not a boolean, ``3`` is not a list of seeds. Raises ValueError naming
    the field, the expected type and what came."""
    for name, typ in field_types(type(cfg)).items():
        value = getattr(cfg, name)
        if not _fits(value, typ):
            raise ValueError(f"{name}: expected {_type_name(typ)}, got {value!r} "
                             f"({type(value).__name__})")


def check_numbers(cfg: Any, ranges: dict[str, Range]) -> None:
    """Validate every numeric field of config dataclass ``cfg``, whatever path
    it came by (flag, ``--set``, a saved config.json, Python): each float
    finite (NaN passes ``x < 0`` checks and then silently disables what
    ``if x > 0`` guards), each int within int64, each field of ``ranges``
    (a field or the items of a tuple field) inside its :class:`Range`.
    Raises ValueError naming the field, what was expected and what came.
    Each field's type is checked first (:func:`check_types`)."""
    check_types(cfg)
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        rule = ranges.get(f.name)
        for v in _numbers(value):
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{f.name}: expected a finite number, got {value!r}")
            if isinstance(v, int) and abs(v) > INT64_MAX:
                raise ValueError(f"{f.name}: expected an integer within int64, got {value!r}")
            if rule is not None and not rule.ok(v):
                raise ValueError(f"{f.name}: expected {rule.text()}, got {value!r}")
        if rule is not None and value is not None and not list(_numbers(value)) and (
                not isinstance(value, (list, tuple)) or value):
            raise ValueError(f"{f.name}: expected {rule.text()}, got {value!r}")

"""Typed compressor configurations: dataclass fields that carry their own documentation.

Every compressor declares its settings as a dataclass whose fields are made with
:func:`option`: a default, a one-line description, and the accepted range or choices.
:func:`parse_config` turns the loose mapping that arrives from a spec file or the gRPC
request into that dataclass, refusing unknown keys, wrong types and out-of-range values
with a :class:`ConfigError` that names the field. :func:`describe_config` renders the
same metadata for documentation and the CLI. Nothing here imports INC or torch: it runs
in the server at submit time.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def option(
    default: Any,
    description: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[Any] | None = None,
    pattern_help: str | None = None,
) -> Any:
    """A config field with its description and the values it accepts.

    ``minimum``/``maximum`` are inclusive bounds for numbers; ``choices`` lists the
    accepted values (strings are compared case-insensitively and stored lower-case).
    ``pattern_help`` documents free-form strings that a config's ``check()`` validates.
    ``None`` as a default means "resolved from the other fields" (see ``resolve()``).
    """
    metadata = {
        "description": description,
        "minimum": minimum,
        "maximum": maximum,
        "choices": tuple(choices) if choices is not None else None,
        "pattern_help": pattern_help,
    }
    if isinstance(default, list | dict):
        # A mutable default would be shared by every config instance; each gets a copy.
        return dataclasses.field(default_factory=lambda: copy.copy(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """(inner type, accepts None) for ``X | None`` annotations."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _coerce(name: str, value: Any, annotation: Any) -> Any:
    """Converts ``value`` to the field's type, accepting only lossless conversions."""
    inner, nullable = _unwrap_optional(annotation)
    if value is None:
        if nullable:
            return None
        raise ConfigError(name, "must not be null")
    if inner is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(name, f"must be true or false, got {value!r}")
    if inner is int:
        # bool is an int subclass, but `true` for a sample count is a user mistake.
        if isinstance(value, bool):
            raise ConfigError(name, f"must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)  # JSON/protobuf Struct numbers arrive as floats
        raise ConfigError(name, f"must be an integer, got {value!r}")
    if inner is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(name, f"must be a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise ConfigError(name, f"must be a finite number, got {value!r}")
        return float(value)
    if inner is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"must be a string, got {value!r}")
        return value
    origin = typing.get_origin(inner)
    if origin in (list, tuple):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ConfigError(name, f"must be a list, got {value!r}")
        (item_type, *_) = typing.get_args(inner) or (Any,)
        items = [_coerce(f"{name}[{i}]", v, item_type) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(name, f"must be a mapping of name to value, got {value!r}")
        key_type, value_type = typing.get_args(inner) or (str, Any)
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if key_type is str and (not isinstance(key, str) or not key):
                raise ConfigError(name, f"keys must be non-empty strings, got {key!r}")
            out[key] = _coerce(f"{name}[{key}]", item, value_type)
        return out
    return value


def _check_bounds(name: str, value: Any, meta: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        # A mapping's bounds and choices apply to each of its values.
        return {key: _check_bounds(f"{name}[{key}]", item, meta) for key, item in value.items()}
    choices = meta.get("choices")
    if choices is not None and value is not None:
        candidate = value.lower() if isinstance(value, str) else value
        if candidate not in choices:
            listed = ", ".join(str(c) for c in choices)
            raise ConfigError(name, f"must be one of {listed}, got {value!r}")
        value = candidate
    lo, hi = meta.get("minimum"), meta.get("maximum")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        low = "-inf" if lo is None else _fmt(lo)
        high = "inf" if hi is None else _fmt(hi)
        raise ConfigError(name, f"must be in [{low}, {high}], got {_fmt(value)}")
    return value


def _fmt(number: float) -> str:
    return f"{number:g}" if isinstance(number, float) else str(number)


def parse_config(cls: type[T], params: Mapping[str, Any]) -> T:
    """Builds config ``cls`` from ``params``; raises :class:`ConfigError` naming the field.

    After per-field checks, the config's optional ``resolve()`` fills defaults that
    depend on other fields, and ``check()`` validates combinations of fields; both may
    raise :class:`ConfigError`.
    """
    if not isinstance(params, Mapping):
        raise ConfigError("", f"must be a mapping of settings, got {type(params).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = _field_types(cls)
    for key in params:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(str(key), f"unknown setting (known: {known})")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in params:
            value = _coerce(name, params[name], hints[name])
        elif f.default is not _MISSING:
            value = f.default
        elif f.default_factory is not _MISSING:
            value = f.default_factory()
        else:
            raise ConfigError(name, "is required")
        values[name] = _check_bounds(name, value, f.metadata)
    config = cls(**values)
    resolve = getattr(config, "resolve", None)
    if callable(resolve):
        resolve()
    check = getattr(config, "check", None)
    if callable(check):
        check()
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """The resolved config as plain JSON-friendly values (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, tuple | list):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)  # a copy: the caller may edit the report's values
        out[f.name] = value
    return out


def _type_name(annotation: Any) -> str:
    """``float``, ``list of str``, ``mapping of str to float`` (for docs and the CLI)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple) and args:
        return f"list of {_type_name(args[0])}"
    if origin is dict and len(args) == 2:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    return getattr(annotation, "__name__", str(annotation))


def describe_config(cls: type) -> list[dict[str, Any]]:
    """One entry per field: name, type, default, description, range or choices."""
    hints = _field_types(cls)
    described = []
    for f in dataclasses.fields(cls):
        inner, nullable = _unwrap_optional(hints[f.name])
        type_name = _type_name(inner)
        if f.default is not _MISSING:
            default = f.default
        elif f.default_factory is not _MISSING:
            default = f.default_factory()
        else:
            default = None
        entry: dict[str, Any] = {
            "name": f.name,
            "type": f"{type_name} or null" if nullable else type_name,
            "default": default,
            "description": f.metadata.get("description", ""),
        }
        for key in ("minimum", "maximum", "choices", "pattern_help"):
            if f.metadata.get(key) is not None:
                entry[key] = list(f.metadata[key]) if key == "choices" else f.metadata[key]
        described.append(entry)
    return described

"""The explicit registry of compressors, by name; duplicates are refused."""

from __future__ import annotations

from typing import TypeVar

from .base import Compressor
from .errors import ConfigError

_REGISTRY: dict[str, type[Compressor]] = {}

C = TypeVar("C", bound=type[Compressor])


def register(cls: C) -> C:
    """Class decorator adding a compressor under ``cls.name``; a second one is an error."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a non-empty class attribute 'name'")
    for required in ("description", "Config"):
        if not hasattr(cls, required):
            raise TypeError(f"compressor {name!r} needs a class attribute {required!r}")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"a compressor named {name!r} is already registered")
    _REGISTRY[name] = cls
    return cls


def get_compressor(name: str) -> Compressor:
    """A fresh instance of the compressor called ``name``; ConfigError if there is none."""
    try:
        cls = _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError("compressor", f"unknown compressor {name!r} (known: {known})") from None
    return cls()


def list_compressors() -> list[Compressor]:
    """One instance of every registered compressor, sorted by name."""
    return [_REGISTRY[name]() for name in sorted(_REGISTRY)]

"""The attack registry: attacks are registered by name, once, explicitly.

Like torchattacks' and AutoAttack's name tables, a name maps to exactly one attack;
registering a second attack under a taken name is a programming error and fails
loudly instead of silently shadowing the first.
"""

from __future__ import annotations

from typing import TypeVar

from robustedge.attacks.base import Attack, UnknownAttackError

_REGISTRY: dict[str, type[Attack]] = {}

A = TypeVar("A", bound=type[Attack])


def register(cls: A) -> A:
    """Class decorator: registers an Attack subclass under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, Attack)):
        raise TypeError(f"only Attack subclasses can be registered, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise ValueError(f"{cls.__qualname__}.name must be a non-empty lowercase string")
    for attr in ("needs", "norms", "description"):
        if not hasattr(cls, attr):
            raise ValueError(f"{cls.__qualname__} must define {attr}")
    if name in _REGISTRY:
        raise ValueError(
            f"attack name {name!r} is already registered by {_REGISTRY[name].__qualname__}"
        )
    _REGISTRY[name] = cls
    return cls


def get_attack(name: str) -> Attack:
    """A fresh instance of the attack registered as ``name``."""
    key = str(name).strip().lower()
    if key not in _REGISTRY:
        raise UnknownAttackError(
            f"unknown attack {name!r}; known attacks: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[key]()


def list_attacks() -> list[Attack]:
    """One instance of every registered attack, sorted by name."""
    return [_REGISTRY[name]() for name in sorted(_REGISTRY)]

"""RobustEdge attacks: a registry of white-box, transfer and black-box attacks.

Importing this package registers every attack module below by name.
"""

from robustedge.attacks import apgd, bim, cw, deepfool, fgsm, pgd  # noqa: F401  (registration side effect)
from robustedge.attacks.base import (
    Attack,
    AttackConfigError,
    AttackRun,
    AttackTarget,
    AttackTimeoutError,
    AttackUnsupportedError,
    Need,
    Param,
    UnknownAttackError,
    canonical_norm,
)
from robustedge.attacks.metrics import summarize, wilson_interval
from robustedge.attacks.registry import get_attack, list_attacks, register

__all__ = [
    "Attack",
    "AttackConfigError",
    "AttackRun",
    "AttackTarget",
    "AttackTimeoutError",
    "AttackUnsupportedError",
    "Need",
    "Param",
    "UnknownAttackError",
    "canonical_norm",
    "get_attack",
    "list_attacks",
    "register",
    "summarize",
    "wilson_interval",
]

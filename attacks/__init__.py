"""RobustEdge attacks: a registry of white-box, transfer and black-box attacks.

Importing this package registers every attack module below by name.
"""

# Imported for their registration side effect (each module registers its attack).
from robustedge.attacks import (  # noqa: F401
    apgd,
    bim,
    cw,
    deepfool,
    fgsm,
    hopskipjump,
    pgd,
    square,
    universal,
)
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
from robustedge.attacks.ensemble import STANDARD, MemberResult, WorstCaseResult, worst_case
from robustedge.attacks.metrics import summarize, wilson_interval
from robustedge.attacks.registry import get_attack, list_attacks, register

__all__ = [
    "STANDARD",
    "Attack",
    "AttackConfigError",
    "AttackRun",
    "AttackTarget",
    "AttackTimeoutError",
    "AttackUnsupportedError",
    "MemberResult",
    "Need",
    "Param",
    "UnknownAttackError",
    "WorstCaseResult",
    "canonical_norm",
    "get_attack",
    "list_attacks",
    "register",
    "summarize",
    "wilson_interval",
    "worst_case",
]

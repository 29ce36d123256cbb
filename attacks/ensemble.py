"""AutoAttack-style worst case over an ensemble of attacks, scored on onnxruntime.

Per sample, the result is the worst case over the members: each member runs only on
the samples that are still robust after the previous ones (so the ensemble costs
little more than its strongest member), and a sample counts as robust only if no
member broke it. "Broken" is judged by ``target.predict`` (onnxruntime, the artifact
that ships), never by the torch replica.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np

from robustedge.attacks.base import (
    Attack,
    AttackConfigError,
    AttackRun,
    AttackTarget,
    AttackUnsupportedError,
    Need,
    Param,
    RunContext,
    canonical_norm,
)
from robustedge.attacks.registry import get_attack, register

log = logging.getLogger(__name__)

#: AutoAttack's "standard" ensemble as issue 5 defines it: APGD-CE, APGD-DLR, Square.
STANDARD: tuple[str, ...] = ("apgd-ce", "apgd-dlr", "square")

Member: TypeAlias = str | Attack | tuple[str | Attack, Mapping[str, Any]]


@dataclass
class MemberResult:
    """What one member of the ensemble did."""

    attack: str
    attempted: int  # samples it ran on (those still robust before it)
    broken: int  # of those, samples it broke (scored on onnxruntime)
    robust_after: int  # samples still robust after it
    seconds: float
    queries: int | None
    params: dict[str, Any]
    skipped: str = ""  # why the member did not run (empty when it ran)


@dataclass
class WorstCaseResult:
    """Per-sample worst case over the ensemble."""

    x_adv: np.ndarray  # per sample, the example that broke it, else the last attempt
    robust: np.ndarray  # bool [N]: classified correctly after every member
    broken_by: list[str | None]  # member that broke each sample (None: robust, or wrong when clean)
    members: list[MemberResult] = field(default_factory=list)

    @property
    def robust_accuracy(self) -> float:
        return float(self.robust.mean()) if len(self.robust) else 0.0


def _resolve_member(member: Member) -> tuple[Attack, Mapping[str, Any]]:
    if isinstance(member, tuple):
        attack, params = member
    else:
        attack, params = member, {}
    if isinstance(attack, str):
        attack = get_attack(attack)
    return attack, params


def worst_case(
    attacks: Sequence[Member],
    target: AttackTarget,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epsilon: float,
    norm: str,
    input_range: tuple[float, float],
    seed: int,
    progress: Callable[[float], None] | None = None,
    skip_unsupported: bool = False,
) -> WorstCaseResult:
    """Runs ``attacks`` in order, each only on samples still robust; see the module doc.

    ``attacks`` items are a name, an Attack, or (name or Attack, params). With
    ``skip_unsupported`` a member that cannot attack this target (no torch module for a
    white-box member, unsupported norm) is skipped and recorded instead of raising.
    Every member gets the same ``seed``.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(y).astype(np.int64)
    canonical = canonical_norm(norm)
    members = [_resolve_member(m) for m in attacks]
    if not members:
        raise AttackConfigError("attacks", "the ensemble needs at least one attack")
    x_adv = x.copy()
    robust = np.asarray(target.predict(x)).argmax(axis=1) == y
    broken_by: list[str | None] = [None] * len(x)
    results: list[MemberResult] = []
    for i, (attack, params) in enumerate(members):
        idx = np.flatnonzero(robust)
        problem = _unsupported(attack, target, canonical)
        if problem:
            if not skip_unsupported:
                raise AttackUnsupportedError(
                    f"{attack.name} cannot run in this ensemble: {problem}"
                )
            log.warning("ensemble member %s skipped: %s", attack.name, problem)
            results.append(MemberResult(attack.name, 0, 0, len(idx), 0.0, None, {}, problem))
            continue

        def member_progress(fraction: float, i: int = i) -> None:
            if progress is not None:
                progress((i + fraction) / len(members))

        started = time.perf_counter()
        if len(idx):
            run = attack.generate(
                target, x[idx], y[idx], epsilon=epsilon, norm=canonical, params=params,
                input_range=input_range, seed=seed, progress=member_progress,
            )  # fmt: skip
        else:  # nothing left to attack; still resolve parameters for the record
            run = AttackRun(
                x[:0].copy(),
                0 if attack.counts_queries else None,
                {**attack.resolve_params(params, epsilon=epsilon, norm=canonical), "seed": seed},
            )
        still = np.asarray(target.predict(run.x_adv)).argmax(axis=1) == y[idx] if len(idx) else []
        still = np.asarray(still, dtype=bool)
        x_adv[idx] = run.x_adv
        newly = idx[~still]
        robust[newly] = False
        for j in newly:
            broken_by[int(j)] = attack.name
        results.append(
            MemberResult(
                attack.name,
                len(idx),
                len(newly),
                int(robust.sum()),
                time.perf_counter() - started,
                run.queries,
                run.params,
            )
        )
        member_progress(1.0)
    return WorstCaseResult(x_adv, robust, broken_by, results)


def _unsupported(attack: Attack, target: AttackTarget, norm: str) -> str:
    if norm not in attack.norms:
        return f"it supports {list(attack.norms)}, not {norm}"
    try:
        attack.check_target(target)
    except AttackUnsupportedError as exc:
        return str(exc)
    return ""


@register
class AutoAttackStandard(Attack):
    """AutoAttack, standard version (Croce & Hein, "Reliable evaluation of adversarial
    robustness with an ensemble of diverse parameter-free attacks", ICML 2020): the
    per-sample worst case over APGD-CE, APGD-DLR and Square, each run only on samples
    still robust (judged by onnxruntime).

    Threat model: white-box plus score-based black box, untargeted, L-inf (Square is
    L-inf only). Needs the bridge module for the APGD members.

    Arguments:
        steps (100): APGD iterations per member.
        restarts (1): APGD restarts per member.
        queries (5000): Square query budget per sample.
        batch_size (256), time_budget_s (None; applies to each member).
    Valid input range: any [min, max]. Deterministic given seed. ``AttackRun.queries``
    counts Square's queries; ``params`` records each member's resolved parameters.
    """

    name = "autoattack"
    needs = Need.GRADIENTS
    counts_queries = True
    norms = ("linf",)
    description = "AutoAttack standard: worst case over APGD-CE, APGD-DLR and Square"
    # Each member re-batches the samples still robust after the previous members, so a
    # sample's batch-mates (and random draws) depend on the whole set.
    sample_separable = False
    parameters = (
        Param("steps", int, 100, "APGD iterations", low=1),
        Param("restarts", int, 1, "APGD restarts", low=1),
        Param("queries", int, 5000, "Square queries per sample", low=1),
    )

    def _members(self, params: Mapping[str, Any]) -> list[Member]:
        common = {"batch_size": params["batch_size"], "time_budget_s": params["time_budget_s"]}
        apgd = {**common, "steps": params["steps"], "restarts": params["restarts"]}
        return [
            ("apgd-ce", apgd),
            ("apgd-dlr", apgd),
            ("square", {**common, "queries": params["queries"]}),
        ]

    def _run(self, ctx: RunContext) -> tuple[np.ndarray, int | None]:
        result = worst_case(
            self._members(ctx.params), ctx.target, ctx.x, ctx.y, epsilon=ctx.epsilon,
            norm=ctx.norm, input_range=(ctx.lo, ctx.hi), seed=ctx.seed, progress=ctx.report,
        )  # fmt: skip
        ctx.params["members"] = {
            m.attack: {"attempted": m.attempted, "broken": m.broken, "params": m.params}
            for m in result.members
        }
        queries = [m.queries for m in result.members if m.queries is not None]
        return result.x_adv, sum(queries) if queries else None

"""Splits an evaluation spec into units of work.

A unit is the smallest piece of a job that is recorded when it finishes: preparing
the samples, building and checking one variant, one attack on one variant (all its
epsilons), scoring transferred examples on one target, timing one variant. Units
are listed in an order that respects their dependencies, so a single worker can
run them front to back, and a resumed job simply skips the finished ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from robustedge.v1 import evaluation_pb2 as pb

BASE = "base"


@dataclass(frozen=True)
class Unit:
    key: str
    kind: str  # prepare | variant | attack | transfer | sensitivity | search | latency
    stage: str  # shown to users in progress events
    variant: str = ""
    attack_index: int = -1
    mode: int = pb.ATTACK_MODE_UNSPECIFIED
    source: str = ""  # transfer units: the variant the examples were crafted on
    depends: tuple[str, ...] = ()
    weight: float = 1.0  # rough relative cost, for the progress fraction


def default_modes(needs_gradients: bool) -> tuple[int, ...]:
    if needs_gradients:
        return (pb.ATTACK_MODE_WHITE_BOX, pb.ATTACK_MODE_TRANSFER)
    return (pb.ATTACK_MODE_BLACK_BOX,)


DEFAULT_SEARCH_VARIANT = "searched"


def search_variant(spec: pb.EvaluationSpec) -> str:
    """Name of the variant the robustness-aware search produces, or '' when it is off."""
    if not spec.search.enabled:
        return ""
    return spec.search.variant_name or DEFAULT_SEARCH_VARIANT


def variant_names(spec: pb.EvaluationSpec) -> list[str]:
    searched = search_variant(spec)
    return [BASE, *(v.name for v in spec.variants), *([searched] if searched else [])]


def transfer_sources(attack: pb.AttackSpec, variants: list[str]) -> list[str]:
    """Variants whose examples are transferred: ["base"] unless the spec says otherwise."""
    requested = list(attack.transfer_sources) or [BASE]
    if "*" in requested:
        return list(variants)
    return [v for v in variants if v in requested]


def plan_units(spec: pb.EvaluationSpec, needs_gradients: dict[str, bool]) -> list[Unit]:
    """Lists the units of a job; ``needs_gradients`` maps attack name -> white-box or not."""
    variants = variant_names(spec)
    units = [Unit("prepare", "prepare", "preparing samples", weight=0.2)]
    searched = search_variant(spec)
    if searched:
        # The search builds and scores many candidates; its choice becomes a variant.
        cost = float(spec.search.max_evaluations or 24)
        units.append(
            Unit("search", "search", "robustness-aware search", depends=("prepare",), weight=cost)
        )
    units += [
        Unit(
            f"variant:{v}",
            "variant",
            f"building {v}",
            variant=v,
            depends=("prepare", "search") if v == searched else ("prepare",),
            weight=2,
        )
        for v in variants
    ]
    for i, attack in enumerate(spec.attacks):
        modes = tuple(attack.modes) or default_modes(needs_gradients[attack.attack])
        cost = float(len(attack.epsilons))
        sources = transfer_sources(attack, variants) if pb.ATTACK_MODE_TRANSFER in modes else []
        for v in variants:
            if pb.ATTACK_MODE_WHITE_BOX in modes or v in sources:
                # Transfer needs the examples crafted white-box on each source.
                mode = pb.ATTACK_MODE_WHITE_BOX
            elif pb.ATTACK_MODE_BLACK_BOX in modes:
                mode = pb.ATTACK_MODE_BLACK_BOX
            else:
                continue
            units.append(
                Unit(
                    f"attack:{i}:{v}",
                    "attack",
                    f"{attack.attack} on {v}",
                    variant=v,
                    attack_index=i,
                    mode=mode,
                    depends=(f"variant:{v}",),
                    weight=2 * cost,
                )
            )
        units += [
            Unit(
                f"transfer:{i}:{source}:{v}",
                "transfer",
                f"{attack.attack} transferred from {source} to {v}",
                variant=v,
                attack_index=i,
                mode=pb.ATTACK_MODE_TRANSFER,
                source=source,
                depends=(f"attack:{i}:{source}", f"variant:{v}"),
                weight=0.2 * cost,
            )
            for source in sources
            for v in variants
            if v != source
        ]
    if spec.sensitivity.enabled:
        units.append(
            Unit(
                "sensitivity",
                "sensitivity",
                "layer sensitivity of base",
                variant=BASE,
                depends=(f"variant:{BASE}",),
                weight=8,
            )
        )
    if not spec.latency.disabled:
        units += [
            Unit(f"latency:{v}", "latency", f"timing {v}", variant=v, depends=(f"variant:{v}",))
            for v in variants
        ]
    return units

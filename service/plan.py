"""Splits an evaluation spec into units of work.

A unit is the smallest piece of a job that is recorded when it finishes: preparing
the samples, building and checking one variant, one attack shard (one attack on one
variant at one epsilon, on one slice of the samples), merging the slices of an
attack x variant x epsilon, scoring transferred examples on one target, timing one
variant. Units are listed in an order that respects their dependencies, so a single
worker can run them front to back, and a resumed job simply skips the finished ones.

Attack shards: ``attack:<i>:<v>:e<k>:s<j>`` runs epsilon ``k`` of attack ``i`` on
variant ``v`` for sample slice ``j`` of ``spec.sample_shards``. Epsilon-independent
attacks (CW, DeepFool, HopSkipJump) keep their epsilons in one shard (``eall``);
attacks that are not separable by sample (universal, autoattack) get one slice. With
more than one slice, ``merge:<i>:<v>:e<k>`` combines them into the report's row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from robustedge.v1 import evaluation_pb2 as pb

BASE = "base"


@dataclass(frozen=True)
class Unit:
    key: str
    kind: str  # prepare | search | variant | attack | merge | transfer | sensitivity | latency
    stage: str  # shown to users in progress events
    variant: str = ""
    attack_index: int = -1
    mode: int = pb.ATTACK_MODE_UNSPECIFIED
    source: str = ""  # transfer units: the variant the examples were crafted on
    depends: tuple[str, ...] = ()
    weight: float = 1.0  # rough relative cost, for the progress fraction
    # attack and merge units: the indices of the attack's epsilons they run
    epsilons: tuple[int, ...] = ()
    # attack units: sample slice ``part`` of ``parts`` (see shard_bounds); merge units
    # combine all ``parts`` slices
    part: int = 0
    parts: int = 1


@dataclass(frozen=True)
class AttackTraits:
    """What the plan needs to know of an attack (from its class in the registry)."""

    needs_gradients: bool
    sample_separable: bool = True
    epsilon_independent: bool = False


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


def epsilon_groups(attack: pb.AttackSpec, traits: AttackTraits) -> list[tuple[int, ...]]:
    """Epsilon indices run together by one attack shard: one each, except for
    epsilon-independent attacks, which compute once and project onto every epsilon
    (one unit per epsilon would repeat the costliest attacks once per epsilon)."""
    indices = tuple(range(len(attack.epsilons)))
    if traits.epsilon_independent:
        return [indices]
    return [(k,) for k in indices]


def sample_shards(spec: pb.EvaluationSpec, traits: AttackTraits) -> int:
    """Sample slices per attack x variant x epsilon: ``spec.sample_shards`` (0 means 1),
    and always 1 for attacks whose samples are not separable (universal, autoattack)."""
    if not traits.sample_separable:
        return 1
    return max(1, int(spec.sample_shards))


def shard_key(attack_index: int, variant: str, epsilons: tuple[int, ...], part: int) -> str:
    group = f"e{epsilons[0]}" if len(epsilons) == 1 else "eall"
    return f"attack:{attack_index}:{variant}:{group}:s{part}"


def shard_bounds(n: int, batch_size: int, part: int, parts: int) -> tuple[int, int]:
    """Samples [start, stop) of slice ``part`` of ``parts``: whole batches of the attack
    (``batch_size``), spread evenly; empty when there are fewer batches than slices.

    Slices start on batch boundaries so that every batch is the one the unsliced run
    has, with the same random draws (attacks seed each batch from its position) and the
    same batch-mates (dynamically quantized graphs scale by the whole batch)."""
    batches = -(-n // batch_size)
    first, last = part * batches // parts, (part + 1) * batches // parts
    return min(first * batch_size, n), min(last * batch_size, n)


def plan_units(
    spec: pb.EvaluationSpec, attack_traits: Mapping[str, AttackTraits | bool]
) -> list[Unit]:
    """Lists the units of a job; ``attack_traits`` maps each attack name to its traits
    (a bool: whether it needs gradients, with the default traits otherwise)."""
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
        given = attack_traits[attack.attack]
        traits = given if isinstance(given, AttackTraits) else AttackTraits(given)
        modes = tuple(attack.modes) or default_modes(traits.needs_gradients)
        cost = float(len(attack.epsilons))
        sources = transfer_sources(attack, variants) if pb.ATTACK_MODE_TRANSFER in modes else []
        groups = epsilon_groups(attack, traits)
        parts = sample_shards(spec, traits)
        # Per variant: the units whose results hold its finished rows (and files).
        finals: dict[str, list[str]] = {}
        for v in variants:
            if pb.ATTACK_MODE_WHITE_BOX in modes or v in sources:
                # Transfer needs the examples crafted white-box on each source.
                mode = pb.ATTACK_MODE_WHITE_BOX
            elif pb.ATTACK_MODE_BLACK_BOX in modes:
                mode = pb.ATTACK_MODE_BLACK_BOX
            else:
                continue
            finals[v] = []
            for group in groups:
                eps = ", ".join(f"{attack.epsilons[k]:g}" for k in group)
                keys = [shard_key(i, v, group, j) for j in range(parts)]
                units += [
                    Unit(
                        key,
                        "attack",
                        f"{attack.attack} on {v} (eps {eps}"
                        + (f", slice {j + 1}/{parts})" if parts > 1 else ")"),
                        variant=v,
                        attack_index=i,
                        mode=mode,
                        depends=(f"variant:{v}",),
                        weight=2 * len(group) / parts,
                        epsilons=group,
                        part=j,
                        parts=parts,
                    )
                    for j, key in enumerate(keys)
                ]
                if parts == 1:
                    finals[v] += keys  # the one slice writes the rows itself
                    continue
                for k in group:
                    # Rows come from all slices together (medians, intervals), and the
                    # full set of examples for transfer and kept files.
                    units.append(
                        Unit(
                            f"merge:{i}:{v}:e{k}",
                            "merge",
                            f"{attack.attack} on {v} (eps {attack.epsilons[k]:g}, merging)",
                            variant=v,
                            attack_index=i,
                            mode=mode,
                            depends=tuple(keys),
                            weight=0.1,
                            epsilons=(k,),
                            parts=parts,
                        )
                    )
                    finals[v].append(units[-1].key)
        units += [
            Unit(
                f"transfer:{i}:{source}:{v}",
                "transfer",
                f"{attack.attack} transferred from {source} to {v}",
                variant=v,
                attack_index=i,
                mode=pb.ATTACK_MODE_TRANSFER,
                source=source,
                depends=(*finals[source], f"variant:{v}"),
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

"""The accuracy–latency–size trade-off of a report's variants.

One point per variant that has all three measurements: accuracy (clean, and
worst-case robust at a reference epsilon), median latency on a reference
latency configuration, and file size. The Pareto front is computed over
(accuracy ↑, latency ↓, size ↓) separately for clean and for robust accuracy.

Choices, made explicit because a chart hides them:

- Reference latency configuration: ``cpu``, batch size 1 and the fewest
  threads, when measured; otherwise the first measured configuration. Every
  variant is compared on the same configuration or not at all.
- Robust accuracy of a variant at an epsilon: the worst (lowest) over all its
  trusted results at that epsilon, any attack, any mode — the AutoAttack
  convention of reporting the worst case over an ensemble.
- Reference epsilon: among the epsilons at which every plotted variant has a
  trusted result, the largest at which ``base`` (else the first variant) keeps
  at least half of its clean accuracy in the worst case; when none does, the
  smallest. At a budget that drives every variant to zero the comparison says
  nothing, and the largest budget often does exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from robustedge.client.render import reference_latency
from robustedge.reports.pareto import pareto_front
from robustedge.v1 import evaluation_pb2 as pb

__all__ = ["LatencyConfig", "Tradeoff", "TradeoffPoint", "tradeoff"]


@dataclass(frozen=True)
class LatencyConfig:
    provider: str
    batch_size: int
    threads: int

    def __str__(self) -> str:
        return f"{self.provider}, batch {self.batch_size}, {self.threads} thread(s)"


@dataclass
class TradeoffPoint:
    variant: str
    clean_accuracy: float
    latency_ms: float
    size_bytes: int
    # Worst-case robust accuracy at the reference epsilon; None without attacks.
    robust_accuracy: float | None = None


@dataclass
class Tradeoff:
    points: list[TradeoffPoint]
    config: LatencyConfig | None
    epsilon: float | None
    clean_front: list[str] = field(default_factory=list)
    robust_front: list[str] = field(default_factory=list)
    # Variants left out and why (no latency, failed build...).
    omitted: dict[str, str] = field(default_factory=dict)


def _reference_config(report: pb.Report) -> LatencyConfig | None:
    # The same configuration the Markdown and HTML summaries compare on.
    row = reference_latency(report)
    return None if row is None else LatencyConfig(row.provider, row.batch_size, row.threads)


def _worst_case(report: pb.Report, variant: str, epsilon: float) -> float:
    return min(
        row.robust_accuracy
        for row in report.attacks
        if row.target_variant == variant and row.trusted and row.epsilon == epsilon
    )


def _reference_epsilon(report: pb.Report, variants: list[str], clean: float) -> float | None:
    """The epsilon the robust panel compares at (see the module docstring)."""
    epsilons_per_variant = [
        {row.epsilon for row in report.attacks if row.target_variant == name and row.trusted}
        for name in variants
    ]
    if not epsilons_per_variant:
        return None
    common = sorted(set.intersection(*epsilons_per_variant))
    if not common:
        return None
    reference = "base" if "base" in variants else variants[0]
    informative = [eps for eps in common if _worst_case(report, reference, eps) >= clean / 2]
    return max(informative) if informative else common[0]


def tradeoff(report: pb.Report) -> Tradeoff:
    """Trade-off points and Pareto fronts of the report's variants."""
    config = _reference_config(report)
    omitted: dict[str, str] = {}
    candidates: list[tuple[pb.VariantResult, float]] = []
    for variant in report.variants:
        if not variant.ok:
            omitted[variant.name] = "its build failed"
            continue
        if not variant.HasField("clean_accuracy"):
            omitted[variant.name] = "clean accuracy not measured"
            continue
        if not variant.size_bytes:
            omitted[variant.name] = "size not recorded"
            continue
        latency = None
        if config is not None:
            latency = next(
                (
                    row.p50_ms
                    for row in report.latency
                    if row.variant == variant.name
                    and row.provider == config.provider
                    and row.batch_size == config.batch_size
                    and row.threads == config.threads
                    and not row.skipped_reason
                    and row.p50_ms > 0
                ),
                None,
            )
        if latency is None:
            omitted[variant.name] = "no latency on the reference configuration"
            continue
        candidates.append((variant, latency))

    names = [variant.name for variant, _ in candidates]
    reference = next((v for v, _ in candidates if v.name == "base"), None) or (
        candidates[0][0] if candidates else None
    )
    epsilon = _reference_epsilon(report, names, reference.clean_accuracy) if reference else None
    points = []
    for variant, latency in candidates:
        point = TradeoffPoint(variant.name, variant.clean_accuracy, latency, variant.size_bytes)
        if epsilon is not None:
            point.robust_accuracy = _worst_case(report, variant.name, epsilon)
        points.append(point)

    clean_front = pareto_front(
        {p.variant: (-p.clean_accuracy, p.latency_ms, float(p.size_bytes)) for p in points}
    )
    robust_front = (
        pareto_front(
            {
                p.variant: (-(p.robust_accuracy or 0.0), p.latency_ms, float(p.size_bytes))
                for p in points
            }
        )
        if epsilon is not None
        else []
    )
    return Tradeoff(points, config, epsilon, clean_front, robust_front, omitted)

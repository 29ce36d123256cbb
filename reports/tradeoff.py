"""The accuracy–latency–size trade-off of a report's variants.

One point per variant that has all three measurements: accuracy (clean, and
worst-case robust at a reference epsilon), median latency on a reference
latency configuration, and file size. The Pareto front is computed over
(accuracy ↑, latency ↓, size ↓) separately for clean and for robust accuracy.

Choices, made explicit because a chart hides them:

- Reference latency configuration: ``cpu``, batch size 1 and the fewest
  threads, when measured; otherwise the first measured configuration. Every
  variant is compared on the same configuration or not at all.
- Reference epsilon: the largest epsilon at which every variant has at least one
  trusted attack result; the robust accuracy of a variant is the worst (lowest)
  over all trusted results at that epsilon, any attack, any mode — the
  AutoAttack convention of reporting the worst case over an ensemble.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    measured = [row for row in report.latency if not row.skipped_reason and row.p50_ms > 0]
    if not measured:
        return None
    cpu = [row for row in measured if row.provider == "cpu" and row.batch_size == 1]
    row = min(cpu, key=lambda row: row.threads) if cpu else measured[0]
    return LatencyConfig(row.provider, row.batch_size, row.threads)


def _reference_epsilon(report: pb.Report, variants: list[str]) -> float | None:
    epsilons_per_variant = [
        {row.epsilon for row in report.attacks if row.target_variant == name and row.trusted}
        for name in variants
    ]
    if not epsilons_per_variant:
        return None
    common = set.intersection(*epsilons_per_variant)
    return max(common) if common else None


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

    epsilon = _reference_epsilon(report, [variant.name for variant, _ in candidates])
    points = []
    for variant, latency in candidates:
        point = TradeoffPoint(variant.name, variant.clean_accuracy, latency, variant.size_bytes)
        if epsilon is not None:
            point.robust_accuracy = min(
                row.robust_accuracy
                for row in report.attacks
                if row.target_variant == variant.name and row.trusted and row.epsilon == epsilon
            )
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

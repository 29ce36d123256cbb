"""The outcome of one measurement, in the shape of the protocol's ``LatencyResult``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from robustedge.latency.config import LatencyConfig


@dataclass
class LatencyResult:
    """Field for field the ``robustedge.v1.LatencyResult`` message, less ``variant``.

    Times are milliseconds per run of one batch; ``throughput`` is samples per second
    at the median. A skipped measurement carries zeros, ``peak_rss_bytes=None`` and
    a non-empty ``skipped_reason``.
    """

    provider: str
    threads: int
    batch_size: int
    iterations: int = 0
    warmup: int = 0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    std_ms: float = 0.0
    min_ms: float = 0.0
    throughput: float = 0.0
    session_seconds: float = 0.0
    skipped_reason: str = ""
    runtime: str = ""
    profile: str = ""
    peak_rss_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Measurement:
    """A result plus what did not fit the message: raw samples and probe details."""

    config: LatencyConfig
    result: LatencyResult
    samples_ns: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def provider_node_fraction(self) -> float | None:
        """Share of graph nodes the requested provider runs (the rest fell back to CPU).

        None when unknown (skipped, or an onnxruntime build that does not record node
        assignment). Worth a warning beside any non-CPU figure well under 1.
        """
        counts = self.details.get("nodes_by_provider")
        if not counts:
            return None
        from robustedge.latency.providers import to_ort_name

        total = sum(counts.values())
        return counts.get(to_ort_name(self.result.provider), 0) / total if total else None

    def raw(self) -> dict[str, Any]:
        """The raw artifact: configuration, result, details and every timed sample."""
        return {
            "config": asdict(self.config),
            "result": self.result.to_dict(),
            "details": self.details,
            "samples_ns": self.samples_ns,
        }


def skipped(config: LatencyConfig, reason: str, runtime: str = "") -> LatencyResult:
    """A result that says why nothing was measured (never a silently missing row)."""
    return LatencyResult(
        provider=config.provider,
        threads=config.threads,
        batch_size=config.batch_size,
        warmup=0,  # nothing ran
        skipped_reason=reason,
        runtime=runtime,
        profile=config.profile,
    )

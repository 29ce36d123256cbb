"""What to measure: one latency configuration (provider, threads, batch, method knobs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

EXECUTION_MODES = ("sequential", "parallel")
GRAPH_OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")


@dataclass
class LatencyConfig:
    """One measurement of one model: where it runs, with which session options, how long.

    ``provider`` is a short name (``cpu``, ``openvino``, ``xnnpack``, ``cuda``,
    ``tensorrt``, ...). ``threads`` is the session's intra-op thread count; an edge
    ``profile`` (see ``robustedge.latency.profiles``) overrides it with the profile's
    own and pins the process to that many cores. Untimed warm-up runs precede the
    timed phase: at least ``warmup`` of them and for at least ``warmup_seconds`` (a
    tiny model needs thousands of runs to reach steady state; the reported ``warmup``
    is the number actually run). The timed phase lasts until the 95% CI half-width of
    the median is under ``target_rel_half_width`` of the median or ``max_seconds``
    pass, and in any case at least ``min_iterations`` runs. ``runtime`` names the
    environment to measure in
    ("" = the first discovered runtime that offers the provider).
    """

    provider: str = "cpu"
    threads: int = 1
    batch_size: int = 1
    warmup: int = 10
    min_iterations: int = 50
    max_seconds: float = 2.0
    profile: str = ""
    inter_op_threads: int = 1
    execution_mode: str = "sequential"
    graph_optimization_level: str = "all"
    runtime: str = ""
    target_rel_half_width: float = 0.02
    provider_options: dict[str, str] = field(default_factory=dict)
    warmup_seconds: float = 0.1

    def __post_init__(self) -> None:
        if self.threads < 0:  # 0 lets onnxruntime choose (one per physical core)
            raise ValueError(f"threads must be >= 0, got {self.threads}")
        if self.inter_op_threads < 0:
            raise ValueError(f"inter_op_threads must be >= 0, got {self.inter_op_threads}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if self.min_iterations < 1:
            raise ValueError(f"min_iterations must be >= 1, got {self.min_iterations}")
        if self.warmup_seconds < 0:
            raise ValueError(f"warmup_seconds must be >= 0, got {self.warmup_seconds}")
        if self.max_seconds < 0:
            raise ValueError(f"max_seconds must be >= 0, got {self.max_seconds}")
        if self.execution_mode not in EXECUTION_MODES:
            raise ValueError(f"execution_mode must be one of {EXECUTION_MODES}")
        if self.graph_optimization_level not in GRAPH_OPTIMIZATION_LEVELS:
            raise ValueError(f"graph_optimization_level must be one of {GRAPH_OPTIMIZATION_LEVELS}")
        if not 0 < self.target_rel_half_width < 1:
            raise ValueError("target_rel_half_width must be in (0, 1)")


def expand_configs(
    providers: Iterable[str] = ("cpu",),
    batch_sizes: Iterable[int] = (1,),
    threads: Iterable[int] = (),
    profiles: Iterable[str] = (),
    **common: Any,
) -> list[LatencyConfig]:
    """The configurations of a latency plan: providers x batch sizes x settings.

    The settings are each thread count (no profile) and each edge profile (whose own
    thread count applies). With neither threads nor profiles given, one thread.
    ``common`` holds the remaining LatencyConfig fields (warmup, max_seconds, ...).
    Unknown profiles raise ValueError here, so that a spec is rejected up front.
    """
    from robustedge.latency.profiles import get_profile

    thread_counts = list(threads)
    profile_names = list(profiles)
    for name in profile_names:
        get_profile(name)
    if not thread_counts and not profile_names:
        thread_counts = [1]
    settings: list[dict[str, Any]] = [{"threads": int(t)} for t in thread_counts]
    settings += [{"profile": name, "threads": get_profile(name).threads} for name in profile_names]
    return [
        LatencyConfig(provider=provider, batch_size=int(batch), **setting, **common)
        for provider in providers
        for batch in batch_sizes
        for setting in settings
    ]

"""Pareto fronts: which variants no other variant beats on every objective.

A variant is on the front when no other variant is at least as good on every
objective and strictly better on one. The report uses it for the
accuracy–latency–size trade-off: higher accuracy, lower latency, smaller file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["dominates", "pareto_front"]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when ``a`` is no worse than ``b`` everywhere and better somewhere
    (every objective is minimised)."""
    if len(a) != len(b):
        raise ValueError("points must have the same number of objectives")
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def pareto_front(points: Mapping[str, Sequence[float]]) -> list[str]:
    """Names of the non-dominated points, in the mapping's order.

    Every objective is minimised: pass ``-accuracy`` for an accuracy. Two
    identical points are both on the front (neither dominates the other).
    """
    return [
        name
        for name, point in points.items()
        if not any(dominates(other, point) for key, other in points.items() if key != name)
    ]

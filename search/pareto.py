"""Pareto front of candidates over objectives to maximise and minimise."""

from __future__ import annotations

from collections.abc import Sequence


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether point ``a`` is at least as good as ``b`` everywhere and better somewhere.

    Every coordinate is "higher is better"; negate the ones to minimise.
    """
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(
        x > y for x, y in zip(a, b, strict=True)
    )


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates, in input order.

    Equal points are all kept: neither dominates the other. Quadratic, which is fine
    for the tens of candidates a search evaluates.
    """
    return [
        i
        for i, point in enumerate(points)
        if not any(dominates(other, point) for j, other in enumerate(points) if j != i)
    ]

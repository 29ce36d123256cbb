"""Speedup of every variant over the base model, per provider, profile and configuration.

A pure function over result rows (the dicts ``measure`` returns, each with a
``variant`` key added by the caller). Rows are compared only within the same
configuration — runtime, provider, profile, threads and batch size — because a
speedup across configurations would mix the variant's effect with the setting's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Fields that must match for two rows to be compared.
CONFIGURATION_KEYS = ("runtime", "provider", "profile", "threads", "batch_size")


def _key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row.get(name, "") for name in CONFIGURATION_KEYS)


def _measured(row: Mapping[str, Any]) -> bool:
    return not row.get("skipped_reason") and float(row.get("p50_ms") or 0.0) > 0.0


def speedups(results: Iterable[Mapping[str, Any]], base: str = "base") -> list[dict[str, Any]]:
    """One row per non-base variant and configuration: how much faster than the base.

    ``speedup`` = base p50 / variant p50 (> 1 means the variant is faster);
    ``throughput_ratio`` = variant throughput / base throughput. When either side
    was not measured, the row is still returned, with ``speedup`` None and a
    ``skipped_reason`` saying which side is missing and why. Rows come in input order
    of the variants. ValueError when a variant has two rows for one configuration.
    """
    rows = list(results)
    index: dict[tuple[Any, ...], dict[str, Mapping[str, Any]]] = {}
    for row in rows:
        variant = str(row["variant"])
        per_variant = index.setdefault(_key(row), {})
        if variant in per_variant:
            raise ValueError(f"variant {variant!r} has two results for configuration {_key(row)}")
        per_variant[variant] = row

    comparisons: list[dict[str, Any]] = []
    for row in rows:
        variant = str(row["variant"])
        if variant == base:
            continue
        base_row = index[_key(row)].get(base)
        comparison: dict[str, Any] = {
            "variant": variant,
            "base_variant": base,
            **{name: row.get(name, "") for name in CONFIGURATION_KEYS},
            "base_p50_ms": None,
            "p50_ms": row.get("p50_ms") if _measured(row) else None,
            "speedup": None,
            "throughput_ratio": None,
            "skipped_reason": "",
        }
        if base_row is None:
            comparison["skipped_reason"] = f"{base} was not measured in this configuration"
        elif not _measured(base_row):
            reason = base_row.get("skipped_reason") or "no timing"
            comparison["skipped_reason"] = f"{base} not measured: {reason}"
        elif not _measured(row):
            reason = row.get("skipped_reason") or "no timing"
            comparison["skipped_reason"] = f"{variant} not measured: {reason}"
        else:
            comparison["base_p50_ms"] = float(base_row["p50_ms"])
            comparison["speedup"] = float(base_row["p50_ms"]) / float(row["p50_ms"])
            base_throughput = float(base_row.get("throughput") or 0.0)
            if base_throughput > 0:
                comparison["throughput_ratio"] = float(row.get("throughput") or 0.0) / (
                    base_throughput
                )
        comparisons.append(comparison)
    return comparisons

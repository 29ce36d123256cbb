"""Comparing two reports field by field, but for what never repeats between runs."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from robustedge.client import messages as pb

# Fields that differ between any two runs: identity, timestamps, durations, machine.
VOLATILE = {"job_id", "created_at", "seconds", "build_seconds", "environment"}


def comparable(report: pb.Report, ignore: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The report as a dict without the volatile fields (and the ``ignore`` ones)."""
    dropped = VOLATILE | ignore

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in dropped}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json_format.MessageToDict(report, preserving_proto_field_name=True))


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON-like values differ (paths and both values), for assertion messages."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(a.keys() | b.keys())
            for d in differences(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def assert_same_report(
    report: pb.Report, reference: pb.Report, ignore: frozenset[str] = frozenset()
) -> None:
    """Equal but for the volatile fields; the message lists every difference."""
    found = differences(comparable(report, ignore), comparable(reference, ignore))
    assert not found, "\n".join(found[:20])

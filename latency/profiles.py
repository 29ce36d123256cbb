"""Edge profiles: named process settings that approximate target devices.

A profile fixes what a small edge gateway would give the model: how many cores the
measuring process may run on (CPU affinity set with ``os.sched_setaffinity`` inside
the measuring subprocess, before onnxruntime creates its thread pools) and how many
intra-op threads the session uses. It does not emulate a slower CPU: the figures
are this machine's cores, restricted in number.

``gateway-1core``
    One intra-op thread pinned to one core: a single-core gateway, or one model
    sharing a small device with other workloads.
``gateway-2core``
    Two threads on two cores (entry-level dual-core gateways).
``gateway-4core``
    Four threads on four cores (typical Intel Atom / Core-based industrial gateways).

The cores chosen are the highest-numbered ones the service itself may use (core 0
usually takes most interrupts). A profile that needs more cores than the service
may use is skipped with that reason rather than measured oversubscribed, because
four threads time-sharing two cores say nothing about a four-core device.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class EdgeProfile:
    """A named approximation of a target device."""

    name: str
    cores: int  # CPUs the measuring process is pinned to
    threads: int  # intra-op threads of the session
    description: str


PROFILES: dict[str, EdgeProfile] = {
    profile.name: profile
    for profile in (
        EdgeProfile("gateway-1core", 1, 1, "one thread pinned to one core"),
        EdgeProfile("gateway-2core", 2, 2, "two threads pinned to two cores"),
        EdgeProfile("gateway-4core", 4, 4, "four threads pinned to four cores"),
    )
}


def get_profile(name: str) -> EdgeProfile:
    """The profile called ``name``; ValueError naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown edge profile {name!r}; known: {', '.join(sorted(PROFILES))}"
        ) from None


def available_cpus() -> list[int]:
    """CPU ids this process may run on, ascending."""
    return sorted(os.sched_getaffinity(0))


def pinned_cpus(profile: EdgeProfile, cpus: list[int] | None = None) -> list[int]:
    """CPU ids to pin a profile's measurement to: the highest-numbered available ones.

    Raises ValueError when fewer than ``profile.cores`` CPUs are available.
    """
    allowed = available_cpus() if cpus is None else sorted(cpus)
    if len(allowed) < profile.cores:
        raise ValueError(
            f"profile {profile.name} needs {profile.cores} CPU cores; "
            f"this machine offers {len(allowed)} to the service"
        )
    return allowed[-profile.cores :]

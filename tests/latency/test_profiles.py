"""Edge profiles: core selection, and a pinned measurement in a real probe."""

from __future__ import annotations

import json
import os

import pytest

from robustedge.latency import PROFILES, LatencyConfig, discover_runtimes, measure
from robustedge.latency.profiles import get_profile, pinned_cpus


def test_profiles_are_documented_and_consistent() -> None:
    assert {"gateway-1core", "gateway-4core"} <= set(PROFILES)
    for profile in PROFILES.values():
        assert profile.cores >= 1 and profile.threads >= 1 and profile.description


def test_pins_highest_cores_or_refuses() -> None:
    one, four = get_profile("gateway-1core"), get_profile("gateway-4core")
    assert pinned_cpus(one, [0, 1, 2, 3, 5]) == [5]
    assert pinned_cpus(four, [0, 1, 2, 3, 5]) == [1, 2, 3, 5]
    with pytest.raises(ValueError, match="needs 4 CPU cores; this machine offers 2"):
        pinned_cpus(four, [0, 1])
    with pytest.raises(ValueError, match="unknown edge profile"):
        get_profile("gateway-9core")


def test_gateway_1core_measures_pinned(digits, tmp_path) -> None:
    runtimes = discover_runtimes()
    configs = [
        LatencyConfig(profile="gateway-1core", threads=2, warmup=2, min_iterations=20),
        LatencyConfig(profile="gateway-4core", warmup=2, min_iterations=20),
    ]
    rows = measure(digits.model, configs, runtimes=runtimes, raw_dir=tmp_path)
    assert rows[0]["skipped_reason"] == ""
    assert rows[0]["profile"] == "gateway-1core"
    assert rows[0]["threads"] == 1  # the profile's thread count wins over the config's
    raw = json.loads(sorted(tmp_path.glob("*-00-*.json"))[0].read_text())
    assert raw["details"]["cpus"] == [max(os.sched_getaffinity(0))]
    if len(os.sched_getaffinity(0)) < 4:
        assert "needs 4 CPU cores" in rows[1]["skipped_reason"]
    else:
        assert rows[1]["skipped_reason"] == "" and rows[1]["threads"] == 4

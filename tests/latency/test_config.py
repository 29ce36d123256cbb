"""Latency plans: expansion of a spec into configurations, and validation."""

from __future__ import annotations

import pytest

from robustedge.latency import LatencyConfig, expand_configs


def test_expand_threads_and_profiles() -> None:
    configs = expand_configs(
        ["cpu", "openvino"], [1, 8], threads=[1, 2], profiles=["gateway-1core"], warmup=3
    )
    assert len(configs) == 2 * 2 * 3
    assert [(c.threads, c.profile) for c in configs[:3]] == [(1, ""), (2, ""), (1, "gateway-1core")]
    assert {c.provider for c in configs} == {"cpu", "openvino"}
    assert all(c.warmup == 3 for c in configs)


def test_expand_defaults_to_one_thread() -> None:
    [config] = expand_configs()
    assert (config.provider, config.threads, config.batch_size, config.profile) == ("cpu", 1, 1, "")
    # Profiles alone: no extra thread rows.
    assert [c.profile for c in expand_configs(profiles=["gateway-4core"])] == ["gateway-4core"]


def test_invalid_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown edge profile"):
        expand_configs(profiles=["gateway-99core"])
    with pytest.raises(ValueError):
        LatencyConfig(batch_size=0)
    with pytest.raises(ValueError):
        LatencyConfig(execution_mode="fast")
    with pytest.raises(ValueError):
        LatencyConfig(min_iterations=0)


def test_provider_names() -> None:
    from robustedge.latency.providers import to_ort_name, to_short_name

    assert to_ort_name("cpu") == "CPUExecutionProvider"
    assert to_ort_name("OpenVINO") == "OpenVINOExecutionProvider"
    assert to_ort_name("FooExecutionProvider") == "FooExecutionProvider"
    assert to_short_name("OpenVINOExecutionProvider") == "openvino"
    assert to_short_name("FooExecutionProvider") == "foo"
    with pytest.raises(ValueError, match="unknown execution provider"):
        to_ort_name("gpu")

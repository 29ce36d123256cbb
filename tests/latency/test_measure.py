"""Real measurements of the digits model in probe subprocesses, and skip reasons."""

from __future__ import annotations

import json
import sys

import pytest

from robustedge.latency import LatencyConfig, Runtime, discover_runtimes, measure, measure_one
from robustedge.latency.results import LatencyResult
from robustedge.latency.runtimes import OPENVINO_SETUP_HINT, describe, parse_runtimes_env

RESULT_FIELDS = set(LatencyResult.__dataclass_fields__)


@pytest.fixture(scope="module")
def runtimes() -> list[Runtime]:
    return discover_runtimes()


def test_default_runtime_offers_cpu(runtimes) -> None:
    default = runtimes[0]
    assert default.name == "default"
    assert default.python == sys.executable
    assert "cpu" in default.providers
    assert default.onnxruntime_version
    assert default.unavailable_reason == ""
    assert any(r.name == "openvino" for r in runtimes)  # listed, set up or not


def test_measures_digits_on_cpu(digits, runtimes, tmp_path) -> None:
    configs = [
        LatencyConfig(warmup=5, min_iterations=40, max_seconds=0.5),
        LatencyConfig(batch_size=8, warmup=3, warmup_seconds=0, min_iterations=25, max_seconds=0),
    ]
    rows = measure(
        digits.model, configs, runtimes=runtimes, input_shape=[1, 8, 8], raw_dir=tmp_path
    )
    assert len(rows) == 2
    for row, config in zip(rows, configs, strict=True):
        assert set(row) == RESULT_FIELDS
        assert row["skipped_reason"] == ""
        assert row["runtime"] == "default"
        assert row["provider"] == "cpu"
        assert row["batch_size"] == config.batch_size
        assert row["warmup"] >= config.warmup  # the time floor may add warm-up runs
        assert row["iterations"] >= config.min_iterations
        assert 0 < row["min_ms"] <= row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["throughput"] == pytest.approx(config.batch_size / (row["p50_ms"] / 1e3))
        assert row["session_seconds"] > 0
        assert row["peak_rss_bytes"] > 10_000_000
    # No time budget and no warm-up time floor: exactly the configured counts.
    assert rows[1]["iterations"] == 25
    assert rows[1]["warmup"] == 3
    raws = sorted(tmp_path.glob("*.json"))
    assert len(raws) == 2
    raw = json.loads(raws[1].read_text())
    nodes = raw["details"]["nodes_by_provider"]
    assert set(nodes) == {"CPUExecutionProvider"} and nodes["CPUExecutionProvider"] > 0
    assert len(raw["samples_ns"]) == rows[1]["iterations"]  # warm-up runs not in samples
    assert raw["details"]["input_shapes"] == {"input": [8, 1, 8, 8]}
    assert raw["result"] == rows[1]


def test_unavailable_runtime_is_skipped_with_reason(digits, tmp_path) -> None:
    runtimes = [
        describe("default", sys.executable),
        describe("openvino", str(tmp_path / "missing" / "python"), OPENVINO_SETUP_HINT),
    ]
    assert runtimes[1].unavailable_reason == OPENVINO_SETUP_HINT
    configs = [LatencyConfig(provider="openvino"), LatencyConfig(provider="xnnpack")]
    rows = measure(digits.model, configs, runtimes=runtimes)
    assert len(rows) == 2  # never silently dropped
    assert rows[0]["skipped_reason"] == f"openvino runtime {OPENVINO_SETUP_HINT}"
    assert "no configured runtime offers provider xnnpack" in rows[1]["skipped_reason"]
    for row in rows:
        assert row["iterations"] == row["warmup"] == 0
        assert row["peak_rss_bytes"] is None


def test_unknown_provider_and_profile_are_skipped(digits, runtimes) -> None:
    rows = measure(
        digits.model,
        [LatencyConfig(provider="nosuch"), LatencyConfig(profile="nosuch")],
        runtimes=runtimes,
    )
    assert "unknown execution provider" in rows[0]["skipped_reason"]
    assert "unknown edge profile" in rows[1]["skipped_reason"]


def test_runtimes_env_parsing() -> None:
    assert parse_runtimes_env("a=/x/python, b=/y/python,") == {"a": "/x/python", "b": "/y/python"}
    with pytest.raises(ValueError):
        parse_runtimes_env("a")


def test_extra_runtime_missing_is_listed(tmp_path) -> None:
    runtimes = discover_runtimes({"gpu": str(tmp_path / "nope")})
    gpu = [r for r in runtimes if r.name == "gpu"]
    assert gpu and "interpreter not found" in gpu[0].unavailable_reason


def test_openvino_measurement(digits, runtimes) -> None:
    openvino = next(r for r in runtimes if r.name == "openvino")
    if not openvino.available:
        pytest.skip(f"OpenVINO runtime {openvino.unavailable_reason}")
    assert "openvino" in openvino.providers
    config = LatencyConfig(provider="openvino", warmup=3, min_iterations=20, max_seconds=0.2)
    measurement = measure_one(digits.model, config, runtimes=runtimes)
    row = measurement.result.to_dict()
    assert row["skipped_reason"] == ""
    assert row["runtime"] == "openvino"
    assert row["iterations"] >= 20
    assert row["p50_ms"] > 0
    assert "OpenVINOExecutionProvider" in measurement.details["session_providers"]
    # The digits CNN is plain float Conv/Gemm: OpenVINO takes every node.
    assert measurement.provider_node_fraction == 1.0


def test_broken_interpreter_is_skipped_with_reason(digits) -> None:
    # An interpreter that exits without a reply, as a crashing provider would.
    broken = Runtime(name="broken", python="/bin/false", providers=["cpu"])
    [row] = measure(digits.model, [LatencyConfig(runtime="broken")], runtimes=[broken])
    assert row["skipped_reason"].startswith("measurement failed: probe exited with status 1")
    assert row["runtime"] == "broken"


def test_named_runtime_selection(digits, runtimes) -> None:
    rows = measure(
        digits.model,
        [LatencyConfig(runtime="nosuch"), LatencyConfig(provider="cuda", runtime="default")],
        runtimes=runtimes,
    )
    assert rows[0]["skipped_reason"] == "runtime 'nosuch' is not configured"
    assert rows[1]["skipped_reason"].startswith("provider cuda is not available in runtime default")


def test_measurement_lock_excludes_other_holders(tmp_path, monkeypatch) -> None:
    import fcntl

    from robustedge.latency.measure import LOCK_PATH_ENV, measurement_lock

    lock_path = tmp_path / "latency.lock"
    monkeypatch.setenv(LOCK_PATH_ENV, str(lock_path))
    # A second open file description (as another process would hold) cannot lock it.
    with measurement_lock(), open(lock_path) as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(lock_path) as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on exit

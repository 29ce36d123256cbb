"""The probe's timed loop: sample counting, warm-up exclusion, stopping rule."""

from __future__ import annotations

import functools
import time

import numpy as np
import onnxruntime as ort
import pytest

from robustedge.latency import probe, stats


class CountingRun:
    """Wraps a real session.run and counts the calls the loop makes."""

    def __init__(self, model: str) -> None:
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        feeds = {"input": np.zeros((1, 1, 8, 8), np.float32)}
        self._run = functools.partial(session.run, None, feeds)
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        self._run()


def test_warmup_excluded_and_minimum_counted(digits) -> None:
    run = CountingRun(str(digits.model))
    samples, warmup_runs, _, _ = probe.timed_runs(
        run, stats, warmup=7, min_iterations=23, max_seconds=0.0
    )
    # With no time budget the loop stops exactly at min_iterations.
    assert len(samples) == 23
    assert warmup_runs == 7
    assert run.calls == 7 + 23
    assert all(s > 0 for s in samples)


def test_warmup_time_floor_is_counted(digits) -> None:
    run = CountingRun(str(digits.model))
    samples, warmup_runs, _, _ = probe.timed_runs(
        run, stats, warmup=3, min_iterations=10, max_seconds=0.0, warmup_seconds=0.05
    )
    assert warmup_runs > 3  # a ~10 µs model runs far more than 3 times in 50 ms
    assert run.calls == warmup_runs + len(samples)
    assert len(samples) == 10


def test_stops_when_median_is_precise(digits) -> None:
    run = CountingRun(str(digits.model))
    # A loose target is reached at the first check; a generous budget is not used up.
    samples, _, converged, seconds = probe.timed_runs(
        run, stats, warmup=0, min_iterations=30, max_seconds=30.0, target=0.99
    )
    assert converged
    assert len(samples) == 30
    assert seconds < 30.0


def test_time_budget_ends_an_unconverged_loop() -> None:
    # Durations that double every call never give a precise median.
    delay = [1e-5]

    def slower() -> None:
        time.sleep(delay[0])
        delay[0] *= 1.05

    samples, _, converged, seconds = probe.timed_runs(
        slower, stats, warmup=0, min_iterations=10, max_seconds=0.2, target=0.001
    )
    assert not converged
    assert len(samples) >= 10
    assert seconds >= 0.2


def test_max_iterations_caps_the_loop(digits) -> None:
    run = CountingRun(str(digits.model))
    samples, warmup_runs, _, _ = probe.timed_runs(
        run, stats, warmup=2, min_iterations=10, max_seconds=30.0, target=1e-9, max_iterations=40
    )
    assert 40 <= len(samples) <= 40 + 10  # stops at the first check past the cap
    assert run.calls == warmup_runs + len(samples) == 2 + len(samples)


@pytest.mark.parametrize(
    ("sample_shape", "expected"),
    [(None, [3, 1, 8, 8]), ([1, 8, 8], [3, 1, 8, 8]), ([99, 1, 8, 8], [3, 1, 8, 8])],
)
def test_inputs_follow_model_and_batch(digits, sample_shape, expected) -> None:
    session = ort.InferenceSession(str(digits.model), providers=["CPUExecutionProvider"])
    feeds = probe._make_inputs(session, 3, sample_shape, seed=1)
    assert list(feeds["input"].shape) == expected
    assert feeds["input"].dtype == np.float32
    again = probe._make_inputs(session, 3, sample_shape, seed=1)
    np.testing.assert_array_equal(feeds["input"], again["input"])  # seeded


def test_fixed_batch_dimension_refuses_other_batch_sizes(tmp_path) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "fixed.onnx"
    import onnx

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert list(probe._make_inputs(session, 1, None, seed=0)["x"].shape) == [1, 4]
    with pytest.raises(ValueError, match="fixed batch dimension of 1"):
        probe._make_inputs(session, 8, None, seed=0)

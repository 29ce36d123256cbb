"""Scores for one model: clean and robust accuracy, size, and latency against a reference.

Robust accuracy follows the rest of RobustEdge: adversarial inputs are crafted
white-box through the model's own differentiable bridge (straight-through gradients
for int8 graphs) and scored by onnxruntime, never by the torch replica.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCORING_BATCH = 256


@dataclass(frozen=True)
class AttackObjective:
    """The attack robust accuracy is measured under."""

    attack: str
    epsilon: float
    norm: str = "linf"
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0


def session_for(model: Any, threads: int = 0) -> Any:
    """An onnxruntime CPU session for a ModelProto (``threads`` 0: onnxruntime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def predict(session: Any, x: np.ndarray) -> np.ndarray:
    """First output of ``session`` on ``x``, in scoring batches."""
    name = session.get_inputs()[0].name
    return np.concatenate(
        [
            session.run(None, {name: x[i : i + SCORING_BATCH]})[0]
            for i in range(0, len(x), SCORING_BATCH)
        ]
    )


def clean_and_robust(
    model: Any,
    objective: AttackObjective,
    x: np.ndarray,
    y: np.ndarray,
    input_range: tuple[float, float],
) -> tuple[float, float]:
    """(clean accuracy, robust accuracy) of ``model`` on ``x, y`` under ``objective``."""
    from robustedge.attacks import AttackTarget, get_attack
    from robustedge.bridge import convert

    session = session_for(model)

    def scores(batch: np.ndarray) -> np.ndarray:
        return predict(session, batch)

    clean = float((scores(x).argmax(1) == y).mean())
    target = AttackTarget(
        predict=scores,
        module=convert(model).module,
        num_classes=int(scores(x[:1]).shape[1]),
        input_shape=tuple(x.shape[1:]),
    )
    run = get_attack(objective.attack).generate(
        target,
        x,
        y,
        epsilon=objective.epsilon,
        norm=objective.norm,
        params=dict(objective.params),
        input_range=input_range,
        seed=objective.seed,
    )
    return clean, float((scores(run.x_adv).argmax(1) == y).mean())


class LatencyReference:
    """CPU p50 of candidates relative to a reference model, timed in alternation.

    Both models run one thread at the same batch; blocks of timed runs alternate
    between reference and candidate so that drifts of the machine (frequency, other
    load) hit both alike, and the ratio of the two medians is reported. This is the
    search's estimate; the report's latency rows come from the full harness.
    """

    ROUNDS = 5
    BLOCK_SECONDS = 0.04
    MAX_BLOCK_RUNS = 60

    def __init__(self, reference: Any, batch_size: int, sample_shape: tuple[int, ...], seed: int):
        self._reference = session_for(reference, threads=1)
        rng = np.random.default_rng(seed)
        self._x = rng.random((batch_size, *sample_shape), dtype=np.float32)

    def _block(self, session: Any, name: str) -> list[float]:
        times: list[float] = []
        deadline = time.perf_counter() + self.BLOCK_SECONDS
        while len(times) < self.MAX_BLOCK_RUNS and (
            len(times) < 3 or time.perf_counter() < deadline
        ):
            started = time.perf_counter()
            session.run(None, {name: self._x})
            times.append(time.perf_counter() - started)
        return times

    def measure(self, model: Any) -> tuple[float, float]:
        """(candidate p50 in ms, candidate p50 / reference p50)."""
        from robustedge.latency.measure import measurement_lock

        candidate = session_for(model, threads=1)
        reference_name = self._reference.get_inputs()[0].name
        candidate_name = candidate.get_inputs()[0].name
        reference_times: list[float] = []
        candidate_times: list[float] = []
        with measurement_lock():
            for session, name in ((self._reference, reference_name), (candidate, candidate_name)):
                self._block(session, name)  # warm-up: first runs allocate and plan
            for _ in range(self.ROUNDS):
                reference_times += self._block(self._reference, reference_name)
                candidate_times += self._block(candidate, candidate_name)
        p50 = statistics.median(candidate_times)
        return p50 * 1e3, p50 / statistics.median(reference_times)


def size_of(path: Any, metric: str) -> int:
    """Bytes of the ONNX file (``file``) or of its gzip stream (``gzip``)."""
    from robustedge.latency import model_footprint

    footprint = model_footprint(path)
    return int(footprint["gzip_bytes"] if metric == "gzip" else footprint["size_bytes"])

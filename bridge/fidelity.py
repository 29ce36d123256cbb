"""How faithfully a bridged module reproduces onnxruntime, and whether it has gradients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from robustedge.bridge.converter import BridgedModel

if TYPE_CHECKING:
    import onnxruntime


@dataclass
class Fidelity:
    """Agreement of the bridge with onnxruntime on ``n`` samples.

    ``max_abs_diff`` is over every element of the first graph output;
    ``top1_agreement`` is the fraction of samples whose arg-max (over the flattened
    per-sample output) is the same in both.
    """

    max_abs_diff: float
    top1_agreement: float
    n: int


@dataclass(frozen=True)
class FidelityGate:
    """Thresholds a variant's bridge must meet for its white-box results to be trusted.

    ``max_abs_diff=None`` skips the output-difference test (quantized variants are
    better judged by top-1 agreement, or by a bound of one output quantization step).
    """

    min_top1_agreement: float = 0.99
    max_abs_diff: float | None = 1e-3

    def failures(self, fidelity: Fidelity) -> list[str]:
        """Human-readable reasons the gate fails (empty when it passes)."""
        reasons = []
        if fidelity.top1_agreement < self.min_top1_agreement:
            reasons.append(
                f"top-1 agreement {fidelity.top1_agreement:.4f} < {self.min_top1_agreement}"
            )
        if self.max_abs_diff is not None and not fidelity.max_abs_diff <= self.max_abs_diff:
            reasons.append(f"max abs diff {fidelity.max_abs_diff:.3g} > {self.max_abs_diff}")
        return reasons

    def passes(self, fidelity: Fidelity) -> bool:
        return not self.failures(fidelity)


def measure_fidelity(
    bridged: BridgedModel,
    session: onnxruntime.InferenceSession,
    x: np.ndarray,
    batch_size: int = 256,
) -> Fidelity:
    """Compares ``bridged.outputs(x)`` with the session's first output, batch by batch."""
    if len(x) == 0:
        raise ValueError("measure_fidelity needs at least one sample")
    input_name = bridged.input_name
    max_diff = 0.0
    agree = 0
    for start in range(0, len(x), batch_size):
        batch = np.ascontiguousarray(x[start : start + batch_size])
        ours = bridged.outputs(batch).astype(np.float64)
        theirs = np.asarray(session.run(None, {input_name: batch})[0]).astype(np.float64)
        if ours.shape != theirs.shape:
            raise ValueError(
                f"output shapes differ: bridge {ours.shape}, onnxruntime {theirs.shape}"
            )
        max_diff = max(max_diff, float(np.max(np.abs(ours - theirs), initial=0.0)))
        ours_top1 = ours.reshape(len(batch), -1).argmax(axis=1)
        theirs_top1 = theirs.reshape(len(batch), -1).argmax(axis=1)
        agree += int((ours_top1 == theirs_top1).sum())
    return Fidelity(max_abs_diff=max_diff, top1_agreement=agree / len(x), n=len(x))


def input_gradient(bridged: BridgedModel, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d(summed cross-entropy of the logits)/d(input), as numpy."""
    tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).requires_grad_(True)
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    logits = bridged.module(tensor)
    loss = F.cross_entropy(logits.float(), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, tensor, allow_unused=True)
    if grad is None:
        return np.zeros_like(x, dtype=np.float32)
    return grad.detach().numpy()


def gradient_nonzero_fraction(
    bridged: BridgedModel, x: np.ndarray, y: np.ndarray, batch_size: int = 256
) -> float:
    """Fraction of non-zero entries of d(cross-entropy)/d(input) over ``x``.

    Near 0 means the white-box attacks see no gradient (masking): the sign of a
    quantized graph converted with ``gradient="exact"``, or of a broken bridge.
    """
    if len(x) == 0:
        raise ValueError("gradient_nonzero_fraction needs at least one sample")
    nonzero = 0
    total = 0
    for start in range(0, len(x), batch_size):
        grad = input_gradient(bridged, x[start : start + batch_size], y[start : start + batch_size])
        nonzero += int(np.count_nonzero(grad))
        total += grad.size
    return nonzero / total

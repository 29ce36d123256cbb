"""Helpers shared by the white-box attacks: running the torch replica and its gradients.

The replica (``AttackTarget.module``) comes from the ONNX-to-torch bridge and returns
logits. Attacks must not change it: it is put in eval mode only for the duration of
an attack (dropout or batch-norm in training mode would make results depend on the
batch and the random state) and its parameters' gradients are never accumulated —
``torch.autograd.grad`` asks for the input gradient only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Puts every submodule in eval mode and restores each one's own flag afterwards."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in flags:
            m.training = training


def module_device(module: torch.nn.Module) -> torch.device:
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def to_tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)


def logits_of(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits as a float32 [N, C] tensor, whatever the module's output container is."""
    out = module(x)
    if isinstance(out, tuple | list):
        out = out[0]
    if isinstance(out, dict):
        out = next(iter(out.values()))
    return out.reshape(len(x), -1).float()


def ce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy (reduction='none')."""
    return F.cross_entropy(logits, y, reduction="none")


def dlr_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample Difference-of-Logits-Ratio loss (Croce & Hein 2020), untargeted.

    -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12); invariant to shift and scale of the
    logits, so it does not vanish on over-confident models like cross-entropy does.
    """
    sorted_logits, _ = logits.sort(dim=1)
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.clone()
    others.scatter_(1, y[:, None], float("-inf"))
    z_other = others.max(dim=1).values
    if logits.shape[1] >= 3:
        scale = sorted_logits[:, -1] - sorted_logits[:, -3]
    else:  # two classes: the third-largest logit does not exist
        scale = sorted_logits[:, -1] - sorted_logits[:, 0]
    return -(z_y - z_other) / (scale + 1e-12)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y - max_{i != y} z_i: negative exactly when the sample is misclassified."""
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.clone()
    others.scatter_(1, y[:, None], float("-inf"))
    return z_y - others.max(dim=1).values


def loss_and_grad(
    module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(per-sample loss, logits, d sum(loss) / d x), all detached.

    Samples are independent, so the gradient of the summed loss is each sample's own.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = logits_of(module, x)
        loss = loss_fn(logits, y)
        (grad,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), logits.detach(), grad.detach()


def predict_labels(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return logits_of(module, x).argmax(dim=1)


def flat_norm(t: torch.Tensor, p: float) -> torch.Tensor:
    """Per-sample p-norm over all non-batch dimensions, shaped [N, 1, 1, ...] for broadcasting."""
    n = t.reshape(len(t), -1).norm(p=p, dim=1)
    return n.reshape(-1, *([1] * (t.dim() - 1)))


def project_ball(
    x_adv: torch.Tensor, x: torch.Tensor, epsilon: float, norm: str, lo: float, hi: float
) -> torch.Tensor:
    """Projects onto the epsilon-ball around x, then clips to the input range."""
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-epsilon, epsilon)
    else:
        scale = (epsilon / flat_norm(delta, 2).clamp_min(1e-12)).clamp(max=1.0)
        delta = delta * scale
    return (x + delta).clamp(lo, hi)


def steepest_step(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """Direction of steepest ascent of unit size in ``norm`` (sign for L-inf, normalized for L2)."""
    if norm == "linf":
        return grad.sign()
    return grad / flat_norm(grad, 2).clamp_min(1e-12)


def random_start(
    x: torch.Tensor, epsilon: float, norm: str, lo: float, hi: float, generator: torch.Generator
) -> torch.Tensor:
    """A uniformly random point of the epsilon-ball around x (clipped to the range).

    L-inf: uniform in the cube. L2: uniform in the ball (Gaussian direction, radius
    epsilon * U^(1/d)), the same distribution ART and Madry et al. use.
    """
    shape = x.shape
    if norm == "linf":
        u = torch.rand(shape, generator=generator, device="cpu").to(x.device)
        delta = (2 * u - 1) * epsilon
    else:
        d = int(np.prod(shape[1:]))
        g = torch.randn(shape, generator=generator, device="cpu").to(x.device)
        g = g / flat_norm(g, 2).clamp_min(1e-12)
        r = torch.rand((shape[0],), generator=generator, device="cpu").to(x.device) ** (1.0 / d)
        delta = g * (epsilon * r).reshape(-1, *([1] * (len(shape) - 1)))
    return (x + delta).clamp(lo, hi)

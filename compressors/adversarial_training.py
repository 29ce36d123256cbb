"""PGD examples mixed into a fine-tune batch: adversarial training for the prune fine-tunes.

Paper trail: Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep Learning Models
Resistant to Adversarial Attacks" (ICLR 2018) train on L-inf PGD examples; Goodfellow,
Shlens & Szegedy (ICLR 2015) mix clean and adversarial examples in each batch. Pruning
followed by a short adversarial fine-tune is how robustness-aware compression recovers
robustness the removed filters carried (e.g. Sehwag et al., "HYDRA", NeurIPS 2020).

Every batch of the fine-tune has ``fraction`` of its samples replaced by PGD examples
crafted against the module being trained, at that moment: L-inf ball of radius
``epsilon`` in input units, a uniform random start inside it, ``steps`` signed-gradient
steps of ``2.5 * epsilon / steps`` (Madry et al.'s step length, also the default of
RobustEdge's PGD attack), each projected onto the ball and clipped to the data's input
range. Random starts come from a ``torch.Generator`` seeded with the step's seed, so a
build is reproducible.
"""

from __future__ import annotations

from typing import Any

from .errors import CompressionError


class AdversarialMixer:
    """Replaces a share of each training batch with PGD examples (see module docstring)."""

    def __init__(
        self,
        torch: Any,
        *,
        epsilon: float,
        steps: int,
        fraction: float,
        input_range: tuple[float, float],
        seed: int,
    ) -> None:
        lo, hi = float(input_range[0]), float(input_range[1])
        if not hi > lo:
            raise CompressionError(
                f"adversarial fine-tuning needs input_range min < max, got {input_range}"
            )
        self.torch = torch
        self.epsilon = float(epsilon)
        self.steps = int(steps)
        self.fraction = float(fraction)
        self.step_size = 2.5 * self.epsilon / self.steps
        self.lo, self.hi = lo, hi
        self.generator = torch.Generator().manual_seed(int(seed))
        self.adversarial_losses: list[float] = []

    def craft(self, module: Any, x: Any, y: Any) -> Any:
        """L-inf PGD examples for (x, y) against ``module``; weights are left untouched."""
        torch = self.torch
        was_training = module.training
        # Crafting must see the network as it predicts (BatchNorm running statistics, no
        # dropout) and must not move BatchNorm statistics; training mode comes back after.
        module.eval()
        try:
            noise = torch.rand(x.shape, generator=self.generator, dtype=x.dtype) * 2 - 1
            x_adv = (x + noise * self.epsilon).clamp(self.lo, self.hi)
            low, high = x - self.epsilon, x + self.epsilon
            for _ in range(self.steps):
                x_adv = x_adv.detach().requires_grad_(True)
                loss = torch.nn.functional.cross_entropy(module(x_adv), y)
                # Gradients with respect to the input only: parameters' .grad stays as the
                # training loop (and INC's pruning callbacks) left it.
                (grad,) = torch.autograd.grad(loss, x_adv)
                x_adv = x_adv.detach() + self.step_size * grad.sign()
                x_adv = torch.maximum(torch.minimum(x_adv, high), low).clamp(self.lo, self.hi)
        finally:
            module.train(was_training)
        return x_adv.detach()

    def loss(self, module: Any, x: Any, y: Any) -> Any:
        """Mean cross-entropy of the batch with its first ``fraction`` made adversarial.

        The batch indices are drawn at random, so its first samples are a random share.
        """
        torch = self.torch
        count = max(1, round(self.fraction * len(x)))
        x_mixed = torch.cat([self.craft(module, x[:count], y[:count]), x[count:]])
        per_sample = torch.nn.functional.cross_entropy(module(x_mixed), y, reduction="none")
        self.adversarial_losses.append(float(per_sample[:count].detach().mean()))
        return per_sample.mean()

    def facts(self) -> dict[str, Any]:
        losses = self.adversarial_losses
        return {
            "epsilon": self.epsilon,
            "steps": self.steps,
            "step_size": round(self.step_size, 6),
            "fraction": self.fraction,
            "input_range": [self.lo, self.hi],
            "adversarial_loss_first": round(losses[0], 4) if losses else None,
            "adversarial_loss_last": round(losses[-1], 4) if losses else None,
        }


def mixer_for(torch: Any, config: Any, data: Any) -> AdversarialMixer | None:
    """The mixer a prune config asks for, or None for a plain fine-tune."""
    if config.adversarial_epsilon <= 0:
        return None
    return AdversarialMixer(
        torch,
        epsilon=config.adversarial_epsilon,
        steps=config.adversarial_steps,
        fraction=config.adversarial_fraction,
        input_range=tuple(data.input_range),
        seed=data.seed,
    )

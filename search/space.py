"""The search space: a small genome per candidate, and the compression steps it means.

A genome holds one value per choice a user would otherwise make by hand. Genes that
do not matter for a genome (the channel rounding of an unpruned model, the float
layers of an unquantized one) are reset by :meth:`Genome.canonical`, so two genomes
that build the same variant have the same key and are evaluated once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

# Filter fraction removed per prunable Conv layer (0: the layer stays whole).
FRACTIONS = (0.0, 0.25, 0.5, 0.75)
# Kept channel counts rounded to multiples of this: 8 and 16 suit onnxruntime's blocked
# convolution kernels, 1 keeps exact fractions (and is often slower, see compressors).
ROUNDINGS = (1, 8, 16)
# Fine-tune after pruning: none, plain (cross-entropy), or adversarial (PGD examples at
# the objective's epsilon mixed into each batch, as in adversarial training).
FINETUNES = ("none", "plain", "adversarial")
QUANTIZATIONS = ("none", "static", "static-per-tensor", "dynamic")
CLUSTERS = (0, 16, 32, 64)
ORDERS = ("prune-cluster", "cluster-prune")
DIMENSIONS = ("prune", "quantize", "cluster", "finetune", "order")

FINETUNE_STEPS = 200
FINETUNE_LEARNING_RATE = 1e-3
ADVERSARIAL_STEPS = 5
ADVERSARIAL_FRACTION = 0.5
# Probability that a random genome keeps a given layer in float when it quantizes.
FLOAT_LAYER_RATE = 0.2


@dataclass(frozen=True)
class Genome:
    """One candidate's compression choices."""

    fractions: tuple[float, ...]  # per prunable Conv layer, in SearchSpace.prunable order
    round_to: int = 1
    finetune: str = "none"
    quantize: str = "none"
    float_layers: tuple[bool, ...] = ()  # per weight layer, in SearchSpace.weights order
    clusters: int = 0
    order: str = "prune-cluster"

    @property
    def prunes(self) -> bool:
        return any(f > 0 for f in self.fractions)

    def canonical(self) -> Genome:
        """The same variant with the genes it does not use reset to their defaults."""
        genome = self
        if not genome.prunes:
            genome = replace(genome, round_to=1, finetune="none")
        if genome.quantize == "none":
            genome = replace(genome, float_layers=tuple(False for _ in genome.float_layers))
        if not (genome.prunes and genome.clusters):
            genome = replace(genome, order="prune-cluster")
        return genome

    def key(self) -> str:
        """Stable identity of the variant this genome builds."""
        canonical = self.canonical()
        return json.dumps(
            {
                "fractions": canonical.fractions,
                "round_to": canonical.round_to,
                "finetune": canonical.finetune,
                "quantize": canonical.quantize,
                "float_layers": canonical.float_layers,
                "clusters": canonical.clusters,
                "order": canonical.order,
            },
            sort_keys=True,
        )


@dataclass
class SearchSpace:
    """Which genes may vary, for one base model.

    ``prunable`` are the Conv weights whose output channels can be removed and
    ``weights`` every weight layer (Conv/Gemm/MatMul) that quantization may keep in
    float. ``epsilon`` is the objective's, used by adversarial fine-tuning.
    """

    prunable: list[str]
    weights: list[str]
    epsilon: float
    dimensions: frozenset[str] = field(default_factory=lambda: frozenset(DIMENSIONS))

    def __post_init__(self) -> None:
        unknown = set(self.dimensions) - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"unknown search dimensions {sorted(unknown)}; known: {DIMENSIONS}")
        if not self.prunable:
            # Nothing to prune: fine-tuning and ordering have nothing to act on.
            self.dimensions = self.dimensions - {"prune", "finetune", "order"}
        if not self.dimensions & {"prune", "quantize", "cluster"}:
            raise ValueError(
                "the search needs at least one of prune (with prunable Conv layers),"
                " quantize or cluster"
            )

    # -- genomes -----------------------------------------------------------------

    def plain(self) -> Genome:
        return Genome(
            fractions=tuple(0.0 for _ in self.prunable),
            float_layers=tuple(False for _ in self.weights),
        )

    def anchors(self) -> list[tuple[Genome, str]]:
        """The recipes a user would try by hand, evaluated first."""
        dims = self.dimensions
        uniform = {f: tuple(f for _ in self.prunable) for f in (0.25, 0.5)}
        found: list[Genome] = []
        if "quantize" in dims:
            found.append(replace(self.plain(), quantize="static"))
        if "prune" in dims:
            pruned = replace(self.plain(), fractions=uniform[0.5], round_to=8)
            if "quantize" in dims:
                pruned = replace(pruned, quantize="static")
            found.append(pruned)
            if "finetune" in dims:
                found.append(replace(pruned, finetune="adversarial"))
                found.append(replace(pruned, fractions=uniform[0.25], finetune="adversarial"))
        if "quantize" in dims and self.weights:
            # Keeping the first layer in float is a common robustness-preserving choice.
            first_float = tuple(i == 0 for i in range(len(self.weights)))
            found.append(replace(self.plain(), quantize="static", float_layers=first_float))
        if "cluster" in dims:
            clustered = replace(self.plain(), clusters=32)
            if "quantize" in dims:
                clustered = replace(clustered, quantize="static")
            found.append(clustered)
        return [(genome.canonical(), "anchor") for genome in found]

    def random(self, rng: np.random.Generator) -> Genome:
        genome = self.plain()
        dims = self.dimensions
        if "prune" in dims:
            genome = replace(
                genome,
                fractions=tuple(float(rng.choice(FRACTIONS)) for _ in self.prunable),
                round_to=int(rng.choice(ROUNDINGS)),
            )
        if "finetune" in dims:
            genome = replace(genome, finetune=str(rng.choice(FINETUNES)))
        if "quantize" in dims:
            genome = replace(
                genome,
                quantize=str(rng.choice(QUANTIZATIONS)),
                float_layers=tuple(bool(rng.random() < FLOAT_LAYER_RATE) for _ in self.weights),
            )
        if "cluster" in dims:
            genome = replace(genome, clusters=int(rng.choice(CLUSTERS)))
        if "order" in dims:
            genome = replace(genome, order=str(rng.choice(ORDERS)))
        return genome.canonical()

    def mutate(self, genome: Genome, rng: np.random.Generator) -> Genome:
        """The genome with one enabled gene changed (a gene that matters for it)."""
        moves = self._moves(genome)
        for _ in range(20):
            move = moves[int(rng.integers(len(moves)))]
            mutated = move(genome, rng).canonical()
            if mutated.key() != genome.key():
                return mutated
        return self.random(rng)

    def _moves(self, genome: Genome) -> list[Any]:
        dims = self.dimensions
        moves: list[Any] = []
        if "prune" in dims:

            def fraction(g: Genome, rng: np.random.Generator) -> Genome:
                i = int(rng.integers(len(g.fractions)))
                values = list(g.fractions)
                values[i] = float(rng.choice([f for f in FRACTIONS if f != values[i]]))
                return replace(g, fractions=tuple(values))

            moves.append(fraction)
            if genome.prunes:
                moves.append(lambda g, rng: replace(g, round_to=_other(ROUNDINGS, g.round_to, rng)))
        if "finetune" in dims and genome.prunes:
            moves.append(lambda g, rng: replace(g, finetune=_other(FINETUNES, g.finetune, rng)))
        if "quantize" in dims:
            moves.append(lambda g, rng: replace(g, quantize=_other(QUANTIZATIONS, g.quantize, rng)))
            if genome.quantize != "none" and self.weights:

                def float_layer(g: Genome, rng: np.random.Generator) -> Genome:
                    i = int(rng.integers(len(g.float_layers)))
                    flags = list(g.float_layers)
                    flags[i] = not flags[i]
                    return replace(g, float_layers=tuple(flags))

                moves.append(float_layer)
        if "cluster" in dims:
            moves.append(lambda g, rng: replace(g, clusters=_other(CLUSTERS, g.clusters, rng)))
        if "order" in dims and genome.prunes and genome.clusters:
            moves.append(lambda g, rng: replace(g, order=_other(ORDERS, g.order, rng)))
        return moves

    # -- steps -------------------------------------------------------------------

    def steps(self, genome: Genome) -> list[dict[str, Any]]:
        """The compressor steps (``build_variant`` input) that build this genome."""
        genome = genome.canonical()
        prune: list[dict[str, Any]] = []
        if genome.prunes:
            step: dict[str, Any] = {
                "compressor": "prune",
                "pattern": "channel",
                "criterion": "l2",
                "layer_sparsity": {
                    name: fraction
                    for name, fraction in zip(self.prunable, genome.fractions, strict=True)
                },
                "round_to": genome.round_to,
            }
            if genome.finetune != "none":
                step.update(steps=FINETUNE_STEPS, learning_rate=FINETUNE_LEARNING_RATE)
            if genome.finetune == "adversarial":
                step.update(
                    adversarial_epsilon=self.epsilon,
                    adversarial_steps=ADVERSARIAL_STEPS,
                    adversarial_fraction=ADVERSARIAL_FRACTION,
                )
            prune.append(step)
        cluster = (
            [{"compressor": "cluster", "clusters": genome.clusters}] if genome.clusters else []
        )
        steps = cluster + prune if genome.order == "cluster-prune" else prune + cluster
        if genome.quantize != "none":
            quantize: dict[str, Any] = {"compressor": "quantize"}
            if genome.quantize == "dynamic":
                quantize["approach"] = "dynamic"
            else:
                quantize.update(approach="static", per_channel=genome.quantize == "static")
            kept = [
                name for name, keep in zip(self.weights, genome.float_layers, strict=True) if keep
            ]
            if kept:
                quantize["float_layers"] = kept
            steps.append(quantize)
        return steps


def describe(steps: Iterable[dict[str, Any]]) -> str:
    """A short human description of a candidate's steps, e.g. for logs."""
    parts = []
    for step in steps:
        settings = ", ".join(f"{k}={v}" for k, v in step.items() if k != "compressor")
        parts.append(f"{step['compressor']}({settings})")
    return " -> ".join(parts) or "unchanged"


def _other(values: tuple[Any, ...], current: Any, rng: np.random.Generator) -> Any:
    choices = [v for v in values if v != current]
    return type(current)(choices[int(rng.integers(len(choices)))])

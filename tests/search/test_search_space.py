"""The search space: canonical genomes, proposals, and the steps a genome builds."""

from __future__ import annotations

import numpy as np
import pytest

from robustedge.compressors import validate_steps
from robustedge.search import Genome, SearchSpace, pareto_front
from robustedge.search.pareto import dominates
from robustedge.search.space import DIMENSIONS

PRUNABLE = ["conv1.w", "conv2.w"]
WEIGHTS = ["conv1.w", "conv2.w", "fc.w"]


def space(dimensions=DIMENSIONS) -> SearchSpace:
    return SearchSpace(PRUNABLE, WEIGHTS, epsilon=0.1, dimensions=frozenset(dimensions))


def test_pareto_front_keeps_the_undominated_points_and_ties():
    points = [(0.5, -1.0), (0.6, -1.2), (0.4, -1.5), (0.6, -1.2), (0.7, -0.9)]
    # (0.7, -0.9) dominates every other point.
    assert pareto_front(points) == [4]
    assert pareto_front([(0.5, -1.0), (0.6, -1.2), (0.6, -1.2)]) == [0, 1, 2]
    assert dominates((1, 1), (1, 0)) and not dominates((1, 0), (1, 0))


def test_canonical_resets_genes_that_do_not_matter():
    unpruned = Genome(fractions=(0.0, 0.0), round_to=16, finetune="adversarial", quantize="static",
                      float_layers=(True, False, False))  # fmt: skip
    assert unpruned.canonical().round_to == 1 and unpruned.canonical().finetune == "none"
    unquantized = Genome(fractions=(0.5, 0.0), float_layers=(True, False, False))
    assert unquantized.canonical().float_layers == (False, False, False)
    assert unpruned.key() == Genome(fractions=(0.0, 0.0), quantize="static",
                                    float_layers=(True, False, False)).key()  # fmt: skip


def test_anchors_are_the_plain_recipes_first_and_valid_steps():
    anchors = space().anchors()
    assert anchors[0][0].quantize == "static" and not anchors[0][0].prunes
    assert len({g.key() for g, _ in anchors}) == len(anchors)
    for genome, origin in anchors:
        assert origin == "anchor"
        validate_steps(space().steps(genome))


def test_steps_of_a_full_genome():
    genome = Genome(fractions=(0.25, 0.5), round_to=8, finetune="adversarial",
                    quantize="static-per-tensor", float_layers=(True, False, False),
                    clusters=32, order="cluster-prune")  # fmt: skip
    steps = space().steps(genome)
    assert [s["compressor"] for s in steps] == ["cluster", "prune", "quantize"]
    prune = steps[1]
    assert prune["layer_sparsity"] == {"conv1.w": 0.25, "conv2.w": 0.5}
    assert prune["round_to"] == 8 and prune["adversarial_epsilon"] == 0.1 and prune["steps"] > 0
    assert steps[2]["per_channel"] is False and steps[2]["float_layers"] == ["conv1.w"]
    validate_steps(steps)


def test_random_and_mutation_are_seeded_and_respect_dimensions():
    only_quantize = space(("quantize",))
    draws = [only_quantize.random(np.random.default_rng(3)) for _ in range(2)]
    assert draws[0] == draws[1]
    rng = np.random.default_rng(0)
    for _ in range(30):
        genome = only_quantize.random(rng)
        assert not genome.prunes and genome.clusters == 0
        mutated = only_quantize.mutate(genome, rng)
        assert mutated.key() != genome.key() and not mutated.prunes


def test_a_space_without_prunable_layers_drops_pruning():
    no_conv = SearchSpace([], ["fc.w"], epsilon=0.1)
    assert "prune" not in no_conv.dimensions and "finetune" not in no_conv.dimensions
    with pytest.raises(ValueError, match="at least one"):
        SearchSpace([], ["fc.w"], epsilon=0.1, dimensions=frozenset({"prune"}))
    with pytest.raises(ValueError, match="unknown"):
        SearchSpace(PRUNABLE, WEIGHTS, epsilon=0.1, dimensions=frozenset({"distill"}))

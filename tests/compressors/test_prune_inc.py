"""INC 3.7.1 pruning through the bridge, written back into the original digits graph."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from robustedge.compressors import CompressionError, build_variant
from robustedge.compressors.onnx_graph import weight_layers

pytestmark = pytest.mark.slow  # INC import and torch training steps


def _as_2d(weight: np.ndarray) -> np.ndarray:
    """INC's view of a weight: Conv [out, in, kh, kw] -> [out, kh*kw*in]."""
    if weight.ndim == 4:
        weight = weight.transpose(0, 2, 3, 1)
    return weight.reshape(weight.shape[0], -1)


def _same_graph(a: onnx.ModelProto, b: onnx.ModelProto) -> bool:
    def shape(model):
        return (
            [(n.op_type, list(n.input), list(n.output)) for n in model.graph.node],
            [(i.name, list(i.dims), i.data_type) for i in model.graph.initializer],
        )

    return shape(a) == shape(b)


def test_unstructured_half_is_measured_half(digits_case, ort_helpers, tmp_path):
    built = build_variant(
        digits_case.model,
        [{"compressor": "prune", "pattern": "unstructured", "sparsity": 0.5}],
        digits_case.data(tmp_path),
    )
    assert abs(built.facts["sparsity"] - 0.50) <= 0.02, built.facts["sparsity"]
    assert _same_graph(built.model, digits_case.model), "write-back changed the graph"
    # INC leaves the classifier head alone; the others carry the pruning.
    assert built.facts["per_layer_sparsity"]["10.weight"] == 0.0
    assert built.facts["steps"][0]["inc_target_sparsity"] > 0.5
    base = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    pruned = ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y)
    assert pruned >= base - 0.03


def test_block_4x1_zeros_come_in_blocks(digits_case, tmp_path):
    built = build_variant(
        digits_case.model,
        [{"compressor": "prune", "pattern": "4x1", "sparsity": 0.5}],
        digits_case.data(tmp_path),
    )
    assert abs(built.facts["sparsity"] - 0.50) <= 0.02
    for layer in weight_layers(built.model):
        view = _as_2d(layer.values)
        if view.shape[0] % 4:
            continue
        zero_blocks = (view.reshape(view.shape[0] // 4, 4, -1) == 0).sum(axis=1)
        assert set(np.unique(zero_blocks)) <= {0, 4}, layer.initializer  # all or nothing


def test_two_of_four(digits_case, tmp_path):
    built = build_variant(
        digits_case.model, [{"compressor": "prune", "pattern": "2:4"}], digits_case.data(tmp_path)
    )
    assert built.steps[0]["sparsity"] == 0.5
    pruned_layers = 0
    for layer in weight_layers(built.model):
        view = _as_2d(layer.values)
        if view.shape[1] % 4 or built.facts["per_layer_sparsity"][layer.initializer] == 0:
            continue
        pruned_layers += 1
        zeros = (view.reshape(view.shape[0], -1, 4) == 0).sum(axis=2)
        assert zeros.min() >= 2, layer.initializer  # at least 2 zeros in every 4
    assert pruned_layers >= 3


def test_snip_momentum_with_fine_tune(digits_case, ort_helpers, tmp_path):
    built = build_variant(
        digits_case.model,
        [
            {
                "compressor": "prune",
                "pattern": "unstructured",
                "criterion": "snip-momentum",
                "sparsity": 0.6,
                "steps": 24,
                "learning_rate": 5e-4,
            }
        ],
        digits_case.data(tmp_path),
    )
    facts = built.facts["steps"][0]
    assert facts["schedule"]["weights_updated"] and facts["schedule"]["steps"] == 24
    assert abs(built.facts["sparsity"] - 0.60) <= 0.02, built.facts["sparsity"]
    base = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    assert ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y) >= base - 0.05


def test_inc_filter_pruning_removes_the_filters(digits_case, tmp_path):
    built = build_variant(
        digits_case.model,
        [{"compressor": "prune", "pattern": "channel", "criterion": "magnitude", "sparsity": 0.5}],
        digits_case.data(tmp_path),
    )
    ratio = built.facts["conv_parameters"] / built.facts["base"]["conv_parameters"]
    assert 0.4 <= ratio <= 0.6, ratio
    assert built.facts["sparsity"] == 0.0  # the zeroed filters are gone, not masked
    groups = built.facts["steps"][0]["surgery"]["groups"]
    assert all(g["channels_after"] < g["channels_before"] for g in groups)


def test_channel_surgery_then_fine_tune_keeps_the_smaller_graph(digits_case, ort_helpers, tmp_path):
    steps = [{"compressor": "prune", "pattern": "channel", "sparsity": 0.5, "budget": "filters"}]
    one_shot = build_variant(digits_case.model, steps, digits_case.data(tmp_path / "a"))
    tuned = build_variant(
        digits_case.model,
        [{**steps[0], "steps": 30, "learning_rate": 2e-3}],
        digits_case.data(tmp_path / "b"),
    )
    assert _same_graph(one_shot.model, tuned.model)
    assert tuned.facts["steps"][0]["channels"]["fine_tune"]["steps"] == 30
    before = ort_helpers.accuracy(one_shot.model, digits_case.eval_x, digits_case.eval_y)
    after = ort_helpers.accuracy(tuned.model, digits_case.eval_x, digits_case.eval_y)
    assert after >= before  # 30 Adam steps on the training split recover accuracy


def test_pruning_that_needs_training_data_says_so(digits_case, tmp_path):
    data = digits_case.data(tmp_path)
    data.train_x, data.train_y = data.train_x[:0], data.train_y[:0]
    with pytest.raises(CompressionError, match="needs training samples"):
        build_variant(
            digits_case.model,
            [{"compressor": "prune", "criterion": "snip_momentum"}],
            data,
        )


def test_inc_filter_pruning_across_a_residual_sum(ort_helpers, tmp_path):
    from compressor_tiny_graphs import residual_with_batchnorm

    from robustedge.compressors import CompressionData

    model = residual_with_batchnorm()
    rng = np.random.default_rng(0)
    x = rng.random((64, 3, 8, 8), dtype=np.float32)
    y = rng.integers(0, 4, 64)
    data = CompressionData(x, y, x, y, "input", 0, tmp_path)
    built = build_variant(
        model,
        [{"compressor": "prune", "pattern": "channel", "criterion": "magnitude", "sparsity": 0.5}],
        data,
    )
    groups = built.facts["steps"][0]["surgery"]["groups"]
    merged = [g for g in groups if len(g["producers"]) == 2]
    assert merged and merged[0]["channels_after"] < merged[0]["channels_before"], groups
    assert built.facts["conv_parameters"] < 0.7 * built.facts["base"]["conv_parameters"]
    assert ort_helpers.run(built.model, x).shape == (64, 4)

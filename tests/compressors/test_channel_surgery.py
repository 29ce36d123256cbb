"""Filter pruning that physically removes channels, on tiny graphs and the digits CNN.

Exactness check used throughout: removing channel c must give the same outputs as the
original graph in which every consumer ignores channel c (its input weights for c
zeroed). onnxruntime runs both; they must agree to float precision.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from compressor_tiny_graphs import (
    GraphBuilder,
    chain_relu_maxpool_flatten_gemm,
    concat_only,
    depthwise_and_reshape,
    residual_with_batchnorm,
)
from onnx import numpy_helper

from robustedge.compressors import CompressionError, build_variant
from robustedge.compressors.channel_surgery import apply_plan, plan_channels, prune_channels
from robustedge.compressors.facts import model_facts
from robustedge.compressors.onnx_graph import initializers, to_array


def consumers_ignore_removed(model: onnx.ModelProto, plan) -> onnx.ModelProto:
    """The original graph in which every consumer reads zero weight for removed channels."""
    reference = onnx.ModelProto()
    reference.CopyFrom(model)
    inits = initializers(reference)
    producer_weights = {name for group in plan.groups for name in group.producers}
    for index, kept in plan.keep.items():
        group = plan.groups[index]
        removed = np.setdiff1d(np.arange(group.channels), kept)
        for s in group.slices:
            array = to_array(inits[s.initializer]).copy()
            is_conv_input = s.axis == 1 and array.ndim == 4 and s.initializer in producer_weights
            is_fc_input = array.ndim == 2
            if not (is_conv_input or is_fc_input):
                continue
            idx = (removed[:, None] * s.block + np.arange(s.block)[None, :]).ravel()
            index_tuple = [slice(None)] * array.ndim
            index_tuple[s.axis] = idx
            array[tuple(index_tuple)] = 0
            inits[s.initializer].CopyFrom(numpy_helper.from_array(array, s.initializer))
    return reference


@pytest.mark.parametrize(
    "build", [chain_relu_maxpool_flatten_gemm, residual_with_batchnorm, depthwise_and_reshape]
)
@pytest.mark.parametrize("norm", ["l1", "l2", "geometric_median"])
def test_removed_channels_are_exactly_the_ignored_ones(build, norm, ort_helpers):
    model = build()
    plan, _ = plan_channels(model, 0.5, norm=norm, budget="filters")
    pruned = apply_plan(model, plan)
    onnx.checker.check_model(pruned)
    x = np.random.default_rng(0).random((4, 3, 8, 8), dtype=np.float32)
    expected = ort_helpers.run(consumers_ignore_removed(model, plan), x)
    np.testing.assert_allclose(ort_helpers.run(pruned, x), expected, rtol=1e-4, atol=1e-5)
    assert any(len(kept) < plan.groups[i].channels for i, kept in plan.keep.items())
    before, after = model_facts(model), model_facts(pruned)
    assert after["parameters"] < before["parameters"]
    assert after["macs"] < before["macs"]


def test_residual_add_prunes_both_branches_alike():
    model = residual_with_batchnorm()
    _, info = prune_channels(model, 0.5, norm="l2", budget="filters")
    merged = [g for g in info["groups"] if len(g["producers"]) == 2]
    assert len(merged) == 1, info["groups"]  # the first conv and the block's last conv
    assert merged[0]["channels_after"] == 4
    # The last conv feeds GlobalAveragePool -> Flatten -> Gemm and is pruned too.
    assert any(g["channels_before"] == 10 and g["channels_after"] == 5 for g in info["groups"])


def test_depthwise_group_attribute_follows_the_kept_channels():
    pruned, _ = prune_channels(depthwise_and_reshape(), 0.5, norm="l1", budget="filters")
    groups = [a.i for n in pruned.graph.node for a in n.attribute if a.name == "group"]
    assert groups == [1, 4, 1]  # the depthwise conv now has one group per kept channel
    shape = next(to_array(i) for i in pruned.graph.initializer if i.name.startswith("shape"))
    assert shape.tolist() == [-1, 3 * 64]


def test_a_graph_without_removable_channels_fails_readably():
    with pytest.raises(CompressionError, match="no Conv output channels can be removed"):
        prune_channels(concat_only(), 0.5)


def test_digits_half_the_conv_weights_go(digits_case, ort_helpers, tmp_path):
    built = build_variant(
        digits_case.model,
        [{"compressor": "prune", "pattern": "channel", "criterion": "l2", "sparsity": 0.5}],
        digits_case.data(tmp_path),
    )
    facts = built.facts
    conv_ratio = facts["conv_parameters"] / facts["base"]["conv_parameters"]
    assert 0.45 <= conv_ratio <= 0.55, conv_ratio
    assert facts["macs"] < 0.6 * facts["base"]["macs"]
    assert facts["size_bytes"] < 0.75 * facts["base"]["size_bytes"]
    assert [n.op_type for n in built.model.graph.node] == [
        n.op_type for n in digits_case.model.graph.node
    ]
    base = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    pruned = ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y)
    assert pruned >= base - 0.1  # one-shot, no fine-tune
    channels = facts["steps"][0]["channels"]
    assert [g["channels_before"] for g in channels["groups"]] == [16, 32, 32]
    assert all(g["channels_after"] < g["channels_before"] for g in channels["groups"])


def test_filters_budget_removes_that_share_of_filters(digits_case, tmp_path):
    built = build_variant(
        digits_case.model,
        [{"compressor": "prune", "pattern": "channel", "sparsity": 0.5, "budget": "filters"}],
        digits_case.data(tmp_path),
    )
    groups = built.facts["steps"][0]["channels"]["groups"]
    assert [g["channels_after"] for g in groups] == [8, 16, 16]


def test_round_to_keeps_hardware_friendly_channel_counts(digits_case, tmp_path):
    built = build_variant(
        digits_case.model,
        [{"compressor": "prune", "pattern": "channel", "sparsity": 0.5, "round_to": 8}],
        digits_case.data(tmp_path),
    )
    channels = built.facts["steps"][0]["channels"]
    assert all(g["channels_after"] % 8 == 0 for g in channels["groups"]), channels["groups"]
    # (8, 24, 24) of (16, 32, 32) is the uniform choice that halves the conv weights.
    assert [g["channels_after"] for g in channels["groups"]] == [8, 24, 24]
    assert built.facts["conv_parameters"] == 13968 // 2


def test_geometric_median_prunes_the_most_replaceable_filters():
    # Filters 0-3 are near-copies of each other (near the median); 4 and 5 stand apart.
    rng = np.random.default_rng(0)
    common = rng.normal(size=(3, 3, 3))
    weights = np.stack(
        [common + 0.01 * rng.normal(size=(3, 3, 3)) for _ in range(4)]
        + [3 * rng.normal(size=(3, 3, 3)), -3 * rng.normal(size=(3, 3, 3))]
    )
    g = GraphBuilder(5)
    x = g.node("Relu", [g.conv("input", 3, 6)])
    g.inits[0] = numpy_helper.from_array(weights.astype(np.float32), g.inits[0].name)
    model = g.model(g.conv(x, 6, 2), rank=4)
    # The output conv feeds the graph output (frozen); only the first conv is pruned.
    plan, _ = plan_channels(model, 0.5, norm="geometric_median", budget="filters")
    (kept,) = plan.keep.values()
    assert {4, 5} <= set(kept.tolist()) and len(kept) == 3


def test_a_plan_that_removes_nothing_is_an_error(digits_case):
    # 10% of the conv weights cannot be reached with channel counts in multiples of 8.
    with pytest.raises(CompressionError, match="removes no channel"):
        prune_channels(digits_case.model, 0.1, round_to=8)

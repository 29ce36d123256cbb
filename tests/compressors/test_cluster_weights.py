"""k-means weight clustering: shared values per layer, zeros preserved, onnxruntime loads it."""

from __future__ import annotations

import numpy as np
import pytest

from robustedge.compressors import CompressionError, build_variant, get_compressor
from robustedge.compressors.cluster import cluster_weights
from robustedge.compressors.onnx_graph import weight_layers


def test_cluster_16_leaves_at_most_16_values_per_layer(digits_case, ort_helpers, tmp_path):
    built = build_variant(
        digits_case.model, [{"compressor": "cluster", "clusters": 16}], digits_case.data(tmp_path)
    )
    per_layer = built.facts["unique_weights_per_layer"]
    assert set(per_layer) == {"0.weight", "2.weight", "5.weight", "8.weight", "10.weight"}
    assert all(1 < count <= 16 for count in per_layer.values()), per_layer
    for layer in weight_layers(built.model):
        assert np.unique(layer.values).size <= 16
    # The graph is untouched apart from the weight values, and it still classifies.
    assert [n.op_type for n in built.model.graph.node] == [
        n.op_type for n in digits_case.model.graph.node
    ]
    base = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    clustered = ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y)
    assert clustered >= base - 0.03
    # Shared values compress: the gzip size drops well below the float model's.
    assert built.facts["gzip_bytes"] < 0.6 * built.facts["base"]["gzip_bytes"]


def test_clustering_preserves_zeros_and_is_deterministic():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(32, 16, 3, 3)).astype(np.float32)
    weights[rng.random(weights.shape) < 0.5] = 0.0
    first = cluster_weights(weights, 8, preserve_zeros=True, seed=3, max_iterations=50)
    second = cluster_weights(weights, 8, preserve_zeros=True, seed=3, max_iterations=50)
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32 and first.shape == weights.shape
    np.testing.assert_array_equal(first == 0, weights == 0)
    assert np.unique(first).size == 8  # 7 shared nonzero values + zero
    # Every nonzero weight moved to its nearest shared value.
    centroids = np.unique(first[first != 0])
    nonzero = weights[weights != 0]
    nearest = centroids[np.abs(nonzero[:, None] - centroids[None, :]).argmin(axis=1)]
    np.testing.assert_allclose(first[weights != 0], nearest, rtol=0, atol=1e-6)
    without = cluster_weights(weights, 8, preserve_zeros=False, seed=3, max_iterations=50)
    assert np.unique(without).size <= 8
    assert (without == 0).sum() < (weights == 0).sum()  # zeros snapped to a nonzero centroid


def test_layers_with_few_values_are_left_alone():
    weights = np.array([[0.5, -0.5], [0.5, 0.25]], dtype=np.float32)
    np.testing.assert_array_equal(
        cluster_weights(weights, 4, preserve_zeros=True, seed=0, max_iterations=10), weights
    )


def test_cluster_needs_float_weights(digits_case, tmp_path):
    cluster = get_compressor("cluster")
    model = digits_case.model.__class__()
    model.CopyFrom(digits_case.model)
    del model.graph.initializer[:]  # a graph without weight initializers
    with pytest.raises(CompressionError, match="no float"):
        cluster.apply(model, cluster.parse_config({}), digits_case.data(tmp_path))

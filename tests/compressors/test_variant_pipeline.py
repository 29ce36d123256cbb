"""build_variant: steps in order, measured facts, failures that name the step."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from robustedge.compressors import CompressionError, ConfigError, build_variant


@pytest.mark.slow
def test_channel_cluster_int8_compound(digits_case, ort_helpers, tmp_path):
    original = digits_case.model.SerializeToString()
    steps = [
        {"compressor": "prune", "pattern": "channel", "sparsity": 0.3},
        {"compressor": "cluster", "clusters": 16},
        {"compressor": "quantize", "approach": "dynamic", "per_channel": False},
    ]
    built = build_variant(digits_case.model, steps, digits_case.data(tmp_path))
    assert digits_case.model.SerializeToString() == original, "the input model was modified"
    assert [s["compressor"] for s in built.steps] == ["prune", "cluster", "quantize"]
    assert built.steps[0]["criterion"] == "l2" and built.steps[2]["format"] == "qoperator"
    facts = built.facts
    for key in (
        "size_bytes",
        "gzip_bytes",
        "parameters",
        "sparsity",
        "per_layer_sparsity",
        "unique_weights_per_layer",
        "macs",
        "build_seconds",
        "base",
    ):
        assert key in facts, key
    assert facts["macs"] < facts["base"]["macs"]
    assert facts["parameters"] < facts["base"]["parameters"]
    assert facts["size_bytes"] < 0.3 * facts["base"]["size_bytes"]
    # Clustered to 16 values, then per-tensor int8: still at most 16 distinct codes
    # per layer (one scale: rounding can merge two values, never split one).
    assert max(facts["unique_weights_per_layer"].values()) <= 16
    assert [s["compressor"] for s in facts["steps"]] == ["prune", "cluster", "quantize"]
    base = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    compound = ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y)
    assert compound >= base - 0.08


def test_invalid_steps_are_refused_before_any_work(digits_case, tmp_path):
    with pytest.raises(ConfigError, match=r"steps\[1\].clusters"):
        build_variant(
            digits_case.model,
            [{"compressor": "cluster"}, {"compressor": "cluster", "clusters": 0}],
            digits_case.data(tmp_path),
        )
    assert not any(tmp_path.iterdir())


def test_a_failing_step_is_named_in_the_error(digits_case, tmp_path):
    model = onnx.ModelProto()
    model.CopyFrom(digits_case.model)
    del model.graph.initializer[:]
    with pytest.raises(CompressionError, match=r"^step 0 \(cluster\): no float"):
        build_variant(model, [{"compressor": "cluster"}], digits_case.data(tmp_path))


def test_no_steps_is_the_measured_base(digits_case, tmp_path):
    built = build_variant(digits_case.model, [], digits_case.data(tmp_path))
    assert built.steps == []
    assert built.facts["sparsity"] == 0.0
    assert built.facts["macs"] == built.facts["base"]["macs"] == 484992
    assert built.facts["size_ratio"] == 1.0
    # 16*1*9 + 32*16*9 + 32*32*9 conv weights in the digits CNN.
    assert built.facts["conv_parameters"] == 13968
    assert np.isclose(sum(built.facts["per_layer_sparsity"].values()), 0.0)


def test_a_variant_with_an_empty_layer_is_refused(digits_case, tmp_path):
    from onnx import numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(digits_case.model)
    for init in model.graph.initializer:
        if init.name == "10.weight":
            zeros = np.zeros(tuple(init.dims), np.float32)
            init.CopyFrom(numpy_helper.from_array(zeros, init.name))
    with pytest.raises(CompressionError, match=r"10\.weight with no nonzero weights"):
        build_variant(model, [{"compressor": "cluster"}], digits_case.data(tmp_path))

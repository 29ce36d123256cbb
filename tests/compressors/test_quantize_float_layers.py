"""Quantization that keeps chosen layers in float, and robustness-aware accuracy tuning."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from robustedge.compressors import CompressionError, ConfigError, build_variant, validate_steps
from robustedge.compressors.onnx_graph import initializers, weight_layers

pytestmark = pytest.mark.slow  # INC runs


@pytest.mark.parametrize(
    ("step", "field"),
    [
        ({"approach": "weight_only", "float_layers": ["w"]}, "steps[0].float_layers"),
        ({"float_layers": ["a", "a"]}, "steps[0].float_layers"),
        ({"float_layers": "0.weight"}, "steps[0].float_layers"),
        ({"tuning_metric": "robust"}, "steps[0].tuning_metric"),  # no accuracy_tolerance
        ({"tuning_metric": "adversarial"}, "steps[0].tuning_metric"),
        (
            {"accuracy_tolerance": 0.01, "tuning_epsilon": 0.1},  # clean metric
            "steps[0].tuning_epsilon",
        ),
        (
            {"accuracy_tolerance": 0.01, "tuning_metric": "robust", "tuning_epsilon": 0},
            "steps[0].tuning_epsilon",
        ),
    ],
)
def test_new_quantize_settings_are_checked(step, field):
    with pytest.raises(ConfigError) as caught:
        validate_steps([{"compressor": "quantize", **step}])
    assert caught.value.field == field


def test_reports_show_tuning_settings_only_where_they_act():
    (plain,) = validate_steps([{"compressor": "quantize"}])
    assert plain["float_layers"] == [] and "tuning_metric" not in plain
    (robust,) = validate_steps(
        [{"compressor": "quantize", "accuracy_tolerance": 0.02, "tuning_metric": "robust"}]
    )
    assert robust["tuning_metric"] == "robust" and robust["tuning_epsilon"] is None


def test_static_qdq_keeps_the_first_conv_float(digits_case, ort_helpers, tmp_path):
    built = build_variant(
        digits_case.model,
        [{"compressor": "quantize", "float_layers": ["0.weight"]}],
        digits_case.data(tmp_path),
    )
    inits = initializers(built.model)
    assert inits["0.weight"].data_type == TensorProto.FLOAT
    first = next(n for n in built.model.graph.node if "0.weight" in n.input)
    assert first.op_type == "Conv" and first.input[0] == "input"  # no QDQ in front of it
    quantized = {layer.initializer: layer.quantized for layer in weight_layers(built.model)}
    assert quantized == {
        "0.weight": False,
        "2.weight_quantized": True,
        "5.weight_quantized": True,
        "8.weight_quantized": True,
        "10.weight_quantized": True,
    }
    assert built.facts["steps"][0]["float_layers"] == {"0.weight": ["/0/Conv"]}
    base = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    accuracy = ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y)
    assert accuracy >= base - 0.02


@pytest.mark.parametrize("approach", ["static", "dynamic"])
def test_qoperator_keeps_a_conv_and_a_gemm_by_node_or_weight_name(
    approach, digits_case, ort_helpers, tmp_path
):
    # INC rewrites a Gemm as MatMul + Add before quantizing; the Gemm's name still works.
    built = build_variant(
        digits_case.model,
        [
            {
                "compressor": "quantize",
                "approach": approach,
                "format": "qoperator",
                "float_layers": ["/2/Conv", "10.weight"],
            }
        ],
        digits_case.data(tmp_path),
    )
    float_weights = {w.initializer for w in weight_layers(built.model) if not w.quantized}
    assert float_weights == {"2.weight", "10.weight"}
    ops = [n.op_type for n in built.model.graph.node]
    assert (
        ops.count("Conv") == 1
        and ops.count("QLinearConv" if approach == "static" else "ConvInteger") == 2
    )
    assert ort_helpers.run(built.model, digits_case.eval_x[:4]).shape == (4, 10)


def test_keeping_every_layer_float_says_so(digits_case, tmp_path):
    every = ["0.weight", "2.weight", "5.weight", "8.weight", "10.weight"]
    with pytest.raises(CompressionError, match="float_layers keeps every layer"):
        build_variant(
            digits_case.model,
            [{"compressor": "quantize", "float_layers": every}],
            digits_case.data(tmp_path),
        )


def test_unknown_float_layer_lists_the_weight_layers(digits_case, tmp_path):
    with pytest.raises(CompressionError) as caught:
        build_variant(
            digits_case.model,
            [{"compressor": "quantize", "float_layers": ["0.bias"]}],
            digits_case.data(tmp_path),
        )
    assert "'0.bias'" in str(caught.value)
    assert "weight layers: 0.weight (/0/Conv), 2.weight (/2/Conv)" in str(caught.value)


def test_robust_tuning_scores_candidates_under_pgd(digits_case, ort_helpers, tmp_path):
    from robustedge.compressors.quantize import onnx_robust_accuracy

    data = digits_case.data(tmp_path)
    built = build_variant(
        digits_case.model,
        [
            {
                "compressor": "quantize",
                "accuracy_tolerance": 0.02,
                "tolerance_type": "absolute",
                "max_trials": 3,
                "tuning_metric": "robust",
            }
        ],
        data,
    )
    tuning = built.facts["steps"][0]["tuning"]
    assert tuning["metric"] == "robust" and tuning["epsilon"] == 0.1  # 0.1 x range [0, 1]
    assert tuning["trials"] >= 1 and len(tuning["candidate_scores"]) == tuning["trials"]
    # INC was given robust accuracy, not clean accuracy: its float baseline is the float
    # model's PGD accuracy on the tuning split (calibration used the first 100).
    judge_x, judge_y = data.calib_x[100:], data.calib_y[100:]
    float_robust = onnx_robust_accuracy(
        digits_case.model, judge_x, judge_y, "input", epsilon=0.1, input_range=(0, 1), seed=0
    )
    assert tuning["float_score"] == round(float_robust, 6)
    assert float_robust < ort_helpers.accuracy(digits_case.model, judge_x, judge_y) - 0.2
    assert tuning["quantized_score"] >= tuning["float_score"] - 0.02
    assert built.facts["quantized"]
    assert np.isfinite(ort_helpers.run(built.model, digits_case.eval_x[:4])).all()


def test_clean_tuning_records_its_scores_too(digits_case, tmp_path):
    built = build_variant(
        digits_case.model,
        [{"compressor": "quantize", "accuracy_tolerance": 0.02, "max_trials": 2}],
        digits_case.data(tmp_path),
    )
    tuning = built.facts["steps"][0]["tuning"]
    assert tuning["metric"] == "clean" and "epsilon" not in tuning
    assert tuning["float_score"] > 0.9 and tuning["samples"] == 100

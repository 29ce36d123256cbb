"""Per-layer channel fractions (PruneConfig.layer_sparsity) and mapping-typed settings.

No INC and no torch: channel surgery works on the ONNX graph with numpy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from compressor_tiny_graphs import depthwise_and_reshape, residual_with_batchnorm

from robustedge.compressors import (
    CompressionError,
    ConfigError,
    build_variant,
    prunable_channel_layers,
    validate_steps,
)
from robustedge.compressors.config import describe_config, option, parse_config
from robustedge.compressors.reference import markdown_reference


@dataclasses.dataclass
class _Mapped:
    # option() returns a dataclasses.field (ruff only knows field() by name).
    per_layer: dict[str, float] | None = option(  # noqa: RUF009
        None, "a number per layer", minimum=0.0, maximum=0.9
    )


def test_mapping_values_are_coerced_losslessly_and_bounded_per_key():
    parsed = parse_config(_Mapped, {"per_layer": {"a": 0, "b": 0.25}})
    assert parsed.per_layer == {"a": 0.0, "b": 0.25}
    assert all(type(v) is float for v in parsed.per_layer.values())
    assert parse_config(_Mapped, {}).per_layer is None
    for value, field, fragment in [
        ({"a": 0.95}, "per_layer[a]", "[0, 0.9], got 0.95"),
        ({"a": -0.1}, "per_layer[a]", "got -0.1"),
        ({"a": True}, "per_layer[a]", "number"),
        ({"a": "half"}, "per_layer[a]", "number"),
        ({"a": float("nan")}, "per_layer[a]", "finite"),
        ({"": 0.5}, "per_layer", "non-empty strings"),
        ([0.5], "per_layer", "mapping"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_config(_Mapped, {"per_layer": value})
        assert caught.value.field == field, value
        assert fragment in str(caught.value), (value, str(caught.value))


def test_mapping_and_list_types_are_documented():
    assert describe_config(_Mapped)[0]["type"] == "mapping of str to float or null"
    reference = markdown_reference()
    assert "| `layer_sparsity` | mapping of str to float or null |" in reference
    assert "| `float_layers` | list of str | [] |" in reference


@pytest.mark.parametrize(
    ("step", "field", "fragment"),
    [
        ({"layer_sparsity": {"0.weight": 0.5}}, "steps[0].layer_sparsity", "pattern channel"),
        (
            {"pattern": "channel", "layer_sparsity": {"0.weight": 0.5}, "budget": "parameters"},
            "steps[0].budget",
            "filters",
        ),
        (
            {"pattern": "channel", "layer_sparsity": {"0.weight": 1.0}},
            "steps[0].layer_sparsity[0.weight]",
            "[0, 0.9], got 1",
        ),
    ],
)
def test_layer_sparsity_refusals_name_the_field(step, field, fragment):
    with pytest.raises(ConfigError) as caught:
        validate_steps([{"compressor": "prune", **step}])
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_layer_sparsity_resolves_budget_filters_and_survives_a_struct_round_trip():
    from google.protobuf import json_format, struct_pb2

    (step,) = validate_steps(
        [{"compressor": "prune", "pattern": "channel", "layer_sparsity": {"2.weight": 0.25}}]
    )
    assert step["budget"] == "filters" and step["layer_sparsity"] == {"2.weight": 0.25}
    assert validate_steps([{"compressor": "prune", "pattern": "channel"}])[0]["budget"] == (
        "parameters"
    )
    params = struct_pb2.Struct()
    params.update({k: v for k, v in step.items() if k != "compressor"})
    again = {"compressor": "prune", **json_format.MessageToDict(params)}
    assert validate_steps([again]) == [step]


def test_prunable_layers_are_one_per_group_in_graph_order(digits_case):
    assert prunable_channel_layers(digits_case.model) == ["0.weight", "2.weight", "5.weight"]
    # The residual sum merges the first Conv's group with the third's (w14): one name.
    assert prunable_channel_layers(residual_with_batchnorm()) == ["w1", "w5", "w24"]
    # A depthwise Conv's channels are its input's; it is no producer of its own.
    assert prunable_channel_layers(depthwise_and_reshape()) == ["w1", "w9"]


def _channels(built) -> dict[str, tuple[int, int]]:
    groups = built.facts["steps"][0]["channels"]["groups"]
    return {g["producers"][0]: (g["channels_before"], g["channels_after"]) for g in groups}


def test_named_layers_get_their_fraction_and_the_rest_get_sparsity(digits_case, tmp_path):
    built = build_variant(
        digits_case.model,
        [
            {
                "compressor": "prune",
                "pattern": "channel",
                "sparsity": 0.25,
                "layer_sparsity": {"0.weight": 0.0, "2.weight": 0.75},
            }
        ],
        digits_case.data(tmp_path),
    )
    # 0.weight whole; 2.weight loses round(0.75 x 32); 5.weight (unnamed) round(0.25 x 32).
    assert _channels(built) == {"0.weight": (16, 16), "2.weight": (32, 8), "5.weight": (32, 24)}
    facts = built.facts["steps"][0]["channels"]
    assert facts["budget"] == "filters"
    assert facts["layer_filters_removed"] == {"0.weight": 0.0, "2.weight": 0.75, "5.weight": 0.25}


def test_round_to_still_applies_to_named_layers(digits_case, tmp_path):
    built = build_variant(
        digits_case.model,
        [
            {
                "compressor": "prune",
                "pattern": "channel",
                "round_to": 8,
                "layer_sparsity": {"0.weight": 0.3, "2.weight": 0.6, "5.weight": 0.1},
            }
        ],
        digits_case.data(tmp_path),
    )
    # 16 - round(4.8) = 11 -> 8; 32 - round(19.2) = 13 -> 16; 32 - 3 = 29 -> 32.
    assert _channels(built) == {"0.weight": (16, 8), "2.weight": (32, 16), "5.weight": (32, 32)}


@pytest.mark.parametrize(
    ("layers", "fragment"),
    [
        ({"8.weight": 0.5}, "not a prunable Conv weight; prunable layers: 0.weight, 2.weight"),
        ({"nope": 0.5}, "'nope'"),
    ],
)
def test_unknown_layers_are_refused_with_the_prunable_names(
    digits_case, tmp_path, layers, fragment
):
    step = {"compressor": "prune", "pattern": "channel", "layer_sparsity": layers}
    with pytest.raises(CompressionError) as caught:
        build_variant(digits_case.model, [step], digits_case.data(tmp_path))
    assert "prunable layers: 0.weight, 2.weight, 5.weight" in str(caught.value)
    assert fragment in str(caught.value)


def test_a_residual_group_is_named_by_any_producer_but_takes_one_fraction(tmp_path):
    model = residual_with_batchnorm()
    x = np.random.default_rng(0).random((8, 3, 8, 8), dtype=np.float32)
    data_args = (x, np.zeros(8, np.int64), x, np.zeros(8, np.int64), "input", 0, tmp_path)
    from robustedge.compressors import CompressionData

    data = CompressionData(*data_args)
    step = {"compressor": "prune", "pattern": "channel", "sparsity": 0.1}
    built = build_variant(model, [{**step, "layer_sparsity": {"w14": 0.5}}], data)
    merged = next(
        g for g in built.facts["steps"][0]["channels"]["groups"] if len(g["producers"]) == 2
    )
    assert (merged["channels_before"], merged["channels_after"]) == (8, 4)
    with pytest.raises(CompressionError, match="feed one residual sum"):
        build_variant(model, [{**step, "layer_sparsity": {"w1": 0.5, "w14": 0.25}}], data)
    with pytest.raises(CompressionError, match="not a prunable Conv weight"):
        build_variant(model, [{**step, "layer_sparsity": {"w9": 0.5}}], data)


@pytest.mark.slow  # INC pruning
def test_inc_filter_pruning_follows_layer_sparsity(digits_case, tmp_path):
    built = build_variant(
        digits_case.model,
        [
            {
                "compressor": "prune",
                "pattern": "channel",
                "criterion": "magnitude",
                "sparsity": 0.25,
                "layer_sparsity": {"0.weight": 0.0, "2.weight": 0.75},
            }
        ],
        digits_case.data(tmp_path),
    )
    groups = built.facts["steps"][0]["surgery"]["groups"]
    after = {g["producers"][0]: (g["channels_before"], g["channels_after"]) for g in groups}
    assert after == {"0.weight": (16, 16), "2.weight": (32, 8), "5.weight": (32, 24)}

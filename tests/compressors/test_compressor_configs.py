"""Registry, typed configs and presets: cheap checks that run at submit time."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from robustedge.compressors import (
    Compressor,
    ConfigError,
    get_compressor,
    list_compressors,
    register,
    validate_steps,
    variant_presets,
)
from robustedge.compressors.config import describe_config, option


def test_registry_lists_the_three_compressors():
    assert [c.name for c in list_compressors()] == ["cluster", "prune", "quantize"]
    assert isinstance(get_compressor("quantize"), Compressor)


def test_registry_refuses_a_duplicate_name():
    @dataclasses.dataclass
    class Empty:
        pass

    class Impostor(Compressor):
        name = "quantize"
        description = "a second quantize"
        Config = Empty

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
    assert type(get_compressor("quantize")).__name__ == "QuantizeCompressor"


@pytest.mark.parametrize(
    ("steps", "field", "fragment"),
    [
        ([{"compressor": "prune", "sparsity": 1.5}], "steps[0].sparsity", "[0.1, 0.9], got 1.5"),
        ([{"compressor": "prune", "pattern": "5x"}], "steps[0].pattern", "NxM"),
        ([{"compressor": "prune", "pattern": "4:2"}], "steps[0].pattern", "N < M"),
        ([{"compressor": "prune", "criterion": "l1"}], "steps[0].criterion", "channel"),
        ([{"compressor": "prune", "steps": -1}], "steps[0].steps", "got -1"),
        ([{"compressor": "prune", "steps": True}], "steps[0].steps", "integer"),
        ([{"compressor": "cluster", "clusters": 1}], "steps[0].clusters", "[2, 256]"),
        ([{"compressor": "cluster", "k": 4}], "steps[0].k", "unknown setting"),
        ([{"compressor": "quantize", "approach": "int4"}], "steps[0].approach", "one of"),
        (
            [{"compressor": "quantize", "approach": "dynamic", "format": "qdq"}],
            "steps[0].format",
            "qoperator",
        ),
        ([{"compressor": "quantize", "per_channel": "yes"}], "steps[0].per_channel", "true or"),
        ([{"compressor": "nope"}], "steps[0].compressor", "unknown compressor"),
        ([{"sparsity": 0.5}], "steps[0].compressor", "required"),
        ([{"compressor": "cluster"}, "prune"], "steps[1]", "mapping"),
        (
            [{"compressor": "quantize"}, {"compressor": "cluster"}],
            "steps[1].compressor",
            "last step",
        ),
    ],
)
def test_invalid_steps_name_the_field(steps, field, fragment):
    with pytest.raises(ConfigError) as caught:
        validate_steps(steps)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert fragment in str(caught.value)


def test_validate_steps_fills_defaults_and_resolves_dependent_ones():
    resolved = validate_steps(
        [
            {"compressor": "prune", "pattern": "Channel", "sparsity": 0.3},
            {"compressor": "cluster"},
            {"compressor": "quantize", "approach": "dynamic"},
        ]
    )
    assert resolved[0]["pattern"] == "channel"
    assert resolved[0]["criterion"] == "l2"  # channel's default criterion
    assert resolved[1]["clusters"] == 16
    assert resolved[2]["format"] == "qoperator"  # dynamic's only format
    assert validate_steps([{"compressor": "quantize"}])[0]["format"] == "qdq"
    assert (
        validate_steps([{"compressor": "prune", "criterion": "snip-momentum"}])[0]["criterion"]
        == "snip_momentum"
    )
    # Numbers from JSON / protobuf Struct arrive as floats; whole ones are accepted.
    assert validate_steps([{"compressor": "cluster", "clusters": 8.0}])[0]["clusters"] == 8
    json.dumps(resolved)  # resolved steps go into the report as they are


def test_every_preset_validates_and_has_unique_names():
    presets = variant_presets()
    assert set(presets) == {"int8", "pruning-sweep", "compounded"}
    for variants in presets.values():
        names = [v["name"] for v in variants]
        assert len(names) == len(set(names))
        for variant in variants:
            validate_steps(variant["steps"])
    assert len(presets["compounded"]) == 7  # 3 alone, 3 pairs, 1 triple
    sweep = [v["steps"][0]["sparsity"] for v in presets["pruning-sweep"]]
    assert sweep == [0.1, 0.2, 0.3, 0.4, 0.5]
    presets["int8"].clear()
    assert variant_presets()["int8"], "callers get copies, not the module's lists"


def test_describe_config_documents_every_field():
    for compressor in list_compressors():
        settings = compressor.describe()["settings"]
        assert settings
        for entry in settings:
            assert entry["description"], (compressor.name, entry["name"])
    assert {"name": "x", "minimum": 1, "maximum": 3}.items() <= describe_config(
        dataclasses.make_dataclass("C", [("x", int, option(2, "a number", minimum=1, maximum=3))])
    )[0].items()


def test_validation_imports_neither_inc_nor_torch():
    # The server validates specs at submit time; that must stay cheap.
    code = (
        "import sys\n"
        "from robustedge.compressors import validate_steps, variant_presets\n"
        "for variants in variant_presets().values():\n"
        "    for v in variants: validate_steps(v['steps'])\n"
        "heavy = ('torch', 'neural_compressor', 'sklearn', 'onnx.mapping')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_resolved_steps_survive_a_protobuf_struct_round_trip():
    # The service stores resolved steps in google.protobuf.Struct (numbers become
    # floats, None becomes null) and validates them again when the job runs.
    from google.protobuf import json_format, struct_pb2

    steps = [
        step for variants in variant_presets().values() for v in variants for step in v["steps"]
    ]
    steps.append({"compressor": "quantize", "approach": "weight_only", "group_size": -1})
    for step in (validate_steps([raw])[0] for raw in steps):
        params = struct_pb2.Struct()
        params.update({k: v for k, v in step.items() if k != "compressor"})
        again = {"compressor": step["compressor"], **json_format.MessageToDict(params)}
        assert validate_steps([again]) == [step]


def test_the_settings_reference_is_current():
    # compressors/README.md is generated; regenerate with
    #   python -m robustedge.compressors > compressors/README.md
    from pathlib import Path

    from robustedge.compressors.reference import markdown_reference

    readme = Path(__file__).resolve().parents[2] / "compressors" / "README.md"
    assert readme.read_text() == markdown_reference()

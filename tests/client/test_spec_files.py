"""Spec files (YAML/JSON) and epsilon fractions, parsed on the client."""

from __future__ import annotations

import json

import pytest

from robustedge.client import SpecError, load_spec_file, parse_number, spec_from_dict
from robustedge.client import messages as pb

YAML_SPEC = """
preset: quick
samples: 300
seed: 7
variants:
  - name: compound
    steps: [{compressor: prune, pattern: channel, sparsity: 0.3},
            {compressor: quantize, approach: dynamic}]
attacks:
  - {attack: pgd, norm: linf, epsilons: [8/255, 0.1], steps: 10, step_size: 1/255}
  - {attack: square, epsilons: [0.1], queries: 1000, modes: [black_box]}
latency: {providers: [cpu, openvino], batch_sizes: [1, 8], threads: [1]}
gates: ["robust_accuracy[attack=pgd, eps=0.1, variant=compound] >= 0.3"]
"""


def test_yaml_spec_maps_onto_the_proto(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(YAML_SPEC)
    preset, spec = load_spec_file(path)
    assert preset == "quick"
    assert spec.samples == 300 and spec.seed == 7
    (variant,) = spec.variants
    assert [s.compressor for s in variant.steps] == ["prune", "quantize"]
    assert variant.steps[0].params["sparsity"] == pytest.approx(0.3)
    pgd, square = spec.attacks
    assert pgd.epsilons == pytest.approx([8 / 255, 0.1])
    assert pgd.params["step_size"] == pytest.approx(1 / 255)
    assert square.modes == [pb.ATTACK_MODE_BLACK_BOX]
    assert list(spec.latency.batch_sizes) == [1, 8]
    assert len(spec.gates) == 1


def test_json_spec(tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"attacks": [{"attack": "fgsm", "epsilons": ["4/255"]}]}))
    preset, spec = load_spec_file(path)
    assert preset == ""
    assert spec.attacks[0].epsilons == pytest.approx([4 / 255])


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"attackz": []}, "unknown spec keys"),
        ({"samples": "many"}, "samples"),
        ({"attacks": [{"epsilons": [0.1]}]}, "attack"),
        ({"attacks": [{"attack": "pgd", "epsilons": ["eight/255"]}]}, "epsilons"),
        ({"attacks": [{"attack": "pgd", "epsilons": [0.1], "modes": ["grey_box"]}]}, "modes"),
        ({"variants": [{"name": "v", "steps": [{"sparsity": 0.5}]}]}, "compressor"),
        ({"latency": {"providerz": ["cpu"]}}, "latency"),
        ({"gates": "x >= 1"}, "gates"),
    ],
)
def test_invalid_specs_are_refused_before_contacting_the_server(raw, match):
    with pytest.raises(SpecError, match=match):
        spec_from_dict(raw)


def test_fractions():
    assert parse_number("8/255", where="e") == pytest.approx(8 / 255)
    assert parse_number(0.5, where="e") == 0.5
    with pytest.raises(SpecError):
        parse_number("1/0", where="e")
    with pytest.raises(SpecError):
        parse_number(True, where="e")


def test_missing_spec_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec_file(tmp_path / "nope.yaml")

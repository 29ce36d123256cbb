"""Every preset variant builds on the digits CNN, runs in onnxruntime and passes the bridge's
fidelity check (the torch replica the white-box attacks use agrees with onnxruntime)."""

from __future__ import annotations

import pytest

from robustedge.compressors import build_variant, variant_presets

pytestmark = pytest.mark.slow


def _fidelity(model, x, session):
    from robustedge.bridge import convert, measure_fidelity

    return measure_fidelity(convert(model), session, x)


@pytest.mark.parametrize("preset", ["int8", "pruning-sweep", "compounded"])
def test_preset_variants_build_load_and_agree_with_the_bridge(
    preset, digits_case, ort_helpers, tmp_path
):
    base = ort_helpers.accuracy(digits_case.model, digits_case.eval_x, digits_case.eval_y)
    x = digits_case.eval_x[:200]
    for variant in variant_presets()[preset]:
        built = build_variant(
            digits_case.model, variant["steps"], digits_case.data(tmp_path / variant["name"])
        )
        session = ort_helpers.session(built.model)
        fidelity = _fidelity(built.model, x, session)
        # The service's gate: top-1 agreement >= 0.99, and for float graphs also a max
        # abs logit difference <= 1e-4 (quantized graphs may differ by a step).
        assert fidelity.top1_agreement >= 0.99, (variant["name"], fidelity)
        if not built.facts["quantized"]:
            assert fidelity.max_abs_diff <= 1e-4, (variant["name"], fidelity)
        accuracy = ort_helpers.accuracy(built.model, digits_case.eval_x, digits_case.eval_y)
        assert accuracy >= base - 0.1, (variant["name"], accuracy)
        if "pruned" in variant["name"].split("-"):
            assert abs(built.facts["sparsity"] - 0.5) <= 0.03, (variant["name"], built.facts)
        if variant["name"].startswith("channel-l2-"):
            target = int(variant["name"].rsplit("-", 1)[1]) / 100
            removed = 1 - built.facts["conv_parameters"] / built.facts["base"]["conv_parameters"]
            assert abs(removed - target) <= 0.06, (variant["name"], removed)

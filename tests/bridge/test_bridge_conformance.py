"""The onnx wheel's backend test data (node-level pytorch cases and `light` zoo models)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from robustedge.bridge import convert
from robustedge.bridge.conformance import data_root, discover, run_case

# The big zoo graphs take seconds each on two shared cores.
SLOW_LIGHT = {"densenet121", "inception_v1", "inception_v2", "vgg19", "bvlc_alexnet", "resnet50"}


def _params():
    for case in discover():
        marks = [pytest.mark.slow] if case.suite == "light" and case.name in SLOW_LIGHT else []
        yield pytest.param(case, id=f"{case.suite}/{case.name}", marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_backend_case_matches_reference(case):
    result = run_case(case)
    assert result.passed, result.detail


def test_suites_are_present():
    # Guards against a silently empty parametrization (e.g. a wheel without test data).
    suites = {case.suite for case in discover()}
    assert suites == {"pytorch-converted", "pytorch-operator", "light"}
    assert sum(1 for _ in discover(("pytorch-converted",))) > 50


def test_light_zoo_quirks_are_handled():
    # squeezenet: opset 9, initializers listed as graph inputs, Dropout, Softmax output.
    model = onnx.load(data_root() / "light" / "light_squeezenet.onnx")
    ops = {node.op_type for node in model.graph.node}
    assert {"Dropout", "Softmax"} <= ops
    assert len(model.graph.input) > 1
    bridged = convert(model)
    assert bridged.pre_softmax
    x = np.random.default_rng(0).random((2, 3, 224, 224), dtype=np.float32)
    logits = bridged.module(torch.from_numpy(x))
    assert tuple(logits.shape) == (2, 1000)
    probabilities = bridged.outputs(x)
    assert probabilities.shape == (2, 1000, 1, 1)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

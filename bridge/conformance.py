"""Runs the onnx wheel's shipped backend test data through the bridge.

Three suites ship with ``onnx`` (under ``onnx/backend/test/data``): ``pytorch-converted``
and ``pytorch-operator`` (small graphs exported from torch modules and operators, with
inputs and reference outputs) and ``light`` (model-zoo classifiers whose weights are
generated in-graph, with reference outputs for a deterministic input). Each case passes
when every graph output matches its reference within the tolerance the test data states
(``rtol=1e-3, atol=1e-7`` unless the case says otherwise), with the same dtype and shape.

Used by the tests and by ``operators_doc`` to mark operators as forward-checked.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from robustedge.bridge.converter import convert
from robustedge.bridge.registry import normalize_domain

logger = logging.getLogger(__name__)

SUITES = ("pytorch-converted", "pytorch-operator", "light")
DEFAULT_RTOL = 1e-3
DEFAULT_ATOL = 1e-7
# Tolerances the onnx runner applies to the `light` zoo models (onnx.backend.test.case.model).
LIGHT_RTOL = {"densenet121": 2e-3}


@dataclass
class Case:
    """One conformance case: a model, its inputs and reference outputs."""

    suite: str
    name: str
    model_path: Path
    data_dirs: list[Path] = field(default_factory=list)
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL


@dataclass
class CaseResult:
    case: Case
    passed: bool
    ops: list[str]
    detail: str = ""


def data_root() -> Path:
    return Path(onnx.__file__).parent / "backend" / "test" / "data"


def discover(suites: tuple[str, ...] = SUITES) -> Iterator[Case]:
    """Every case of the requested suites, in a stable order."""
    root = data_root()
    for suite in suites:
        folder = root / suite
        if suite == "light":
            for model_path in sorted(folder.glob("light_*.onnx")):
                name = model_path.stem.removeprefix("light_")
                yield Case(suite, name, model_path, rtol=LIGHT_RTOL.get(name, DEFAULT_RTOL))
            continue
        for case_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            rtol, atol = DEFAULT_RTOL, DEFAULT_ATOL
            meta = case_dir / "data.json"
            if meta.exists():
                data = json.loads(meta.read_text())
                rtol, atol = data.get("rtol", rtol), data.get("atol", atol)
            yield Case(
                suite,
                case_dir.name,
                case_dir / "model.onnx",
                sorted(case_dir.glob("test_data_set_*")),
                rtol,
                atol,
            )


def _load_tensor(path: Path) -> np.ndarray:
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(tensor)


def _light_data(
    case: Case, model: onnx.ModelProto
) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    # The onnx runner feeds light models arange(n)/n in the input's shape (unknown
    # dimensions taken as 1) and ships the outputs next to the model.
    inputs = []
    initializers = {init.name for init in model.graph.initializer}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        shape = tuple(
            d.dim_value if d.HasField("dim_value") else 1 for d in value.type.tensor_type.shape.dim
        )
        count = int(np.prod(shape))
        inputs.append((np.arange(count).reshape(shape) / count).astype(np.float32))
    stem = case.model_path.with_suffix("")
    outputs = [_load_tensor(Path(f"{stem}_output_{i}.pb")) for i in range(len(model.graph.output))]
    return [(inputs, outputs)]


def _file_data(case: Case) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    sets = []
    for folder in case.data_dirs:
        inputs = [_load_tensor(p) for p in sorted(folder.glob("input_*.pb"), key=_index)]
        outputs = [_load_tensor(p) for p in sorted(folder.glob("output_*.pb"), key=_index)]
        sets.append((inputs, outputs))
    return sets


def _index(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


def model_ops(model: onnx.ModelProto) -> list[str]:
    return sorted({f"{normalize_domain(n.domain)}::{n.op_type}" for n in model.graph.node})


def run_case(case: Case) -> CaseResult:
    """Converts the case's model and compares every output with its reference."""
    model = onnx.load(case.model_path)
    ops = model_ops(model)
    try:
        bridged = convert(model)
        data = _light_data(case, model) if case.suite == "light" else _file_data(case)
        module = bridged.module
        output_names = [value.name for value in model.graph.output]
        for inputs, references in data:
            feeds = {
                name: torch.from_numpy(np.array(value))
                for name, value in zip(module.input_names, inputs, strict=False)
            }
            with torch.no_grad():
                results = module.run(feeds, output_names)
            for name, result, reference in zip(output_names, results, references, strict=True):
                ours = result.to(_torch_dtype(reference.dtype)).numpy()
                if ours.shape != reference.shape:
                    raise AssertionError(f"{name}: shape {ours.shape} != {reference.shape}")
                np.testing.assert_allclose(ours, reference, rtol=case.rtol, atol=case.atol)
    except Exception as error:  # a failing case is a result, not a crash
        return CaseResult(
            case, False, ops, f"{type(error).__name__}: {error}".splitlines()[0][:300]
        )
    return CaseResult(case, True, ops)


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(1, dtype=dtype)).dtype


def run_all(
    suites: tuple[str, ...] = SUITES, skip: frozenset[str] = frozenset()
) -> list[CaseResult]:
    results = []
    for case in discover(suites):
        if case.name in skip:
            continue
        result = run_case(case)
        logger.info(
            "%s/%s: %s %s", case.suite, case.name, "ok" if result.passed else "FAIL", result.detail
        )
        results.append(result)
    return results

"""Bounded fuzzing of model and dataset validation: ``python -m fuzz_harness KIND N DIR``.

Runs N hypothesis examples (byte mutations of valid files and structured edits of
their fields) through ``describe_model`` / ``describe_dataset`` in this process and
prints one JSON line of counts. An answer is "contained" when validation returns
facts or raises a ServiceError (a status code for the client); any other exception
is an escape, recorded with its type. Before each example the input is written to
``DIR/current.bin``, so that when this process dies (segfault, memory cap) the test
knows which input did it and can replay it through the real sandbox.

Run by ``test_fuzz.py`` inside :func:`robustedge.service.sandbox.run`.
"""

from __future__ import annotations

import io
import json
import sys
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
from builders import tiny_dataset_arrays, tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from robustedge.service.errors import ServiceError
from robustedge.service.limits import ValidationLimits
from robustedge.service.validation import describe_dataset, describe_model

LIMITS = ValidationLimits()
COUNTS: Counter[str] = Counter()
ESCAPES: list[str] = []


def _base_models() -> list[bytes]:
    with_if = tiny_model()
    out = helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])
    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["v"], value_floats=[1.0])], "b", [], [out]
    )
    with_if.graph.node.append(
        helper.make_node("If", ["c"], ["e"], then_branch=branch, else_branch=branch)
    )
    with_if.graph.initializer.append(helper.make_tensor("c", TensorProto.BOOL, [], [True]))
    return [
        tiny_model().SerializeToString(),
        tiny_model(ir_version=14, opset=21).SerializeToString(),
        with_if.SerializeToString(),
    ]


BASE_MODELS = _base_models()


def _npz(arrays: dict[str, np.ndarray], compressed: bool) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


BASE_DATASETS = [_npz(dict(tiny_dataset_arrays()), False), _npz(dict(tiny_dataset_arrays()), True)]


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None, insert: bytes) -> bytes:
    out = bytearray(data)
    for position, value in edits:
        out[position % len(out)] = value
    if insert:
        at = (edits[0][0] if edits else 0) % (len(out) + 1)
        out[at:at] = insert
    if cut is not None:
        out = out[: cut % (len(out) + 1)]
    return bytes(out)


mutations = st.tuples(
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6),
    st.one_of(st.none(), st.integers(0, 1 << 20)),
    st.binary(max_size=16),
)


@st.composite
def structured_models(draw: st.DrawFn) -> bytes:
    model = tiny_model(ir_version=draw(st.integers(-2, 20)), opset=draw(st.integers(-1, 40)))
    weight = model.graph.initializer[0]
    if draw(st.booleans()):
        weight.ClearField("dims")
        weight.dims.extend(draw(st.lists(st.integers(-3, 1 << 40), max_size=4)))
    if draw(st.booleans()):
        weight.data_type = draw(st.integers(0, 40))
    node = model.graph.node[draw(st.integers(0, 1))]
    if draw(st.booleans()):
        node.domain = draw(st.sampled_from(["", "ai.onnx", "com.microsoft", "com.evil", "x" * 300]))
    if draw(st.booleans()):
        node.op_type = draw(st.sampled_from(["Relu", "Loop", "If", "Scan", "Custom", "", "Gemm"]))
    if draw(st.booleans()):
        dim = model.graph.input[0].type.tensor_type.shape.dim.add()
        dim.dim_value = draw(st.integers(0, 1 << 62))
    if draw(st.booleans()):
        model.graph.output[0].type.tensor_type.elem_type = draw(st.integers(0, 40))
    return model.SerializeToString()


@st.composite
def structured_datasets(draw: st.DrawFn) -> bytes:
    dtypes = st.sampled_from(
        ["float16", "float32", "float64", "int8", "uint8", "bool", "complex64", "int64", "uint64"]
    )
    shape = draw(st.lists(st.integers(0, 6), min_size=0, max_size=4))
    fill = draw(st.sampled_from([0.0, 0.5, 1.0, -1.0, np.nan, np.inf, 1e30]))
    arrays: dict[str, np.ndarray] = {}
    if draw(st.integers(0, 9)) > 0:  # usually present
        arrays["x"] = np.full(shape, fill).astype(draw(dtypes))
    if draw(st.booleans()):
        arrays["y"] = np.arange(draw(st.integers(0, 8))).astype(draw(dtypes)) - draw(
            st.integers(0, 2)
        )
    if draw(st.booleans()):
        arrays["input_range"] = np.array(
            draw(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=3))
        )
    for i in range(draw(st.integers(0, 3))):
        arrays[f"extra{i}"] = np.zeros(2)
    return _npz(arrays, draw(st.booleans()))


def _check(kind: str, data: bytes, folder: Path) -> None:
    current = folder / "current.bin"
    current.write_bytes(data)
    try:
        if kind == "model":
            describe_model(current, LIMITS, runnable_path=folder / "runnable.onnx")
        else:
            describe_dataset(current, LIMITS)
        COUNTS["accepted"] += 1
    except ServiceError as exc:
        COUNTS[f"refused {exc.code.name}"] += 1
    except MemoryError:
        COUNTS["memory cap (sandbox)"] += 1
    except Exception as exc:  # an escape: validation raised something it should have mapped
        COUNTS["escaped"] += 1
        ESCAPES.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        traceback.print_exc(file=sys.stderr)


def main() -> int:
    kind, examples, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    sys.stdin.read()
    bases = BASE_MODELS if kind == "model" else BASE_DATASETS
    structured = structured_models() if kind == "model" else structured_datasets()
    inputs = st.one_of(
        st.tuples(st.sampled_from(bases), mutations).map(lambda t: _mutate(t[0], *t[1])),
        structured,
    )

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs)
    def run(data: bytes) -> None:
        _check(kind, data, folder)

    run()
    sys.stdout.write(json.dumps({"counts": dict(COUNTS), "escapes": ESCAPES[:10]}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

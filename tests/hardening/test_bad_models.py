"""Hostile and broken models: each is refused with the right code, nothing leaks, the
server keeps serving. External-data tricks point at a canary file outside every data
dir; the battery counts any trace of it in answers or in the server's files."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import onnx
import pytest
from builders import chunks_for, tiny_model, upload
from onnx import TensorProto, helper, numpy_helper

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
OK = grpc.StatusCode.OK


def _bytes(model: onnx.ModelProto) -> bytes:
    return model.SerializeToString()


def _external(location: str, offset: int = 0, length: int = 256) -> bytes:
    model = tiny_model()
    weight = model.graph.initializer[0]
    weight.ClearField("raw_data")
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    return _bytes(model)


def _custom_domain() -> bytes:
    model = tiny_model()
    node = model.graph.node[0]
    node.domain = "com.evil"
    model.opset_import.append(helper.make_opsetid("com.evil", 1))
    return _bytes(model)


def _imports_custom_domain() -> bytes:
    model = tiny_model()
    model.opset_import.append(helper.make_opsetid("org.custom.ops", 1))
    return _bytes(model)


def _ir14_with_float8() -> bytes:
    model = tiny_model(ir_version=14, opset=21)
    model.graph.initializer.append(
        helper.make_tensor("f8", TensorProto.FLOAT8E4M3FN, [2], [1.0, 2.0])
    )
    return _bytes(model)


def _local_function() -> bytes:
    model = tiny_model()
    function = helper.make_function(
        "local.fn",
        "Twice",
        ["a"],
        ["b"],
        [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    model.functions.append(function)
    return _bytes(model)


def _nested_ifs(depth: int) -> bytes:
    """A chain of If nodes, each in the then-branch of the previous one."""
    out = helper.make_tensor_value_info("v", TensorProto.FLOAT, [1])

    def branch(level: int) -> onnx.GraphProto:
        if level == 0:
            const = helper.make_node("Constant", [], ["v"], value_floats=[1.0])
            return helper.make_graph([const], f"leaf{level}", [], [out])
        inner = helper.make_node(
            "If", ["cond"], ["v"], then_branch=branch(level - 1), else_branch=branch(0)
        )
        return helper.make_graph([inner], f"level{level}", [], [out])

    model = tiny_model()
    model.graph.node.append(
        helper.make_node(
            "If", ["cond"], ["extra"], then_branch=branch(depth), else_branch=branch(0)
        )
    )
    model.graph.initializer.append(numpy_helper.from_array(np.array(True), "cond"))
    return _bytes(model)


def _huge_declared_tensor() -> bytes:
    model = tiny_model()
    huge = TensorProto(name="huge", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])
    model.graph.initializer.append(huge)
    return _bytes(model)


def _raw_data_mismatch() -> bytes:
    model = tiny_model()
    model.graph.initializer[0].raw_data = model.graph.initializer[0].raw_data[:-40]
    return _bytes(model)


def _two_inputs() -> bytes:
    model = tiny_model()
    model.graph.input.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [1]))
    return _bytes(model)


def _int_input() -> bytes:
    model = tiny_model()
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.INT64
    return _bytes(model)


def _rank3_output() -> bytes:
    model = tiny_model()
    model.graph.output[0].type.tensor_type.shape.dim.add().dim_value = 3
    return _bytes(model)


def _dangling_input() -> bytes:
    model = tiny_model()
    model.graph.node[1].input[0] = "nowhere"
    return _bytes(model)


def _opset_too_new() -> bytes:
    return _bytes(tiny_model(ir_version=13, opset=onnx.defs.onnx_opset_version()))


def _deep_type_nesting(depth: int = 3000) -> bytes:
    """A value_info whose type nests sequence-of-sequence `depth` times, merged into
    the graph by appending a second serialized GraphProto (protobuf merges them)."""

    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    type_bytes = field(1, varint(1 << 3) + varint(1))  # TypeProto.tensor_type{elem_type: 1}
    for _ in range(depth):
        type_bytes = field(4, field(1, type_bytes))  # sequence_type{elem_type: ...}
    value_info = field(1, b"deep") + field(2, type_bytes)
    graph = field(13, value_info)  # GraphProto.value_info
    return _bytes(tiny_model()) + field(7, graph)  # ModelProto.graph


def _torchscript_like() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": [1, 2]}))
    return buffer.getvalue()


def _truncated() -> bytes:
    data = _bytes(tiny_model())
    return data[: len(data) // 2]


def _cases(canary: Path) -> list[tuple[str, Callable[[], bytes], grpc.StatusCode]]:
    depth = len(Path(os.getcwd()).parts) + 8
    return [
        ("junk bytes", lambda: b"this is not a model" * 50, INVALID),
        ("pickle", lambda: pickle.dumps({"weights": [1, 2, 3]}), INVALID),
        ("torchscript zip", _torchscript_like, INVALID),
        ("hdf5", lambda: b"\x89HDF\r\n\x1a\n" + b"\0" * 200, INVALID),
        ("gzip", lambda: gzip.compress(_bytes(tiny_model())), INVALID),
        ("empty file", lambda: b"", INVALID),
        ("truncated protobuf", _truncated, INVALID),
        ("external data: absolute path", lambda: _external(str(canary)), INVALID),
        (
            "external data: ../ traversal",
            lambda: _external("../" * depth + str(canary)[1:]),
            INVALID,
        ),
        (
            "external data: a/../../ traversal",
            lambda: _external("a/" + "../" * depth + str(canary)[1:]),
            INVALID,
        ),
        ("external data: bare name", lambda: _external(canary.name), INVALID),
        (
            "external data: ORT memory address",
            lambda: _external("*/_ORT_MEM_ADDR_/*", offset=0x7FFF0000),
            INVALID,
        ),
        ("external data: offset past end", lambda: _external(canary.name, offset=1 << 40), INVALID),
        ("custom operator domain", _custom_domain, PRECONDITION),
        ("custom domain import", _imports_custom_domain, PRECONDITION),
        ("opset newer than onnxruntime", _opset_too_new, PRECONDITION),
        ("IR 14 with float8 tensor", _ir14_with_float8, PRECONDITION),
        ("model-local function", _local_function, PRECONDITION),
        ("subgraphs nested 12 deep", lambda: _nested_ifs(12), INVALID),
        ("protobuf type nesting 3000 deep", _deep_type_nesting, INVALID),
        ("declared 4 TiB tensor", _huge_declared_tensor, INVALID),
        ("raw_data shorter than dims", _raw_data_mismatch, INVALID),
        ("two inputs", _two_inputs, INVALID),
        ("integer input", _int_input, INVALID),
        ("rank-3 output", _rank3_output, INVALID),
        ("dangling node input", _dangling_input, INVALID),
    ]


def test_bad_models_are_refused_with_the_right_code(stub, expect, canary):
    for case, build, code in _cases(canary):
        data = build()
        expect("model upload", case, lambda d=data: upload(stub, "model", chunks_for(d)), code)


def test_ir14_model_is_lowered_and_accepted(stub, expect):
    """Current onnx writes IR 14, which onnxruntime 1.31 refuses: lowered, not refused."""
    data = _bytes(tiny_model(ir_version=14, opset=21))
    artifact = expect(
        "model upload", "IR 14 (lowered)", lambda: upload(stub, "model", chunks_for(data)), OK
    )
    assert artifact.model.ir_version == 14  # the facts describe the upload as sent


def test_valid_subgraphs_within_the_limit_are_accepted(stub, expect):
    data = _nested_ifs(3)
    expect(
        "model upload",
        "subgraphs nested 4 deep",
        lambda: upload(stub, "model", chunks_for(data)),
        OK,
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_plain_models_still_pass(stub, expect, seed):
    data = _bytes(tiny_model(seed=seed))
    artifact = expect(
        "model upload", f"valid model {seed}", lambda: upload(stub, "model", chunks_for(data)), OK
    )
    assert artifact.model.num_classes == 10

"""Footprint: sizes and weights against a graph built here, memory from a real probe."""

from __future__ import annotations

import gzip
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from robustedge.latency.footprint import gzip_size, memory_footprint, model_footprint
from robustedge.latency.runtimes import describe


def _tiny_model(path) -> None:
    """x[1,4] @ W(float32 4x3, half zeros) + b(float16 -> cast) ; Constant int64 shape."""
    weight = np.zeros((4, 3), np.float32)
    weight[:2] = 1.0
    initializers = [
        numpy_helper.from_array(weight, "W"),
        numpy_helper.from_array(np.ones(3, np.float16), "b16"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["m"]),
        helper.make_node("Cast", ["b16"], ["b"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["m", "b"], ["s"]),
        helper.make_node(
            "Constant", [], ["shape"], value=numpy_helper.from_array(np.array([1, 3], np.int64))
        ),
        helper.make_node("Reshape", ["s", "shape"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        initializers,
    )
    # IR 8: onnxruntime may lag the onnx package's newest IR version.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, path)


def test_static_footprint_of_known_graph(tmp_path) -> None:
    path = tmp_path / "tiny.onnx"
    _tiny_model(path)
    footprint = model_footprint(path)
    assert footprint["size_bytes"] == path.stat().st_size
    assert footprint["gzip_bytes"] == len(gzip.compress(path.read_bytes(), 6, mtime=0))
    assert footprint["initializer_bytes_by_dtype"] == {
        "float16": 3 * 2,
        "float32": 12 * 4,
        "int64": 2 * 8,
    }
    assert footprint["initializer_bytes"] == 6 + 48 + 16
    assert footprint["initializer_count"] == 3
    assert footprint["parameters"] == 12 + 3 + 2
    assert footprint["zero_parameters"] == 6


def test_gzip_size_of_zeros_is_small(tmp_path) -> None:
    path = tmp_path / "zeros.bin"
    path.write_bytes(bytes(1 << 20))
    assert gzip_size(path) < 5000


def test_memory_footprint_of_digits(digits) -> None:
    memory = memory_footprint(digits.model, describe("default", sys.executable), batch_size=16)
    assert memory["baseline_rss_bytes"] > 10_000_000  # interpreter + numpy + onnxruntime
    assert memory["session_bytes"] > 0
    assert memory["run_bytes"] >= memory["session_bytes"] * 0.5
    assert memory["peak_rss_bytes"] >= memory["peak_rss_run_bytes"]

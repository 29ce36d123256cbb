"""Tiny models and datasets built in code, their hostile variants, and a raw uploader.

The uploader talks to the stub directly (not the SDK) so that tests see the exact
status code and can send what a well-behaved client never would: wrong digests,
two headers, oversized messages, silence.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from robustedge.client import messages as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

CHUNK = 1 << 20
CLASSES = 10
SHAPE = (1, 8, 8)


def tiny_weights(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.5, (64, CLASSES)).astype(np.float32), np.zeros(CLASSES, np.float32)


def tiny_model(ir_version: int = 8, opset: int = 17, seed: int = 0) -> onnx.ModelProto:
    """x [N,1,8,8] -> Flatten -> Gemm -> logits [N,10]: a linear digits-shaped classifier."""
    weight, bias = tiny_weights(seed)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["x"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "W", "B"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *SHAPE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def tiny_dataset_arrays(samples: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Random images labelled with the tiny model's own predictions (clean accuracy 1)."""
    rng = np.random.default_rng(seed + 100)
    x = rng.uniform(0, 1, (samples, *SHAPE)).astype(np.float32)
    weight, bias = tiny_weights(seed)
    y = (x.reshape(samples, -1) @ weight + bias).argmax(1).astype(np.int64)
    return {"x": x, "y": y}


def npz_bytes(compressed: bool = False, **arrays: object) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def zip_bytes(entries: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def fake_npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """A .npy whose header declares ``shape`` but which carries almost no data."""
    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + b"\0" * 64


# -- raw uploads -------------------------------------------------------------------


def chunks_for(
    data: bytes,
    *,
    size: int | None = None,
    sha256: str | None = None,
    chunk: int = CHUNK,
    filename: str = "upload.bin",
) -> Iterator[pb.UploadChunk]:
    header = pb.UploadHeader(
        filename=filename,
        size_bytes=len(data) if size is None else size,
        sha256=hashlib.sha256(data).hexdigest() if sha256 is None else sha256,
    )
    yield pb.UploadChunk(header=header)
    for start in range(0, len(data), chunk):
        yield pb.UploadChunk(data=data[start : start + chunk])


def call_code(call: Callable[[], object]) -> tuple[grpc.StatusCode, str, object]:
    """Runs a gRPC call; returns (status code, details, response or None)."""
    try:
        response = call()
    except grpc.RpcError as error:
        return error.code(), error.details() or "", None
    return grpc.StatusCode.OK, "", response


def upload(
    stub: pb_grpc.EvaluationServiceStub,
    kind: str,
    chunks: Iterator[pb.UploadChunk],
    timeout: float = 60,
) -> pb.Artifact:
    method = stub.UploadModel if kind == "model" else stub.UploadDataset
    return method(chunks, timeout=timeout)


def temp_bytes(data_dir: Path) -> int:
    """Bytes of partial uploads in the server's temp folder.

    A file may vanish between listing and stat: the server removes partial uploads
    while the tests poll for exactly that.
    """
    total = 0
    for path in (data_dir / "artifacts" / "tmp").iterdir():
        try:
            total += path.stat().st_size if path.is_file() else 0
        except FileNotFoundError:
            continue
    return total

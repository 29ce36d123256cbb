"""Quantized digits models made with onnxruntime's own quantizer (shared by tests)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def calibration_reader(x: np.ndarray, input_name: str = "input"):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{input_name: x[i : i + 32]} for i in range(0, len(x), 32)])

        def get_next(self):
            return next(self.batches, None)

    return Reader()


def quantize_digits(model: Path, train: Path, out_dir: Path) -> dict[str, Path]:
    """QDQ per-tensor, QDQ per-channel, QOperator per-channel and dynamic variants."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's pre-processing advice
    calibration = np.load(train)["x"][:128]
    variants: dict[str, Path] = {}
    for name, fmt, per_channel in [
        ("qdq_tensor", QuantFormat.QDQ, False),
        ("qdq_channel", QuantFormat.QDQ, True),
        ("qoperator_channel", QuantFormat.QOperator, True),
    ]:
        path = out_dir / f"{name}.onnx"
        quantize_static(
            str(model),
            str(path),
            calibration_reader(calibration),
            quant_format=fmt,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        variants[name] = path
    path = out_dir / "dynamic.onnx"
    quantize_dynamic(str(model), str(path))
    variants["dynamic"] = path
    return variants


def output_step(path: Path) -> float:
    """The quantization step of the model's output: the scale of the last
    DequantizeLinear on the way to it (float ops such as a bias Add may follow it).
    0.0 when the output does not come from a DequantizeLinear (float-output kernels)."""
    model = onnx.load(path)
    producer = {out: node for node in model.graph.node for out in node.output}
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    pending = [model.graph.output[0].name]
    while pending:
        node = producer.get(pending.pop(0))
        if node is None:
            continue
        if node.op_type == "DequantizeLinear":
            return float(np.max(inits[node.input[1]]))
        if node.op_type in ("Add", "Relu", "Reshape", "Flatten", "Identity"):
            pending.extend(node.input[:1])
    return 0.0

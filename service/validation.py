"""Checks uploads before anything else touches them, and describes what they hold.

Every upload is untrusted. A model must be an ONNX classifier that onnxruntime can
load: one float input with a batch dimension, a first output of shape [N, classes].
A dataset must be an ``.npz`` without pickles holding ``x`` (floating point) and
``y`` (integer labels). Problems raise :class:`InvalidArgument` with a message
that names the problem and says what to do; no server path is ever included.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from robustedge.service.errors import InvalidArgument
from robustedge.v1 import evaluation_pb2 as pb

# File signatures of formats that are sometimes uploaded by mistake and must never
# be handed to a deserializer (pickle executes code; TorchScript is a zip of pickles).
_FOREIGN_MAGIC = {
    b"\x80": "a Python pickle",
    b"PK\x03\x04": "a zip archive (TorchScript or Keras?)",
    b"\x89HDF": "an HDF5 file (Keras?)",
    b"\x93NUMPY": "a NumPy array",
}

_FLOAT_TYPES = {1: "float", 10: "float16", 11: "double", 16: "bfloat16"}


def _dims(value_info) -> list[int]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else -1 for d in shape.dim]


def _tensor_info(value_info) -> pb.TensorInfo:
    import onnx

    elem = value_info.type.tensor_type.elem_type
    name = onnx.TensorProto.DataType.Name(elem).lower() if elem else "unknown"
    return pb.TensorInfo(name=value_info.name, elem_type=name, shape=_dims(value_info))


def describe_model(path: Path) -> pb.ModelInfo:
    """Validates an ONNX model file and returns its facts; raises InvalidArgument."""
    import onnx

    with open(path, "rb") as file:
        head = file.read(8)
    for magic, what in _FOREIGN_MAGIC.items():
        if head.startswith(magic):
            raise InvalidArgument(f"not an ONNX model: the file is {what}")
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises several types for junk
        raise InvalidArgument(f"not an ONNX model: cannot parse it ({type(exc).__name__})") from exc
    if not model.graph.node or not model.graph.output:
        raise InvalidArgument("not an ONNX model: the graph has no nodes or no outputs")
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise InvalidArgument(
                "models with external data are not accepted; save the model with its weights"
                " embedded (onnx.save(model, path, save_as_external_data=False))"
            )
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # checker raises ValidationError or InferenceError
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgument(f"the ONNX checker refused the model: {first_line}") from exc

    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise InvalidArgument(
            f"expected a classifier with exactly one input, found {len(inputs)}:"
            f" {', '.join(i.name for i in inputs)}"
        )
    if inputs[0].type.tensor_type.elem_type not in _FLOAT_TYPES:
        raise InvalidArgument(f"input {inputs[0].name!r} must be a floating-point tensor")
    output_dims = _dims(model.graph.output[0])
    if len(output_dims) != 2:
        raise InvalidArgument(
            f"expected the first output to have shape [batch, classes], got rank {len(output_dims)}"
        )
    _check_runtime_loads(model)

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    parameters = sum(
        int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type in _FLOAT_TYPES
    )
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    return pb.ModelInfo(
        opset=opset,
        parameters=parameters,
        size_bytes=path.stat().st_size,
        inputs=[_tensor_info(inputs[0])],
        outputs=[_tensor_info(o) for o in model.graph.output],
        ir_version=model.ir_version,
        producer=producer,
        num_classes=max(output_dims[1], 0),
    )


def _check_runtime_loads(model) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises untyped errors
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # onnxruntime messages may carry build paths; keep only the part after the last "] ".
        message = message.rsplit("] ", 1)[-1]
        raise InvalidArgument(f"onnxruntime cannot load the model: {message}") from exc


def describe_dataset(path: Path) -> pb.DatasetInfo:
    """Validates an evaluation-set ``.npz`` and returns its facts; raises InvalidArgument."""
    x, y, input_range = load_dataset(path)
    labels = np.unique(y)
    return pb.DatasetInfo(
        samples=len(y),
        sample_shape=list(x.shape[1:]),
        classes=len(labels),
        label_min=int(labels.min()),
        label_max=int(labels.max()),
        input_min=input_range[0],
        input_max=input_range[1],
    )


def load_dataset(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Loads and checks ``x``, ``y`` and ``input_range``; x comes back as float32."""
    with open(path, "rb") as head:
        if head.read(4) != b"PK\x03\x04":
            # Anything but a zip would make numpy try other formats, pickle among them.
            raise InvalidArgument("not a valid .npz file (expected numpy.savez output)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            missing = {"x", "y"} - names
            if missing:
                raise InvalidArgument(
                    f"dataset must contain arrays 'x' and 'y'; missing {sorted(missing)}"
                )
            x = archive["x"]
            y = archive["y"]
            raw_range = archive["input_range"] if "input_range" in names else None
    except InvalidArgument:
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InvalidArgument("not a valid .npz file (expected numpy.savez output)") from exc
    except ValueError as exc:
        # numpy raises ValueError for object arrays when allow_pickle=False.
        raise InvalidArgument(f"dataset arrays cannot be read safely: {exc}") from exc

    if not np.issubdtype(x.dtype, np.floating):
        raise InvalidArgument(f"'x' must be floating point, got {x.dtype}")
    if x.ndim < 2:
        raise InvalidArgument(f"'x' must have shape [N, ...sample shape], got {list(x.shape)}")
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        raise InvalidArgument(f"'y' must be a 1-D integer array, got {y.dtype} {list(y.shape)}")
    if len(x) == 0:
        raise InvalidArgument("the dataset is empty")
    if len(x) != len(y):
        raise InvalidArgument(f"'x' has {len(x)} samples but 'y' has {len(y)}")
    if not np.isfinite(x).all():
        raise InvalidArgument("'x' contains NaN or infinite values")
    if y.min() < 0:
        raise InvalidArgument("labels in 'y' must not be negative")
    low, high = 0.0, 1.0
    if raw_range is not None:
        values = np.asarray(raw_range, dtype=np.float64).ravel()
        if values.shape != (2,) or not np.isfinite(values).all() or values[0] >= values[1]:
            raise InvalidArgument("'input_range' must be [min, max] with min < max")
        low, high = float(values[0]), float(values[1])
    tolerance = 1e-6 * max(1.0, high - low)
    if x.min() < low - tolerance or x.max() > high + tolerance:
        raise InvalidArgument(
            f"'x' has values in [{x.min():.4g}, {x.max():.4g}], outside input_range"
            f" [{low:g}, {high:g}]; pass input_range in the .npz"
        )
    return x.astype(np.float32, copy=False), y.astype(np.int64, copy=False), (low, high)


def check_compatible(model: pb.ModelInfo, dataset: pb.DatasetInfo) -> None:
    """Refuses a dataset whose sample shape or labels do not fit the model."""
    expected = list(model.inputs[0].shape[1:])
    actual = list(dataset.sample_shape)
    if len(expected) != len(actual) or any(
        e not in (-1, 0, a) for e, a in zip(expected, actual, strict=True)
    ):
        raise InvalidArgument(
            f"dataset samples have shape {actual} but the model input"
            f" {model.inputs[0].name!r} expects {['N', *expected]}"
        )
    if model.num_classes and dataset.label_max >= model.num_classes:
        raise InvalidArgument(
            f"dataset labels go up to {dataset.label_max} but the model has"
            f" {model.num_classes} classes"
        )

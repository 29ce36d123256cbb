"""Checks uploads before anything else touches them, and describes what they hold.

Every upload is untrusted. A model must be an ONNX classifier that onnxruntime can
load: one float input with a batch dimension, a first output of shape [N, classes].
A dataset must be an ``.npz`` without pickles holding ``x`` (floating point) and
``y`` (integer labels). Problems raise :class:`InvalidArgument` (the file is wrong)
or :class:`FailedPrecondition` (the file may be fine, but this server cannot run it:
custom operators, an opset newer than its onnxruntime) with a message that names
the problem and says what to do; no server path is ever included.

The parsing happens in a sandboxed child process (:mod:`robustedge.service.sandbox`):
the server calls :func:`validate_upload`, which runs this module as
``python -m robustedge.service.validation`` with a memory cap and a wall-clock
limit, so a parser crash, a memory blow-up or a hang ends that upload with a
sanitized reason while the server goes on.

Models whose IR version is newer than the installed onnxruntime accepts (current
``onnx`` writes IR 14; onnxruntime 1.31 reads up to 13) are lowered to the newest IR
version onnxruntime reads, when nothing in the model needs the newer one (only
classic element types, opsets that the lower IR version allows, no model-local
functions). The lowered copy is written next to the upload and recorded in
:class:`ModelCheck`; the uploaded bytes are never changed.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import logging
import math
import re
import struct
import sys
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robustedge.service import sandbox
from robustedge.service.errors import (
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
    ServiceError,
)
from robustedge.service.limits import ValidationLimits
from robustedge.v1 import evaluation_pb2 as pb

log = logging.getLogger(__name__)

# File signatures of formats that are sometimes uploaded by mistake and must never
# be handed to a deserializer (pickle executes code; TorchScript is a zip of pickles).
_FOREIGN_MAGIC = {
    b"\x80": "a Python pickle",
    b"PK\x03\x04": "a zip archive (TorchScript or Keras?)",
    b"\x89HDF": "an HDF5 file (Keras?)",
    b"\x93NUMPY": "a NumPy array",
    b"\x1f\x8b": "a gzip file",
}

_FLOAT_TYPES = {1: "float", 10: "float16", 11: "double", 16: "bfloat16"}
# Element types that exist since IR version 4 (FLOAT .. BFLOAT16). Newer ones (float8,
# int4, float4, int2, ...) pin a model to a newer IR version, so a model using them is
# never lowered.
_CLASSIC_TYPES = frozenset(range(1, 17))
# Bytes per element of the classic types; strings counted nominally.
_ELEMENT_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 8: 8, 9: 1, 10: 2, 11: 8, 12: 4,
                  13: 8, 14: 8, 15: 16, 16: 2}  # fmt: skip
# Operator domains onnxruntime implements and the bridge understands. Anything else
# is a custom operator library the server does not have.
ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})
# A dataset array larger than its zip entry claims, or a ratio beyond what deflate can
# produce (about 1032:1), means the archive lies about its sizes.
_MAX_DEFLATE_RATIO = 1100

_ABSOLUTE_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?(?:[/\\][\w.@+~-]+){2,}[/\\]?")
MAX_MESSAGE_CHARS = 400


def scrub_paths(text: str) -> str:
    """The text with every absolute file system path replaced by ``<path>``."""
    return _ABSOLUTE_PATH.sub("<path>", text)


def sanitize(message: str) -> str:
    """One line, no absolute paths, bounded length: safe to put in a status detail."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return scrub_paths(first)[:MAX_MESSAGE_CHARS]


# -- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCheck:
    """A validated model: its facts, and whether a runnable copy had to be written."""

    info: pb.ModelInfo
    # Written to the ``runnable_path`` given to the validator when the upload itself
    # cannot be run as is (its IR version was lowered); None when the upload runs.
    lowered_from_ir: int | None = None
    lowered_to_ir: int | None = None

    @property
    def note(self) -> str:
        """What was changed, for logs and report flags; empty when nothing was."""
        if self.lowered_from_ir is None:
            return ""
        return (
            f"IR version {self.lowered_from_ir} lowered to {self.lowered_to_ir}, the newest"
            " the installed onnxruntime reads; the graph and weights are unchanged"
        )


# -- model -------------------------------------------------------------------------


def _dims(value_info: Any) -> list[int]:
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else -1 for d in shape.dim]


def _type_name(elem_type: int) -> str:
    """ONNX element type name; numbers this onnx does not know are shown as such."""
    import onnx

    try:
        return str(onnx.TensorProto.DataType.Name(elem_type))
    except ValueError:
        return f"type {elem_type}"


def _tensor_info(value_info: Any) -> pb.TensorInfo:
    elem = value_info.type.tensor_type.elem_type
    name = _type_name(elem).lower() if elem else "unknown"
    return pb.TensorInfo(name=value_info.name[:200], elem_type=name, shape=_dims(value_info))


def _refuse_foreign_formats(head: bytes) -> None:
    for magic, what in _FOREIGN_MAGIC.items():
        if head.startswith(magic):
            raise InvalidArgument(f"not an ONNX model: the file is {what}")


def _graphs(graph: Any, depth: int = 0) -> Iterator[tuple[Any, int]]:
    """Yields every graph with its nesting depth: the main graph, then all subgraphs."""
    yield graph, depth
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g, depth + 1)
            for sub in attribute.graphs:
                yield from _graphs(sub, depth + 1)


def _tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto stored in one graph (not its subgraphs)."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield attribute.sparse_tensor.values
                yield attribute.sparse_tensor.indices
            for sparse in attribute.sparse_tensors:
                yield sparse.values
                yield sparse.indices


def _element_types(graph: Any) -> Iterator[int]:
    """Element types a graph declares or creates (tensors, value infos, Cast targets)."""
    for tensor in _tensors(graph):
        yield tensor.data_type
    for info in (*graph.input, *graph.output, *graph.value_info):
        if info.type.HasField("tensor_type"):
            yield info.type.tensor_type.elem_type
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name in ("to", "dtype", "output_dtype") and attribute.type == 2:
                yield attribute.i


def _check_structure(model: Any, limits: ValidationLimits) -> None:
    """Bounds the model's shape before heavier checks run: depth, size, data locations."""
    import onnx

    if model.functions:
        raise FailedPrecondition(
            "model-local functions are not supported; inline them before uploading"
            " (onnx.inliner.inline_local_functions(model))"
        )
    nodes = 0
    custom: dict[str, str] = {}
    for graph, depth in _graphs(model.graph):
        if depth > limits.max_subgraph_depth:
            raise InvalidArgument(
                f"subgraphs are nested more than {limits.max_subgraph_depth} levels deep"
            )
        nodes += len(graph.node)
        if nodes > limits.max_nodes:
            raise InvalidArgument(f"the model has more than {limits.max_nodes} nodes")
        for node in graph.node:
            if node.domain not in ALLOWED_DOMAINS:
                custom.setdefault(node.domain, node.op_type)
        for tensor in _tensors(graph):
            if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
                # Refused outright: an upload is one file, so external data could only
                # point at files of the server (the CVE-2022-25882 family, ORT's
                # memory-address locations). Nothing legitimate is lost.
                raise InvalidArgument(
                    "models with external data are not accepted; save the model with its"
                    " weights embedded (onnx.save(model, path, save_as_external_data=False))"
                )
            _check_tensor_size(tensor, limits)
        for info in (*graph.input, *graph.output):
            _check_declared_shape(info, limits)
    if custom:
        listed = ", ".join(f"{domain!r} ({op})" for domain, op in sorted(custom.items()))
        raise FailedPrecondition(
            f"custom operator domains are not supported: {listed}; this server runs the"
            f" standard ONNX, ai.onnx.ml and com.microsoft operators only"
        )
    for opset in model.opset_import:
        if opset.domain not in ALLOWED_DOMAINS:
            raise FailedPrecondition(
                f"the model imports the operator domain {opset.domain!r}, which this server"
                " does not have; export it without custom operators"
            )


def _check_tensor_size(tensor: Any, limits: ValidationLimits) -> None:
    if any(d < 0 for d in tensor.dims):
        raise InvalidArgument(f"tensor {tensor.name!r} declares a negative dimension")
    elements = math.prod(tensor.dims)
    size = elements * _ELEMENT_BYTES.get(tensor.data_type, 1)
    if size > limits.max_tensor_bytes:
        raise InvalidArgument(
            f"tensor {tensor.name!r} declares {size} bytes, more than the limit"
            f" {limits.max_tensor_bytes}"
        )
    fixed_width = tensor.data_type in _ELEMENT_BYTES and tensor.data_type != 8  # not strings
    if fixed_width and tensor.HasField("raw_data") and len(tensor.raw_data) != size:
        raise InvalidArgument(
            f"tensor {tensor.name!r} declares shape {list(tensor.dims)} but holds"
            f" {len(tensor.raw_data)} bytes of data"
        )


def _check_declared_shape(info: Any, limits: ValidationLimits) -> None:
    dims = [d for d in _dims(info) if d > 0]
    if math.prod(dims) * 8 > limits.max_tensor_bytes:
        raise InvalidArgument(f"graph tensor {info.name!r} declares an unreasonably large shape")


@functools.cache
def runtime_limits() -> tuple[int, int]:
    """(newest IR version, newest default-domain opset) the installed onnxruntime loads.

    onnxruntime does not expose these, so they are found by loading a one-node model
    at descending versions (a few milliseconds, once per process).
    """
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    def loads(ir: int, opset: int) -> bool:
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])], "probe",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = ir
        options = ort.SessionOptions()
        options.log_severity_level = 4
        try:
            ort.InferenceSession(
                model.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        except Exception:  # onnxruntime raises untyped errors; a refusal is the answer
            return False
        return True

    max_ir = next((ir for ir in range(onnx.IR_VERSION + 2, 6, -1) if loads(ir, 13)), 7)
    newest = onnx.defs.onnx_opset_version()
    max_opset = next((v for v in range(newest + 3, 12, -1) if loads(max_ir, v)), 13)
    return max_ir, max_opset


def _check_versions(model: Any) -> tuple[int, int] | None:
    """Checks IR version and opset against onnxruntime; returns (from, to) when lowered."""
    import onnxruntime as ort
    from onnx import helper

    max_ir, max_opset = runtime_limits()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset > max_opset:
        raise FailedPrecondition(
            f"the model uses opset {opset} but onnxruntime {ort.__version__} on this server"
            f" supports up to {max_opset}; re-export it with opset_version={max_opset}"
            f" (or convert it: onnx.version_converter.convert_version(model, {max_opset}))"
        )
    if model.ir_version <= max_ir:
        return None
    needed = helper.find_min_ir_version_for(list(model.opset_import), ignore_unknown=True)
    exotic = {
        _type_name(t)
        for graph, _ in _graphs(model.graph)
        for t in _element_types(graph)
        if t and t not in _CLASSIC_TYPES
    }
    if exotic or needed > max_ir:
        why = f"element types {sorted(exotic)}" if exotic else f"opsets that need IR {needed}"
        raise FailedPrecondition(
            f"the model has IR version {model.ir_version} and uses {why}, but onnxruntime"
            f" {ort.__version__} on this server reads IR versions up to {max_ir}; re-export"
            f" it with an older onnx or set model.ir_version = {max_ir} if it allows"
        )
    original = model.ir_version
    model.ir_version = max_ir
    log.info("lowering IR version %d to %d for onnxruntime", original, max_ir)
    return original, max_ir


def _check_runtime_loads(serialized: bytes) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        ort.InferenceSession(serialized, options, providers=["CPUExecutionProvider"])
    except MemoryError:
        raise
    except Exception as exc:  # onnxruntime raises untyped errors
        message = str(exc).strip() or type(exc).__name__
        # onnxruntime messages carry build paths and C++ signatures; keep the part
        # after the last "] " or ") " of its first line.
        message = re.split(r"\] |\) ", message.splitlines()[0])[-1]
        raise InvalidArgument(f"onnxruntime cannot load the model: {sanitize(message)}") from exc


def describe_model(
    path: Path, limits: ValidationLimits | None = None, runnable_path: Path | None = None
) -> ModelCheck:
    """Validates an ONNX model file and returns its facts; raises a ServiceError.

    Runs in the sandboxed validator (see :func:`validate_upload`). When the model's
    IR version has to be lowered for onnxruntime, the lowered copy is written to
    ``runnable_path`` (required in that case).
    """
    import onnx

    limits = limits or ValidationLimits()
    with open(path, "rb") as file:
        head = file.read(8)
    _refuse_foreign_formats(head)
    data = path.read_bytes()
    try:
        model = onnx.load_model_from_string(data)
    except MemoryError:
        raise
    except Exception as exc:  # protobuf raises several types for junk
        raise InvalidArgument(f"not an ONNX model: cannot parse it ({type(exc).__name__})") from exc
    del data
    if not model.graph.node or not model.graph.output:
        raise InvalidArgument("not an ONNX model: the graph has no nodes or no outputs")
    _check_structure(model, limits)
    lowered = _check_versions(model)
    try:
        onnx.checker.check_model(model, full_check=True)
    except MemoryError:
        raise
    except Exception as exc:  # checker raises ValidationError or InferenceError
        raise InvalidArgument(
            f"the ONNX checker refused the model: {sanitize(str(exc)) or type(exc).__name__}"
        ) from exc

    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise InvalidArgument(
            f"expected a classifier with exactly one input, found {len(inputs)}:"
            f" {', '.join(i.name for i in inputs)[:200]}"
        )
    if inputs[0].type.tensor_type.elem_type not in _FLOAT_TYPES:
        raise InvalidArgument(f"input {inputs[0].name!r} must be a floating-point tensor")
    output_dims = _dims(model.graph.output[0])
    if len(output_dims) != 2:
        raise InvalidArgument(
            f"expected the first output to have shape [batch, classes], got rank {len(output_dims)}"
        )
    serialized = model.SerializeToString()
    _check_runtime_loads(serialized)
    if lowered is not None:
        if runnable_path is None:
            raise FailedPrecondition("the model's IR version must be lowered, but nowhere to")
        runnable_path.write_bytes(serialized)

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    parameters = sum(
        int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type in _FLOAT_TYPES
    )
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    info = pb.ModelInfo(
        opset=opset,
        parameters=parameters,
        size_bytes=path.stat().st_size,
        inputs=[_tensor_info(inputs[0])],
        outputs=[_tensor_info(o) for o in model.graph.output],
        ir_version=lowered[0] if lowered else model.ir_version,
        producer=producer[:200],
        num_classes=max(output_dims[1], 0),
    )
    if lowered is None:
        return ModelCheck(info)
    return ModelCheck(info, lowered_from_ir=lowered[0], lowered_to_ir=lowered[1])


# -- dataset -----------------------------------------------------------------------


def describe_dataset(path: Path, limits: ValidationLimits | None = None) -> pb.DatasetInfo:
    """Validates an evaluation-set ``.npz`` and returns its facts; raises InvalidArgument."""
    x, y, input_range = load_dataset(path, limits)
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


def _check_archive(path: Path, limits: ValidationLimits) -> None:
    """Checks the zip directory and each array header before any array is inflated.

    Python's zipfile never inflates past an entry's declared size, so bounding the
    declared sizes (and checking that each array header fits in its entry) bounds the
    memory ``np.load`` can be made to use: a zip bomb is refused unopened.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > limits.max_dataset_entries:
                raise InvalidArgument(
                    f"the dataset archive has {len(entries)} entries; at most"
                    f" {limits.max_dataset_entries} arrays are accepted"
                )
            total = sum(e.file_size for e in entries)
            if total > limits.max_dataset_bytes:
                raise InvalidArgument(
                    f"the dataset arrays declare {total} bytes uncompressed, more than the"
                    f" limit {limits.max_dataset_bytes} (a zip bomb?)"
                )
            by_offset = sorted(entries, key=lambda e: e.header_offset)
            for entry, following in itertools.pairwise(by_offset):
                if entry.header_offset + entry.compress_size > following.header_offset:
                    raise InvalidArgument(
                        "the dataset archive has overlapping entries (a zip bomb?)"
                    )
            for entry in entries:
                if not entry.filename.endswith(".npy") or "/" in entry.filename:
                    raise InvalidArgument(
                        f"unexpected entry {entry.filename[:80]!r} in the dataset archive;"
                        " expected numpy.savez output"
                    )
                if entry.file_size > _MAX_DEFLATE_RATIO * max(entry.compress_size, 1):
                    raise InvalidArgument(
                        f"array {entry.filename[:80]!r} claims a compression ratio no real"
                        " archive has (a zip bomb?)"
                    )
                with archive.open(entry) as stream:
                    try:
                        _check_array_header(stream, entry)
                    except InvalidArgument:
                        raise
                    except Exception as exc:  # numpy's header parser raises many types
                        raise InvalidArgument(
                            f"array {entry.filename[:80]!r} has a malformed .npy header"
                        ) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError,
            zlib.error) as exc:  # fmt: skip
        raise InvalidArgument("not a valid .npz file (expected numpy.savez output)") from exc
    except (ValueError, struct.error, OSError) as exc:
        raise InvalidArgument(
            f"dataset arrays cannot be read safely: {sanitize(str(exc))}"
        ) from exc


def _check_array_header(stream: Any, entry: zipfile.ZipInfo) -> None:
    name = entry.filename[:80]
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    if dtype.hasobject:
        raise InvalidArgument(f"array {name!r} holds Python objects; only numeric arrays are read")
    if math.prod(shape) * dtype.itemsize > entry.file_size:
        raise InvalidArgument(
            f"array {name!r} declares shape {list(shape)} of {dtype}, more data than its entry"
            " holds"
        )


def load_dataset(
    path: Path, limits: ValidationLimits | None = None
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Loads and checks ``x``, ``y`` and ``input_range``; x comes back as float32."""
    limits = limits or ValidationLimits()
    with open(path, "rb") as head:
        if head.read(4) != b"PK\x03\x04":
            # Anything but a zip would make numpy try other formats, pickle among them.
            raise InvalidArgument("not a valid .npz file (expected numpy.savez output)")
    _check_archive(path, limits)
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
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise InvalidArgument("not a valid .npz file (expected numpy.savez output)") from exc
    except ValueError as exc:
        # numpy raises ValueError for object arrays when allow_pickle=False.
        raise InvalidArgument(
            f"dataset arrays cannot be read safely: {sanitize(str(exc))}"
        ) from exc

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
    if x.size == 0:
        raise InvalidArgument(f"'x' samples are empty (shape {list(x.shape)})")
    if not np.isfinite(x).all():
        raise InvalidArgument("'x' contains NaN or infinite values")
    if y.min() < 0:
        raise InvalidArgument("labels in 'y' must not be negative")
    low, high = 0.0, 1.0
    if raw_range is not None:
        if raw_range.dtype.kind not in "fiu":
            raise InvalidArgument("'input_range' must be [min, max] with min < max")
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


# -- the sandboxed validator -----------------------------------------------------------

_CODES: dict[str, type[ServiceError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "FAILED_PRECONDITION": FailedPrecondition,
}


class ValidatorSlots:
    """Bounds how many sandboxed validations run at once; callers past it wait a while."""

    def __init__(self, slots: int, wait_seconds: float) -> None:
        self._semaphore = threading.BoundedSemaphore(slots)
        self._wait_seconds = wait_seconds

    def __enter__(self) -> ValidatorSlots:
        if not self._semaphore.acquire(timeout=self._wait_seconds):
            raise ResourceExhausted("too many uploads are being validated; retry in a minute")
        return self

    def __exit__(self, *exc: object) -> None:
        self._semaphore.release()


def validate_upload(
    kind: str, path: Path, limits: ValidationLimits, runnable_path: Path | None = None
) -> ModelCheck | pb.DatasetInfo:
    """Validates an upload in the sandbox; returns ModelCheck (models) or DatasetInfo.

    Raises InvalidArgument/FailedPrecondition for a bad upload, including one that
    crashed, exhausted or stalled the validator (with a sanitized reason).
    """
    what = "model" if kind == "model" else "dataset"
    # Formats that must never reach a parser are refused here, unopened by any library.
    with open(path, "rb") as file:
        head = file.read(8)
    if kind == "model":
        _refuse_foreign_formats(head)
    elif not head.startswith(b"PK\x03\x04"):
        raise InvalidArgument("not a valid .npz file (expected numpy.savez output)")
    request = {
        "kind": kind,
        "path": str(path),
        "runnable_path": str(runnable_path) if runnable_path else "",
        "limits": asdict(limits),
    }
    result = sandbox.run(
        __name__,
        [],
        memory_bytes=limits.memory_bytes,
        wall_seconds=limits.wall_seconds,
        stdin=json.dumps(request).encode(),
    )
    if result.timed_out:
        raise InvalidArgument(
            f"validating the {what} took longer than the server's limit of"
            f" {limits.wall_seconds:g} s"
        )
    if result.ran_out_of_memory:
        raise InvalidArgument(
            f"validating the {what} needed more memory than the server's limit of"
            f" {limits.memory_bytes >> 20} MiB"
        )
    if result.returncode != 0:
        how = result.signal_name or f"exit status {result.returncode}"
        raise InvalidArgument(f"the {what} crashed the validator ({how}); it cannot be used")
    try:
        answer = json.loads(result.stdout.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        log.error("validator returned no answer; stdout %r", result.stdout[-500:])
        raise InvalidArgument(f"the {what} could not be validated") from exc
    if not answer.get("ok"):
        error_type = _CODES.get(answer.get("code", ""), InvalidArgument)
        raise error_type(sanitize(str(answer.get("message", ""))) or f"invalid {what}")
    payload = base64.b64decode(answer["info"])
    if kind == "model":
        lowered = answer.get("lowered")
        return ModelCheck(
            pb.ModelInfo.FromString(payload),
            lowered_from_ir=lowered[0] if lowered else None,
            lowered_to_ir=lowered[1] if lowered else None,
        )
    return pb.DatasetInfo.FromString(payload)


def _child_main() -> int:
    """The validator process: one JSON request on stdin, one JSON answer on stdout."""
    sandbox.die_with_parent()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    request = json.loads(sys.stdin.read())
    limits = ValidationLimits(**request["limits"])
    path = Path(request["path"])
    answer: dict[str, Any]
    try:
        if request["kind"] == "model":
            runnable = Path(request["runnable_path"]) if request["runnable_path"] else None
            check = describe_model(path, limits, runnable)
            answer = {
                "ok": True,
                "info": base64.b64encode(check.info.SerializeToString()).decode(),
                "lowered": [check.lowered_from_ir, check.lowered_to_ir]
                if check.lowered_from_ir is not None
                else None,
            }
        else:
            info = describe_dataset(path, limits)
            answer = {"ok": True, "info": base64.b64encode(info.SerializeToString()).decode()}
    except MemoryError:
        return sandbox.EXIT_OUT_OF_MEMORY
    except ServiceError as exc:
        answer = {"ok": False, "code": exc.code.name, "message": str(exc)}
    except Exception as exc:  # a validation bug: refuse the upload, keep the story in the log
        log.exception("validation of a %s failed unexpectedly", request["kind"])
        answer = {
            "ok": False,
            "code": "INVALID_ARGUMENT",
            "message": f"the {request['kind']} could not be validated ({type(exc).__name__})",
        }
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())

"""Model footprint: size on disk, compressed size, weights by dtype, memory when served.

Static figures come from the file and its ONNX graph (no session needed):
``size_bytes`` on disk (external data files included), ``gzip_bytes`` (what a
pruned model costs to ship: zeros compress, dense weights do not),
initializer bytes per element type, parameter count.

Memory figures come from a probe subprocess of a runtime (see ``probe.py``), using
the kernel's per-process resident high-water mark, reset between phases:
``session_bytes`` is the peak growth over the process's baseline (interpreter,
numpy, onnxruntime imported) while the session is created, ``run_bytes`` the peak
growth while it runs inference (arenas, activations).
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from robustedge.latency.probe_client import run_probe
from robustedge.latency.providers import to_ort_name
from robustedge.latency.runtimes import Runtime

_CHUNK = 1 << 20


class _CountingSink:
    """A write-only file object that only counts bytes (gzip size without a copy)."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def gzip_size(path: Path, level: int = 6) -> int:
    """Size in bytes of ``path`` gzip-compressed at ``level``, streamed in chunks."""
    sink = _CountingSink()
    with (
        open(path, "rb") as source,
        gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=level, mtime=0) as compressed,
    ):
        shutil.copyfileobj(source, compressed, _CHUNK)
    return sink.count


def _graph_tensors(graph: Any) -> Iterator[Any]:
    """Every weight tensor of a graph: initializers and Constant nodes, subgraphs too."""
    import onnx

    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR and node.op_type == "Constant":
                yield attribute.t
            elif attribute.type == onnx.AttributeProto.GRAPH:
                yield from _graph_tensors(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield from _graph_tensors(subgraph)


def model_footprint(model_path: Path) -> dict[str, Any]:
    """Static footprint of an ONNX model file.

    Keys: size_bytes (file plus external data files), gzip_bytes (the .onnx file),
    initializer_bytes, initializer_bytes_by_dtype (element type name -> bytes, e.g.
    {"float32": ..., "int8": ...}), initializer_count, parameters (elements),
    zero_parameters (elements equal to zero: what pruning produced).
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    path = Path(model_path)
    model = onnx.load(str(path), load_external_data=True)
    external = {
        entry.value
        for tensor in _graph_tensors(model.graph)
        for entry in tensor.external_data
        if entry.key == "location"
    }
    size = path.stat().st_size + sum((path.parent / name).stat().st_size for name in external)

    by_dtype: dict[str, int] = {}
    count = parameters = zeros = 0
    for tensor in _graph_tensors(model.graph):
        array = numpy_helper.to_array(tensor)
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).name
        by_dtype[dtype] = by_dtype.get(dtype, 0) + int(array.nbytes)
        count += 1
        parameters += int(array.size)
        zeros += int(np.count_nonzero(array == 0))
    return {
        "size_bytes": size,
        "gzip_bytes": gzip_size(path),
        "initializer_bytes": sum(by_dtype.values()),
        "initializer_bytes_by_dtype": dict(sorted(by_dtype.items())),
        "initializer_count": count,
        "parameters": parameters,
        "zero_parameters": zeros,
    }


def memory_footprint(
    model_path: Path,
    runtime: Runtime,
    *,
    provider: str = "cpu",
    batch_size: int = 1,
    input_shape: Sequence[int] | None = None,
    runs: int = 10,
    threads: int = 1,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Resident memory of serving the model, measured in a fresh probe subprocess.

    Keys: baseline_rss_bytes (process before the session), session_bytes and
    run_bytes (peak growth over the baseline during creation, during ``runs``
    inference runs), peak_rss_session_bytes, peak_rss_run_bytes, peak_rss_bytes
    (absolute high-water marks), runtime, provider. RuntimeError when the probe fails.
    """
    request = {
        "mode": "measure",
        "model": str(Path(model_path).resolve()),
        "provider": to_ort_name(provider),
        "threads": threads,
        "batch_size": batch_size,
        "sample_shape": list(input_shape) if input_shape is not None else None,
        "seed": 0,
        "warmup": 0,
        "min_iterations": max(1, runs),
        "max_seconds": 0.0,
    }
    reply = run_probe(runtime.python, request, timeout=timeout)
    if not reply.get("ok"):
        raise RuntimeError(f"memory footprint failed: {reply.get('error')}")
    baseline = reply.get("rss_before_session_bytes")
    session_peak = reply.get("peak_rss_session_bytes")
    run_peak = reply.get("peak_rss_run_bytes")

    def growth(peak: int | None) -> int | None:
        return peak - baseline if peak is not None and baseline is not None else None

    return {
        "runtime": runtime.name,
        "provider": provider,
        "baseline_rss_bytes": baseline,
        "session_bytes": growth(session_peak),
        "run_bytes": growth(run_peak),
        "peak_rss_session_bytes": session_peak,
        "peak_rss_run_bytes": run_peak,
        "peak_rss_bytes": reply.get("peak_rss_bytes"),
    }

"""Standalone measurement script: one onnxruntime latency measurement in its own process.

Run by path with the interpreter of a runtime (``python -I probe.py``), never imported
by the service. It must work in environments without robustedge (the OpenVINO
virtualenv), so it imports only onnxruntime, numpy and the standard library, plus
``stats.py`` from its own folder, loaded by file path.

Protocol: one JSON request on stdin, one JSON object on stdout (the last line).
Diagnostics go to stderr. Two modes:

``{"mode": "providers"}``
    -> ``{"onnxruntime_version": ..., "providers": [ORT provider names]}``

``{"mode": "measure", "model": path, "provider": ORT name, ...}`` (see ``_measure``)
    -> ``{"ok": true, "samples_ns": [...], "warmup_runs": int, "session_seconds": ...,
    memory high-water marks, ...}`` or ``{"ok": false, "error": message}``.

Why a separate process per measurement: a fresh process has no thread pools, arenas
or caches left over from earlier sessions (or from attacks run by the service), its
peak RSS belongs to this one measurement alone, CPU affinity of an edge profile
applies to it only, and a provider that crashes takes down only the probe.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Measurement modes and request keys are plain strings: this file is the protocol.
_STATS_PATH = Path(__file__).resolve().with_name("stats.py")

_NUMPY_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(bool)": "bool",
}


def _load_stats() -> Any:
    """Imports latency/stats.py by path under a private name (no robustedge needed)."""
    spec = importlib.util.spec_from_file_location("_robustedge_latency_stats", _STATS_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {_STATS_PATH}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _status_bytes(field: str) -> int | None:
    """A memory field of /proc/self/status (VmRSS, VmHWM) in bytes; None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Resets the kernel's resident high-water mark (Linux >= 4.0); False if unsupported.

    Lets the probe attribute peaks to phases: imports, session creation, runs.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _ru_maxrss_bytes() -> int:
    """Process peak RSS from getrusage (kilobytes on Linux); the fallback without /proc.

    Not preferred: on Linux, exec records the forked parent image's high-water mark in
    ru_maxrss, so a probe started by a large service would report the service's peak.
    VmHWM belongs to the probe's own address space.
    """
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _make_inputs(session: Any, batch_size: int, sample_shape: list[int] | None, seed: int) -> Any:
    """Seeded random inputs for every model input, dynamic dimensions resolved.

    The first dimension is the batch; other dynamic dimensions of the first input come
    from ``sample_shape`` (the shape of one sample without batch, as a dataset's
    ``x.shape[1:]``; a full-rank shape is accepted, its batch entry ignored), and
    default to 1.
    Floats are uniform in [0, 1) (RobustEdge's default input range); integers in [0, 10).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for index, node in enumerate(session.get_inputs()):
        dims = list(node.shape)
        if index == 0 and sample_shape is not None and len(sample_shape) == len(dims):
            # A full shape (batch included) was given: its batch entry is ignored.
            sample_shape = list(sample_shape[1:])
        shape = []
        for axis, dim in enumerate(dims):
            if axis == 0:
                if isinstance(dim, int) and dim > 0 and dim != batch_size:
                    # Timing batch 1 and reporting it as batch 8 would inflate throughput.
                    raise ValueError(
                        f"input {node.name!r} has a fixed batch dimension of {dim}; "
                        f"cannot measure batch size {batch_size}"
                    )
                shape.append(batch_size)
            elif isinstance(dim, int) and dim > 0:
                shape.append(dim)
            elif index == 0 and sample_shape is not None and axis - 1 < len(sample_shape):
                shape.append(int(sample_shape[axis - 1]))
            else:
                shape.append(1)
        dtype = _NUMPY_DTYPES.get(node.type)
        if dtype is None:
            raise ValueError(f"input {node.name!r} has unsupported type {node.type}")
        if dtype == "bool":
            value = rng.random(shape) < 0.5
        elif dtype.startswith(("int", "uint")):
            value = rng.integers(0, 10, size=shape).astype(dtype)
        else:
            value = rng.random(shape, dtype=np.float64).astype(dtype)
        feeds[node.name] = value
    return feeds


def timed_runs(
    run: Callable[[], Any],
    stats: Any,
    *,
    warmup: int,
    min_iterations: int,
    max_seconds: float,
    target: float = 0.02,
    confidence: float = 0.95,
    max_iterations: int = 1_000_000,
    warmup_seconds: float = 0.0,
) -> tuple[list[int], int, bool, float]:
    """Warm-up, then timed calls: (durations in ns, warm-up runs, converged, loop seconds).

    Untimed calls first (arena allocation, kernel selection, OpenVINO compilation,
    CPU caches and clock frequency): ``warmup`` of them, and more while less than
    ``warmup_seconds`` have passed — ten runs of a 10 µs model are 0.1 ms, too short
    to reach steady state. Then timed calls until the ``confidence`` CI half-width of the
    median is at most ``target`` of the median, or ``max_seconds`` have passed, or
    ``max_iterations`` calls were timed — and never fewer than ``min_iterations``.
    ``stats`` is the ``stats`` module (loaded by path in the probe).

    The loop body does nothing but time ``run``: two clock reads and an append. The
    stopping rule is evaluated between runs at geometrically spaced counts.
    """
    clock = time.perf_counter_ns
    warmup_runs = 0
    warmup_end = clock() + int(warmup_seconds * 1e9)
    while warmup_runs < warmup or (warmup_seconds > 0 and clock() < warmup_end):
        run()
        warmup_runs += 1
    min_iterations = max(1, min_iterations)
    samples: list[int] = []
    append = samples.append
    check_at = min_iterations
    converged = False
    # Samples already converted to an array: each check converts only the new ones
    # (converting 100k Python ints at every check would dominate its cost).
    import numpy as np

    converted = np.empty(0, dtype=np.float64)

    def precise_enough() -> bool:
        nonlocal converted
        fresh = np.array(samples[len(converted) :], dtype=np.float64)
        converted = np.concatenate([converted, fresh])
        return bool(stats.is_converged(converted, target, confidence))

    loop_start = clock()
    deadline = loop_start + int(max_seconds * 1e9)
    while True:
        t0 = clock()
        run()
        t1 = clock()
        append(t1 - t0)
        n = len(samples)
        if n < check_at:
            continue
        if n >= max_iterations or t1 >= deadline:
            converged = precise_enough()
            break
        if precise_enough():
            converged = True
            break
        check_at = stats.next_check(n)
    return samples, warmup_runs, converged, (clock() - loop_start) / 1e9


def _session_options(ort: Any, request: dict[str, Any]) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(request.get("threads", 1))
    options.inter_op_num_threads = int(request.get("inter_op_threads", 1))
    mode = request.get("execution_mode", "sequential")
    options.execution_mode = (
        ort.ExecutionMode.ORT_PARALLEL if mode == "parallel" else ort.ExecutionMode.ORT_SEQUENTIAL
    )
    level = request.get("graph_optimization_level", "all")
    options.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[level]
    # Onnxruntime's own logging would interleave with our JSON on some builds.
    options.log_severity_level = 3
    # Which provider runs which node (recent onnxruntime; older builds ignore the key):
    # an "openvino" figure means little if most nodes fell back to CPU.
    options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    return options


def _node_assignment(session: Any) -> dict[str, int] | None:
    """Nodes per execution provider after partitioning; None if this build cannot say."""
    if not hasattr(session, "get_provider_graph_assignment_info"):
        return None
    try:
        subgraphs = session.get_provider_graph_assignment_info()
    except Exception:  # not recorded by this build: unknown, not an error
        return None
    counts: dict[str, int] = {}
    for subgraph in subgraphs:
        counts[subgraph.ep_name] = counts.get(subgraph.ep_name, 0) + len(subgraph.get_nodes())
    return counts


def _measure(request: dict[str, Any]) -> dict[str, Any]:
    """Creates the session, warms up, times runs until the median is precise enough.

    Request keys: model, provider (ORT name), provider_options, threads,
    inter_op_threads, execution_mode, graph_optimization_level, batch_size,
    sample_shape, seed, warmup, warmup_seconds, min_iterations, max_seconds,
    target_rel_half_width, confidence, max_iterations, cpus (CPU ids to pin this
    process to, or null).
    """
    cpus = request.get("cpus")
    if cpus:
        # Before onnxruntime creates its thread pools, so that they inherit the mask.
        os.sched_setaffinity(0, set(int(c) for c in cpus))
    stats = _load_stats()
    import numpy as np
    import onnxruntime as ort

    import_peak = _status_bytes("VmHWM") or _ru_maxrss_bytes()
    baseline_rss = _status_bytes("VmRSS")
    can_reset = _reset_peak_rss()

    provider = request["provider"]
    if provider not in ort.get_available_providers():
        return {
            "ok": False,
            "error": f"{provider} is not available in this onnxruntime "
            f"({ort.__version__}: {', '.join(ort.get_available_providers())})",
        }
    providers: list[Any] = [provider]
    provider_options = request.get("provider_options") or {}
    if provider_options:
        providers = [(provider, {str(k): str(v) for k, v in provider_options.items()})]
    if provider != "CPUExecutionProvider":
        # Nodes the EP does not take run on CPU, as in a real deployment.
        providers.append("CPUExecutionProvider")

    options = _session_options(ort, request)
    start = time.perf_counter()
    session = ort.InferenceSession(request["model"], sess_options=options, providers=providers)
    session_seconds = time.perf_counter() - start
    session_providers = session.get_providers()
    if provider not in session_providers:
        # onnxruntime may fall back to CPU silently when an EP fails to register.
        return {
            "ok": False,
            "error": f"session did not register {provider} (got {', '.join(session_providers)})",
        }
    nodes_by_provider = _node_assignment(session)
    session_peak = _status_bytes("VmHWM") if can_reset else None
    session_rss = _status_bytes("VmRSS")

    batch_size = int(request.get("batch_size", 1))
    feeds = _make_inputs(session, batch_size, request.get("sample_shape"), int(request["seed"]))
    output_names = [o.name for o in session.get_outputs()]
    if can_reset:
        _reset_peak_rss()

    # functools.partial adds no Python frame between the clock reads and session.run.
    samples, warmup_runs, converged, loop_seconds = timed_runs(
        functools.partial(session.run, output_names, feeds),
        stats,
        warmup=int(request.get("warmup", 10)),
        min_iterations=int(request.get("min_iterations", 50)),
        max_seconds=float(request.get("max_seconds", 2.0)),
        target=float(request.get("target_rel_half_width", 0.02)),
        confidence=float(request.get("confidence", 0.95)),
        max_iterations=int(request.get("max_iterations", 1_000_000)),
        warmup_seconds=float(request.get("warmup_seconds", 0.0)),
    )

    run_peak = _status_bytes("VmHWM") if can_reset else None
    # The resets split the high-water mark by phase; the process peak is their maximum.
    peaks = [p for p in (import_peak, session_peak, run_peak) if p]
    if not can_reset:
        peaks.append(_status_bytes("VmHWM") or _ru_maxrss_bytes())
    return {
        "ok": True,
        "onnxruntime_version": ort.__version__,
        "numpy_version": np.__version__,
        "session_providers": session_providers,
        "nodes_by_provider": nodes_by_provider,
        "session_seconds": session_seconds,
        "warmup_runs": warmup_runs,
        "samples_ns": samples,
        "converged": converged,
        "timed_phase_seconds": loop_seconds,
        "input_shapes": {name: list(value.shape) for name, value in feeds.items()},
        "cpus": sorted(os.sched_getaffinity(0)),
        "rss_before_session_bytes": baseline_rss,
        "rss_after_session_bytes": session_rss,
        "peak_rss_session_bytes": session_peak,
        "peak_rss_run_bytes": run_peak,
        "peak_rss_bytes": max(peaks) if peaks else None,
    }


def main() -> int:
    """Reads the request from stdin, writes one JSON line to stdout."""
    try:
        request = json.loads(sys.stdin.read())
        mode = request.get("mode", "measure")
        if mode == "providers":
            import onnxruntime as ort

            reply: dict[str, Any] = {
                "ok": True,
                "onnxruntime_version": ort.__version__,
                "providers": list(ort.get_available_providers()),
            }
        elif mode == "measure":
            reply = _measure(request)
        else:
            reply = {"ok": False, "error": f"unknown mode {mode!r}"}
    except Exception as error:  # the parent gets every failure as data, never a hang
        traceback.print_exc(file=sys.stderr)
        reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    # The probe's only channel to the parent is this JSON line on stdout.
    sys.stdout.write("\n" + json.dumps(reply) + "\n")
    sys.stdout.flush()
    return 0 if reply.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

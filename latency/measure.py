"""Measures onnxruntime latency of a model, one isolated subprocess per configuration.

The method (what the standard tools do, made adaptive):

1. A fresh process of the chosen runtime's interpreter runs ``probe.py``; an edge
   profile pins it to its cores before onnxruntime starts any thread.
2. The session is created with the configured options (intra/inter-op threads,
   graph optimisation level, sequential/parallel execution); its creation time is
   reported (``session_seconds``).
3. Untimed warm-up runs (arena allocation, kernel selection, OpenVINO compilation,
   caches, clock frequency): ``warmup`` runs and at least ``warmup_seconds``.
4. Timed runs of ``session.run`` on seeded random inputs of the model's shape, until
   the 95% order-statistics CI of the median is narrower than ±2% of the median, or
   the time budget ``max_seconds`` is spent — and never fewer than
   ``min_iterations``. Every timed sample is kept (raw artifact).
5. p50/p90/p99/mean/std/min, throughput at the median, and the process's peak RSS.

Measurements run one after another, never concurrently: parallel probes would time
each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from robustedge.latency.config import LatencyConfig
from robustedge.latency.probe_client import ProbeError, run_probe
from robustedge.latency.profiles import get_profile, pinned_cpus
from robustedge.latency.providers import to_ort_name
from robustedge.latency.results import LatencyResult, Measurement, skipped
from robustedge.latency.runtimes import Runtime
from robustedge.latency.stats import summarize

log = logging.getLogger(__name__)

#: Beyond the time budget, how long a probe may take (imports, session creation,
#: warm-up, min_iterations of a slow model) before it is killed.
PROBE_TIMEOUT_S = 300.0


#: Lock file that serialises measurements across processes on this machine (jobs
#: run by separate worker processes would otherwise time each other).
LOCK_PATH_ENV = "ROBUSTEDGE_LATENCY_LOCK"
_thread_lock = threading.Lock()


@contextlib.contextmanager
def measurement_lock() -> Iterator[None]:
    """Held while a probe runs: one measurement at a time per machine.

    A thread lock for threads of this process, and an ``flock`` on a lock file
    (``$ROBUSTEDGE_LATENCY_LOCK``, default ``<tmp>/robustedge-latency.lock``) for
    other processes. Other work (attacks, compression) is not stopped by it; the
    executor should not schedule heavy work beside latency units.
    """
    path = os.environ.get(LOCK_PATH_ENV) or os.path.join(
        tempfile.gettempdir(), "robustedge-latency.lock"
    )
    with _thread_lock, open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def select_runtime(config: LatencyConfig, runtimes: Sequence[Runtime]) -> Runtime | str:
    """The runtime to measure ``config`` in, or the reason why there is none."""
    provider = config.provider
    if config.runtime:
        named = [r for r in runtimes if r.name == config.runtime]
        if not named:
            return f"runtime {config.runtime!r} is not configured"
        runtime = named[0]
        if not runtime.available:
            return f"runtime {runtime.name} {runtime.unavailable_reason}"
        if provider not in runtime.providers:
            return (
                f"provider {provider} is not available in runtime {runtime.name} "
                f"(offers: {', '.join(runtime.providers)})"
            )
        return runtime
    for runtime in runtimes:
        if runtime.available and provider in runtime.providers:
            return runtime
    # Nothing offers it: name the runtime that would (same name as the provider) if
    # it is configured but not set up, else list what each runtime offers.
    for runtime in runtimes:
        if runtime.name == provider and not runtime.available:
            return f"{provider} runtime {runtime.unavailable_reason}"
    offers = "; ".join(
        f"{r.name}: {', '.join(r.providers) if r.available else r.unavailable_reason}"
        for r in runtimes
    )
    return f"no configured runtime offers provider {provider} ({offers or 'no runtimes'})"


def _request(
    model_path: Path,
    config: LatencyConfig,
    threads: int,
    cpus: list[int] | None,
    input_shape: Sequence[int] | None,
    seed: int,
) -> dict[str, Any]:
    provider_options = dict(config.provider_options)
    if config.provider == "openvino":
        # The OpenVINO EP runs its own thread pool and ignores intra_op_num_threads.
        provider_options.setdefault("num_of_threads", str(threads))
    return {
        "mode": "measure",
        "model": str(Path(model_path).resolve()),
        "provider": to_ort_name(config.provider),
        "provider_options": provider_options,
        "threads": threads,
        "inter_op_threads": config.inter_op_threads,
        "execution_mode": config.execution_mode,
        "graph_optimization_level": config.graph_optimization_level,
        "batch_size": config.batch_size,
        "sample_shape": list(input_shape) if input_shape is not None else None,
        "seed": seed,
        "warmup": config.warmup,
        "warmup_seconds": config.warmup_seconds,
        "min_iterations": config.min_iterations,
        "max_seconds": config.max_seconds,
        "target_rel_half_width": config.target_rel_half_width,
        "confidence": 0.95,
        "cpus": cpus,
    }


def measure_one(
    model_path: Path,
    config: LatencyConfig,
    *,
    runtimes: Sequence[Runtime],
    input_shape: Sequence[int] | None = None,
    seed: int = 0,
) -> Measurement:
    """One configuration: a measurement, or a result that says why it was skipped."""
    threads = config.threads
    cpus: list[int] | None = None
    try:
        to_ort_name(config.provider)
        if config.profile:
            profile = get_profile(config.profile)
            threads = profile.threads
            cpus = pinned_cpus(profile)
    except ValueError as error:
        return Measurement(config, skipped(replace(config, threads=threads), str(error)))
    effective = replace(config, threads=threads)
    runtime = select_runtime(config, runtimes)
    if isinstance(runtime, str):
        log.info("latency %s skipped: %s", config.provider, runtime)
        return Measurement(config, skipped(effective, runtime))

    request = _request(model_path, config, threads, cpus, input_shape, seed)
    try:
        with measurement_lock():
            reply = run_probe(runtime.python, request, timeout=PROBE_TIMEOUT_S + config.max_seconds)
    except ProbeError as error:
        reply = {"ok": False, "error": str(error)}
    if not reply.get("ok"):
        reason = f"measurement failed: {reply.get('error', 'unknown error')}"
        log.warning("latency %s in %s: %s", config.provider, runtime.name, reason)
        return Measurement(config, skipped(effective, reason, runtime.name))

    samples = [int(s) for s in reply.pop("samples_ns")]
    summary = summarize(samples, config.batch_size)
    result = LatencyResult(
        provider=config.provider,
        threads=threads,
        batch_size=config.batch_size,
        iterations=summary["iterations"],
        warmup=int(reply["warmup_runs"]),
        p50_ms=summary["p50_ms"],
        p90_ms=summary["p90_ms"],
        p99_ms=summary["p99_ms"],
        mean_ms=summary["mean_ms"],
        std_ms=summary["std_ms"],
        min_ms=summary["min_ms"],
        throughput=summary["throughput"],
        session_seconds=float(reply["session_seconds"]),
        runtime=runtime.name,
        profile=config.profile,
        peak_rss_bytes=reply.get("peak_rss_bytes"),
    )
    details = {**reply, **summary, "runtime_python": runtime.python}
    return Measurement(config, result, samples, details)


def _raw_name(model_path: Path, index: int, result: LatencyResult) -> str:
    parts = [
        Path(model_path).stem,
        f"{index:02d}",
        result.runtime or "none",
        result.provider,
        result.profile or "noprofile",
        f"t{result.threads}",
        f"b{result.batch_size}",
    ]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts)) + ".json"


def measure(
    model_path: Path,
    configs: Sequence[LatencyConfig],
    *,
    runtimes: Sequence[Runtime],
    input_shape: Sequence[int] | None = None,
    seed: int = 0,
    raw_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """Measures every configuration in turn; one dict (LatencyResult fields) per config.

    ``input_shape`` is the shape of one sample without the batch dimension (a
    dataset's ``x.shape[1:]``; a full shape is accepted, its batch entry ignored); it
    resolves the model's dynamic dimensions, the batch comes from each config. A
    configuration that cannot be measured (runtime not set up, provider not offered,
    profile needing more cores, probe failure) yields a row with ``skipped_reason``.
    With ``raw_dir``, each measurement's samples and details are written there as
    JSON (``<model stem>-<index>-<runtime>-<provider>-<profile>-t<threads>-b<batch>``).
    """
    rows: list[dict[str, Any]] = []
    if raw_dir is not None:
        Path(raw_dir).mkdir(parents=True, exist_ok=True)
    for index, config in enumerate(configs):
        measurement = measure_one(
            model_path, config, runtimes=runtimes, input_shape=input_shape, seed=seed
        )
        if raw_dir is not None:
            path = Path(raw_dir) / _raw_name(model_path, index, measurement.result)
            path.write_text(json.dumps(measurement.raw()))
        rows.append(measurement.result.to_dict())
    return rows

"""Latency harness accuracy and overhead (issue 6), measured as ratios within one run.

Targets:

* the harness's p50 agrees within 5% with a bare ``session.run`` loop over the same
  inputs, measured in the same run;
* the harness's own overhead per timed iteration is under 50 µs.

Method: rounds alternate a harness measurement (``robustedge.latency.measure``: probe
subprocess, per-run timing, stopping rule) with a reference measurement (a fresh
subprocess of the same interpreter running a bare loop: same session options, same
seeded inputs, warm-up, then blocks of ``session.run`` calls timed as a whole, so no
per-run clock reads). Alternating cancels slow drift of a shared machine. Per round
the ratio harness p50 / reference median-of-block-means is taken; the benchmark
reports the median ratio over rounds. Overhead per iteration = wall time of the timed
phase / iterations - mean timed duration (what the loop spends outside the timed
region: the append, the stopping-rule checks), plus the cost of one clock read
(inside the timed region).

    .venv/bin/python benchmarks/bench_latency.py [--model M.onnx] [--rounds 7]
        [--provider cpu --provider openvino] [--out benchmarks/results/latency.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))

from robustedge.latency import LatencyConfig, discover_runtimes, measure_one  # noqa: E402
from robustedge.latency.providers import to_ort_name  # noqa: E402

# The reference: nothing but session.run in a loop, timed per block of runs.
BARE_LOOP = r"""
import json, sys, time
import numpy as np
import onnxruntime as ort
req = json.loads(sys.argv[1])
options = ort.SessionOptions()
options.intra_op_num_threads = req["threads"]
options.inter_op_num_threads = 1
options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
providers = [(req["provider"], req["provider_options"])]
if req["provider"] != "CPUExecutionProvider":
    providers.append("CPUExecutionProvider")
session = ort.InferenceSession(req["model"], options, providers=providers)
node = session.get_inputs()[0]
shape = [req["batch_size"]] + [d for d in node.shape[1:]]
rng = np.random.default_rng(req["seed"])
feeds = {node.name: rng.random(shape, dtype=np.float64).astype(np.float32)}
outputs = [o.name for o in session.get_outputs()]
for _ in range(req["warmup"]):
    session.run(outputs, feeds)
block_means = []
end = time.perf_counter() + req["seconds"]
while time.perf_counter() < end or len(block_means) < 5:
    start = time.perf_counter_ns()
    for _ in range(req["block"]):
        session.run(outputs, feeds)
    block_means.append((time.perf_counter_ns() - start) / req["block"])
block_means.sort()
median = block_means[len(block_means) // 2]
print(json.dumps({"median_block_mean_ns": median, "blocks": len(block_means)}))
"""


def _clock_read_ns(reads: int = 200_000) -> float:
    """Cost of one perf_counter_ns call in this interpreter (inside the timed region)."""
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(reads):
        clock()
    return (clock() - start) / reads


def _bare_p50_ns(python: str, model: Path, provider: str, seconds: float, block: int) -> float:
    request = {
        "model": str(model),
        "provider": to_ort_name(provider),
        "threads": 1,
        "batch_size": 1,
        "seed": 0,
        "warmup": 10,
        "seconds": seconds,
        "block": block,
        # The same threading as the harness: OpenVINO's own pool is set by this option.
        "provider_options": {"num_of_threads": "1"} if provider == "openvino" else {},
    }
    completed = subprocess.run(
        [python, "-I", "-c", BARE_LOOP, json.dumps(request)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return float(json.loads(completed.stdout.splitlines()[-1])["median_block_mean_ns"])


def run(model: Path, providers: list[str], rounds: int) -> dict:
    runtimes = discover_runtimes()
    report: dict = {"model": str(model), "rounds": rounds, "providers": {}}
    clock_ns = _clock_read_ns()
    report["clock_read_ns"] = clock_ns
    for provider in providers:
        config = LatencyConfig(provider=provider)
        ratios, overheads, p50s, bares, iterations, walls = [], [], [], [], [], []
        skipped = ""
        for _ in range(rounds):
            started = time.perf_counter()
            measurement = measure_one(model, config, runtimes=runtimes)
            walls.append(time.perf_counter() - started)
            result = measurement.result
            if result.skipped_reason:
                skipped = result.skipped_reason
                break
            details = measurement.details
            python = str(details["runtime_python"])
            # Reference over about as long as the harness's timed phase (at least 0.2 s).
            seconds = max(0.2, float(details["timed_phase_seconds"]))
            block = max(1, int(1e-3 / (result.p50_ms / 1e3)))  # ~1 ms blocks
            bare_ns = _bare_p50_ns(python, model, provider, seconds, block)
            p50_ns = result.p50_ms * 1e6
            ratios.append(p50_ns / bare_ns)
            per_iteration_ns = details["timed_phase_seconds"] * 1e9 / result.iterations
            overheads.append(per_iteration_ns - result.mean_ms * 1e6 + clock_ns)
            p50s.append(p50_ns)
            bares.append(bare_ns)
            iterations.append(result.iterations)
        if skipped:
            report["providers"][provider] = {"skipped_reason": skipped}
            continue
        ratio = statistics.median(ratios)
        overhead_us = statistics.median(overheads) / 1e3
        report["providers"][provider] = {
            "harness_p50_us": [p / 1e3 for p in p50s],
            "bare_loop_us": [b / 1e3 for b in bares],
            "ratios": ratios,
            "median_ratio": ratio,
            "iterations": iterations,
            "overhead_per_iteration_us": overhead_us,
            "measurement_wall_seconds": statistics.median(walls),
            "p50_within_5_percent": abs(ratio - 1.0) <= 0.05,
            "overhead_under_50_us": overhead_us < 50.0,
        }
    return report


def _table(report: dict) -> str:
    lines = [
        "| provider | harness p50 (µs) | bare loop (µs) | ratio | overhead/iter (µs) | targets |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for provider, row in report["providers"].items():
        if "skipped_reason" in row:
            lines.append(f"| {provider} | skipped: {row['skipped_reason']} | | | | |")
            continue
        ok = row["p50_within_5_percent"] and row["overhead_under_50_us"]
        lines.append(
            f"| {provider} | {statistics.median(row['harness_p50_us']):.2f} "
            f"| {statistics.median(row['bare_loop_us']):.2f} | {row['median_ratio']:.3f} "
            f"| {row['overhead_per_iteration_us']:.3f} | {'met' if ok else 'MISSED'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX model (default: build the digits CNN)")
    parser.add_argument("--provider", action="append", help="short provider name(s)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    args = parser.parse_args()
    providers = args.provider or ["cpu", "openvino"]
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model
        if model is None:
            import digits

            model = digits.build(Path(scratch)).model
        report = run(model, providers, args.rounds)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
    print(_table(report))
    print(json.dumps({p: r.get("median_ratio") for p, r in report["providers"].items()}))


if __name__ == "__main__":
    main()

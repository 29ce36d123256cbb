"""Why a figure missed its target, and what would close the gap (issue 10 asks for a
line per miss). Each analysis reads the numbers the figure measured in *this* run
(``row.raw``), so the sentence stays true when the measurement changes; a miss with
no analysis here is shown as "NOT YET ANALYSED" in the table.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

from results_table import MISSED, Row


def _lower_bound(row: Row) -> str:
    m = row.raw
    ort = statistics.median(m["ort_forward_seconds"])
    fwd = statistics.median(m["bridge_torch_forward_seconds"])
    step = statistics.median(m["bridge_torch_step_seconds"])
    attack = statistics.median(m["seconds"]["robustedge-bridge"])
    return (
        f"RobustEdge's {m['steps']} steps took {attack / (m['steps'] * step):.2f}x "
        f"{m['steps']} single forward + input-gradient steps timed alone, so the attack "
        f"loop itself adds little; the gap is the step. The bound prices a step at 2 "
        f"onnxruntime forwards; torch's eager forward of the "
        f"same graph takes {fwd / ort:.1f}x onnxruntime's (no graph-level fusion of "
        f"Conv+Add+ReLU, per-op dispatch) and a forward + input-gradient step "
        f"{step / ort:.1f}x it (the convolutions' backward-data kernels are slower than "
        f"the forward ones), so even a perfect attack loop in eager torch sits at "
        f"~{step / (2 * ort):.1f}x. Closing it needs a faster differentiable executor, "
        f"not a different attack loop: e.g. torch.compile of the bridge module "
        f"(inductor fuses the elementwise tails) or channels-last oneDNN kernels."
    )


def _upload(row: Row) -> str:
    m = row.raw
    copy = sum(m["copy_seconds"]) / len(m["copy_seconds"])
    hashing, validation = m["sdk_hash_pass_seconds"], m["validation_seconds"] or 0.0
    transfer = m["upload_seconds"] - hashing - validation
    return (
        f"the copy reads and writes each byte once ({copy:.2f} s). The upload "
        f"({m['upload_seconds']:.2f} s) also reads the whole file in the SDK before "
        f"sending (the header carries its sha256: {hashing:.2f} s timed alone) and, after "
        f"storing it, the server validates it in a fresh sandboxed process that parses "
        f"the whole file ({validation:.2f} s timed alone); the remaining ~{transfer:.2f} s "
        f"is the gRPC stream, the server's hashing, write and fsync. Closing it: hash "
        f"while streaming and send the digest in a final message (a proto change), "
        f"and validate while the bytes arrive or after answering the upload (a model "
        f"would then be usable only once its validation finished)."
    )


def _service(row: Row) -> str:
    job = row.raw["warm" if row.id == "5a" else "first"]
    warm_submit = row.raw["warm"]["submit_seconds"]
    fixed = {
        f"the submit call (the warm server's took {warm_submit:.2f} s)": job["submit_seconds"],
        "the worker's start-up before its first unit": job["worker_startup_seconds"],
        "the end of the job after its last unit (the worker's exit, the report's "
        "assembly in the server)": job["after_last_unit_seconds"],
    }
    parts = "; ".join(f"{name}: {seconds:.2f} s" for name, seconds in fixed.items())
    return (
        f"the service adds roughly fixed seconds per job to {job['units_seconds']:.1f} s "
        f"of units — {parts}. They weigh more the shorter the job (the same preset's "
        f"units took from under 10 s to over 60 s on this shared machine). Closing it: "
        f"find the one-off work of the first SubmitEvaluation after start-up (profile "
        f"it; do it at start-up instead), and assemble the report incrementally as units "
        f"finish so that a job ends with its last unit."
    )


def _latency(row: Row) -> str:
    ratios = row.raw["ratios"]
    inside = sum(abs(r - 1) <= 0.05 for r in ratios)
    spread = max(ratios) - min(ratios)
    rounds = ", ".join(f"{r:.3f}" for r in ratios)
    if inside and spread > 0.1:
        return (
            f"the rounds disagree (ratios {rounds}; {inside} of {len(ratios)} within 5%): "
            f"a round in which other jobs took the core inflates one side only. That is "
            f"the shared machine's noise, not a bias of the harness; more rounds or a quiet "
            f"machine close it (`benchmarks/bench_latency.py --rounds 15`)."
        )
    return (
        f"every round shows the same offset (ratios {rounds}): the harness times something "
        f"the bare loop does not (or the reverse) — compare the probe's loop in "
        f"robustedge.latency with BARE_LOOP in bench_latency.py."
    )


ANALYSES: dict[str, Callable[[Row], str]] = {
    "3": _lower_bound,
    "4a": _latency,
    "4b": _latency,
    "5a": _service,
    "5b": _service,
    "6a": _upload,
}


def explain(row: Row) -> str:
    """The analysis of a missed target, or "" when the row did not miss."""
    if row.status != MISSED or row.id not in ANALYSES:
        return ""
    try:
        return ANALYSES[row.id](row)
    except (KeyError, ZeroDivisionError, statistics.StatisticsError) as exc:
        return f"analysis unavailable ({type(exc).__name__}: {exc})"

"""Figure 7: responsiveness of the service for tiny jobs.

A real server runs with ``--max-concurrent-jobs 2``. A tiny job: base model only,
FGSM at one epsilon on 16 digits samples, no latency measurement — nearly all of
its time is the service's own (queueing, worker start-up, loading, recording).

* Time to first progress: a job is submitted to an idle server and watched at once;
  reported are the time from ``submit`` to the first event the stream delivers (the
  job's current state) and to the first event from the worker (a unit started).
  Median over ``--probes`` jobs run one after another.
* Jobs per minute: ``--burst`` tiny jobs are submitted back to back; jobs per minute =
  burst / (last finish - first submit), seen by the client.

    .venv-bench/bin/python benchmarks/job_latency.py --out results/jobs.raw.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from results_table import Row, save_rows
from service_session import build_digits, scratch, server, unit_seconds

TINY_SPEC = {
    "samples": 16,
    "seed": 0,
    "attacks": [{"attack": "fgsm", "epsilons": [0.1], "norm": "linf"}],
    "latency": {"disabled": True},
}


def first_events(client, model, dataset) -> dict:
    from robustedge.v1 import evaluation_pb2 as pb

    started = time.perf_counter()
    job = client.submit(model, dataset, spec=TINY_SPEC)
    submitted = time.perf_counter() - started
    first = running = None
    for event in client.watch(job):
        now = time.perf_counter() - started
        first = now if first is None else first
        # The first event is the state at subscription; the worker's carry a stage.
        if running is None and event.state == pb.JOB_STATE_RUNNING and event.stage:
            running = now
    done = time.perf_counter() - started
    if running is None:
        raise RuntimeError(f"job {job.id} finished without a progress event from its worker")
    return {"job": job.id, "submit": submitted, "first": first, "running": running, "done": done}


def measure(probes: int, burst: int) -> dict:
    from robustedge.client import Client, state_name

    with scratch("robustedge-bench-jobs-") as work:
        example = build_digits(work)
        data_dir = work / "data"
        extra = ["--max-concurrent-jobs", "2"]
        with server(data_dir, extra) as process, Client(process.address, timeout=120) as client:
            model = client.upload_model(example.model)
            dataset = client.upload_dataset(example.dataset)
            # The first job after start-up pays lazy imports in the server; reported apart.
            cold = first_events(client, model, dataset)
            probe = [first_events(client, model, dataset) for _ in range(probes)]

            started = time.perf_counter()
            jobs = [client.submit(model, dataset, spec=TINY_SPEC) for _ in range(burst)]
            with ThreadPoolExecutor(burst) as pool:
                finals = list(pool.map(client.wait, jobs))
            burst_seconds = time.perf_counter() - started
            bad = [
                f"{f.id} {state_name(f.state)}"
                for f in finals
                if state_name(f.state) != "succeeded"
            ]
            if bad:
                raise RuntimeError(f"tiny jobs did not succeed: {bad}")
            compute = [sum(s for _, s, _ in unit_seconds(data_dir, f.id)) for f in finals]
    return {
        "cold": cold,
        "probes": probe,
        "burst": burst,
        "burst_seconds": burst_seconds,
        "jobs_per_minute": burst * 60 / burst_seconds,
        "units_seconds_per_job": compute,
    }


def rows(m: dict) -> list[Row]:
    first = statistics.median(p["first"] for p in m["probes"])
    running = statistics.median(p["running"] for p in m["probes"])
    done = statistics.median(p["done"] for p in m["probes"])
    compute = statistics.median(m["units_seconds_per_job"])
    return [
        Row(
            "7a",
            "submit -> first progress event delivered (tiny job, idle server)",
            first * 1e3,
            unit="ms",
            detail=f"median of {len(m['probes'])} jobs after a first one (that one: "
            f"{m['cold']['first'] * 1e3:.0f} ms); the first event is the job's state at "
            "subscription",
            raw=m,
        ),
        Row(
            "7b",
            "submit -> first progress event from the worker (a unit started)",
            running,
            unit="s",
            detail=f"first job after start-up {m['cold']['running']:.2f} s; a tiny job is "
            f"done {done:.2f} s after submit, its units' own compute {compute:.2f} s",
        ),
        Row(
            "7c",
            f"tiny jobs per minute, 2 workers ({m['burst']} submitted at once)",
            m["jobs_per_minute"],
            unit="jobs/min",
            detail=f"{m['burst']} jobs in {m['burst_seconds']:.1f} s; units' compute per job "
            f"{compute:.2f} s (median): the rest is worker start-up and loading",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=3)
    parser.add_argument("--burst", type=int, default=6)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    table = rows(measure(args.probes, args.burst))
    save_rows(table, args.out)
    for row in table:
        print(f"{row.id:3s} {row.value:.1f} {row.unit}  {row.detail}")


if __name__ == "__main__":
    main()

"""Figure 5: what the service adds to an end-to-end ``quick`` evaluation.

The digits CNN and its evaluation set are uploaded to a real server process; the
``quick`` preset is submitted through the SDK and the client waits for the job to
finish — twice: the first job on the freshly started server (what ``make demo``
does: it pays the server's lazy imports), then the same evaluation again as a new
job on the now-warm server (what a long-running service does for a CI pipeline).
Wall time runs from just before ``submit`` until ``wait`` returns (uploads and the
report download are reported apart). The units' own compute time is the sum of the
``seconds`` column the worker recorded in the job store for that job (each unit
times itself: building a variant, one attack on one variant, one latency
measurement...). Their ratio is the service's overhead factor; the detail splits
the difference into the submit call, queueing, the worker's start-up before its
first unit (from the store's timestamps) and the rest.

    .venv-bench/bin/python benchmarks/service_overhead.py --out results/service.raw.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from results_table import Row, at_most, save_rows
from service_session import build_digits, job_times, scratch, server, units


def one_job(client, data_dir: Path, model, dataset, preset: str) -> dict:
    from robustedge.client import state_name

    started = time.perf_counter()
    job = client.submit(model, dataset, preset=preset)
    submit_seconds = time.perf_counter() - started
    final = client.wait(job)
    wall = time.perf_counter() - started
    started = time.perf_counter()
    client.report(final)
    report_seconds = time.perf_counter() - started
    if state_name(final.state) != "succeeded":
        raise RuntimeError(f"the {preset} job {state_name(final.state)}: {final.error}")
    recorded = units(data_dir, final.id)
    times = job_times(data_dir, final.id)
    _, first_seconds, _, first_finished = recorded[0]
    last_finished = recorded[-1][3]
    return {
        "job": final.id,
        "wall_seconds": wall,
        "units_seconds": sum(unit[1] for unit in recorded),
        "units": [(key, seconds, ok) for key, seconds, ok, _ in recorded],
        "failed_units": [key for key, _, ok, _ in recorded if not ok],
        "submit_seconds": submit_seconds,
        "queue_seconds": (times["started_at"] or 0) - (times["created_at"] or 0),
        # Server clock: from "job started" to the moment its first unit began.
        "worker_startup_seconds": first_finished - first_seconds - (times["started_at"] or 0),
        # Server clock: from the last unit's result to the job's recorded end (the
        # worker's exit, the report's assembly).
        "after_last_unit_seconds": (times["finished_at"] or 0) - last_finished,
        "job_seconds_server_clock": (times["finished_at"] or 0) - (times["started_at"] or 0),
        "report_seconds": report_seconds,
    }


def measure(preset: str) -> dict:
    from robustedge.client import Client

    phases: dict[str, float] = {}  # where the figure's own wall time goes (time budget)
    with scratch("robustedge-bench-e2e-") as work:
        mark = time.perf_counter()
        example = build_digits(work)
        phases["build_digits"] = time.perf_counter() - mark
        data_dir = work / "data"
        mark = time.perf_counter()
        with server(data_dir) as process, Client(process.address, timeout=120) as client:
            phases["server_start"] = time.perf_counter() - mark
            mark = time.perf_counter()
            model = client.upload_model(example.model)
            dataset = client.upload_dataset(example.dataset)
            phases["uploads"] = time.perf_counter() - mark
            first = one_job(client, data_dir, model, dataset, preset)
            warm = one_job(client, data_dir, model, dataset, preset)
            mark = time.perf_counter()
        phases["server_stop"] = time.perf_counter() - mark
    return {"preset": preset, "first": first, "warm": warm, "phases_seconds": phases}


def _row(rid: str, which: str, preset: str, job: dict, raw: dict) -> Row:
    slowest = sorted(job["units"], key=lambda unit: -unit[1])[:3]
    failed = job["failed_units"]
    rest = (
        job["wall_seconds"]
        - job["submit_seconds"]
        - job["queue_seconds"]
        - job["worker_startup_seconds"]
        - job["after_last_unit_seconds"]
        - job["units_seconds"]
    )
    return Row(
        rid,
        f"end-to-end `{preset}` preset (digits), {which}: wall time / sum of units' compute",
        job["wall_seconds"] / job["units_seconds"],
        target=at_most(1.15),
        detail=f"wall {job['wall_seconds']:.1f} s (submit to done) = {len(job['units'])} units "
        f"{job['units_seconds']:.1f} s + submit call {job['submit_seconds']:.2f} s + queued "
        f"{job['queue_seconds']:.2f} s + worker start-up before its first unit "
        f"{job['worker_startup_seconds']:.2f} s + job end after its last unit "
        f"{job['after_last_unit_seconds']:.2f} s + rest {rest:.2f} s; slowest units "
        + ", ".join(f"{key} {seconds:.1f} s" for key, seconds, _ in slowest)
        + (f"; units that failed: {', '.join(failed)}" if failed else ""),
        raw=raw,
    )


def rows(m: dict) -> list[Row]:
    return [
        _row("5a", "warm server (second job)", m["preset"], m["warm"], m),
        _row("5b", "first job after server start", m["preset"], m["first"], m),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    table = rows(measure(args.preset))
    save_rows(table, args.out)
    for row in table:
        print(f"{row.id:3s} {row.value:.3f}  {row.detail}")


if __name__ == "__main__":
    main()

"""Figure 5: what the service adds to an end-to-end ``quick`` evaluation.

The digits CNN and its evaluation set are uploaded to a real server process; the
``quick`` preset is submitted through the SDK and the client waits for the job to
finish. Wall time runs from just before ``submit`` until ``wait`` returns (uploads
and the report download are reported apart). The units' own compute time is the
sum of the ``seconds`` column the worker recorded in the job store for that job (each
unit times itself: building a variant, one attack on one variant, one latency
measurement...). Their ratio is the service's overhead factor: queueing, worker
start-up (interpreter and library imports), loading the model and samples, progress
messages and store writes.

    .venv-bench/bin/python benchmarks/service_overhead.py --out results/service.raw.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from results_table import Row, at_most, save_rows
from service_session import build_digits, job_times, scratch, server, unit_seconds


def measure(preset: str) -> dict:
    from robustedge.client import Client, state_name

    with scratch("robustedge-bench-e2e-") as work:
        example = build_digits(work)
        data_dir = work / "data"
        with server(data_dir) as process, Client(process.address, timeout=120) as client:
            started = time.perf_counter()
            model = client.upload_model(example.model)
            dataset = client.upload_dataset(example.dataset)
            upload_seconds = time.perf_counter() - started
            started = time.perf_counter()
            job = client.submit(model, dataset, preset=preset)
            final = client.wait(job)
            wall = time.perf_counter() - started
            started = time.perf_counter()
            client.report(final)
            report_seconds = time.perf_counter() - started
            if state_name(final.state) != "succeeded":
                raise RuntimeError(f"the {preset} job {state_name(final.state)}: {final.error}")
            units = unit_seconds(data_dir, final.id)
            times = job_times(data_dir, final.id)
    compute = sum(seconds for _, seconds, _ in units)
    return {
        "preset": preset,
        "wall_seconds": wall,
        "units_seconds": compute,
        "units": units,
        "failed_units": [key for key, _, ok in units if not ok],
        "queue_seconds": (times["started_at"] or 0) - (times["created_at"] or 0),
        "job_seconds_server_clock": (times["finished_at"] or 0) - (times["started_at"] or 0),
        "upload_seconds": upload_seconds,
        "report_seconds": report_seconds,
    }


def rows(m: dict) -> list[Row]:
    slowest = sorted(m["units"], key=lambda unit: -unit[1])[:3]
    failed = f"; units that failed: {', '.join(m['failed_units'])}" if m["failed_units"] else ""
    return [
        Row(
            "5",
            f"end-to-end `{m['preset']}` preset (digits): wall time / sum of units' compute",
            m["wall_seconds"] / m["units_seconds"],
            target=at_most(1.15),
            detail=f"wall {m['wall_seconds']:.1f} s (submit to done), {len(m['units'])} units "
            f"{m['units_seconds']:.1f} s, queued {m['queue_seconds']:.2f} s; slowest units "
            + ", ".join(f"{key} {seconds:.1f} s" for key, seconds, _ in slowest)
            + f"; uploads {m['upload_seconds']:.2f} s, report {m['report_seconds']:.2f} s "
            "(not in the ratio)"
            + failed,
            raw=m,
        )
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

"""Wall time of one job on a Ray cluster with 1 and with 2 worker nodes (issue 9).

Method: a real loopback cluster (tests/ray/ray_cluster.py): a head with no CPUs
(it hosts the service's driver and the progress queue, never a unit) and worker
nodes with one CPU each, and a real ``robustedge-server --executor ray``. With one
worker node, a warm-up job (fresh Ray workers pay the torch / INC / ART imports
once) and then the timed job; then a second node joins, and again a warm-up job
(it warms the new node) and the timed job. Wall time is the client's: submit to
the job's end. The figure is the ratio 1-node / 2-node wall time (2.0 would be
perfect scaling).

Next to it, the cost model of docs/scaling.md, fed with the units' own seconds from
the job store of the 1-node run: total work W (sum of unit seconds), the critical
path C (the longest chain of dependent units), and the per-job overhead O (1-node
wall minus W). Its prediction for n workers is O plus the makespan of greedy list
scheduling of those units on n CPUs (between ``max(C, W / n)`` and ``W / n + C``).

Then the same job on the 2 nodes through a second service whose job files go
through an S3-compatible store (``--artifact-store``; moto's S3 server in this
process over loopback HTTP, each node with its own cache folder): the ratio of its
wall time to the shared path's is what the store costs. moto is a Python server on
the same 2 cores, so this is a pessimistic figure for a real store.

This machine has 2 cores shared with the head's processes, the service and other
people's work, so the measured ratio is a floor for what two real machines give.
Run once; noisy machine. ``--out`` saves the rows (benchmarks/results_table.py).

    .venv/bin/python benchmarks/bench_ray.py [--samples 500] [--out /tmp/ray.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "ray"))
sys.path.insert(0, str(REPO / "tests" / "service"))

from ray_cluster import RayCluster  # noqa: E402
from results_table import Row, save_rows  # noqa: E402
from s3_server import s3_server  # noqa: E402
from service_session import build_digits, scratch, server, unit_seconds  # noqa: E402

BUCKET = "robustedge-bench"


def job_spec(samples: int) -> dict[str, Any]:
    """Two compressed variants and two attacks at three epsilons: 26 units (prepare,
    3 variants, 18 attack shards (one per epsilon) and 4 transfer units), up to 18 of
    them side by side."""
    return {
        "samples": samples,
        "seed": 0,
        "variants": [
            {"name": "int8", "steps": [{"compressor": "quantize", "approach": "dynamic"}]},
            {
                "name": "pruned",
                "steps": [{"compressor": "prune", "pattern": "unstructured", "sparsity": 0.5}],
            },
        ],
        "attacks": [
            {"attack": "fgsm", "epsilons": [0.03, 0.06, 0.1]},
            {"attack": "pgd", "epsilons": [0.03, 0.06, 0.1], "steps": 100},
        ],
        "latency": {"disabled": True},
    }


def shard_spec(samples: int, shards: int) -> dict[str, Any]:
    """One long attack on the base model at one epsilon, in ``shards`` sample slices of
    whole batches (4 batches): unsliced it is one unit, and the job's critical path."""
    return {
        "samples": samples,
        "seed": 0,
        "sample_shards": shards,
        "attacks": [
            {"attack": "pgd", "epsilons": [0.1], "steps": 1500, "batch_size": -(-samples // 4)}
        ],
        "latency": {"disabled": True},
    }


def timed_job(address: str, digits: Any, spec: dict[str, Any]) -> tuple[str, float]:
    """Submits one job and waits for it; returns its id and the client's wall time."""
    from robustedge.client import Client
    from robustedge.client import messages as pb

    with Client(address, timeout=120) as client:
        model = client.upload_model(digits.model)
        dataset = client.upload_dataset(digits.dataset)
        started = time.perf_counter()
        job = client.submit(model, dataset, spec=spec)
        final = client.wait(job)
        seconds = time.perf_counter() - started
    if final.state != pb.JOB_STATE_SUCCEEDED:
        raise RuntimeError(f"job {final.id} ended in state {final.state}: {final.error}")
    return final.id, seconds


def plan(spec: dict[str, Any]) -> list[Any]:
    """The job's units, in the order the service plans them (after their dependencies)."""
    from robustedge.client import spec_from_dict
    from robustedge.service.jobs import attack_traits
    from robustedge.service.plan import plan_units

    _, message = spec_from_dict(spec)
    return plan_units(message, attack_traits(message))


def critical_path(units: dict[str, float], spec: dict[str, Any]) -> float:
    """The longest chain of dependent units (seconds), from the plan's dependencies."""
    finish: dict[str, float] = {}
    for unit in plan(spec):
        ready = max((finish[d] for d in unit.depends), default=0.0)
        finish[unit.key] = ready + units.get(unit.key, 0.0)
    return max(finish.values())


def list_schedule(units: dict[str, float], spec: dict[str, Any], workers: int) -> float:
    """Makespan of greedy list scheduling on ``workers`` CPUs, as Ray runs the job: a
    free worker takes the first ready unit in plan order. Lies between the lower
    bound max(C, W/n) and Graham's upper bound W/n + C."""
    planned = plan(spec)
    finish: dict[str, float] = {}
    free_at = [0.0] * workers
    pending = list(planned)
    while pending:
        worker = min(range(workers), key=free_at.__getitem__)
        now = free_at[worker]
        ready = [u for u in pending if all(finish.get(d, float("inf")) <= now for d in u.depends)]
        if not ready:  # nothing can start yet: wait for the next unit to finish
            free_at[worker] = min(t for t in finish.values() if t > now)
            continue
        unit = ready[0]
        pending.remove(unit)
        finish[unit.key] = now + units.get(unit.key, 0.0)
        free_at[worker] = finish[unit.key]
    return max(finish.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--out", type=Path, help="save the rows as JSON")
    args = parser.parse_args()
    spec = job_spec(args.samples)
    walls: dict[int, float] = {}
    work: dict[int, dict[str, float]] = {}  # nodes -> unit -> seconds (the job store's)
    sharded: dict[int, float] = {}  # sample slices -> wall of shard_spec on 2 nodes
    cluster = RayCluster()
    with scratch("re-bench-ray-") as scratch_dir, s3_server() as s3:
        digits = build_digits(scratch_dir)
        # Every node (and both services) reaches the store through the environment.
        os.environ.update(s3.environment)
        s3.client().create_bucket(Bucket=BUCKET)
        try:
            cluster.wait_started(cluster.start_head(num_cpus=0))
            cluster.wait_started(cluster.add_worker(num_cpus=1))
            load_before = os.getloadavg()[0]
            with server(
                scratch_dir / "data", ["--executor", "ray", "--ray-address", cluster.address]
            ) as running:
                for nodes in (1, 2):
                    if nodes == 2:
                        cluster.wait_started(cluster.add_worker(num_cpus=1))
                    timed_job(running.address, digits, spec)  # warm-up
                    job_id, walls[nodes] = timed_job(running.address, digits, spec)
                    print(f"{nodes} worker node(s): {walls[nodes]:.1f} s wall", flush=True)
                    recorded = unit_seconds(scratch_dir / "data", job_id)
                    work[nodes] = {key: seconds for key, seconds, _ in recorded}
                # Sample slices on the 2 nodes (warm): the same attack in 1 and 2 slices.
                for shards in (1, 2):
                    _, sharded[shards] = timed_job(
                        running.address, digits, shard_spec(args.samples, shards)
                    )
                    print(f"one pgd attack, {shards} slice(s): {sharded[shards]:.1f} s wall")
            with server(
                scratch_dir / "data-s3",
                ["--executor", "ray", "--ray-address", cluster.address,
                 "--artifact-store", f"s3://{BUCKET}/bench"],
            ) as running:  # fmt: skip
                timed_job(running.address, digits, spec)  # warm-up (fills the node caches)
                _, store_wall = timed_job(running.address, digits, spec)
                print(f"2 worker nodes, S3 artifact store: {store_wall:.1f} s wall", flush=True)
            load_after = os.getloadavg()[0]
        finally:
            cluster.stop()
    units = work[1]
    work_total = sum(units.values())
    path = critical_path(units, spec)
    # With 2 nodes: how many units ran at once on average, and how much slower each
    # unit got. Two at once but each ~2x slower means the cores were already taken.
    concurrency = sum(work[2].values()) / walls[2]
    inflation = sum(work[2].values()) / work_total
    overhead = max(0.0, walls[1] - work_total)

    def predicted(n: int) -> float:
        return overhead + list_schedule(units, spec, n)

    ratio = walls[1] / walls[2]
    print(
        f"ratio 1-node / 2-node wall: {ratio:.2f} (perfect: 2.00; model: "
        f"{predicted(1) / predicted(2):.2f})\n"
        f"units: {len(units)}, work W = {work_total:.1f} s, critical path C = {path:.1f} s, "
        f"overhead O = {overhead:.1f} s\n"
        f"model wall (O + list schedule of the 1-node unit seconds): 2 workers "
        f"{predicted(2):.1f} s (measured {walls[2]:.1f} s), 10 workers {predicted(10):.1f} s, "
        f"100 workers {predicted(100):.1f} s; lower bound O + max(C, W/n) at 100: "
        f"{overhead + max(path, work_total / 100):.1f} s\n"
        f"2 nodes: {concurrency:.2f} units at once on average, unit seconds x{inflation:.2f}"
        f" of the 1-node run\n"
        f"load average {load_before:.1f} before, {load_after:.1f} after (2 cores)\n"
        f"one pgd attack on 2 nodes: 1 slice {sharded[1]:.1f} s, 2 slices {sharded[2]:.1f} s"
        f" (ratio {sharded[1] / sharded[2]:.2f})\n"
        f"2 nodes with the S3 artifact store: {store_wall:.1f} s (x{store_wall / walls[2]:.2f}"
        f" the shared path)"
    )
    detail = (
        f"1 node {walls[1]:.1f} s, 2 nodes {walls[2]:.1f} s (model {predicted(2):.1f} s);"
        f" W {work_total:.1f} s, C {path:.1f} s, O {overhead:.1f} s; 2 nodes:"
        f" {concurrency:.2f} units at once, unit seconds x{inflation:.2f};"
        f" load {load_before:.1f}/{load_after:.1f}"
    )
    raw = {
        "walls": walls,
        "unit_seconds": work,
        "sample_slices": sharded,
        "s3_store_wall": store_wall,
    }
    rows = [
        Row("9a", "Ray: wall 1 worker node / 2 worker nodes", ratio, detail=detail, raw=raw),
        Row("9b", "Ray: cost model's wall for 10 workers", predicted(10), unit="s"),
        Row("9c", "Ray: cost model's wall for 100 workers", predicted(100), unit="s"),
        Row(
            "9d",
            "Ray: one attack's wall, 1 / 2 sample slices on 2 worker nodes",
            sharded[1] / sharded[2],
            detail=f"1 slice {sharded[1]:.1f} s, 2 slices {sharded[2]:.1f} s",
        ),
        Row(
            "9e",
            "Ray: wall with the S3 artifact store (moto, loopback) / shared path, 2 worker nodes",
            store_wall / walls[2],
            detail=f"S3 store {store_wall:.1f} s, shared path {walls[2]:.1f} s",
        ),
    ]
    if args.out is not None:
        save_rows(rows, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Ray executor on a real loopback cluster, through a real server process.

The cluster is a head and a separate worker node (``ray start``, one CPU each);
the service joins it with ``--executor ray --ray-address``. Its reports of a job
split into sample shards must equal the local executor's report of the same job in
one slice (same seed), a worker node killed in the
middle of a unit must not stop the job, and cancelling must kill running tasks.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from ray_cluster import RayCluster, RayNode
from ray_spec import SPEC
from report_compare import assert_same_report as same_report
from server_process import ServerProcess, start_server

from robustedge.client import Client
from robustedge.client import messages as pb
from robustedge.service.store import JobStore

pytestmark = pytest.mark.slow
pytest.importorskip("ray", reason="the Ray executor needs Ray: pip install 'robustedge[ray]'")

# "<date> <time> INFO <logger>: unit <key> started|finished on node <ip> pid <pid> ..."
UNIT_LOG = re.compile(
    r"^(\S+ \S+) INFO \S+: unit (\S+) (started|finished) on node (\S+) pid (\d+)", re.M
)


# One PGD unit of minutes: something to cancel while it runs.
LONG_SPEC: dict[str, Any] = {
    "samples": 100,
    "attacks": [{"attack": "pgd", "epsilons": [0.1], "steps": 20000}],
    "latency": {"disabled": True},
}


def assert_same_report(report: pb.Report, reference: pb.Report) -> None:
    """Equal to the local executor's unsharded report but for the volatile fields."""
    assert report.spec.sample_shards == SPEC["sample_shards"]
    same_report(report, reference, ignore=frozenset({"sample_shards"}))


def unit_log(server: ServerProcess, job_id: str) -> list[tuple[str, str, str, int]]:
    """(unit, started|finished, node ip, pid) for every attempt, from the job's log."""
    log = server.data_dir / "jobs" / job_id / "worker.log"
    if not log.exists():
        return []
    return [
        (m[2], m[3], m[4], int(m[5])) for m in UNIT_LOG.finditer(log.read_text(errors="replace"))
    ]


def most_units_at_once(server: ServerProcess, job_id: str) -> dict[str, int]:
    """Node ip -> the most units that ran on it at the same time.

    Events are taken in the order the tasks appended them to the job's log, not by
    their timestamps: logging formats the second and the millisecond of a record
    separately, so a record made a hair before a second boundary can read as
    "...:50,999" when it came at 49.999 s, and a unit would seem to end a second
    after the next one started (the cause of this test's rare failures).
    """
    log = (server.data_dir / "jobs" / job_id / "worker.log").read_text(errors="replace")
    events = [(m[3] == "started", m[4]) for m in UNIT_LOG.finditer(log)]
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    for started, ip in events:
        running[ip] = running.get(ip, 0) + (1 if started else -1)
        most[ip] = max(most.get(ip, 0), running[ip])
    return most


def submit(client: Client, digits: Any) -> pb.Job:
    return client.submit(
        client.upload_model(digits.model), client.upload_dataset(digits.dataset), spec=SPEC
    )


def stop_midway(data_dir: Path, server_args: list[str], digits: Any) -> tuple[pb.Job, set[str]]:
    """Runs :data:`SPEC` on a service started with ``server_args`` and stops the service
    once 30% of the job is done; returns the job and the units it had recorded."""
    first = start_server(data_dir, "first.log", server_args)
    with Client(first.address, timeout=60) as client:
        job = submit(client, digits)
        deadline = time.monotonic() + 120
        while client.job(job).progress < 0.3:  # a few units recorded, most still to run
            assert time.monotonic() < deadline, "the job made no progress in 120 s"
            time.sleep(0.1)
    assert first.stop() == 0, first.log.read_text()[-3000:]
    store = JobStore(data_dir / "robustedge.sqlite")
    try:
        return job, set(store.units(job.id))
    finally:
        store.close()


def resume_and_compare(
    data_dir: Path, server_args: list[str], job: pb.Job, local_report: pb.Report
) -> None:
    """Starts the service again on ``data_dir``: the job must finish with the local
    executor's report."""
    second = start_server(data_dir, "second.log", server_args)
    try:
        with Client(second.address, timeout=60) as client:
            report = client.report(job).report
    finally:
        assert second.stop() == 0, second.log.read_text()[-3000:]
    assert report.job_state == pb.JOB_STATE_SUCCEEDED
    assert_same_report(report, local_report)


def wait_for_running_unit(
    nodes: list[RayNode],
    min_age: float = 0.5,
    prefix: str = "",
    started_in: tuple[ServerProcess, str] | None = None,
) -> tuple[RayNode, str, psutil.Process]:
    """A node, a unit (key starting with ``prefix``) and the worker process seen
    running it for at least ``min_age`` s; with ``started_in`` (server, job id), only
    once the unit's body has logged its start (a task's title is set before Ray has
    even imported the task's module)."""
    first_seen: dict[tuple[int, str], float] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        started = set()
        if started_in is not None:
            started = {(u, p) for u, e, _, p in unit_log(*started_in) if e == "started"}
        for node in nodes:
            for pid, unit in node.running_units().items():
                seen = first_seen.setdefault((pid, unit), time.monotonic())
                if (
                    unit.startswith(prefix)
                    and time.monotonic() - seen >= min_age
                    and (started_in is None or (unit, pid) in started)
                ):
                    return node, unit, psutil.Process(pid)
        time.sleep(0.05)
    raise AssertionError(f"no unit ran on {[n.ip for n in nodes]} within 120 s")


def test_job_survives_a_killed_worker_node(
    ray_server: ServerProcess, local_report: pb.Report, cluster: RayCluster, digits: Any
) -> None:
    """Runs first, while the cluster is cold: a fresh worker process spends seconds
    importing torch, INC and ART inside its first unit, so that unit is still running
    when the node dies (warm units of this small job last tens of milliseconds)."""
    worker = cluster.nodes[1]
    with Client(ray_server.address, timeout=60) as client:
        job = submit(client, digits)
        _, unit, process = wait_for_running_unit([worker], started_in=(ray_server, job.id))
        worker.kill()
        replacement = cluster.add_worker(num_cpus=1)  # capacity comes back, as it would
        report = client.report(job).report
    assert report.job_state == pb.JOB_STATE_SUCCEEDED
    assert_same_report(report, local_report)
    log = unit_log(ray_server, job.id)
    attempts = [(event, ip, pid) for key, event, ip, pid in log if key == unit]
    # The killed attempt started and never finished; Ray ran the unit again elsewhere.
    assert ("started", worker.ip, process.pid) in attempts
    assert ("finished", worker.ip, process.pid) not in attempts
    assert any(event == "finished" and ip != worker.ip for event, ip, _ in attempts)
    cluster.wait_started(replacement)


def test_report_equals_the_local_executors(
    ray_server: ServerProcess, local_report: pb.Report, cluster: RayCluster, digits: Any
) -> None:
    with Client(ray_server.address, timeout=60) as client:
        job = submit(client, digits)
        messages = {event.message for event in client.watch(job)}
        report = client.report(job).report
    assert report.job_state == pb.JOB_STATE_SUCCEEDED
    assert [v.name for v in report.variants] == ["base", "int8"]
    assert len(report.attacks) == 12  # 2 attacks x 2 epsilons x (2 white-box + 1 transfer)
    assert_same_report(report, local_report)
    # Progress from inside running units reached the watcher: a unit's first progress
    # message is its stage ("fgsm on int8"); "done" events say "done".
    assert any(" on " in m or m.startswith(("eps=", "checking ")) for m in messages), messages
    # The units were spread over both live nodes: the head and a separate worker node,
    # and each node (one CPU) ran one unit at a time: Ray's resource requests held.
    assert most_units_at_once(ray_server, report.job_id) == {n.ip: 1 for n in cluster.alive()}


def test_a_restarted_service_resumes_without_recomputing(
    tmp_path_factory: pytest.TempPathFactory,
    local_report: pb.Report,
    cluster: RayCluster,
    digits: Any,
) -> None:
    data_dir = tmp_path_factory.mktemp("ray-restart")
    ray_args = ["--executor", "ray", "--ray-address", cluster.address]
    job, recorded = stop_midway(data_dir, ray_args, digits)
    log = data_dir / "jobs" / job.id / "worker.log"
    before_restart = len(log.read_text(errors="replace"))

    resume_and_compare(data_dir, ray_args, job, local_report)
    after = UNIT_LOG.finditer(log.read_text(errors="replace")[before_restart:])
    rerun = {m[2] for m in after if m[3] == "started"}
    assert recorded and rerun, (recorded, rerun)
    assert not recorded & rerun, f"recorded units computed again: {recorded & rerun}"


def test_cancel_kills_running_tasks(
    ray_server: ServerProcess, cluster: RayCluster, digits: Any
) -> None:
    with Client(ray_server.address, timeout=60) as client:
        model, dataset = client.upload_model(digits.model), client.upload_dataset(digits.dataset)
        job = client.submit(model, dataset, spec=LONG_SPEC)
        _, _, process = wait_for_running_unit(cluster.alive(), prefix="attack:")
        client.cancel(job)
        final = client.wait(job)
    assert final.state == pb.JOB_STATE_CANCELLED
    # force=True: the worker process running the unit is killed, not left to finish.
    gone, _ = psutil.wait_procs([process], timeout=10)
    assert gone, f"worker {process.pid} still runs after the job was cancelled"

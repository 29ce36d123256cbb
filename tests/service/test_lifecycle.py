"""Cancellation, and a server killed mid-job that resumes from its finished units."""

from __future__ import annotations

import signal
import sqlite3
import time

import pytest
from server_process import start_server

from robustedge.client import Client
from robustedge.client import messages as pb

SLOW_SPEC = {
    "samples": 300,
    "attacks": [
        {"attack": "fgsm", "epsilons": [0.05, 0.1]},
        {"attack": "pgd", "epsilons": [0.05, 0.1, 0.2], "steps": 60},
    ],
    "latency": {"disabled": True},
}


def _wait_for_units(data_dir, job_id: str, at_least: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(data_dir / "robustedge.sqlite") as db:
            (count,) = db.execute("SELECT COUNT(*) FROM units WHERE job_id=?", (job_id,)).fetchone()
        if count >= at_least:
            return count
        time.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} units finished in {timeout} s")


def test_cancel_a_running_job(client, digits):
    model, dataset = client.upload_model(digits.model), client.upload_dataset(digits.dataset)
    job = client.submit(model, dataset, spec=SLOW_SPEC)
    for event in client.watch(job):
        if event.state == pb.JOB_STATE_RUNNING:
            break
    cancelled = client.cancel(job)
    assert client.wait(cancelled).state == pb.JOB_STATE_CANCELLED
    assert client.cancel(job).state == pb.JOB_STATE_CANCELLED  # a no-op on a finished job


@pytest.mark.slow
def test_sigkill_mid_job_then_restart_resumes_without_recomputing(tmp_path, digits):
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    with Client(first.address) as client:
        model, dataset = client.upload_model(digits.model), client.upload_dataset(digits.dataset)
        job = client.submit(model, dataset, spec=SLOW_SPEC)
    # prepare + variant:base + the fgsm attack: some work is recorded, the rest is not.
    done_before = _wait_for_units(data_dir, job.id, at_least=3)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)

    second = start_server(data_dir, "server2.log")
    try:
        with Client(second.address) as client:
            final = client.wait(job.id)
            assert final.state == pb.JOB_STATE_SUCCEEDED, final.error
            assert final.attempts == 2
            report = client.report(job.id).report
        with sqlite3.connect(data_dir / "robustedge.sqlite") as db:
            keys = [k for (k,) in db.execute("SELECT key FROM units WHERE job_id=?", (job.id,))]
        assert len(keys) == len(set(keys)) == final.units_total
        assert done_before < final.units_total
        pgd = sorted((a for a in report.attacks if a.attack == "pgd"), key=lambda a: a.epsilon)
        assert [round(a.epsilon, 3) for a in pgd] == [0.05, 0.1, 0.2]
    finally:
        assert second.stop() == 0

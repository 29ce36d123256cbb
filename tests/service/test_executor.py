"""The local executor: its watchdog (a hung unit is failed and its worker killed) and
its pre-started spare worker (a job takes it; the next one starts at once)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

from robustedge.service.executor import (
    ExecutorConfig,
    LocalProcessExecutor,
    WorkOrder,
    make_executor,
)
from robustedge.service.plan import Unit

# A worker that starts a unit, reports once, then hangs forever.
HANGING_WORKER = textwrap.dedent(
    """
    import json, sys, time
    sys.stdin.read()
    print(json.dumps({"type": "progress", "unit": "attack:0:base", "fraction": 0.0,
                      "message": "starting"}), flush=True)
    time.sleep(3600)
    """
)


PREPARE = Unit("prepare", "prepare", "preparing")


def _order(tmp_path, job_id, unit=PREPARE):
    """A one-unit work order; the stand-in workers never read its paths."""
    return WorkOrder(
        job_id=job_id, job_dir=tmp_path / job_id,
        model_path=tmp_path / "m", dataset_path=tmp_path / "d",
        spec={}, units=[unit],
    )  # fmt: skip


def test_a_silent_unit_is_failed_and_its_worker_killed(tmp_path):
    executor = LocalProcessExecutor(
        unit_idle_seconds=2, command=(sys.executable, "-c", HANGING_WORKER)
    )
    order = _order(tmp_path, "j1", Unit("attack:0:base", "attack", "pgd on base"))
    messages = []
    started = time.monotonic()
    returncode = executor.run(order, messages.append)
    elapsed = time.monotonic() - started
    assert returncode != 0
    assert 2 <= elapsed < 10
    done = [m for m in messages if m["type"] == "done"]
    assert done == [
        {
            "type": "done",
            "unit": "attack:0:base",
            "ok": False,
            "error": "timed out: no progress for 2 s",
            "seconds": 2,
        }
    ]


def test_a_chatty_long_unit_is_not_killed(tmp_path):
    chatty = textwrap.dedent(
        """
        import json, sys, time
        sys.stdin.read()
        for i in range(6):
            print(json.dumps({"type": "progress", "unit": "u", "fraction": i / 6,
                              "message": "working"}), flush=True)
            time.sleep(0.5)
        print(json.dumps({"type": "done", "unit": "u", "ok": True, "result": {},
                          "seconds": 3.0}), flush=True)
        """
    )
    executor = LocalProcessExecutor(unit_idle_seconds=2, command=(sys.executable, "-c", chatty))
    order = _order(tmp_path, "j2", Unit("u", "attack", "long"))
    messages = []
    assert executor.run(order, messages.append) == 0
    assert messages[-1]["ok"] is True


# A worker that says something while it waits, then reports its pid for each unit.
PID_WORKER = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from robustedge.service.worker import _append_output_to
    protocol = os.fdopen(os.dup(1), "w")  # as the real worker: fd 1 goes to the log
    print("waiting with imports done", file=sys.stderr, flush=True)
    document = json.loads(sys.stdin.read())
    _append_output_to(Path(document["log_path"]))
    print("running the job", file=sys.stderr, flush=True)
    for unit in document["units"]:
        print(json.dumps({"type": "done", "unit": unit["key"], "ok": True,
                          "result": {"pid": os.getpid()}, "seconds": 0.0}), file=protocol,
              flush=True)
    """
)


def test_a_job_takes_the_prestarted_worker_and_the_next_one_starts(tmp_path):
    executor = LocalProcessExecutor(command=(sys.executable, "-c", PID_WORKER))
    try:
        first_spare = executor._spare.process
        messages = []
        assert executor.run(_order(tmp_path, "j3"), messages.append) == 0
        assert messages[-1]["result"]["pid"] == first_spare.pid
        # What the spare printed before it had a job is in that job's log, then the rest.
        log = (tmp_path / "j3" / "worker.log").read_text()
        assert log == "waiting with imports done\nrunning the job\n"
        second_spare = executor._spare.process
        assert second_spare.pid != first_spare.pid and second_spare.poll() is None
        messages.clear()
        assert executor.run(_order(tmp_path, "j4"), messages.append) == 0
        assert messages[-1]["result"]["pid"] == second_spare.pid
    finally:
        executor.shutdown()
    assert executor._spare is None
    assert executor._closed


def test_a_spare_that_died_is_replaced_by_a_fresh_worker(tmp_path):
    executor = LocalProcessExecutor(command=(sys.executable, "-c", PID_WORKER))
    try:
        dead = executor._spare.process
        dead.kill()
        dead.wait()
        messages = []
        assert executor.run(_order(tmp_path, "j5"), messages.append) == 0
        assert messages[-1]["ok"] and messages[-1]["result"]["pid"] != dead.pid
    finally:
        executor.shutdown()


def test_shutdown_kills_the_spare_and_no_new_one_starts(tmp_path):
    executor = LocalProcessExecutor(command=(sys.executable, "-c", PID_WORKER))
    spare = executor._spare.process
    executor.shutdown()
    assert spare.poll() is not None
    executor._start_spare()
    assert executor._spare is None


def test_the_real_worker_waiting_for_a_job_exits_quietly_when_its_service_goes():
    """A spare's stdin closes when its service stops or dies: exit 0, no traceback."""
    worker = subprocess.Popen(
        list(LocalProcessExecutor.WORKER),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    _, stderr = worker.communicate(b"", timeout=120)
    assert worker.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr


def test_the_spare_worker_can_be_turned_off():
    """--no-prestart-worker (small gateways): no process waits between jobs."""
    executor = make_executor(ExecutorConfig(prestart_worker=False))
    assert isinstance(executor, LocalProcessExecutor) and executor._spare is None
    default = make_executor(ExecutorConfig())
    try:
        assert default._spare is not None and default._spare.process.poll() is None
    finally:
        default.shutdown()

"""The local executor's watchdog: a hung unit is failed and its worker killed."""

from __future__ import annotations

import sys
import textwrap
import time

from robustedge.service.executor import LocalProcessExecutor, WorkOrder
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


def test_a_silent_unit_is_failed_and_its_worker_killed(tmp_path):
    executor = LocalProcessExecutor(
        unit_idle_seconds=2, command=(sys.executable, "-c", HANGING_WORKER)
    )
    order = WorkOrder(
        job_id="j1", job_dir=tmp_path / "j1",
        model_path=tmp_path / "m", dataset_path=tmp_path / "d",
        spec={}, units=[Unit("attack:0:base", "attack", "pgd on base")],
    )  # fmt: skip
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
    order = WorkOrder(
        job_id="j2", job_dir=tmp_path / "j2",
        model_path=tmp_path / "m", dataset_path=tmp_path / "d",
        spec={}, units=[Unit("u", "attack", "long")],
    )  # fmt: skip
    messages = []
    assert executor.run(order, messages.append) == 0
    assert messages[-1]["ok"] is True

"""Worker process: runs the units of one job and reports back over a pipe.

Started by the local executor as ``python -m robustedge.service.worker`` in its own
process group (so cancelling a job kills everything it started). It reads one JSON
document from stdin — the job's paths, spec, the units to run and the results of
units already finished — and writes JSON lines to its original stdout:

    {"type": "progress", "unit": KEY, "fraction": 0.4, "message": "eps=0.1"}
    (the first progress message of each unit is always sent: it says the unit started)
    {"type": "done", "unit": KEY, "ok": true, "result": {...}, "seconds": 1.2}
    {"type": "done", "unit": KEY, "ok": false, "error": "...", "seconds": 0.1}

Libraries that print (INC does) would corrupt that stream, so file descriptor 1 is
pointed at stderr (the job's log file) and the protocol uses a private duplicate.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from google.protobuf import json_format

from robustedge.service.pipeline import JobContext, _reason, run_unit
from robustedge.service.plan import Unit
from robustedge.v1 import evaluation_pb2 as pb

log = logging.getLogger("robustedge.worker")

# At most this many progress messages per second reach the parent.
PROGRESS_INTERVAL = 0.25


class Channel:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._last_progress = 0.0

    def send(self, message: dict[str, Any]) -> None:
        self._stream.write(json.dumps(message) + "\n")
        self._stream.flush()

    def start(self, unit: str, stage: str) -> None:
        """Announces a unit (never throttled: the executor's watchdog keys on it)."""
        self._last_progress = time.monotonic()
        self.send({"type": "progress", "unit": unit, "fraction": 0.0, "message": stage})

    def progress(self, unit: str, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        self.send({"type": "progress", "unit": unit, "fraction": fraction, "message": message})


def run_job(document: dict[str, Any], channel: Channel) -> None:
    spec = json_format.ParseDict(document["spec"], pb.EvaluationSpec())
    ctx = JobContext(
        job_dir=Path(document["job_dir"]),
        model_path=Path(document["model_path"]),
        dataset_path=Path(document["dataset_path"]),
        spec=spec,
        results=dict(document.get("results", {})),
    )
    failed: set[str] = set(document.get("failed", []))
    for raw in document["units"]:
        unit = Unit(**{**raw, "depends": tuple(raw["depends"]), "epsilons": tuple(raw["epsilons"])})
        missing = [d for d in unit.depends if d in failed or d not in ctx.results]
        started = time.perf_counter()
        if missing:
            failed.add(unit.key)
            channel.send(
                {
                    "type": "done",
                    "unit": unit.key,
                    "ok": False,
                    "error": f"skipped: {', '.join(missing)} did not finish",
                    "seconds": 0.0,
                }
            )
            continue
        channel.start(unit.key, unit.stage)
        try:
            result = run_unit(
                ctx,
                unit,
                lambda f, m, key=unit.key: channel.progress(key, max(0.0, min(f, 1.0)), m),
            )
        except Exception as exc:  # a failing unit is recorded; the job goes on
            log.exception("unit %s failed", unit.key)
            failed.add(unit.key)
            channel.send(
                {
                    "type": "done",
                    "unit": unit.key,
                    "ok": False,
                    "error": _reason(exc),
                    "seconds": time.perf_counter() - started,
                }
            )
            continue
        ctx.results[unit.key] = result
        channel.send(
            {
                "type": "done",
                "unit": unit.key,
                "ok": True,
                "result": result,
                "seconds": time.perf_counter() - started,
            }
        )


def main() -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by libraries goes to the log, not the protocol
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One torch thread per unit unless told otherwise: measured on 2 cores, a local
    # job took 15.9 s with one thread and 33.1 s with torch's default while other work
    # ran; Ray tasks set their own count from the CPUs they were given.
    import torch

    torch.set_num_threads(int(os.environ.get("ROBUSTEDGE_UNIT_THREADS", "1")))
    _import_unit_libraries()
    text = sys.stdin.read()
    if not text.strip():
        return 0  # a pre-started worker whose service stopped before giving it a job
    document = json.loads(text)
    if document.get("log_path"):
        _append_output_to(Path(document["log_path"]))
    run_job(document, Channel(protocol))
    return 0


def _import_unit_libraries() -> None:
    """Imports what most units need before the job arrives.

    The local executor starts a spare worker ahead of each job; with these imports
    done while it waits (about a second on 2 cores), the job's first unit starts at
    once. INC is left out: only quantization units need it, and it is slow to import.
    """
    import onnxruntime  # noqa: F401

    import robustedge.attacks
    import robustedge.bridge  # noqa: F401


def _append_output_to(path: Path) -> None:
    """Points stdout and stderr (fds 1 and 2) at the job's log, appending.

    A pre-started worker's stderr was an anonymous temp file while it waited; what it
    printed there (import warnings) is copied into the log first. Done here rather than
    by the executor, because only the worker knows when it stops writing there. A
    worker started for its job already writes to the log (opened write-only, so the
    read fails and nothing is copied).
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.lseek(2, 0, os.SEEK_SET)
        while chunk := os.read(2, 1 << 16):
            os.write(fd, chunk)
    except OSError:  # not a readable, seekable file: nothing to carry over
        pass
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    os.close(fd)


if __name__ == "__main__":
    sys.exit(main())

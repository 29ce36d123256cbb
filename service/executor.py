"""Executors run the unfinished units of a job and report each message back.

The job manager decides *what* runs (the unfinished units of a job, in dependency
order) and records what finished; an executor decides *where* it runs. Both sides
speak the worker protocol of :mod:`robustedge.service.worker`: progress messages
and one ``done`` message per unit.

:class:`LocalProcessExecutor` (the embedded default) runs one worker subprocess
per job in its own process group, so cancelling kills everything it started. It keeps
one spare worker started ahead, its imports done, so that a job does not wait for
them. Another executor (e.g. Ray) implements the same two methods.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from robustedge.service.plan import Unit
from robustedge.service.sandbox import limit_process

log = logging.getLogger(__name__)

Message = dict[str, Any]


@dataclass
class WorkOrder:
    """Everything a worker needs to run some units of one job."""

    job_id: str
    job_dir: Path
    model_path: Path
    dataset_path: Path
    spec: dict[str, Any]  # EvaluationSpec as JSON (json_format.MessageToDict)
    units: list[Unit]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # finished units
    failed: list[str] = field(default_factory=list)  # units that failed earlier

    def document(self) -> dict[str, Any]:
        """The JSON document :func:`robustedge.service.worker.run_job` reads."""
        return {
            "job_id": self.job_id,
            "job_dir": str(self.job_dir),
            "model_path": str(self.model_path),
            "dataset_path": str(self.dataset_path),
            "spec": self.spec,
            "units": [asdict(u) for u in self.units],
            "results": self.results,
            "failed": self.failed,
        }


class Executor(Protocol):
    def run(self, order: WorkOrder, on_message: Callable[[Message], None]) -> int:
        """Runs the order's units, calling ``on_message`` for each worker message, in
        the caller's thread. Returns 0 when the worker ran to the end."""
        ...

    def cancel(self, job_id: str) -> None:
        """Stops the job's running work, if any; ``run`` then returns non-zero."""
        ...


@dataclass
class _Worker:
    """A worker process, and where its output went before it was given a job."""

    process: subprocess.Popen[str]
    early_output: IO[bytes] | None = None  # a spare's: an anonymous temp file


class LocalProcessExecutor:
    """One worker subprocess per job (``python -m robustedge.service.worker``).

    With ``prestart`` (the default) one spare worker is started ahead and waits for a
    job with its imports (torch, onnxruntime, the bridge and attacks: about a second)
    done; a job takes it and the next spare starts at once. The spare gets the same
    memory cap before it reads anything, and exits when its stdin closes (the service
    stopped or died), so it never outlives the service.
    """

    WORKER = (sys.executable, "-m", "robustedge.service.worker")

    def __init__(
        self,
        memory_bytes: int = 0,
        unit_idle_seconds: float = 0,
        command: tuple[str, ...] = WORKER,
        prestart: bool = True,
    ) -> None:
        self.memory_bytes = memory_bytes
        self.command = command  # the worker program (tests substitute misbehaving ones)
        # A unit that sends nothing (no progress, no result) for this long is hung: the
        # worker is killed and the unit failed; the job goes on with the rest (0: never).
        self.unit_idle_seconds = unit_idle_seconds
        self.prestart = prestart
        self._processes: dict[str, subprocess.Popen[str]] = {}
        self._spare: _Worker | None = None
        self._closed = False
        self._lock = threading.Lock()
        if prestart:
            self._start_spare()

    def run(self, order: WorkOrder, on_message: Callable[[Message], None]) -> int:
        order.job_dir.mkdir(parents=True, exist_ok=True)
        log_path = order.job_dir / "worker.log"
        worker = self._take_spare()
        if worker is None:
            with open(log_path, "ab") as log_file:
                worker = _Worker(self._spawn(log_file))
        elif worker.early_output is not None:
            # The worker moves what it printed while waiting into the job's log itself.
            worker.early_output.close()
        if self.prestart:
            self._start_spare()  # for the next job, while this one runs
        process = worker.process
        with self._lock:
            self._processes[order.job_id] = process
        try:
            assert process.stdin is not None and process.stdout is not None
            # The worker appends its output to the job's log from here on.
            process.stdin.write(json.dumps({**order.document(), "log_path": str(log_path)}))
            process.stdin.close()
            watchdog = _Watchdog(process, self.unit_idle_seconds)
            pending = {unit.key for unit in order.units}
            for line in process.stdout:
                message = json.loads(line)
                watchdog.saw(message)
                on_message(message)
                if message["type"] == "done":
                    pending.discard(message["unit"])
                if not pending:
                    # Every unit has reported; not waiting for the interpreter to shut
                    # down (torch and friends take ~0.5 s) ends the job sooner.
                    break
            watchdog.stop()
            if not pending:
                kill_group(process)
                return 0
            returncode = process.wait()
            if watchdog.fired and watchdog.unit:
                on_message(
                    {
                        "type": "done",
                        "unit": watchdog.unit,
                        "ok": False,
                        "error": f"timed out: no progress for {self.unit_idle_seconds:g} s",
                        "seconds": self.unit_idle_seconds,
                    }
                )
            return returncode
        finally:
            with self._lock:
                self._processes.pop(order.job_id, None)
            if process.poll() is None:
                kill_group(process)

    def cancel(self, job_id: str) -> None:
        with self._lock:
            process = self._processes.get(job_id)
        if process is not None:
            kill_group(process)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            processes = list(self._processes.values())
            spare, self._spare = self._spare, None
        for process in processes:
            kill_group(process)
        if spare is not None:
            kill_group(spare.process)
            if spare.early_output is not None:
                spare.early_output.close()

    # -- internals ------------------------------------------------------------------

    def _spawn(self, output: IO[bytes]) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            list(self.command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=output,
            text=True,
            start_new_session=True,  # its own process group, killed as one
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        # Limits are set on the running child (prlimit), not in a preexec_fn: forking
        # with preexec_fn while gRPC threads run can deadlock the child.
        limit_process(process.pid, self.memory_bytes or None)
        return process

    def _start_spare(self) -> None:
        with self._lock:
            if self._closed or self._spare is not None:
                return
            # Unlinked at once: nothing is left behind whatever happens to the service.
            # Open for the spare's life (closed when a job takes it or it is dropped).
            # Read and write: the worker copies it into its job's log (worker._append_output_to).
            output = tempfile.TemporaryFile(prefix="robustedge-worker-")  # noqa: SIM115
            try:
                self._spare = _Worker(self._spawn(output), output)
            except OSError:
                output.close()
                log.warning("could not pre-start a worker; jobs start their own", exc_info=True)

    def _take_spare(self) -> _Worker | None:
        """The spare worker if it is still alive (one that died is cleaned up)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.process.poll() is None:
            return spare
        # It died waiting (killed, out of memory at import): its output says why.
        log.warning("the pre-started worker exited with %s", spare.process.returncode)
        if spare.early_output is not None:
            spare.early_output.close()
        return None


class _Watchdog:
    """Kills a worker whose current unit has been silent for ``idle_seconds``."""

    def __init__(self, process: subprocess.Popen[Any], idle_seconds: float) -> None:
        self.process = process
        self.idle_seconds = idle_seconds
        self.unit = ""  # the unit running now ("" between units)
        self.fired = False
        self._deadline = float("inf")
        self._done = threading.Event()
        self._lock = threading.Lock()
        if idle_seconds > 0:
            threading.Thread(target=self._watch, name="unit-watchdog", daemon=True).start()

    def saw(self, message: Message) -> None:
        with self._lock:
            self.unit = "" if message["type"] == "done" else str(message["unit"])
            busy = bool(self.unit)
            self._deadline = time.monotonic() + self.idle_seconds if busy else float("inf")

    def stop(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(min(1.0, self.idle_seconds)):
            with self._lock:
                expired = time.monotonic() > self._deadline
            if expired:
                log.warning("unit %s sent nothing for %s s; killing its worker", self.unit,
                            self.idle_seconds)  # fmt: skip
                self.fired = True
                kill_group(self.process)
                return


def kill_group(process: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


BACKENDS = ("local", "ray")


@dataclass
class ExecutorConfig:
    """Where and how a service runs its jobs (``robustedge-server`` flags)."""

    max_concurrent_jobs: int = 1
    max_attempts: int = 3
    backend: str = "local"  # "local" (worker subprocesses) or "ray"
    ray_address: str = ""  # with backend "ray": the cluster to join ("auto", "HOST:PORT")
    artifact_store: str = ""  # with backend "ray": s3://BUCKET/PREFIX instead of a shared path
    worker_memory_bytes: int = 0  # address-space cap of a local worker process (0: none)
    unit_idle_seconds: float = 0  # a unit silent this long is failed as hung (0: never)
    # Local backend: keep a spare worker with its imports done (~270 MB while it waits).
    prestart_worker: bool = True


def make_executor(config: ExecutorConfig) -> Executor:
    """The executor for the configured backend; Ray is imported only when asked for.

    An artifact store is for the Ray executor only: the local one's worker
    subprocesses share the service's data dir by construction.
    """
    if config.artifact_store and config.backend != "ray":
        raise ValueError("an artifact store is for the ray executor (--executor ray)")
    if config.backend == "local":
        return LocalProcessExecutor(
            config.worker_memory_bytes, config.unit_idle_seconds, prestart=config.prestart_worker
        )
    if config.backend == "ray":
        try:
            from robustedge.service.ray_executor import RayExecutor
        except ImportError as exc:
            raise RuntimeError(
                f"the ray executor needs Ray: pip install 'robustedge[ray]' ({exc})"
            ) from exc
        return RayExecutor(address=config.ray_address, artifact_store=config.artifact_store)
    raise ValueError(f"unknown executor {config.backend!r}; known: {', '.join(BACKENDS)}")

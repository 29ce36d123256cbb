"""Runs a job's units as Ray tasks on a cluster (``robustedge-server --executor ray``).

Every unit of a :class:`~robustedge.service.executor.WorkOrder` becomes one Ray task
with its own resource request (CPUs, memory). A task receives the ``done``
messages of the units it depends on as Ray object references, so Ray starts it only
when those tasks finished and hands their results over; independent units (the
variants, and the attacks on different variants) run at the same time on as many
workers as the cluster has.

Inside the task a unit runs exactly as in the local worker subprocess, through
:func:`robustedge.service.worker.run_job`, with a channel that keeps the unit's
``done`` message (the task's return value) and forwards its progress messages to a
small queue actor living next to the service. The service's thread that called
:meth:`RayExecutor.run` reports each ``done`` message as its task finishes, so the
job manager records every finished unit in the job store at once: a job survives a
restart of the service (finished units are not recomputed) as it does with the local
executor.

Artifacts (``eval.npz``, ``variants/*.onnx``, ``adversarial/*.npy``) are files in
the job directory. By default that is a path every Ray worker can read and write:
the same directory when all nodes share one machine, a shared filesystem (NFS, a
mounted bucket) across machines. With an S3-compatible ``artifact_store`` each unit
runs in a node-local copy of the job directory instead, synchronised with the
bucket (:mod:`robustedge.service.object_store`). Only small JSON results travel
through Ray.

A worker process or node that dies takes its running task with it; Ray re-runs
the task elsewhere (``max_retries``) and the job completes. When the retries run
out, the unit is not reported, :meth:`RayExecutor.run` returns non-zero and the job
manager runs the remaining units again (its ``max_attempts``). Cancelling a job
cancels its tasks with ``force=True``, which kills the worker processes running them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.util.queue import Empty, Queue
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from robustedge.service.executor import Message, WorkOrder
from robustedge.service.object_store import (
    DATASET_INPUT,
    MODEL_INPUT,
    SERVICE_PREFIXES,
    JobFiles,
    ObjectStoreLocation,
    store_errors,
    unit_directory,
)
from robustedge.service.worker import Channel, run_job

log = logging.getLogger(__name__)

MiB = 1024 * 1024
# How long one wait for finished tasks lasts; also how often progress is forwarded.
POLL_SECONDS = 0.25
# How long the executor waits for the cluster's GCS port to answer at start-up.
CONNECT_TIMEOUT_SECONDS = 10.0
# How long shutdown() waits for running jobs to notice and return.
SHUTDOWN_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class UnitResources:
    """What one task asks the Ray scheduler for.

    ``memory_bytes`` is a scheduling reservation (Ray does not cap the process at
    it); it keeps a node from starting more heavy units than its memory holds.
    """

    num_cpus: float = 1.0
    memory_bytes: int = 0


# One CPU per unit: a node then runs as many units side by side as it has cores, each
# with one torch thread (see _pin_torch_threads). Memory figures are rough reservations,
# not measurements: variant units hold the most (INC calibration or a pruning
# fine-tune: the model, its torch copy and the calibration data). Tune them per
# deployment with RayExecutor(resources=...).
DEFAULT_RESOURCES: dict[str, UnitResources] = {
    "prepare": UnitResources(1, 512 * MiB),
    "variant": UnitResources(1, 2048 * MiB),
    "attack": UnitResources(1, 1024 * MiB),
    "merge": UnitResources(1, 512 * MiB),
    "transfer": UnitResources(1, 512 * MiB),
    "latency": UnitResources(1, 512 * MiB),
}


class _ForwardingChannel(Channel):
    """A worker channel inside a Ray task: keeps the ``done`` message, forwards progress.

    Progress goes to the queue actor fire-and-forget. Waiting for the actor's reply
    (``Queue.put``) would be a ``ray.get`` inside a task, and Ray lends the CPU of a
    task blocked in ``ray.get`` to other tasks: a one-CPU node would start a second
    unit next to the first at every progress message. Progress is best effort: a
    message that cannot be delivered (the queue is gone) is dropped.
    """

    def __init__(self, progress: ActorHandle | None) -> None:
        super().__init__(io.StringIO())  # the stream is unused: send() is overridden
        self._progress = progress
        self.done: list[Message] = []

    def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "done":
            self.done.append(message)
            return
        if self._progress is None:
            return
        try:
            self._progress.put_nowait.remote(message)  # the reply is never awaited
        except Exception:  # best effort, see the class docstring
            log.debug("progress message dropped", exc_info=True)


@contextlib.contextmanager
def _unit_log(path: Path) -> Iterator[None]:
    """Appends the unit's log records to ``path``, as the local worker does to ``worker.log``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(min(previous_level, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()


def _pin_torch_threads() -> None:
    """Gives torch as many threads as the task has CPUs, for every task.

    Ray sets ``OMP_NUM_THREADS`` only once per worker process (from its first task),
    and torch's default (every core of the machine) oversubscribes a node that runs
    one unit per CPU: on 2 loaded cores a digits PGD unit took 10x longer with 2
    threads than with 1. Thread counts can also change the last bits of float sums.
    """
    # Outside a Ray worker (called in-process, as the tests do) the caller's threads are
    # its own business; and ray.get_runtime_context() would start a local Ray instance.
    if not ray.is_initialized():
        return
    context = ray.get_runtime_context()
    if context.worker.mode != ray.WORKER_MODE:
        return
    import torch

    cpus = context.get_assigned_resources().get("CPU", 1.0)
    torch.set_num_threads(max(1, math.floor(cpus)))


def run_unit_task(
    document: dict[str, Any],
    unit: dict[str, Any],
    progress: ActorHandle | None,
    store: ObjectStoreLocation | None,
    *dependencies: Message,
) -> Message:
    """The body of one Ray task: runs one unit and returns its ``done`` message.

    ``document`` is the work order's worker document (paths, spec, units finished
    before this run); ``progress`` the job's progress queue actor (or None);
    ``store`` the S3-compatible artifact store (None: the document's job directory is
    shared by every node); ``dependencies`` are the ``done`` messages of the units of
    this run that the unit depends on, directly or through others. A failed dependency
    makes :func:`run_job` report the unit as skipped, exactly as in the local worker.
    """
    results = dict(document.get("results", {}))
    failed = list(document.get("failed", []))
    for message in dependencies:
        if message.get("ok"):
            results[message["unit"]] = message["result"]
        else:
            failed.append(message["unit"])
    document = {**document, "units": [unit], "results": results, "failed": failed}
    if store is None:
        return _run_unit(document, Path(document["job_dir"]) / "worker.log", progress)
    # The job directory is a node-local copy; the unit's files reach the store before
    # its done message leaves the task, so a recorded unit's files are always there.
    with unit_directory(JobFiles(store), document["job_id"]) as private:
        job_dir = private.path
        local = {
            **document,
            "job_dir": str(job_dir),
            "model_path": str(job_dir / MODEL_INPUT),
            "dataset_path": str(job_dir / DATASET_INPUT),
        }
        return _run_unit(local, job_dir / "logs" / f"{unit['key']}.log", progress)


def _run_unit(document: dict[str, Any], log_path: Path, progress: ActorHandle | None) -> Message:
    channel = _ForwardingChannel(progress)
    (unit,) = document["units"]
    with _unit_log(log_path):
        # Where each attempt ran, for operators (and the tests that kill nodes).
        where = f"node {ray.util.get_node_ip_address()} pid {os.getpid()}"
        log.info("unit %s started on %s", unit["key"], where)
        _pin_torch_threads()
        run_job(document, channel)
        (done,) = channel.done
        log.info("unit %s finished on %s (ok: %s)", unit["key"], where, done["ok"])
    return done


@dataclass
class _RunningJob:
    """The tasks of one job's run, for cancel() and shutdown()."""

    refs: list[ray.ObjectRef] = field(default_factory=list)
    cancelled: bool = False


class RayExecutor:
    """Runs each unit of a work order as a Ray task on the cluster at ``address``.

    ``address`` is what ``ray.init`` takes: ``HOST:PORT`` of the head's GCS, ``auto``
    (or empty) for the cluster this machine's ``ray start`` created or ``RAY_ADDRESS``
    names, or ``ray://HOST:10001`` for Ray Client. The executor joins the cluster as a
    driver when it is created, so a wrong address stops the server at start-up.
    ``artifact_store`` (``s3://BUCKET/PREFIX``, empty: none) moves job files through
    an S3-compatible store instead of a shared path; it is checked at start-up too.
    """

    def __init__(
        self,
        address: str,
        *,
        resources: dict[str, UnitResources] | None = None,
        max_retries: int = 3,
        artifact_store: str = "",
    ) -> None:
        self.address = address or "auto"
        self.store = ObjectStoreLocation.parse(artifact_store) if artifact_store else None
        self._files = JobFiles(self.store) if self.store else None
        # What a failing store raises (nothing to catch without one).
        self._store_errors: tuple[type[BaseException], ...] = ()
        if self._files is not None:
            self._files.check()
            self._store_errors = store_errors()
        self.resources = {**DEFAULT_RESOURCES, **(resources or {})}
        self.max_retries = max_retries
        self._lock = threading.Lock()
        self._running: dict[str, _RunningJob] = {}
        self._idle = threading.Condition(self._lock)  # notified when a run ends
        self._closing = threading.Event()
        if not ray.is_initialized():
            _check_reachable(self.address)
            try:
                ray.init(
                    address=self.address,
                    namespace="robustedge",
                    # Worker output stays in the cluster's logs (and each job's
                    # worker.log), not in the service's log.
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
            except Exception as exc:  # Ray raises several kinds; all mean "no cluster"
                raise ConnectionError(
                    f"cannot join the Ray cluster at {self.address!r}: {exc}"
                ) from exc
        self._task = ray.remote(run_unit_task)
        log.info("joined the Ray cluster at %s: %s", self.address, ray.cluster_resources())
        if self.store is not None:
            log.info("job files go through the artifact store %s", self.store.url)

    # -- Executor protocol ----------------------------------------------------------

    def run(self, order: WorkOrder, on_message: Callable[[Message], None]) -> int:
        """Submits one task per unit, then reports ``done`` messages as tasks finish.

        Returns 0 when every unit was reported, 1 when some task was lost (retries
        exhausted, cancelled, or the executor is shutting down).
        """
        if self._closing.is_set():
            return 1
        job_dir = order.job_dir.resolve()
        job_dir.mkdir(parents=True, exist_ok=True)
        document = order.document()
        # Ray workers run in their own working directory: every path must be absolute.
        document.update(
            job_dir=str(job_dir),
            model_path=str(order.model_path.resolve()),
            dataset_path=str(order.dataset_path.resolve()),
            units=[],
        )
        progress = self._progress_queue()
        running = _RunningJob()
        with self._lock:
            self._running[order.job_id] = running
        try:
            if self._files is not None:
                self._files.upload_inputs(order.job_id, order.model_path, order.dataset_path)
            keys = self._submit(order, ray.put(document), progress, running)
            return self._collect(keys, progress, on_message)
        except (ray.exceptions.RayError, ConnectionError) as exc:
            # The cluster went away under the job: what finished is recorded, the job
            # manager runs the rest again (up to its max_attempts).
            log.warning("job %s lost its Ray cluster: %s", order.job_id, _first_line(exc))
            return 1
        except self._store_errors as exc:
            log.warning("job %s: artifact store error: %s", order.job_id, _first_line(exc))
            return 1
        finally:
            self._fetch_service_files(order.job_id, job_dir)
            with self._lock:
                self._running.pop(order.job_id, None)
                self._idle.notify_all()
            if progress is not None:
                with contextlib.suppress(Exception):
                    progress.shutdown(force=True)

    def cancel(self, job_id: str) -> None:
        """Cancels the job's tasks; running ones are killed (``force=True``)."""
        with self._lock:
            running = self._running.get(job_id)
            if running is None:
                return
            running.cancelled = True
            refs = list(running.refs)
        _cancel_all(refs)

    def shutdown(self) -> None:
        """Cancels every running job (they stay resumable) and leaves the cluster."""
        self._closing.set()
        with self._lock:
            refs = [ref for running in self._running.values() for ref in running.refs]
        _cancel_all(refs)
        deadline = time.monotonic() + SHUTDOWN_WAIT_SECONDS
        with self._lock:
            while self._running and time.monotonic() < deadline:
                self._idle.wait(timeout=max(0.0, deadline - time.monotonic()))
        ray.shutdown()

    # -- internals ------------------------------------------------------------------

    def _submit(
        self,
        order: WorkOrder,
        document: ray.ObjectRef,
        progress: Queue | None,
        running: _RunningJob,
    ) -> dict[ray.ObjectRef, str]:
        """One task per unit; a task's arguments carry the refs of its dependencies."""
        refs: dict[str, ray.ObjectRef] = {}
        closure: dict[str, set[str]] = {}  # unit -> units of this run it depends on
        largest = _largest_node()
        fitted = {kind: _fit(wanted, largest) for kind, wanted in self.resources.items()}
        for unit in order.units:
            within = {d for d in unit.depends if d in refs}
            closure[unit.key] = within.union(*(closure[d] for d in within))
            resources = fitted.get(unit.kind) or _fit(UnitResources(), largest)
            options: dict[str, Any] = {
                "name": f"robustedge:{order.job_id[:12]}:{unit.key}",
                "num_cpus": resources.num_cpus,
                "max_retries": self.max_retries,
                # An exception in a unit is a result (a failed unit), not a reason to retry.
                "retry_exceptions": False,
            }
            if resources.memory_bytes:
                options["memory"] = resources.memory_bytes
            ref = self._task.options(**options).remote(
                document,
                asdict(unit),
                progress.actor if progress is not None else None,
                self.store,
                *(refs[d] for d in sorted(closure[unit.key])),
            )
            refs[unit.key] = ref
            with self._lock:
                running.refs.append(ref)
                cancelled = running.cancelled
            if cancelled:  # cancel() came while submitting: it missed this task
                _cancel_all([ref])
        return {ref: key for key, ref in refs.items()}

    def _collect(
        self,
        keys: dict[ray.ObjectRef, str],
        progress: Queue | None,
        on_message: Callable[[Message], None],
    ) -> int:
        pending = list(keys)
        reported: set[str] = set()
        lost = 0
        closing_seen = False
        while pending:
            if self._closing.is_set() and not closing_seen:
                closing_seen = True
                _cancel_all(pending)
            ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_SECONDS)
            self._forward_progress(progress, reported, on_message)
            for ref in ready:
                key = keys[ref]
                try:
                    message = ray.get(ref)
                except (ray.exceptions.RayError, ConnectionError) as exc:
                    # Retries exhausted, cancelled, or the cluster is gone: the unit
                    # stays unrecorded and the job manager runs it again.
                    log.warning("unit %s was not finished: %s", key, _first_line(exc))
                    lost += 1
                    continue
                reported.add(key)
                on_message(message)
        self._forward_progress(progress, reported, on_message)
        return 1 if lost or self._closing.is_set() else 0

    @staticmethod
    def _forward_progress(
        progress: Queue | None, reported: set[str], on_message: Callable[[Message], None]
    ) -> None:
        if progress is None:
            return
        try:
            messages = progress.get_nowait_batch(progress.qsize())
        except (Empty, ray.exceptions.RayError):
            return
        for message in messages:
            # A progress message can overtake its unit's done message on the way here;
            # once a unit is reported, a late one would move the job's fraction back.
            if message.get("unit") not in reported:
                on_message(message)

    def _fetch_service_files(self, job_id: str, job_dir: Path) -> None:
        """With an artifact store: the kept files (``robustedge download``) and unit logs."""
        if self._files is None:
            return
        for prefix in SERVICE_PREFIXES:
            try:
                self._files.fetch_missing(job_id, job_dir, under=prefix)
            except self._store_errors as exc:  # the report does not need them
                log.warning("job %s: cannot fetch %s: %s", job_id, prefix, _first_line(exc))

    def _progress_queue(self) -> Queue | None:
        """A queue actor on the service's own node (it lives and dies with the service)."""
        try:
            here = ray.get_runtime_context().get_node_id()
            return Queue(
                actor_options={
                    "num_cpus": 0,
                    "scheduling_strategy": NodeAffinitySchedulingStrategy(here, soft=False),
                }
            )
        except Exception:  # progress is a nicety; the job runs without it
            log.warning("no progress queue on the Ray cluster", exc_info=True)
            return None


def _largest_node() -> UnitResources:
    """The CPUs and memory of the biggest alive node (zeros when none is known)."""
    sizes = [
        UnitResources(
            float(node["Resources"].get("CPU", 0.0)), int(node["Resources"].get("memory", 0))
        )
        for node in ray.nodes()
        if node.get("Alive")
    ]
    return max(sizes, key=lambda r: (r.num_cpus, r.memory_bytes), default=UnitResources(0, 0))


def _fit(wanted: UnitResources, largest: UnitResources) -> UnitResources:
    """Shrinks a request that no node could ever grant (it would wait forever).

    A cluster whose nodes have no CPUs yet (only a head without CPUs) is left alone:
    the tasks wait for worker nodes to join, as on an autoscaling cluster.
    """
    if largest.num_cpus <= 0:
        return wanted
    num_cpus = min(wanted.num_cpus, largest.num_cpus)
    memory = wanted.memory_bytes
    if largest.memory_bytes and memory > largest.memory_bytes:
        memory = largest.memory_bytes
    if (num_cpus, memory) != (wanted.num_cpus, wanted.memory_bytes):
        log.warning(
            "no Ray node has %s CPUs and %d bytes of memory; asking for %s and %d",
            wanted.num_cpus, wanted.memory_bytes, num_cpus, memory,
        )  # fmt: skip
    return UnitResources(num_cpus, memory)


def _cancel_all(refs: list[ray.ObjectRef]) -> None:
    for ref in refs:
        # A task that already finished or was cancelled raises nothing worth reporting.
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=True)


def _check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Fails fast when a ``HOST:PORT`` address has nothing listening.

    ``ray.init`` retries an unreachable GCS for minutes, which would leave the server
    hanging at start-up on a typo. ``auto`` and ``ray://`` addresses are left to Ray.
    """
    host, _, port = address.rpartition(":")
    if not host or "://" in address or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConnectionError(f"no Ray cluster answers at {address!r}: {exc}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

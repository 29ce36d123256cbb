"""Jobs: submission, the local executor, progress fan-out, cancellation and resume.

The local executor runs up to ``max_concurrent_jobs`` jobs at a time. Each running
job gets a worker subprocess (``robustedge.service.worker``) in its own process
group; the executor thread feeds it the job's unfinished units, records every
unit in the store as it finishes, and turns the worker's messages into progress
events. A worker that dies is restarted on the remaining units up to
``max_attempts`` times; a server restart puts running jobs back in the queue, and
they resume from their finished units.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from robustedge.service import job_inputs
from robustedge.service import report as report_module
from robustedge.service.artifacts import ArtifactStore, sha256_of
from robustedge.service.errors import DataLoss, NotFound
from robustedge.service.executor import Executor, ExecutorConfig, WorkOrder, make_executor
from robustedge.service.pipeline import KEPT_FILES
from robustedge.service.plan import AttackTraits, Unit, plan_units
from robustedge.service.store import JobStore, UnitRecord
from robustedge.v1 import evaluation_pb2 as pb

log = logging.getLogger(__name__)

TERMINAL = (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)
# Progress is written to the database at most this often per job (events are not throttled).
DB_PROGRESS_INTERVAL = 1.0


class _Feed:
    """The latest event of one job; watchers wait for its sequence number to change."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.event: pb.ProgressEvent | None = None

    def newer_than(self, sequence: int) -> bool:
        return self.event is not None and self.event.sequence > sequence

    def publish(self, event: pb.ProgressEvent) -> None:
        with self.cond:
            event.sequence = (self.event.sequence + 1) if self.event else 1
            self.event = event
            self.cond.notify_all()


class JobManager:
    def __init__(
        self,
        store: JobStore,
        artifacts: ArtifactStore,
        jobs_dir: Path,
        config: ExecutorConfig,
        executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.jobs_dir = jobs_dir
        self.config = config
        self.executor: Executor = executor or make_executor(config)
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._feeds: dict[str, _Feed] = {}
        self._feeds_lock = threading.Lock()
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Requeues jobs a previous process left running, then starts the executor threads."""
        for job_id in self.store.jobs_in_states((pb.JOB_STATE_RUNNING,)):
            log.info("resuming job %s after a restart", job_id)
            self.store.requeue(job_id)
        for job_id in self.store.jobs_in_states((pb.JOB_STATE_QUEUED,)):
            self._queue.put(job_id)
        for i in range(self.config.max_concurrent_jobs):
            thread = threading.Thread(target=self._run_loop, name=f"executor-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the executor; running workers are killed and their jobs stay resumable."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        shutdown = getattr(self.executor, "shutdown", None)
        if shutdown is not None:
            shutdown()
        for thread in self._threads:
            thread.join(timeout)

    # -- requests -------------------------------------------------------------------

    def submit(self, job: pb.Job, owner: str) -> pb.Job:
        job.id = job.id or uuid.uuid4().hex
        job.state = pb.JOB_STATE_QUEUED
        job.created_at.GetCurrentTime()
        stored = self.store.insert_job(job, owner)
        if stored.id == job.id:
            self._feed(job.id).publish(self._event(stored, "queued", "waiting for a worker"))
            self._queue.put(job.id)
        return self.get(stored.id)

    def get(self, job_id: str, owner: str | None = None) -> pb.Job:
        """The job; ``owner`` restricts it to that principal's jobs (None: internal use)."""
        job = self.store.get_job(job_id, owner)
        if job is None:
            raise NotFound(f"unknown job {job_id!r}")
        return job

    def kept_file(self, job_id: str, owner: str | None, name: str) -> Path:
        """The path of a file the job lists in its report, checked against its sha256.

        Only names the job itself listed are served, so a client-chosen name can never
        reach outside the job's folder.
        """
        self.get(job_id, owner)
        report = self.store.get_report(job_id)
        listed = {f.name: f for f in report.files} if report is not None else {}
        if name not in listed:
            raise NotFound(f"job {job_id} has no file {name!r}; see the report's files")
        path = self.jobs_dir / job_id / KEPT_FILES / name
        try:
            actual = sha256_of(path)
        except OSError as exc:
            raise DataLoss(f"file {name!r} of job {job_id} is missing on the server") from exc
        if actual != listed[name].sha256:
            raise DataLoss(f"file {name!r} of job {job_id} is corrupted on the server")
        return path

    def cancel(self, job_id: str, owner: str | None = None) -> pb.Job:
        job = self.get(job_id, owner)
        if job.state in TERMINAL:
            return job
        with self._lock:
            self._cancelled.add(job_id)
        self.executor.cancel(job_id)
        if job.state == pb.JOB_STATE_QUEUED:
            self._finish(job_id, pb.JOB_STATE_CANCELLED, "cancelled by the client")
        return self.get(job_id)

    def watch(
        self, job_id: str, owner: str | None, is_active: Callable[[], bool]
    ) -> Iterator[pb.ProgressEvent]:
        """Yields the current state, then each new event, until the job is finished."""
        job = self.get(job_id, owner)
        feed = self._feed(job_id)
        current = self._event(job, job.stage, "")
        with feed.cond:
            last = feed.event.sequence if feed.event else 0
            current.sequence = last
        yield current
        if job.state in TERMINAL:
            return
        while is_active() and not self._stopping.is_set():
            with feed.cond:
                feed.cond.wait_for(functools.partial(feed.newer_than, last), timeout=1.0)
                event = feed.event
            if event is None or event.sequence <= last:
                continue
            last = event.sequence
            yield event
            if event.state in TERMINAL:
                return

    # -- executor -------------------------------------------------------------------

    def _run_loop(self) -> None:
        while not self._stopping.is_set():
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self._run_job(job_id)
            except Exception:  # one broken job must not stop the executor
                log.exception("job %s failed in the executor", job_id)
                self._finish(job_id, pb.JOB_STATE_FAILED, "internal error in the executor")

    def _run_job(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.state != pb.JOB_STATE_QUEUED or job_id in self._cancelled:
            return
        plan = _plan(job.spec)
        while True:
            done = self.store.units(job_id)
            remaining = [u for u in plan if u.key not in done]
            if not remaining:
                break
            job = self.get(job_id)
            if job.attempts >= self.config.max_attempts:
                self._finish(
                    job_id,
                    pb.JOB_STATE_FAILED,
                    f"the worker stopped unexpectedly {job.attempts} times; giving up",
                )
                return
            self.store.mark_started(job_id, len(plan))
            self._publish(job_id, "running", f"{len(remaining)} of {len(plan)} units to run")
            try:
                returncode = self._run_worker(job, plan, remaining, done)
            except DataLoss as exc:
                self._finish(job_id, pb.JOB_STATE_FAILED, str(exc))  # retrying cannot help
                return
            if self._stopping.is_set():
                return  # left RUNNING on purpose: the next start resumes it
            if job_id in self._cancelled:
                self._finish(job_id, pb.JOB_STATE_CANCELLED, "cancelled by the client")
                return
            if returncode != 0:
                log.warning("worker of job %s exited with %s", job_id, returncode)
        units = self.store.units(job_id)
        reason = report_module.base_failed(plan, units)
        if reason:
            self._finish(
                job_id, pb.JOB_STATE_FAILED, f"the base model could not be evaluated: {reason}"
            )
        else:
            self._finish(job_id, pb.JOB_STATE_SUCCEEDED)

    def _run_worker(
        self, job: pb.Job, plan: list[Unit], remaining: list[Unit], done: dict[str, UnitRecord]
    ) -> int:
        # Re-hashed inputs (DataLoss when a stored file changed), and the runnable copy
        # of a model whose IR version validation had to lower.
        inputs = job_inputs.resolve(self.store, self.artifacts, job.model_id, job.dataset_id)
        order = WorkOrder(
            job_id=job.id,
            job_dir=self.jobs_dir / job.id,
            model_path=inputs.model_path,
            dataset_path=inputs.dataset_path,
            spec=json_format.MessageToDict(job.spec),
            units=remaining,
            results={k: r.result for k, r in done.items() if r.ok},
            failed=[k for k, r in done.items() if not r.ok],
        )
        progress = _Progress(plan, done)

        def on_message(message: dict[str, Any]) -> None:
            key = str(message["unit"])
            stage = progress.stages.get(key, key)
            if message["type"] == "done":
                record = UnitRecord(
                    key,
                    bool(message["ok"]),
                    message.get("result", {}),
                    message.get("error", ""),
                    float(message.get("seconds", 0.0)),
                )
                self.store.record_unit(job.id, record)
                fraction = progress.finished(key)
                self.store.set_progress(job.id, fraction, stage)
                progress.last_db_write = time.monotonic()
                status = "done" if record.ok else f"failed: {record.error}"
                self._publish(job.id, stage, status, fraction)
            else:
                fraction = progress.partial(key, float(message["fraction"]))
                if time.monotonic() - progress.last_db_write > DB_PROGRESS_INTERVAL:
                    self.store.set_progress(job.id, fraction, stage)
                    progress.last_db_write = time.monotonic()
                self._publish(job.id, stage, message["message"], fraction)

        return self.executor.run(order, on_message)

    def _finish(self, job_id: str, state: int, error: str = "") -> None:
        job = self.get(job_id)
        job.state = state
        job.error = error
        report = None
        if state != pb.JOB_STATE_CANCELLED or self.store.units(job_id):
            report = self._report(job)
        self.store.finish_job(job_id, state, error, report)
        message = {
            pb.JOB_STATE_SUCCEEDED: "finished",
            pb.JOB_STATE_FAILED: error,
            pb.JOB_STATE_CANCELLED: error or "cancelled",
        }[state]
        self._publish(job_id, pb.JobState.Name(state).removeprefix("JOB_STATE_").lower(), message)

    def _report(self, job: pb.Job) -> pb.Report | None:
        model = self.store.get_artifact(job.model_id, pb.ARTIFACT_KIND_MODEL, owner=None)
        dataset = self.store.get_artifact(job.dataset_id, pb.ARTIFACT_KIND_DATASET, owner=None)
        if model is None or dataset is None:
            return None
        try:
            return report_module.assemble(
                job,
                model.model,
                dataset.dataset,
                _plan(job.spec),
                self.store.units(job.id),
                extra_flags=self._input_flags(job),
            )
        except Exception:  # a report bug must not leave the job running
            log.exception("report assembly failed for job %s", job.id)
            return None

    def _input_flags(self, job: pb.Job) -> list[dict[str, Any]]:
        derived = self.store.get_derived(job.model_id, job_inputs.RUNNABLE)
        if derived is None:
            return []
        return [
            {
                "code": "model_ir_lowered",
                "severity": "FLAG_SEVERITY_INFO",
                "message": f"The uploaded model was evaluated as a lowered copy: {derived.note}",
            }
        ]

    # -- events ---------------------------------------------------------------------

    def _feed(self, job_id: str) -> _Feed:
        with self._feeds_lock:
            return self._feeds.setdefault(job_id, _Feed())

    def _publish(
        self, job_id: str, stage: str, message: str, fraction: float | None = None
    ) -> None:
        job = self.get(job_id)
        event = self._event(job, stage, message)
        if fraction is not None:
            event.fraction = fraction
        self._feed(job_id).publish(event)

    @staticmethod
    def _event(job: pb.Job, stage: str, message: str) -> pb.ProgressEvent:
        event = pb.ProgressEvent(
            job_id=job.id, state=job.state, stage=stage, fraction=job.progress, message=message
        )
        event.time.GetCurrentTime()
        return event


def _plan(spec: pb.EvaluationSpec) -> list[Unit]:
    return plan_units(spec, attack_traits(spec))


def attack_traits(spec: pb.EvaluationSpec) -> dict[str, AttackTraits]:
    """The plan's view of each attack of the spec, from the attack registry."""
    from robustedge.attacks import Need, get_attack

    traits = {}
    for name in {a.attack for a in spec.attacks}:
        attack = get_attack(name)
        traits[name] = AttackTraits(
            needs_gradients=attack.needs == Need.GRADIENTS,
            sample_separable=attack.sample_separable,
            epsilon_independent=attack.epsilon_independent,
        )
    return traits


class _Progress:
    """Overall fraction done, weighting each unit by its rough cost."""

    def __init__(self, plan: list[Unit], done: dict[str, UnitRecord]) -> None:
        self.weights = {u.key: u.weight for u in plan}
        self.stages = {u.key: u.stage for u in plan}
        self.total = sum(self.weights.values()) or 1.0
        self.done = sum(self.weights[k] for k in done if k in self.weights)
        self.last_db_write = 0.0

    def finished(self, key: str) -> float:
        self.done += self.weights.get(key, 0.0)
        return self.done / self.total

    def partial(self, key: str, fraction: float) -> float:
        return (self.done + self.weights.get(key, 0.0) * fraction) / self.total

"""The job store: one SQLite file (WAL mode) for artifacts, jobs and finished units.

A unit of work (building a variant, one attack on one variant, a latency
measurement) is recorded here the moment it finishes, so a restarted service
resumes a job from its finished units and never computes one twice.

One connection guarded by a lock: the service's writes are small and few per
second, and a single writer is what SQLite wants anyway.

A database that is not one, or fails SQLite's ``quick_check``, refuses to open with
a :class:`StoreError` that says what to do, rather than serving from damaged state;
a write that finds the disk full becomes RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustedge.service.errors import ResourceExhausted
from robustedge.v1 import evaluation_pb2 as pb

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts (
    id TEXT PRIMARY KEY,
    kind INTEGER NOT NULL,
    info BLOB NOT NULL,            -- serialized robustedge.v1.Artifact
    created_at REAL NOT NULL
);
-- Which principal (token name; '' when authentication is off) may see an artifact.
CREATE TABLE IF NOT EXISTS ownership (
    owner TEXT NOT NULL,
    artifact_id TEXT NOT NULL REFERENCES artifacts (id),
    PRIMARY KEY (owner, artifact_id)
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    request_id TEXT,
    state INTEGER NOT NULL,
    model_id TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    preset TEXT NOT NULL,
    spec BLOB NOT NULL,            -- serialized robustedge.v1.EvaluationSpec (resolved)
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    units_total INTEGER NOT NULL DEFAULT 0,
    report BLOB                    -- serialized robustedge.v1.Report once finished
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (owner, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_request ON jobs (owner, request_id);
CREATE TABLE IF NOT EXISTS units (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    key TEXT NOT NULL,
    ok INTEGER NOT NULL,           -- 1 finished with a result, 0 failed with an error
    result TEXT NOT NULL,          -- JSON
    error TEXT NOT NULL,
    seconds REAL NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (job_id, key)
);
-- Files derived from an upload by validation, e.g. purpose 'runnable': the upload with
-- its IR version lowered for the installed onnxruntime. derived_id names an artifact file.
CREATE TABLE IF NOT EXISTS derived (
    artifact_id TEXT NOT NULL REFERENCES artifacts (id),
    purpose TEXT NOT NULL,
    derived_id TEXT NOT NULL,
    note TEXT NOT NULL,
    PRIMARY KEY (artifact_id, purpose)
);
"""

_PENDING_STATES = (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING)


@dataclass(frozen=True)
class UnitRecord:
    key: str
    ok: bool
    result: dict[str, Any]
    error: str
    seconds: float


class StoreError(Exception):
    """The database cannot be opened, is corrupt, or has an unexpected schema."""


@dataclass(frozen=True)
class Derived:
    """A file validation derived from an upload, and what was changed."""

    artifact_id: str
    note: str


class JobStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._check_integrity()
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"cannot open job store {path.name}: {exc}. If the file is damaged, stop the"
                f" server, move {path.name} (and its -wal/-shm files) aside and restore a"
                " backup, or start with an empty data dir"
            ) from exc

    def _check_integrity(self) -> None:
        # quick_check reads every page (O(size), milliseconds for a job store) and finds
        # what a bit flip or a torn copy leaves behind; "ok" is its only good answer.
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError(f"the database is corrupt ({'; '.join(problems)[:300]})")

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(f"job store schema {row[0]} is not the supported {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if "full" in str(exc):  # SQLITE_FULL: "database or disk is full"
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise ResourceExhausted("the server is out of disk space; retry later") from exc
                raise

    # -- artifacts ---------------------------------------------------------------

    def put_artifact(self, artifact: pb.Artifact, owner: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO artifacts (id, kind, info, created_at) VALUES (?, ?, ?, ?)",
                (artifact.id, artifact.kind, artifact.SerializeToString(), time.time()),
            )
            db.execute(
                "INSERT OR IGNORE INTO ownership (owner, artifact_id) VALUES (?, ?)",
                (owner, artifact.id),
            )

    def get_artifact(self, artifact_id: str, kind: int, owner: str | None) -> pb.Artifact | None:
        """The artifact if it exists and ``owner`` may see it (None: any owner, internal use)."""
        query = "SELECT info FROM artifacts WHERE id=? AND kind=?"
        args: tuple[Any, ...] = (artifact_id, kind)
        if owner is not None:
            query += " AND id IN (SELECT artifact_id FROM ownership WHERE owner=?)"
            args += (owner,)
        with self._lock:
            row = self._db.execute(query, args).fetchone()
        return pb.Artifact.FromString(row[0]) if row else None

    def put_derived(self, artifact_id: str, purpose: str, derived: Derived) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO derived (artifact_id, purpose, derived_id, note)"
                " VALUES (?, ?, ?, ?)",
                (artifact_id, purpose, derived.artifact_id, derived.note),
            )

    def get_derived(self, artifact_id: str, purpose: str) -> Derived | None:
        with self._lock:
            row = self._db.execute(
                "SELECT derived_id, note FROM derived WHERE artifact_id=? AND purpose=?",
                (artifact_id, purpose),
            ).fetchone()
        return Derived(row[0], row[1]) if row else None

    # -- jobs --------------------------------------------------------------------

    def has_request(self, owner: str, request_id: str) -> bool:
        """Whether ``owner`` already submitted a job with this request_id."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM jobs WHERE owner=? AND request_id=?", (owner, request_id)
            ).fetchone()
        return row is not None

    def count_pending_jobs(self, owner: str) -> int:
        """Queued or running jobs of one principal."""
        with self._lock:
            (count,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE owner=? AND state IN (?, ?)",
                (owner, *_PENDING_STATES),
            ).fetchone()
        return int(count)

    def insert_job(self, job: pb.Job, owner: str) -> pb.Job:
        """Inserts a queued job; with a request_id the owner already used, returns that job."""
        with self._tx() as db:
            if job.request_id:
                row = db.execute(
                    "SELECT id FROM jobs WHERE owner=? AND request_id=?", (owner, job.request_id)
                )
                existing = row.fetchone()
                if existing:
                    found = self._get_job_locked(existing[0])
                    assert found is not None
                    return found
            db.execute(
                "INSERT INTO jobs (id, owner, request_id, state, model_id, dataset_id, preset,"
                " spec, created_at, units_total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    owner,
                    job.request_id or None,
                    job.state,
                    job.model_id,
                    job.dataset_id,
                    job.preset,
                    job.spec.SerializeToString(),
                    job.created_at.ToDatetime().timestamp() if job.HasField("created_at") else 0,
                    job.units_total,
                ),
            )
        return job

    def get_job(self, job_id: str, owner: str | None = None) -> pb.Job | None:
        """The job if it exists and ``owner`` may see it (None: any owner, internal use)."""
        with self._lock:
            if (
                owner is not None
                and not self._db.execute(
                    "SELECT 1 FROM jobs WHERE id=? AND owner=?", (job_id, owner)
                ).fetchone()
            ):
                return None
            return self._get_job_locked(job_id)

    _JOB_COLUMNS = (
        "id, request_id, state, model_id, dataset_id, preset, spec, created_at, started_at,"
        " finished_at, progress, stage, error, attempts, units_total"
    )

    def _get_job_locked(self, job_id: str) -> pb.Job | None:
        row = self._db.execute(
            f"SELECT {self._JOB_COLUMNS} FROM jobs WHERE id=?", (job_id,)
        ).fetchone()
        if row is None:
            return None
        job = self._row_to_job(row)
        job.units_done = self._db.execute(
            "SELECT COUNT(*) FROM units WHERE job_id=?", (job_id,)
        ).fetchone()[0]
        return job

    @staticmethod
    def _row_to_job(row: tuple[Any, ...]) -> pb.Job:
        (jid, request_id, state, model_id, dataset_id, preset, spec, created, started, finished,
         progress, stage, error, attempts, units_total) = row  # fmt: skip
        job = pb.Job(
            id=jid,
            request_id=request_id or "",
            state=state,
            model_id=model_id,
            dataset_id=dataset_id,
            preset=preset,
            spec=pb.EvaluationSpec.FromString(spec),
            progress=progress,
            stage=stage,
            error=error,
            attempts=attempts,
            units_total=units_total,
        )
        for field, value in (("created_at", created), ("started_at", started),
                             ("finished_at", finished)):  # fmt: skip
            if value:
                getattr(job, field).FromNanoseconds(int(value * 1e9))
        return job

    def list_jobs(self, owner: str, limit: int) -> list[pb.Job]:
        with self._lock:
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT id FROM jobs WHERE owner=? ORDER BY created_at DESC, rowid DESC"
                    " LIMIT ?",
                    (owner, limit),
                )
            ]
            return [job for job in (self._get_job_locked(i) for i in ids) if job is not None]

    def jobs_in_states(self, states: tuple[int, ...]) -> list[str]:
        marks = ",".join("?" * len(states))
        with self._lock:
            return [
                r[0]
                for r in self._db.execute(
                    f"SELECT id FROM jobs WHERE state IN ({marks}) ORDER BY created_at, rowid",
                    states,
                )
            ]

    def mark_started(self, job_id: str, units_total: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state=?, started_at=COALESCE(started_at, ?),"
                " attempts=attempts+1, units_total=? WHERE id=?",
                (pb.JOB_STATE_RUNNING, time.time(), units_total, job_id),
            )

    def requeue(self, job_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET state=? WHERE id=?", (pb.JOB_STATE_QUEUED, job_id))

    def set_progress(self, job_id: str, progress: float, stage: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET progress=?, stage=? WHERE id=?", (progress, stage, job_id))

    def finish_job(
        self, job_id: str, state: int, error: str = "", report: pb.Report | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE jobs SET state=?, finished_at=?, error=?, report=?,"
                " progress=CASE WHEN ?=? THEN 1.0 ELSE progress END WHERE id=?",
                (
                    state,
                    time.time(),
                    error,
                    report.SerializeToString() if report is not None else None,
                    state,
                    pb.JOB_STATE_SUCCEEDED,
                    job_id,
                ),
            )

    def get_report(self, job_id: str) -> pb.Report | None:
        with self._lock:
            row = self._db.execute("SELECT report FROM jobs WHERE id=?", (job_id,)).fetchone()
        return pb.Report.FromString(row[0]) if row and row[0] is not None else None

    # -- units -------------------------------------------------------------------

    def record_unit(self, job_id: str, record: UnitRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO units (job_id, key, ok, result, error, seconds,"
                " finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    record.key,
                    int(record.ok),
                    json.dumps(record.result),
                    record.error,
                    record.seconds,
                    time.time(),
                ),
            )

    def units(self, job_id: str) -> dict[str, UnitRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, ok, result, error, seconds FROM units WHERE job_id=?", (job_id,)
            ).fetchall()
        return {
            key: UnitRecord(key, bool(ok), json.loads(result), error, seconds)
            for key, ok, result, error, seconds in rows
        }

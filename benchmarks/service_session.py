"""A real ``robustedge-server`` process and the digits example, for figures 5-7.

The server is started the way the service tests start it
(tests/service/server_process.py: port 0, ``--port-file``) in a throw-away data dir
under /tmp, so the benchmark measures exactly what a user runs, and reads the job
store (SQLite) of that data dir for the units' own compute time.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "service"))
sys.path.insert(0, str(REPO / "examples"))

import digits  # noqa: E402
from server_process import ServerProcess, start_server  # noqa: E402


@dataclass
class Digits:
    model: Path
    dataset: Path


def build_digits(work: Path) -> Digits:
    """The trained digits CNN and its evaluation set (about 5 s, no download)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = digits.build(work / "digits")
    return Digits(built.model, built.dataset)


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temp folder on /tmp, removed afterwards (it may hold a 500 MB blob)."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir="/tmp") as folder:
        yield Path(folder)


@contextmanager
def server(data_dir: Path, extra_args: list[str] | None = None) -> Iterator[ServerProcess]:
    process = start_server(data_dir, "server.log", extra_args)
    try:
        yield process
    finally:
        process.stop()


def unit_seconds(data_dir: Path, job_id: str) -> list[tuple[str, float, bool]]:
    """(key, seconds, ok) of every unit the job store recorded for a job."""
    return [(key, seconds, ok) for key, seconds, ok, _ in units(data_dir, job_id)]


def units(data_dir: Path, job_id: str) -> list[tuple[str, float, bool, float]]:
    """(key, seconds, ok, finished_at) of every recorded unit of a job, in finishing order."""
    with sqlite3.connect(data_dir / "robustedge.sqlite") as db:
        return [
            (key, float(seconds), bool(ok), float(finished))
            for key, seconds, ok, finished in db.execute(
                "SELECT key, seconds, ok, finished_at FROM units WHERE job_id = ?"
                " ORDER BY finished_at",
                (job_id,),
            )
        ]


def job_times(data_dir: Path, job_id: str) -> dict[str, float | None]:
    """created_at / started_at / finished_at of a job (server clock, epoch seconds)."""
    with sqlite3.connect(data_dir / "robustedge.sqlite") as db:
        created, started, finished = db.execute(
            "SELECT created_at, started_at, finished_at FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    return {"created_at": created, "started_at": started, "finished_at": finished}

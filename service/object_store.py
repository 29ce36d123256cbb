"""Job files in an S3-compatible object store, for Ray clusters without a shared filesystem.

With ``robustedge-server --executor ray --artifact-store s3://BUCKET/PREFIX`` the
job directory no longer has to be a path every node mounts. Units keep reading and
writing files in a job directory; what changes is where that directory lives:

- ``PREFIX/jobs/<job>/`` in the bucket mirrors the job directory. The service uploads
  the job's inputs there (``inputs/model.onnx``, ``inputs/dataset.npz``) before the
  first task, and every unit uploads the files it wrote before it reports ``done``:
  a unit is recorded only once its files are in the store, so a resumed job finds
  them.
- On each node, ``$ROBUSTEDGE_CACHE_DIR/<job>/`` (default under the system temp
  dir) is a cache of that prefix shared by the node's units. Every file of a job is
  written by exactly one unit and never changed afterwards, so a file that is in the
  cache is current: before a unit, the node downloads only what its cache lacks.
- Each unit runs in a private directory of hard links to the cache
  (:func:`unit_directory`). What it creates or changes there is its own output,
  whatever the other units of the node do meanwhile; that is what gets uploaded, and
  then moved into the cache.

The service reads none of the units' files except the kept ones that ``robustedge
download`` serves (``files/``) and the units' logs (``logs/``), which it downloads
into its own job directory when a run ends.

Credentials and the endpoint come from each process's own environment, as for any
boto3 program (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or an instance role,
``AWS_ENDPOINT_URL`` for MinIO and other S3-compatible stores, ``AWS_REGION``); they
never travel through Ray. boto3 is the ``s3`` extra (``pip install
'robustedge[s3]'``), imported only when a store is configured.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INPUTS = "inputs"
MODEL_INPUT = f"{INPUTS}/model.onnx"
DATASET_INPUT = f"{INPUTS}/dataset.npz"
# Written by units, read by the service after a run (kept files, per-unit logs).
SERVICE_PREFIXES = ("files/", "logs/")
# Never fetched to run a unit: logs are for people, not for other units.
NOT_FETCHED = ("logs/",)
CACHE_ENV = "ROBUSTEDGE_CACHE_DIR"
# A node's cached job whose last unit started this long ago is removed at the next unit.
CACHE_TTL_SECONDS = 24 * 3600
_UNIT_DIRS = ".units"


class ObjectStoreError(ConnectionError):
    """The store cannot be used: bad URL, missing bucket, no credentials, no boto3."""


@dataclass(frozen=True)
class ObjectStoreLocation:
    """Where a deployment keeps its job files: ``s3://BUCKET/PREFIX``.

    Small and picklable: it travels to every Ray task; credentials do not.
    """

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> ObjectStoreLocation:
        scheme, sep, rest = url.partition("://")
        if scheme != "s3" or not sep:
            raise ObjectStoreError(f"artifact store {url!r}: expected s3://BUCKET[/PREFIX]")
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ObjectStoreError(f"artifact store {url!r} names no bucket")
        return cls(bucket, prefix.strip("/"))

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def job_prefix(self, job_id: str) -> str:
        """The key prefix of one job's files, ending with ``/``."""
        return "/".join(p for p in (self.prefix, "jobs", job_id) if p) + "/"


def _client() -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # the optional extra is missing
        raise ObjectStoreError(
            "an S3 artifact store needs boto3: pip install 'robustedge[s3]'"
        ) from exc
    # Standard retries with backoff: a busy store answers 503 SlowDown under load.
    return boto3.client("s3", config=Config(retries={"max_attempts": 8, "mode": "standard"}))


def store_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a failing store raises (boto3 and botocore have trees of their own)."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (ObjectStoreError, Boto3Error, BotoCoreError, ClientError, OSError)


class JobFiles:
    """The files of jobs under one :class:`ObjectStoreLocation`."""

    def __init__(self, location: ObjectStoreLocation, client: Any = None) -> None:
        self.location = location
        self._s3 = client if client is not None else _client()

    def check(self) -> None:
        """Fails with a clear message when the bucket cannot be reached or listed."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3.list_objects_v2(
                Bucket=self.location.bucket, Prefix=self.location.prefix, MaxKeys=1
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise ObjectStoreError(f"artifact store {self.location.url}: {code}") from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(f"artifact store {self.location.url}: {exc}") from exc

    def listing(self, job_id: str, under: str = "") -> dict[str, int]:
        """Relative path -> size of the job's files (under ``under``, a folder ``x/``)."""
        prefix = self.location.job_prefix(job_id)
        found: dict[str, int] = {}
        pages = self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=prefix + under
        )
        for page in pages:
            for item in page.get("Contents", []):
                found[item["Key"][len(prefix) :]] = int(item["Size"])
        return found

    def upload(self, job_id: str, relative: str, source: Path) -> None:
        key = self.location.job_prefix(job_id) + relative
        self._s3.upload_file(str(source), self.location.bucket, key)

    def download(self, job_id: str, relative: str, target: Path) -> None:
        """Downloads one file to ``target`` atomically (a temp name, then a rename).

        Two units of a node may fetch the same file at once; neither ever sees the
        other's half-written copy.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        key = self.location.job_prefix(job_id) + relative
        try:
            self._s3.download_file(self.location.bucket, key, str(temp))
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    def fetch_missing(
        self, job_id: str, target: Path, *, under: str = "", skip: Iterable[str] = ()
    ) -> list[str]:
        """Downloads the job's files that ``target`` lacks (or holds at another size)."""
        skipped = tuple(skip)
        fetched = []
        for relative, size in sorted(self.listing(job_id, under).items()):
            if relative.startswith(skipped):
                continue
            path = target / relative
            if path.is_file() and path.stat().st_size == size:
                continue
            self.download(job_id, relative, path)
            fetched.append(relative)
        return fetched

    def upload_inputs(self, job_id: str, model_path: Path, dataset_path: Path) -> None:
        """The job's model and dataset, once per job (present ones are kept)."""
        present = self.listing(job_id, INPUTS + "/")
        for relative, source in ((MODEL_INPUT, model_path), (DATASET_INPUT, dataset_path)):
            if present.get(relative) != source.stat().st_size:
                self.upload(job_id, relative, source)


def cache_root() -> Path:
    """This node's cache of job files: ``$ROBUSTEDGE_CACHE_DIR`` or the temp dir."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / "robustedge-cache"


def _signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _files(root: Path) -> Iterator[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            yield Path(folder) / name


def _link_tree(source: Path, target: Path) -> dict[str, tuple[int, int, int]]:
    """Hard-links every file of ``source`` into ``target``; returns their signatures."""
    linked = {}
    for path in _files(source):
        relative = path.relative_to(source)
        if relative.name.endswith(".part"):
            continue  # another unit's download in flight
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
        except OSError:  # a filesystem without hard links: copy instead
            shutil.copy2(path, destination)
        linked[relative.as_posix()] = _signature(destination)
    return linked


def _sweep_cache(root: Path, keep: str, ttl: float = CACHE_TTL_SECONDS) -> None:
    """Removes cached jobs that no unit of this node touched for ``ttl`` seconds, and
    private unit directories as old (left by units killed mid-run: a cancelled task,
    a worker that died)."""
    cutoff = time.time() - ttl
    entries = [e for e in _entries(root) if e.name not in (keep, _UNIT_DIRS)]
    for entry in [*entries, *_entries(root / _UNIT_DIRS)]:
        with contextlib.suppress(OSError):
            if entry.is_dir() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                log.info("removed %s from the node's cache (idle)", entry.name)


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:  # not created yet
        return []


@dataclass
class UnitDirectory:
    """A unit's private job directory; ``uploaded`` lists its files once it returned."""

    path: Path
    uploaded: list[str] = field(default_factory=list)


@contextlib.contextmanager
def unit_directory(
    files: JobFiles, job_id: str, root: Path | None = None
) -> Iterator[UnitDirectory]:
    """A private job directory for one unit, synchronised with the store.

    Before: the node's cache fetches what it lacks, and the unit gets a directory of
    hard links to it. After the unit returns: every file it created or rewrote is
    uploaded, then moved into the cache for the node's next units. When the unit
    raises, nothing is uploaded (a failed unit's partial files must not look like
    results), and the exception propagates.
    """
    root = root or cache_root()
    cache = root / job_id
    cache.mkdir(parents=True, exist_ok=True)
    os.utime(cache)  # marks the job as in use for _sweep_cache on this node
    _sweep_cache(root, keep=job_id)
    files.fetch_missing(job_id, cache, skip=NOT_FETCHED)
    private = root / _UNIT_DIRS / f"{job_id}-{uuid.uuid4().hex[:12]}"
    private.mkdir(parents=True)
    unit = UnitDirectory(private)
    try:
        linked = _link_tree(cache, private)
        yield unit
        written = [
            path
            for path in sorted(_files(private))
            if linked.get(path.relative_to(private).as_posix()) != _signature(path)
        ]
        for path in written:
            relative = path.relative_to(private).as_posix()
            files.upload(job_id, relative, path)
            destination = cache / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, destination)
            unit.uploaded.append(relative)
        log.info("unit uploaded %d file(s) to %s", len(written), files.location.url)
    finally:
        shutil.rmtree(private, ignore_errors=True)

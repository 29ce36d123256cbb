"""Content-addressed artifact files under the data dir.

Uploads are streamed to a temporary file on the same file system as their final
place (so the rename is atomic), hashed on the way, checked against the size and
sha256 the client announced, validated by the caller while still a temp file, and
only then renamed to ``artifacts/<sha[:2]>/<sha>``: a refused upload never enters
the store. A
crash leaves at most a ``*.part`` file, which :meth:`ArtifactStore.sweep_temp`
removes at start-up.

A full disk is answered with RESOURCE_EXHAUSTED and leaves no partial file: an
upload is refused up front when it would leave less than the configured free space,
and an ENOSPC while writing removes the temp file. Bytes that changed on disk after
they were stored are caught by :meth:`ArtifactStore.verified_path`, which re-hashes
a file before a job uses it and answers DATA_LOSS when it no longer matches its name.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from robustedge.service.errors import DataLoss, InvalidArgument, NotFound, ResourceExhausted

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
TEMP_SUFFIX = ".part"


_HASH_BLOCK = 1 << 20
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Received:
    """A verified upload still in its temp file."""

    sha256: str
    temp: Path


class ArtifactStore:
    def __init__(self, root: Path, min_free_bytes: int = 0) -> None:
        self.root = root
        self.min_free_bytes = min_free_bytes
        self.tmp = root / "tmp"
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise NotFound(f"unknown artifact {sha256!r}")
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def verified_path(self, sha256: str) -> Path:
        """The artifact's path after checking its bytes still hash to its name.

        Raises NotFound when the file is gone and DataLoss when it changed on disk (bit
        rot, a truncated copy, tampering): a job must never run on other bytes than the
        ones that were uploaded and validated.
        """
        path = self.path_for(sha256)
        try:
            actual = sha256_of(path)
        except FileNotFoundError as exc:
            raise DataLoss(
                f"stored artifact {sha256[:12]}… is missing on the server; upload it again"
            ) from exc
        if actual != sha256:
            log.error("artifact %s is corrupt on disk (now hashes to %s)", path, actual)
            raise DataLoss(
                f"stored artifact {sha256[:12]}… is corrupt on the server (its bytes changed"
                " since upload); upload it again"
            )
        return path

    def new_temp_path(self) -> Path:
        """A fresh temp file name that :meth:`sweep_temp` cleans up after a crash."""
        return self.tmp / f"{os.getpid()}-{os.urandom(8).hex()}{TEMP_SUFFIX}"

    def adopt(self, temp: Path) -> str:
        """Moves a finished temp file to its content-addressed place; returns its sha256."""
        sha256 = sha256_of(temp)
        final = self.path_for(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        return sha256

    def temp_bytes(self) -> int:
        """Bytes held by unfinished uploads (tests and metrics)."""
        return sum(p.stat().st_size for p in self.tmp.glob(f"*{TEMP_SUFFIX}") if p.is_file())

    def sweep_temp(self) -> int:
        """Removes temp files left by an interrupted upload; returns how many."""
        removed = 0
        for leftover in self.tmp.glob(f"*{TEMP_SUFFIX}"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def _check_free_space(self, incoming: int) -> None:
        free = shutil.disk_usage(self.tmp).free
        if free - incoming < self.min_free_bytes:
            log.warning("refusing an upload of %d bytes: %d bytes free on disk", incoming, free)
            raise ResourceExhausted("the server is out of disk space for this upload; retry later")

    @contextmanager
    def receive(
        self, chunks: Iterable[bytes], *, expected_size: int, expected_sha256: str, max_bytes: int
    ) -> Iterator[Received]:
        """Streams chunks to a temp file and verifies size and sha256; yields the result.

        The caller validates the temp file and calls :meth:`commit` to store it; on
        leaving the block the temp file is removed whatever happened, so an upload
        refused by validation never enters the store.
        """
        expected_sha256 = expected_sha256.lower()
        if not _SHA256.match(expected_sha256):
            raise InvalidArgument("header.sha256 must be 64 lower-case hex characters")
        if expected_size < 0:
            raise InvalidArgument("header.size_bytes must not be negative")
        if expected_size > max_bytes:
            raise ResourceExhausted(
                f"upload of {expected_size} bytes exceeds the server's limit of {max_bytes}"
            )
        self._check_free_space(expected_size)
        digest = hashlib.sha256()
        received = 0
        temp = self.new_temp_path()
        try:
            try:
                with open(temp, "wb") as out:
                    for chunk in chunks:
                        received += len(chunk)
                        if received > expected_size:
                            raise InvalidArgument(
                                f"received more bytes than the announced size {expected_size}"
                            )
                        digest.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as exc:
                if exc.errno in _DISK_FULL:
                    log.error("disk full while storing an upload: %s", exc)
                    raise ResourceExhausted(
                        "the server ran out of disk space while storing the upload; retry later"
                    ) from exc
                raise
            if received != expected_size:
                raise InvalidArgument(
                    f"received {received} bytes but the header announced {expected_size}"
                )
            actual = digest.hexdigest()
            if actual != expected_sha256:
                raise InvalidArgument(
                    f"sha256 mismatch: header says {expected_sha256}, content is {actual}"
                )
            yield Received(actual, temp)
        finally:
            temp.unlink(missing_ok=True)

    def commit(self, received: Received) -> Path:
        """Moves a received upload to its content-addressed place (atomic rename)."""
        final = self.path_for(received.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(received.temp, final)
        return final

    def write_stream(
        self, chunks: Iterable[bytes], *, expected_size: int, expected_sha256: str, max_bytes: int
    ) -> tuple[str, Path]:
        """Streams, verifies and stores a file without further checks; (sha256, path)."""
        with self.receive(
            chunks,
            expected_size=expected_size,
            expected_sha256=expected_sha256,
            max_bytes=max_bytes,
        ) as received:
            return received.sha256, self.commit(received)

"""Content-addressed artifact files under the data dir.

Uploads are streamed to a temporary file in the same folder as their final place
(so the rename is atomic), hashed on the way, checked against the size and sha256
the client announced, and only then renamed to ``artifacts/<sha[:2]>/<sha>``. A
crash leaves at most a ``*.part`` file, which :meth:`ArtifactStore.sweep_temp`
removes at start-up.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from robustedge.service.errors import InvalidArgument, NotFound

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
TEMP_SUFFIX = ".part"


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise NotFound(f"unknown artifact {sha256!r}")
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def sweep_temp(self) -> int:
        """Removes temp files left by an interrupted upload; returns how many."""
        removed = 0
        for leftover in self.tmp.glob(f"*{TEMP_SUFFIX}"):
            leftover.unlink(missing_ok=True)
            removed += 1
        return removed

    def write_stream(
        self, chunks: Iterable[bytes], *, expected_size: int, expected_sha256: str, max_bytes: int
    ) -> tuple[str, Path]:
        """Streams chunks to disk, verifies them and stores the file; returns (sha256, path).

        The temp file is removed whatever happens, unless it became the artifact.
        """
        expected_sha256 = expected_sha256.lower()
        if not _SHA256.match(expected_sha256):
            raise InvalidArgument("header.sha256 must be 64 lower-case hex characters")
        if expected_size < 0:
            raise InvalidArgument("header.size_bytes must not be negative")
        if expected_size > max_bytes:
            raise InvalidArgument(f"upload of {expected_size} bytes exceeds the limit {max_bytes}")
        digest = hashlib.sha256()
        received = 0
        fd_path = self.tmp / f"{os.getpid()}-{os.urandom(8).hex()}{TEMP_SUFFIX}"
        try:
            with open(fd_path, "wb") as out:
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
            if received != expected_size:
                raise InvalidArgument(
                    f"received {received} bytes but the header announced {expected_size}"
                )
            actual = digest.hexdigest()
            if actual != expected_sha256:
                raise InvalidArgument(
                    f"sha256 mismatch: header says {expected_sha256}, content is {actual}"
                )
            final = self.path_for(actual)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(fd_path, final)
            return actual, final
        finally:
            fd_path.unlink(missing_ok=True)

"""Guards on client streams and concurrency: idle uploads, cancellations, slots.

gRPC's request iterator blocks until the client sends something, for as long as the
call lives. A client that opens an upload and goes quiet would hold a server thread
and a temp file forever, so :class:`IdleGuardedStream` reads the iterator on a helper
thread and gives up after ``idle_seconds`` without a message, or when the whole upload
outlasts its total time limit (DEADLINE_EXCEEDED). A
client that cancels, or whose deadline passes, makes the iterator raise; that becomes
:class:`ClientGone`, which unwinds the upload (its temp file is removed on the way)
without being logged as a server fault. :class:`Slots` refuses work past a cap with
RESOURCE_EXHAUSTED instead of queueing it without bound.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Iterator
from typing import Generic, TypeVar

import grpc

from robustedge.service.errors import ResourceExhausted, ServiceError

T = TypeVar("T")

# The helper thread reads at most this many messages ahead (1 MiB chunks: memory stays flat).
_READ_AHEAD = 2
_POLL_SECONDS = 0.5


class UploadIdle(ServiceError):
    """The client stopped sending in the middle of an upload."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ClientGone(ServiceError):
    """The client cancelled the call or its deadline passed; nobody reads the answer."""

    code = grpc.StatusCode.CANCELLED


class _End:
    """Marks the end of the client's stream in the read-ahead queue."""


class IdleGuardedStream(Generic[T]):
    """Iterates a client stream, raising UploadIdle after ``idle_seconds`` of silence
    or once the whole stream has taken ``total_seconds`` (a client trickling bytes just
    often enough to stay under the idle limit would otherwise hold its slot for days)."""

    def __init__(
        self, source: Iterator[T], idle_seconds: float, total_seconds: float = math.inf
    ) -> None:
        self._source = source
        self._idle_seconds = idle_seconds
        self._deadline = time.monotonic() + total_seconds
        self._total_seconds = total_seconds
        self._queue: queue.Queue[T | _End | BaseException] = queue.Queue(_READ_AHEAD)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="upload-reader", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        item: T | _End | BaseException
        while not self._closed.is_set():
            try:
                item = next(self._source)
            except StopIteration:
                item = _End()
            except BaseException as exc:  # grpc.RpcError when the call ends; passed on
                item = exc
            while not self._closed.is_set():
                try:
                    self._queue.put(item, timeout=_POLL_SECONDS)
                    break
                except queue.Full:
                    continue
            if isinstance(item, _End | BaseException):
                return

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        left = self._deadline - time.monotonic()
        try:
            item = self._queue.get(timeout=max(0.0, min(self._idle_seconds, left)))
        except queue.Empty:
            self.close()
            if left <= self._idle_seconds:
                raise UploadIdle(
                    f"the upload took longer than the server's limit of"
                    f" {self._total_seconds:g} s and was abandoned"
                ) from None
            raise UploadIdle(
                f"the upload sent nothing for {self._idle_seconds:g} s and was abandoned"
            ) from None
        if time.monotonic() > self._deadline:
            self.close()
            raise UploadIdle(
                f"the upload took longer than the server's limit of {self._total_seconds:g} s"
                " and was abandoned"
            )
        if isinstance(item, _End):
            self.close()
            raise StopIteration
        if isinstance(item, grpc.RpcError):
            self.close()
            raise ClientGone("the client cancelled the upload or its deadline passed") from item
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        """Stops the helper thread (it exits once the call ends or its next put)."""
        self._closed.set()


class Slots:
    """At most ``limit`` holders at once; one more is refused with RESOURCE_EXHAUSTED."""

    def __init__(self, limit: int, what: str) -> None:
        self._semaphore = threading.BoundedSemaphore(limit)
        self._what = what
        self.limit = limit

    def __enter__(self) -> Slots:
        if not self._semaphore.acquire(blocking=False):
            raise ResourceExhausted(
                f"the server is handling {self.limit} {self._what} already; retry shortly"
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self._semaphore.release()

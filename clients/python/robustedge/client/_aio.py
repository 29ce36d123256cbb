"""The asyncio SDK client (``grpc.aio``), the twin of :class:`robustedge.client.Client`.

    from robustedge.client import AsyncClient

    async with AsyncClient("127.0.0.1:50051") as client:
        model = await client.upload_model("model.onnx")
        dataset = await client.upload_dataset("data.npz")
        job = await client.submit(model, dataset, preset="quick")
        stages = [event.stage async for event in client.watch(job)]
        report = (await client.report(job)).report

It sends the same messages as the sync client (``_requests``) and raises the same
exceptions.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc import aio

from robustedge.client import _requests as requests
from robustedge.client._errors import JobFailedError, RobustEdgeError, from_rpc_error
from robustedge.client._requests import ArtifactRef, JobRef, SpecLike, state_name
from robustedge.v1 import evaluation_pb2 as pb
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

T = TypeVar("T")


class AsyncClient:
    """An asyncio connection to a RobustEdge server; arguments as for ``Client``."""

    def __init__(
        self,
        address: str | None = None,
        token: str | None = None,
        *,
        channel: aio.Channel | None = None,
        timeout: float = 60.0,
        retries: int = 5,
    ) -> None:
        self.address, self._metadata = requests.address_and_metadata(address, token)
        self._owns_channel = channel is None
        self._channel = channel or aio.insecure_channel(
            self.address, options=requests.CHANNEL_OPTIONS
        )
        self._stub = pb_grpc.EvaluationServiceStub(self._channel)
        self.timeout = timeout
        self.retries = retries

    async def close(self) -> None:
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any, **kwargs: Any) -> T:
        """Awaits an RPC, retrying a busy or briefly unreachable server with backoff."""
        for attempt in range(self.retries + 1):
            try:
                payload = request() if callable(request) else request
                return await method(payload, metadata=self._metadata, **kwargs)
            except grpc.RpcError as error:
                if attempt == self.retries or error.code() not in requests.RETRYABLE:
                    raise from_rpc_error(error) from None
                await asyncio.sleep(requests.backoff_seconds(attempt))
        raise AssertionError("unreachable")

    async def _unary(self, method: Callable[..., Awaitable[T]], request: Any) -> T:
        return await self._call(method, request, timeout=self.timeout)

    # -- uploads --------------------------------------------------------------------

    async def upload_model(self, path: str | os.PathLike[str]) -> pb.Artifact:
        """Uploads an ONNX model; the server validates it."""
        return await self._upload(self._stub.UploadModel, path)

    async def upload_dataset(self, path: str | os.PathLike[str]) -> pb.Artifact:
        """Uploads an evaluation set (.npz with x, y, optional input_range)."""
        return await self._upload(self._stub.UploadDataset, path)

    async def _upload(
        self, method: Callable[..., Awaitable[pb.Artifact]], path: str | os.PathLike[str]
    ) -> pb.Artifact:
        # Hashing a large file blocks, so it runs in a thread.
        plan = await asyncio.to_thread(requests.UploadPlan.of, path)
        return await self._call(method, plan.chunks, timeout=plan.timeout(self.timeout))

    # -- jobs -----------------------------------------------------------------------

    async def submit(
        self,
        model: ArtifactRef,
        dataset: ArtifactRef,
        *,
        preset: str | None = None,
        spec: SpecLike = None,
        gates: Sequence[str] = (),
        request_id: str | None = None,
    ) -> pb.Job:
        """Submits an evaluation (see ``Client.submit``)."""
        request = requests.submit_request(
            model, dataset, preset=preset, spec=spec, gates=gates, request_id=request_id
        )
        return await self._unary(self._stub.SubmitEvaluation, request)

    async def job(self, job: JobRef) -> pb.Job:
        return await self._unary(self._stub.GetJob, pb.GetJobRequest(job_id=requests.job_id(job)))

    async def jobs(self, limit: int = 50) -> list[pb.Job]:
        response = await self._unary(self._stub.ListJobs, pb.ListJobsRequest(limit=limit))
        return list(response.jobs)

    async def cancel(self, job: JobRef) -> pb.Job:
        request = pb.CancelJobRequest(job_id=requests.job_id(job))
        return await self._unary(self._stub.CancelJob, request)

    async def watch(self, job: JobRef) -> AsyncIterator[pb.ProgressEvent]:
        """Yields progress events until the job finishes (the first is the current state)."""
        stream = self._stub.WatchJob(
            pb.WatchJobRequest(job_id=requests.job_id(job)), metadata=self._metadata
        )
        try:
            async for event in stream:
                yield event
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    async def wait(self, job: JobRef) -> pb.Job:
        final = await self.job(job)
        while final.state not in requests.TERMINAL:
            async for _ in self.watch(job):
                pass
            final = await self.job(job)
        return final

    async def report(self, job: JobRef, *, html: bool = False) -> pb.GetReportResponse:
        """Waits for the job, then returns its report (and the HTML page when asked)."""
        await self.wait(job)
        return await self._call(
            self._stub.GetReport,
            requests.report_request(job, html),
            timeout=max(self.timeout, 120.0),
        )

    async def download(self, job: JobRef, name: str, path: str | os.PathLike[str]) -> Path:
        """Downloads a file the job kept (``report.files``); verifies its sha256."""
        expected = requests.kept_file((await self.report(job)).report, name)
        request = pb.DownloadJobFileRequest(job_id=requests.job_id(job), name=name)
        digest = hashlib.sha256()
        pieces: list[bytes] = []
        try:
            async for chunk in self._stub.DownloadJobFile(request, metadata=self._metadata):
                digest.update(chunk.data)
                pieces.append(chunk.data)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        if digest.hexdigest() != expected.sha256:
            raise RobustEdgeError(f"download of {name!r} was corrupted in transit; try again")
        target = Path(path)
        await asyncio.to_thread(target.write_bytes, b"".join(pieces))
        return target

    async def capabilities(self) -> pb.Capabilities:
        return await self._unary(self._stub.GetCapabilities, pb.GetCapabilitiesRequest())

    async def evaluate(
        self,
        model_path: str | os.PathLike[str],
        dataset_path: str | os.PathLike[str],
        *,
        preset: str | None = None,
        spec: SpecLike = None,
        gates: Sequence[str] = (),
        html: bool = False,
    ) -> pb.GetReportResponse:
        """Uploads, submits, waits and returns the report; JobFailedError if it failed."""
        model, dataset = await asyncio.gather(
            self.upload_model(model_path), self.upload_dataset(dataset_path)
        )
        job = await self.submit(model, dataset, preset=preset, spec=spec, gates=gates)
        final = await self.wait(job)
        if final.state != pb.JOB_STATE_SUCCEEDED:
            raise JobFailedError(f"job {final.id} {state_name(final.state)}: {final.error}", final)
        return await self.report(final, html=html)

"""The sandbox contains crashes, memory blow-ups and hangs of the code that parses
uploads; through the server they become INVALID_ARGUMENT and the server goes on."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import grpc
import numpy as np
import psutil
import pytest
from builders import chunks_for, npy_bytes, tiny_model, upload
from scoreboard import BOARD
from server_process import start_server

from robustedge.service import sandbox
from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

HERE = Path(__file__).resolve().parent


@pytest.fixture
def crashers_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")


def _run(mode: str, memory: int = 512 << 20, wall: float = 20.0) -> sandbox.SandboxResult:
    return sandbox.run("crashers", [mode], memory_bytes=memory, wall_seconds=wall, stdin=b"go")


def test_segfault_and_abort_are_reported_not_raised(crashers_importable):
    assert _run("segv").signal_name == "SIGSEGV"
    assert _run("abort").signal_name == "SIGABRT"


def test_memory_cap_applies(crashers_importable):
    capped = _run("allocate", memory=256 << 20)
    assert capped.returncode != 0 and "MemoryError" in capped.stderr_tail
    roomy = _run("allocate", memory=4 << 30)
    assert roomy.returncode == 0 and b"allocated" in roomy.stdout


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # killed, waiting to be reaped by its new parent


def test_hang_kills_the_whole_process_group(crashers_importable):
    result = _run("hang", wall=2.0)
    assert result.timed_out and result.seconds < 10
    grandchild = int(result.stdout.split()[0])
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild)


def test_children_die_with_a_killed_server(crashers_importable):
    """A SIGKILLed server must not leave its sandboxed children running."""
    parent = subprocess.Popen([sys.executable, "-c", (
        "from robustedge.service import sandbox;"
        "sandbox.run('crashers', ['sleep'], memory_bytes=1 << 30, wall_seconds=60, stdin=b'go')"
    )])  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        children: list[psutil.Process] = []
        while not children and time.monotonic() < deadline:
            children = psutil.Process(parent.pid).children()
            time.sleep(0.05)
        assert children, "the sandboxed child never started"
        time.sleep(1.0)  # past the child's start-up, where it arms the parent-death signal
    finally:
        parent.kill()
        parent.wait(10)
    deadline = time.monotonic() + 5
    while not _gone(children[0].pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = not _gone(children[0].pid)
    if survived:
        children[0].kill()  # do not leave it behind when the test fails
    assert not survived


def _inflating_dataset(megabytes: int) -> bytes:
    """A small upload whose x inflates to ``megabytes`` (declared honestly, under the limit)."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        samples = (megabytes << 20) // 256
        with archive.open("x.npy", "w", force_zip64=True) as entry:
            header = npy_bytes(np.zeros((samples, 1, 8, 8), np.float32)[:0])
            entry.write(header.replace(b"(0, 1, 8, 8)", f"({samples}, 1, 8, 8)".encode()))
            block = bytes(1 << 20)
            for _ in range(megabytes):
                entry.write(block)
        archive.writestr("y.npy", npy_bytes(np.zeros(samples, np.int64)))
    return buffer.getvalue()


@pytest.mark.slow
def test_validator_out_of_memory_and_timeout_through_the_server(tmp_path):
    """A dataset that needs more memory than the validator may use, and a server whose
    validation time limit nothing can meet: both INVALID_ARGUMENT, the server serves on."""
    tight = start_server(tmp_path / "mem", extra_args=["--validation-memory-mb", "600"])
    slow = start_server(tmp_path / "time", extra_args=["--validation-seconds", "0.05"])
    try:
        data = _inflating_dataset(400)  # 400 MiB of x, plus its NaN check, past 600 MiB
        for server, case, payload, kind, words in (
            (tight, "validator out of memory", data, "dataset", "memory"),
            (slow, "validator time limit", tiny_model().SerializeToString(), "model", "longer"),
        ):
            with grpc.insecure_channel(server.address) as channel:
                stub = pb_grpc.EvaluationServiceStub(channel)
                try:
                    upload(stub, kind, chunks_for(payload))
                    code, details = grpc.StatusCode.OK, ""
                except grpc.RpcError as error:
                    code, details = error.code(), error.details()
            BOARD.record("sandbox", case, grpc.StatusCode.INVALID_ARGUMENT, code, details)
            assert code == grpc.StatusCode.INVALID_ARGUMENT, details
            assert words in details
            assert server.process.poll() is None
    finally:
        for server in (tight, slow):
            if server.process.poll() is not None:
                BOARD.server_crashes += 1
            assert server.stop() == 0

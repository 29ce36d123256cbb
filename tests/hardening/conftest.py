"""Fixtures of the hardening battery: a real server with tight limits, and the figures.

Runnable alone: ``.venv/bin/python -m pytest tests/hardening -q -s``; the figures are
printed at the end of the session (terminal summary), with or without ``-s``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "service"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from builders import call_code, tiny_dataset_arrays, tiny_model
from scoreboard import BOARD, FORBIDDEN_IN_DETAILS
from server_process import ServerProcess, start_server

from robustedge.v1 import evaluation_pb2_grpc as pb_grpc

# Tight limits so that every limit can be reached quickly by a test.
HARDENED_FLAGS = [
    "--upload-idle-seconds",
    "2",
    "--max-dataset-mb",
    "64",
    "--max-concurrent-uploads",
    "4",
    "--max-pending-jobs",
    "2",
    "--max-upload-mb",
    "256",
    "--drain-seconds",
    "5",
]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if BOARD.outcomes or BOARD.fuzz or BOARD.jobs or BOARD.load:
        terminalreporter.section("hardening figures")
        for line in BOARD.lines():
            terminalreporter.write_line(line)


def scan_for_canary(root: Path, token: bytes) -> int:
    """Files under ``root`` whose bytes contain the canary token."""
    leaks = 0
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if token in path.read_bytes():
                    leaks += 1
            except OSError:
                continue
    return leaks


@pytest.fixture(scope="session")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file outside every data dir whose content must never reach a client or artifact."""
    token = "CANARY-" + os.urandom(12).hex()
    BOARD.canary_token = token
    path = tmp_path_factory.mktemp("outside") / "secret.bin"
    path.write_bytes((token.encode() + b"\n") * 64)
    return path


@pytest.fixture(scope="session")
def hardened(tmp_path_factory: pytest.TempPathFactory, canary: Path) -> Iterator[ServerProcess]:
    """One real server with tight limits, shared by the bad-input tests."""
    running = start_server(tmp_path_factory.mktemp("hardened-data"), extra_args=HARDENED_FLAGS)
    yield running
    if running.process.poll() is not None:
        BOARD.server_crashes += 1
    BOARD.canary_leaks += scan_for_canary(running.data_dir, BOARD.canary_token.encode())
    assert running.stop() == 0, running.log.read_text()[-3000:]


@pytest.fixture
def stub(hardened: ServerProcess) -> Iterator[pb_grpc.EvaluationServiceStub]:
    with grpc.insecure_channel(
        hardened.address, options=[("grpc.max_send_message_length", 64 << 20)]
    ) as channel:
        yield pb_grpc.EvaluationServiceStub(channel)
    if hardened.process.poll() is not None:
        BOARD.server_crashes += 1
        pytest.fail(f"the server died:\n{hardened.log.read_text()[-3000:]}")


Expect = Callable[..., object]


@pytest.fixture
def expect() -> Expect:
    """expect(category, case, call, code): runs the call, records it, asserts the code."""

    def run(category: str, case: str, call: Callable[[], object], code: grpc.StatusCode) -> object:
        actual, details, response = call_code(call)
        BOARD.record(category, case, code, actual, details)
        assert actual == code, (
            f"{category}/{case}: expected {code.name}, got {actual.name}: {details}"
        )
        for marker in FORBIDDEN_IN_DETAILS:
            assert marker not in details, f"{marker!r} leaked in {details!r}"
        if BOARD.canary_token:
            assert BOARD.canary_token not in details
        return response

    return run


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny model (.onnx) and its 20-sample dataset (.npz)."""
    import numpy as np
    import onnx

    folder = tmp_path_factory.mktemp("tiny")
    model, dataset = folder / "tiny.onnx", folder / "tiny.npz"
    onnx.save(tiny_model(), str(model))
    np.savez(dataset, **tiny_dataset_arrays())  # type: ignore[arg-type]
    return model, dataset

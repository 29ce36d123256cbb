"""Fixtures that start a real ``robustedge-server`` process on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_process import ServerProcess, start_server

from robustedge.client import Client


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server process shared by the tests of a session."""
    running = start_server(tmp_path_factory.mktemp("server-data"))
    yield running
    assert running.stop() == 0, running.log.read_text()[-3000:]


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.address, timeout=30) as connected:
        yield connected

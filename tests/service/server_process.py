"""Starts a real ``robustedge-server`` process on a free loopback port (tests only)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    address: str
    data_dir: Path
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)


def start_server(
    data_dir: Path, log_name: str = "server.log", extra_args: list[str] | None = None
) -> ServerProcess:
    """Starts the server with port 0 and waits until it has written the port it bound."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = data_dir / "port"
    port_file.unlink(missing_ok=True)
    log = data_dir / log_name
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "robustedge.service", "--listen", "127.0.0.1:0",
             "--data-dir", str(data_dir), "--port-file", str(port_file), *(extra_args or [])],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server did not start in 60 s:\n{log.read_text()}")
        time.sleep(0.05)
    return ServerProcess(process, f"127.0.0.1:{port_file.read_text()}", data_dir, log)

"""A real Ray cluster on loopback for tests: a head and worker nodes, each a ``ray start``.

Every node is its own ``ray start --block`` process (and the raylet, GCS, agents and
workers it starts), on its own loopback address (127.0.0.2, 127.0.0.3, ...) so
that the nodes are told apart as they would be on separate machines, and the
service's driver attaches to the head. Ports are free ones picked here, the temp
dir is private (short: Ray's Unix sockets live under it), so the cluster never
collides with another cluster on the machine. ``ray stop`` is never used: it
stops every Ray process of the user, other people's clusters included.

Nothing is installed: Ray must already be in the interpreter's environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

# The process title Ray gives a worker while it runs a unit (``ray::`` + the task name).
UNIT_TASK_TITLE = "ray::robustedge:"
START_TIMEOUT = 120.0
# What `ray start` prints when its raylet did not register with the GCS within the
# 30 s Ray allows (hard-coded in ray/_private/node.py). A 2-core machine that is busy
# with other work (CI) can take longer; such a node is started again.
STARTUP_TIMED_OUT = "The current node timed out during startup"
START_ATTEMPTS = 3


class NodeStartTimedOut(RuntimeError):
    """``ray start`` gave up waiting for its own raylet: worth another attempt."""


def free_ports(count: int) -> list[int]:
    """Ports that were free a moment ago (all held at once, so they are distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def ray_command() -> list[str]:
    """The ``ray`` CLI of this interpreter's environment."""
    script = Path(sys.executable).parent / "ray"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ray.scripts.scripts"]


@dataclass
class RayNode:
    ip: str
    process: subprocess.Popen[bytes]
    log: Path
    head: bool
    num_cpus: int

    def processes(self) -> list[psutil.Process]:
        """The ``ray start`` process and everything it started (raylet, workers, ...)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def running_units(self) -> dict[int, str]:
        """Worker pid -> the RobustEdge unit it runs right now, on this node.

        Ray titles a worker process after the task it executes, and the executor names
        each task ``robustedge:<job>:<unit>``.
        """
        running = {}
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                title = " ".join(process.cmdline()).strip()
                if title.startswith(UNIT_TASK_TITLE):
                    running[process.pid] = title.removeprefix(UNIT_TASK_TITLE).split(":", 1)[1]
        return running

    def kill(self) -> None:
        """SIGKILLs the whole node at once, as a machine that loses power would."""
        processes = self.processes()
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(processes, timeout=10)

    def wait_started(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None:
                log = self.log.read_text(errors="replace")[-3000:]
                if STARTUP_TIMED_OUT in log:
                    raise NodeStartTimedOut(f"ray start gave up:\n{log}")
                raise RuntimeError(f"ray start exited:\n{log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ray start did not finish:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)


@dataclass
class RayCluster:
    """A head and worker nodes; :meth:`stop` ends every process they started."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="re-ray-")))
    nodes: list[RayNode] = field(default_factory=list)
    gcs_port: int = 0
    _next_ip: int = 2

    @property
    def address(self) -> str:
        return f"{self.nodes[0].ip}:{self.gcs_port}"

    def cache_dir(self, ip: str) -> Path:
        """The node's cache of artifact-store files (``ROBUSTEDGE_CACHE_DIR``)."""
        return self.root / ip / "artifact-cache"

    def alive(self) -> list[RayNode]:
        """The nodes whose ``ray start`` still runs (not killed)."""
        return [node for node in self.nodes if node.process.poll() is None]

    def _environment(self, node_dir: Path) -> dict[str, str]:
        autoscaler_port, dashboard_port = free_ports(2)
        return {
            **os.environ,
            # Each node caches job files of an S3 artifact store in a folder of its own,
            # as separate machines would: nothing reaches a node but through the store.
            "ROBUSTEDGE_CACHE_DIR": str(self.cache_dir(node_dir.name)),
            "RAY_USAGE_STATS_ENABLED": "0",
            # Explicit, so that a token in ~/.ray/auth_token (which makes `ray start
            # --head` require one) cannot split the cluster into two minds.
            "RAY_AUTH_MODE": "disabled",
            # These two default to fixed ports, which two clusters on a machine share.
            "AUTOSCALER_METRIC_PORT": str(autoscaler_port),
            "DASHBOARD_METRIC_PORT": str(dashboard_port),
            # Notice a dead node within seconds rather than the default ~30 s.
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_timeout_ms": "2000",
            "RAY_health_check_failure_threshold": "5",
        }

    def _start(self, head: bool, num_cpus: int, ip: str | None = None) -> RayNode:
        """Launches one ``ray start`` on ``ip`` (the next free loopback address if None)."""
        if ip is None:
            ip = f"127.0.0.{self._next_ip}"
            self._next_ip += 1
        node_dir = self.root / ip
        node_dir.mkdir(parents=True, exist_ok=True)
        if head:
            self.gcs_port, client_port, dashboard_port = free_ports(3)
            role_args = [
                "--head", f"--port={self.gcs_port}", f"--ray-client-server-port={client_port}",
                "--include-dashboard=false", f"--dashboard-port={dashboard_port}",
            ]  # fmt: skip
        else:
            role_args = [f"--address={self.address}"]
        (
            node_manager, object_manager, agent_listen, agent_grpc, runtime_env, metrics
        ) = free_ports(6)  # fmt: skip
        log = node_dir / "ray-start.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*ray_command(), "start", "--block", *role_args,
                 f"--node-ip-address={ip}", f"--num-cpus={num_cpus}",
                 "--object-store-memory=100000000",
                 f"--temp-dir={node_dir}", "--disable-usage-stats",
                 "--min-worker-port=0", "--max-worker-port=0",
                 f"--node-manager-port={node_manager}",
                 f"--object-manager-port={object_manager}",
                 f"--dashboard-agent-listen-port={agent_listen}",
                 f"--dashboard-agent-grpc-port={agent_grpc}",
                 f"--runtime-env-agent-port={runtime_env}",
                 f"--metrics-export-port={metrics}"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self._environment(node_dir),
            )  # fmt: skip
        node = RayNode(ip, process, log, head, num_cpus)
        self.nodes.append(node)
        return node

    def start_head(self, num_cpus: int = 1) -> RayNode:
        """Starts the head (returns at once; :meth:`wait_started` waits)."""
        return self._start(head=True, num_cpus=num_cpus)

    def add_worker(self, num_cpus: int = 1) -> RayNode:
        """Starts a worker node that joins the head (the head must have started)."""
        return self._start(head=False, num_cpus=num_cpus)

    def wait_started(self, node: RayNode) -> RayNode:
        """Waits for ``node``; one whose ``ray start`` gave up is started again.

        Returns the node that runs: ``node`` itself, or its replacement on the same
        address (new ports; for the head, a new GCS port, so start the head again only
        before workers join).
        """
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                node.wait_started()
                return node
            except NodeStartTimedOut:
                if attempt == START_ATTEMPTS:
                    raise
                self._discard(node)
                node = self._start(node.head, node.num_cpus, ip=node.ip)
        raise AssertionError("unreachable")

    def _discard(self, node: RayNode) -> None:
        """Kills what a failed ``ray start`` left behind (GCS, raylet: orphans by now,
        found by the node's private temp dir on their command lines)."""
        self.nodes.remove(node)
        marker = str(self.root / node.ip)
        leftovers = []
        for process in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(marker in part for part in process.info["cmdline"] or []):
                    process.send_signal(signal.SIGKILL)
                    leftovers.append(process)
        psutil.wait_procs(leftovers, timeout=10)

    def stop(self) -> None:
        """SIGTERM to every ``ray start`` (it stops its node), SIGKILL to what remains."""
        # Taken before the signal: processes whose parent exits are re-parented away.
        started = [process for node in self.nodes for process in node.processes()]
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=15)
        started += [process for node in self.nodes for process in node.processes()]
        for process in started:
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(started, timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

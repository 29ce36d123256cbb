"""Runs untrusted-input work in a child process with a memory cap and a wall-clock limit.

Parsers of model formats (protobuf, onnx's checker, onnxruntime's graph loader) are
large C++ code bases that have crashed and leaked on crafted files. Whatever they do
with a hostile upload must not take the server down, so every step that opens an
uploaded file runs here: a fresh ``python -m MODULE`` in its own session (process
group), with ``RLIMIT_AS`` capping its address space and ``RLIMIT_CPU`` as a backstop
to the wall-clock limit. When the child outlives the limit its whole process group
is killed. The caller gets a :class:`SandboxResult` saying how the child ended; the
child's stderr stays on the server (logged), never in a client-visible message.

Limits are applied from the parent with ``prlimit(2)`` right after the child starts
and before it is given its input on stdin, so there is no window in which the child
handles untrusted bytes unconstrained. No ``preexec_fn``: forking a multi-threaded
gRPC server and running Python in the child before ``exec`` deadlocked workers in
this project's load test (gRPC logs "Other threads are currently calling into gRPC,
skipping fork() handlers"). The job executor can cap its workers the same way:
``limit_process(process.pid, memory_bytes)`` right after ``Popen`` and before
writing the work order to the worker's stdin (the worker reads it first).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

# How much of the child's stderr is kept for the server log.
STDERR_TAIL_BYTES = 4000


def limit_process(pid: int, memory_bytes: int | None, cpu_seconds: int | None = None) -> None:
    """Caps a running child's address space (and CPU time), and disables its core dumps.

    ``RLIMIT_AS`` makes allocations past the cap fail (Python raises MemoryError, C++
    throws bad_alloc) instead of letting the kernel's OOM killer pick a victim, which
    could be the server itself.
    """
    if memory_bytes:
        resource.prlimit(pid, resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if cpu_seconds:
        resource.prlimit(pid, resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    # No core dumps of hostile inputs lying around the data dir.
    resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))


_PR_SET_PDEATHSIG = 1
PARENT_ENV = "ROBUSTEDGE_SANDBOX_PARENT"


def die_with_parent() -> None:
    """Makes this (sandboxed) process die when the server that started it dies.

    A child runs in its own session, so a SIGKILLed server would otherwise leave it
    running past its wall-clock limit (which the server enforces) and writing files
    after the next start has swept the temp folder. Call it first thing in a child's
    main; :func:`run` tells the child its parent's pid in ``PARENT_ENV``.
    """
    parent_pid = int(os.environ.get(PARENT_ENV, "0"))
    if not parent_pid:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the CPU limit still bounds the child
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


@dataclass(frozen=True)
class SandboxResult:
    """How a sandboxed child ended."""

    returncode: int
    stdout: bytes
    stderr_tail: str
    timed_out: bool
    seconds: float

    @property
    def signal_name(self) -> str | None:
        """The signal that killed the child (e.g. ``SIGSEGV``), if one did."""
        if self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None

    @property
    def ran_out_of_memory(self) -> bool:
        """True when the child reported hitting the memory cap (its own exit code)."""
        return self.returncode == EXIT_OUT_OF_MEMORY


# Exit code a sandboxed child uses to say that it hit its memory cap.
EXIT_OUT_OF_MEMORY = 75


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kills a child started with ``start_new_session=True`` and everything it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.wait()


def run(
    module: str,
    args: list[str],
    *,
    memory_bytes: int,
    wall_seconds: float,
    stdin: bytes = b"",
) -> SandboxResult:
    """Runs ``python -m module *args`` under the limits and returns how it ended.

    Never raises for anything the child does (crash, hang, garbage output); only a
    failure to start the child at all (e.g. out of process slots) propagates as OSError.
    """
    started = time.monotonic()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        # Thread pools sized to the machine would each reserve stacks inside the cap.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        PARENT_ENV: str(os.getpid()),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as one
        env=env,
        close_fds=True,
    )
    timed_out = False
    try:
        # Before the child reads its input: it blocks on stdin until communicate().
        limit_process(process.pid, memory_bytes, cpu_seconds=int(wall_seconds) + 1)
        stdout, stderr = process.communicate(stdin, timeout=wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(process)
        stdout, stderr = process.communicate()
    finally:
        # Grandchildren (none expected) must not outlive the sandbox either.
        if process.poll() is None:
            kill_group(process)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
    result = SandboxResult(
        returncode=process.returncode,
        stdout=stdout or b"",
        stderr_tail=(stderr or b"")[-STDERR_TAIL_BYTES:].decode("utf-8", "replace"),
        timed_out=timed_out,
        seconds=time.monotonic() - started,
    )
    if result.returncode != 0 or timed_out:
        log.warning(
            "sandboxed %s ended with %s after %.1f s%s; stderr tail:\n%s",
            module,
            "a timeout" if timed_out else (result.signal_name or f"exit {result.returncode}"),
            result.seconds,
            " (memory cap)" if result.ran_out_of_memory else "",
            result.stderr_tail,
        )
    return result

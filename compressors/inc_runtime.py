"""Importing and running Intel Neural Compressor (INC) 3.7.1 without side effects.

INC is heavy, needs the ``onnx.mapping`` shim on current onnx, logs at INFO through its
own stderr handler, writes a ``./nc_workspace`` folder into the current directory and
keeps its options (workspace, seed) in module globals. :func:`inc_session` confines all
of that: the workspace goes into the variant's scratch folder, INC's records flow into
the ``robustedge.compressors.inc`` logger (WARNING and above by default), anything it
writes to stdout is captured into the log, and one lock serialises runs in a process
because the options are global.
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from .errors import CompressionError
from .onnx_compat import install_onnx_mapping_shim

logger = logging.getLogger(__name__)
inc_logger = logging.getLogger("robustedge.compressors.inc")

_INC_LOCK = threading.RLock()
# INC catches many failures itself, logs them and returns None; the last few ERROR
# records are kept so that the CompressionError can say what went wrong.
_RECENT_ERRORS: collections.deque[str] = collections.deque(maxlen=5)
INSTALL_HINT = "pip install robustedge[inc]"


class MissingDependencyError(CompressionError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def import_inc() -> ModuleType:
    """Imports ``neural_compressor`` (with the onnx shim) or explains how to install it."""
    install_onnx_mapping_shim()
    try:
        with warnings.catch_warnings():
            # INC 3.7.1 imports pkg_resources, which warns on every import.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            import neural_compressor
    except ImportError as error:
        raise MissingDependencyError(
            f"Intel Neural Compressor is not available ({error}); install it with "
            f"`{INSTALL_HINT}` (neural-compressor==3.7.1)"
        ) from error
    _route_inc_logging()
    return neural_compressor


def import_torch() -> ModuleType:
    """Imports torch or explains how to install it."""
    try:
        import torch
    except ImportError as error:
        raise MissingDependencyError(
            f"torch is not available ({error}); install it with `pip install robustedge`"
        ) from error
    return torch


def _route_inc_logging() -> None:
    """Sends INC's log records into our logger hierarchy instead of its stderr handler."""
    inc_own = logging.getLogger("neural_compressor")
    # INC's Logger singleton re-adds its handler when first instantiated; instantiate it
    # now (importing neural_compressor does) and then replace the handler.
    for handler in list(inc_own.handlers):
        inc_own.removeHandler(handler)
    inc_own.propagate = False
    if not any(isinstance(h, _ForwardHandler) for h in inc_own.handlers):
        inc_own.addHandler(_ForwardHandler())
    # INFO from INC is a page per run; keep it out unless someone asks for DEBUG.
    inc_own.setLevel(logging.DEBUG if inc_logger.isEnabledFor(logging.DEBUG) else logging.WARNING)


class _ForwardHandler(logging.Handler):
    """Re-emits INC's records on ``robustedge.compressors.inc``."""

    def emit(self, record: logging.LogRecord) -> None:
        # INC warns about things a RobustEdge user cannot act on (mpi4py, NLP domain
        # detection, graph optimisation level); real failures surface as exceptions.
        # So its WARNINGs become INFO here, and its ERRORs WARNINGs.
        level = logging.WARNING if record.levelno >= logging.ERROR else logging.INFO
        if record.levelno < logging.WARNING:
            level = logging.DEBUG
        message = record.getMessage()
        if record.levelno >= logging.ERROR or "exception" in message.lower():
            _RECENT_ERRORS.append(message.strip().splitlines()[0][:300] if message else "")
        inc_logger.log(level, "%s", record.getMessage())


class _LogWriter(io.TextIOBase):
    """A stdout stand-in that logs whole lines at DEBUG."""

    def __init__(self) -> None:
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                inc_logger.debug("%s", line)
        return len(text)

    def flush(self) -> None:
        if self._buffer.strip():
            inc_logger.debug("%s", self._buffer)
        self._buffer = ""


def recent_inc_errors() -> list[str]:
    """INC's error messages from the current/last :func:`inc_session` (oldest first)."""
    return list(_RECENT_ERRORS)


@contextlib.contextmanager
def inc_session(work_dir: Path, seed: int) -> Iterator[ModuleType]:
    """Imports INC and runs the body with its workspace/seed set and its output contained."""
    neural_compressor = import_inc()
    from neural_compressor.config import options

    workspace = Path(work_dir) / "inc_workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    writer = _LogWriter()
    with _INC_LOCK:
        _RECENT_ERRORS.clear()
        saved = (options.workspace, options.random_seed)
        options.workspace = str(workspace)
        options.random_seed = int(seed)
        try:
            with contextlib.redirect_stdout(writer), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                yield neural_compressor
        finally:
            writer.flush()
            options.workspace, options.random_seed = saved

"""Runs ``probe.py`` in a runtime's interpreter and reads its JSON reply."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The standalone measurement script, run by path (it must not need robustedge).
PROBE_SCRIPT = Path(__file__).resolve().with_name("probe.py")


class ProbeError(RuntimeError):
    """The probe could not run or did not answer with JSON."""


def run_probe(python: str, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Runs the probe with ``python -I`` and returns its reply (``ok`` may be False).

    ``-I`` (isolated mode) keeps the parent's PYTHONPATH, user site-packages and
    working directory out of the child, so the runtime's own onnxruntime is the one
    imported. Raises ProbeError when the process cannot start, times out, or prints
    no JSON (e.g. it crashed inside a provider).
    """
    command = [python, "-I", str(PROBE_SCRIPT)]
    try:
        completed = subprocess.run(
            command,
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as error:
        raise ProbeError(f"interpreter not found: {python}") from error
    except subprocess.TimeoutExpired as error:
        raise ProbeError(f"probe timed out after {timeout:.0f} s") from error
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if lines:
        try:
            reply = json.loads(lines[-1])
        except json.JSONDecodeError:
            reply = None
        if isinstance(reply, dict):
            if not reply.get("ok"):
                log.debug("probe stderr:\n%s", completed.stderr[-4000:])
            return reply
    tail = completed.stderr.strip().splitlines()[-3:]
    raise ProbeError(
        f"probe exited with status {completed.returncode} without a reply: " + " | ".join(tail)
    )

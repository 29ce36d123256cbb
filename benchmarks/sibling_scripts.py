"""Runs the component benchmarks other engineers own (bench_*.py) as subprocesses.

They are run, not imported: their internals change while their command lines stay
put, and a crash in one must become an ERROR row here, not take the harness down.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run_json(script: str, args: list[str], out: Path, timeout: float) -> Any:
    """Runs ``benchmarks/<script>`` with ``args`` (which make it write ``out``); returns
    the parsed JSON. Raises RuntimeError with the tail of its output when it fails."""
    out.unlink(missing_ok=True)
    try:
        completed = subprocess.run(
            [sys.executable, str(HERE / script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=HERE.parent,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{script} did not finish in {timeout:.0f} s") from exc
    if completed.returncode != 0 or not out.exists():
        tail = (completed.stdout + completed.stderr).strip().splitlines()[-15:]
        raise RuntimeError(f"{script} exited {completed.returncode}: " + " / ".join(tail))
    return json.loads(out.read_text())

"""A bounded fuzz run over model and dataset validation, with every crash contained.

The harness (``fuzz_harness.py``) runs hypothesis examples in one sandboxed process.
Every example must end with facts or a ServiceError (never another exception). If the
harness itself dies (a parser segfault, the memory cap), the input that killed it is
replayed through the server's sandboxed validator, which must answer it with
INVALID_ARGUMENT or FAILED_PRECONDITION: the crash is contained.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from scoreboard import BOARD

from robustedge.service import sandbox, validation
from robustedge.service.errors import FailedPrecondition, InvalidArgument
from robustedge.service.limits import ValidationLimits

HERE = Path(__file__).resolve().parent
EXAMPLES = int(os.environ.get("ROBUSTEDGE_FUZZ_EXAMPLES", "200"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["model", "dataset"])
def test_fuzz_validation(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    result = sandbox.run(
        "fuzz_harness",
        [kind, str(EXAMPLES), str(tmp_path)],
        memory_bytes=3 << 30,
        wall_seconds=240,
        stdin=b"go",
    )
    prefix = f"{kind}s"
    if result.returncode == 0 and not result.timed_out:
        answer = json.loads(result.stdout.decode().strip().splitlines()[-1])
        counts = answer["counts"]
        BOARD.fuzz[f"{prefix} tried"] = sum(counts.values())
        BOARD.fuzz[f"{prefix} accepted"] = counts.get("accepted", 0)
        BOARD.fuzz[f"{prefix} refused"] = sum(v for k, v in counts.items() if k.startswith("ref"))
        BOARD.fuzz[f"{prefix} escaped"] = counts.get("escaped", 0)
        BOARD.fuzz[f"{prefix} harness crashes"] = 0
        assert counts.get("escaped", 0) == 0, answer["escapes"]
        assert sum(counts.values()) >= EXAMPLES
        return
    # The harness died: replay the input that killed it through the real sandbox.
    BOARD.fuzz[f"{prefix} harness crashes"] = 1
    culprit = tmp_path / "current.bin"
    with pytest.raises((InvalidArgument, FailedPrecondition)):
        validation.validate_upload(kind, culprit, ValidationLimits(), tmp_path / "runnable.onnx")
    BOARD.fuzz[f"{prefix} crashes contained"] = 1
    BOARD.notes.append(
        f"fuzz {kind}: the harness died ({result.signal_name or result.returncode}); the input"
        " was contained by the sandbox; see the log for the stderr tail"
    )

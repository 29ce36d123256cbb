"""`make test-container` as a test: builds the image, serves the demo from it, stops it.

Takes minutes (about 15 from scratch on a 2-core machine, 2-3 with the base image and
layers cached) and needs root, apt and podman/buildah (installed from Debian when
missing), so it runs only when asked: ROBUSTEDGE_CONTAINER_TESTS=1, or
ROBUSTEDGE_CONTAINER_TESTS=edge to prove the edge image too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
ENABLED = os.environ.get("ROBUSTEDGE_CONTAINER_TESTS", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ENABLED,
        reason="builds and runs the container image (minutes, root + podman): "
        "set ROBUSTEDGE_CONTAINER_TESTS=1 or run `make test-container`",
    ),
]

TARGETS = ["server", "edge"] if ENABLED == "edge" else ["server"]


@pytest.mark.parametrize("target", TARGETS)
def test_image_builds_serves_the_demo_and_stops(target):
    result = subprocess.run(
        [str(REPO / "containers" / "test-container.sh"), target],
        cwd=REPO,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    assert f"test-container ({target}) passed" in result.stdout

"""Runtimes: Python environments with an onnxruntime build, and the providers each offers.

``onnxruntime``, ``onnxruntime-openvino`` and ``onnxruntime-gpu`` all install the same
``onnxruntime`` module, so each build lives in its own virtualenv and is measured in
a subprocess of that interpreter. A runtime is a name and an interpreter path:

* ``default``: this interpreter (``sys.executable``);
* ``openvino``: ``<repo>/.venv-openvino/bin/python``, created by
  ``make runtime-openvino`` (listed with a reason when absent);
* any others from ``extra`` (service configuration) or the environment variable
  ``ROBUSTEDGE_RUNTIMES="name=/path/to/python,..."``.

Providers are discovered by asking each interpreter
(``onnxruntime.get_available_providers()`` in a probe subprocess); answers are
cached for a minute per interpreter.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from robustedge.latency.probe_client import ProbeError, run_probe
from robustedge.latency.providers import to_short_name

log = logging.getLogger(__name__)

#: Repository root (the folder holding latency/) in the editable install.
REPO_ROOT = Path(__file__).resolve().parent.parent
OPENVINO_PYTHON = REPO_ROOT / ".venv-openvino" / "bin" / "python"
RUNTIMES_ENV = "ROBUSTEDGE_RUNTIMES"
OPENVINO_SETUP_HINT = "not set up: run `make runtime-openvino`"
DISCOVERY_TIMEOUT_S = 60.0


@dataclass
class Runtime:
    """A Python environment with an onnxruntime build (``RuntimeInfo`` in the protocol)."""

    name: str
    python: str
    providers: list[str] = field(default_factory=list)
    onnxruntime_version: str = ""
    unavailable_reason: str = ""

    @property
    def available(self) -> bool:
        return not self.unavailable_reason


#: How long a runtime's answer is reused. GetCapabilities may be called often, and
#: starting an interpreter that imports onnxruntime costs ~0.3 s; a runtime
#: reinstalled while the service runs is seen again after this long.
CACHE_SECONDS = 60.0
_cache: dict[str, tuple[float, list[str], str]] = {}


def _ask_providers(python: str) -> tuple[list[str], str]:
    """(short provider names, onnxruntime version) of an interpreter; cached a while."""
    cached = _cache.get(python)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1], cached[2]
    reply = run_probe(python, {"mode": "providers"}, timeout=DISCOVERY_TIMEOUT_S)
    if not reply.get("ok"):
        raise ProbeError(str(reply.get("error", "unknown error")))
    providers = [to_short_name(name) for name in reply["providers"]]
    version = str(reply["onnxruntime_version"])
    _cache[python] = (time.monotonic(), providers, version)
    return providers, version


def parse_runtimes_env(value: str) -> dict[str, str]:
    """Parses ``"name=/path/python,name2=/path2"``; ValueError on a malformed entry."""
    runtimes: dict[str, str] = {}
    for entry in value.split(","):
        if not entry.strip():
            continue
        name, sep, python = entry.partition("=")
        if not sep or not name.strip() or not python.strip():
            raise ValueError(f"{RUNTIMES_ENV}: expected name=/path/to/python, got {entry!r}")
        runtimes[name.strip()] = python.strip()
    return runtimes


def describe(name: str, python: str, missing_reason: str = "") -> Runtime:
    """Probes one interpreter; a runtime that cannot answer carries the reason why."""
    path = Path(python)
    if not path.exists():
        reason = missing_reason or f"interpreter not found: {python}"
        return Runtime(name=name, python=python, unavailable_reason=reason)
    try:
        providers, version = _ask_providers(str(path))
    except (ProbeError, OSError) as error:
        log.warning("runtime %s (%s) is unusable: %s", name, python, error)
        return Runtime(name=name, python=python, unavailable_reason=f"unusable: {error}")
    return Runtime(name=name, python=python, providers=providers, onnxruntime_version=version)


def discover_runtimes(extra: Mapping[str, str] | None = None) -> list[Runtime]:
    """The runtimes this service can measure in, each with its providers.

    Order: ``default``, ``openvino``, then ``ROBUSTEDGE_RUNTIMES`` entries, then
    ``extra`` (later entries replace earlier ones of the same name). A configured
    runtime that is missing or broken is listed with ``unavailable_reason``.
    """
    configured: dict[str, tuple[str, str]] = {
        "default": (sys.executable, ""),
        "openvino": (str(OPENVINO_PYTHON), OPENVINO_SETUP_HINT),
    }
    for name, python in parse_runtimes_env(os.environ.get(RUNTIMES_ENV, "")).items():
        configured[name] = (python, "")
    for name, python in (extra or {}).items():
        configured[name] = (python, "")
    return [describe(name, python, hint) for name, (python, hint) in configured.items()]

"""RobustEdge latency and footprint: onnxruntime timings on CPU and edge providers.

Public API (the service relies on these names)::

    LatencyConfig, Runtime, discover_runtimes, measure

plus edge profiles (``PROFILES``), speedups over the base variant (``speedups``) and
model footprint (``model_footprint``). Each measurement runs in an isolated
subprocess of a runtime's interpreter executing ``probe.py``; see ``measure.py`` for
the method and ``README.md`` in this folder for profiles and the OpenVINO runtime.
"""

from robustedge.latency.compare import speedups
from robustedge.latency.config import LatencyConfig, expand_configs
from robustedge.latency.footprint import memory_footprint, model_footprint
from robustedge.latency.measure import measure, measure_one
from robustedge.latency.profiles import PROFILES, EdgeProfile
from robustedge.latency.results import LatencyResult, Measurement
from robustedge.latency.runtimes import Runtime, discover_runtimes

__all__ = [
    "PROFILES",
    "EdgeProfile",
    "LatencyConfig",
    "LatencyResult",
    "Measurement",
    "Runtime",
    "discover_runtimes",
    "expand_configs",
    "measure",
    "measure_one",
    "memory_footprint",
    "model_footprint",
    "speedups",
]

"""Describes where a report was measured: library versions and the CPU."""

from __future__ import annotations

import functools
import os
import platform
from importlib import metadata

from robustedge.v1 import evaluation_pb2 as pb

# Distributions whose versions decide the numbers in a report.
LIBRARIES = (
    "robustedge",
    "onnx",
    "onnxruntime",
    "onnxruntime-openvino",
    "torch",
    "numpy",
    "neural-compressor",
    "adversarial-robustness-toolbox",
    "onnx2fx",
    "scikit-learn",
    "grpcio",
    "protobuf",
)


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def environment() -> pb.Environment:
    return pb.Environment(
        versions=library_versions(),
        cpu=cpu_model(),
        cpu_count=os.cpu_count() or 0,
        platform=platform.platform(),
        python=platform.python_version(),
    )

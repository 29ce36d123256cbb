"""What this server can do, for GetCapabilities: attacks, compressors, runtimes, presets."""

from __future__ import annotations

import functools
import logging

from robustedge.service import spec as spec_module
from robustedge.service.environment import library_versions
from robustedge.v1 import evaluation_pb2 as pb

log = logging.getLogger(__name__)


@functools.cache
def capabilities() -> pb.Capabilities:
    versions = library_versions()
    result = pb.Capabilities(versions=versions, server_version=versions.get("robustedge", ""))
    for name, (description, _) in spec_module.PRESETS.items():
        result.presets.add(name=name, description=description)
    _add_attacks(result)
    _add_compressors(result)
    _add_runtimes(result)
    return result


def _add_attacks(result: pb.Capabilities) -> None:
    from robustedge.attacks import Need, list_attacks

    for attack in list_attacks():
        modes = (
            [pb.ATTACK_MODE_WHITE_BOX, pb.ATTACK_MODE_TRANSFER]
            if attack.needs == Need.GRADIENTS
            else [pb.ATTACK_MODE_BLACK_BOX]
        )
        result.attacks.add(
            name=attack.name, description=attack.description, norms=list(attack.norms), modes=modes
        )


def _add_compressors(result: pb.Capabilities) -> None:
    try:
        from robustedge.compressors import list_compressors
    except ImportError as exc:
        log.warning("compressors unavailable: %s", exc)
        return
    for compressor in list_compressors():
        result.compressors.add(name=compressor.name, description=compressor.description)


def _add_runtimes(result: pb.Capabilities) -> None:
    from robustedge.latency import discover_runtimes

    for runtime in discover_runtimes():
        result.runtimes.add(
            name=runtime.name,
            providers=list(runtime.providers),
            onnxruntime_version=runtime.onnxruntime_version,
            unavailable_reason=runtime.unavailable_reason,
        )

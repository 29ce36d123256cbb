"""RobustEdge compressors: turn an uploaded ONNX classifier into compressed variants.

Each compressor lives in its own module and registers itself by name: ``quantize``
(INC post-training int8), ``prune`` (INC pruning through the bridge, or L1/L2 filter
surgery), ``cluster`` (k-means weight sharing). A variant is an ordered list of steps
``{"compressor": name, **settings}``; :func:`validate_steps` checks one at submit time
without importing INC or torch, :func:`build_variant` builds and measures it,
:func:`variant_presets` lists the named variant sets, and :func:`prunable_channel_layers`
names the Conv layers whose filters ``prune`` with ``layer_sparsity`` can remove.
"""

from . import cluster, prune, quantize  # noqa: F401  (importing registers the compressors)
from .base import CompressionData, Compressor
from .channel_surgery import prunable_channel_layers
from .errors import CompressionError, ConfigError
from .facts import model_facts
from .pipeline import VariantBuild, build_variant, validate_steps
from .presets import variant_presets
from .registry import get_compressor, list_compressors, register

__all__ = [
    "CompressionData",
    "CompressionError",
    "Compressor",
    "ConfigError",
    "VariantBuild",
    "build_variant",
    "get_compressor",
    "list_compressors",
    "model_facts",
    "prunable_channel_layers",
    "register",
    "validate_steps",
    "variant_presets",
]

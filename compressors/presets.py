"""Named variant lists (presets) that a spec can ask for instead of listing variants.

- ``int8``: INC static int8 (QDQ, per-channel, calibrated) and dynamic int8.
- ``pruning-sweep``: L2-norm filter (channel) pruning at 10% ... 50%, physically
  removing the channels, as in the filter-pruning robustness study.
- ``compounded``: pruning, clustering and int8 quantization alone and in every
  combination (the compounded-reductions study), always in the order
  prune -> cluster -> quantize, which is the only order in which each later step still
  has float weights to act on.
"""

from __future__ import annotations

import copy
from itertools import combinations
from typing import Any

PRUNE_STEP: dict[str, Any] = {"compressor": "prune", "pattern": "unstructured", "sparsity": 0.5}
CLUSTER_STEP: dict[str, Any] = {"compressor": "cluster", "clusters": 16}
QUANTIZE_STATIC_STEP: dict[str, Any] = {
    "compressor": "quantize",
    "approach": "static",
    "format": "qdq",
}
QUANTIZE_DYNAMIC_STEP: dict[str, Any] = {"compressor": "quantize", "approach": "dynamic"}

SWEEP_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)


def _compounded() -> list[dict[str, Any]]:
    parts = [("pruned", PRUNE_STEP), ("clustered", CLUSTER_STEP), ("int8", QUANTIZE_STATIC_STEP)]
    variants = []
    for size in range(1, len(parts) + 1):
        for combo in combinations(parts, size):
            variants.append(
                {"name": "-".join(label for label, _ in combo), "steps": [s for _, s in combo]}
            )
    return variants


def variant_presets() -> dict[str, list[dict[str, Any]]]:
    """Preset name -> list of ``{"name": variant name, "steps": [step, ...]}`` (fresh copies)."""
    presets = {
        "int8": [
            {"name": "int8-static", "steps": [QUANTIZE_STATIC_STEP]},
            {"name": "int8-dynamic", "steps": [QUANTIZE_DYNAMIC_STEP]},
        ],
        "pruning-sweep": [
            {
                "name": f"channel-l2-{round(fraction * 100)}",
                "steps": [
                    {
                        "compressor": "prune",
                        "pattern": "channel",
                        "criterion": "l2",
                        "sparsity": fraction,
                    }
                ],
            }
            for fraction in SWEEP_FRACTIONS
        ],
        "compounded": _compounded(),
    }
    return copy.deepcopy(presets)

"""The evaluation both executors run in the Ray tests (the local one gives the reference)."""

from __future__ import annotations

from typing import Any

# Small but complete: prepare, two variants, white-box and transfer attacks at two
# epsilons, each attack x variant x epsilon in two sample slices (4 batches of 25) and
# a merge; latency is left out because timings never repeat.
SPEC: dict[str, Any] = {
    "samples": 100,
    "seed": 5,
    "sample_shards": 2,
    "variants": [
        {"name": "int8", "steps": [{"compressor": "quantize", "approach": "dynamic"}]},
    ],
    "attacks": [
        {"attack": "fgsm", "epsilons": [0.05, 0.1], "batch_size": 25},
        {"attack": "pgd", "epsilons": [0.05, 0.1], "steps": 10, "batch_size": 25},
    ],
    "latency": {"disabled": True},
}
# The local executor's reference runs the same job unsharded: the Ray reports must
# equal it however the work was split.
LOCAL_SPEC: dict[str, Any] = {**SPEC, "sample_shards": 0}

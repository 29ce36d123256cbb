"""The evaluation both executors run in the Ray tests (the local one gives the reference)."""

from __future__ import annotations

from typing import Any

# Small but complete: prepare, two variants, white-box and transfer attacks at two
# epsilons; latency is left out because timings never repeat.
SPEC: dict[str, Any] = {
    "samples": 100,
    "seed": 5,
    "variants": [
        {"name": "int8", "steps": [{"compressor": "quantize", "approach": "dynamic"}]},
    ],
    "attacks": [
        {"attack": "fgsm", "epsilons": [0.05, 0.1]},
        {"attack": "pgd", "epsilons": [0.05, 0.1], "steps": 10},
    ],
    "latency": {"disabled": True},
}

"""Named attack lists for the service's presets, in the spec's shape.

Each entry is ``{"attack", "norm", "epsilons", "params"}`` as in a spec file's
``attacks:`` list. Epsilons are written for a [0, 1] input range and scaled to the
dataset's range by ``attack_preset``.

- ``quick``: FGSM and PGD-10 (L-inf) at 3 epsilons; cheap enough for CI.
- ``standard``: AutoAttack-style worst case over APGD-CE, APGD-DLR and Square, per
  sample (the ``autoattack`` attack), plus its members alone so the report shows each.
- ``paper``: the set the studies behind RobustEdge used: FGSM, BIM, PGD, AutoPGD,
  CW-L2, DeepFool and a universal perturbation.
"""

from __future__ import annotations

import copy
from typing import Any

#: L-inf budgets for a [0, 1] input range (0.05 ~ 13/255, the studies' small-image sweep).
LINF_EPSILONS = [0.05, 0.1, 0.2]
#: L2 budgets for a [0, 1] input range.
L2_EPSILONS = [0.5, 1.0, 2.0]

_PRESETS: dict[str, list[dict[str, Any]]] = {
    "quick": [
        {"attack": "fgsm", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {}},
        {"attack": "pgd", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {"steps": 10}},
    ],
    "standard": [
        {"attack": "autoattack", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {}},
        {"attack": "apgd-ce", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {}},
        {"attack": "apgd-dlr", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {}},
        {
            "attack": "square",
            "norm": "linf",
            "epsilons": LINF_EPSILONS,
            "params": {"queries": 5000},
        },
    ],
    "paper": [
        {"attack": "fgsm", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {}},
        {"attack": "bim", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {}},
        {"attack": "pgd", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {"steps": 20}},
        {"attack": "apgd-ce", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {}},
        {"attack": "cw", "norm": "l2", "epsilons": L2_EPSILONS, "params": {}},
        {"attack": "deepfool", "norm": "l2", "epsilons": L2_EPSILONS, "params": {}},
        {"attack": "universal", "norm": "linf", "epsilons": LINF_EPSILONS, "params": {}},
    ],
}


def preset_names() -> list[str]:
    return list(_PRESETS)


def attack_preset(name: str, input_range: tuple[float, float] = (0.0, 1.0)) -> list[dict[str, Any]]:
    """The preset's attack list, epsilons scaled to ``input_range`` (a fresh copy)."""
    if name not in _PRESETS:
        raise KeyError(f"unknown attack preset {name!r}; known: {', '.join(_PRESETS)}")
    width = float(input_range[1]) - float(input_range[0])
    entries = copy.deepcopy(_PRESETS[name])
    for entry in entries:
        entry["epsilons"] = [eps * width for eps in entry["epsilons"]]
    return entries

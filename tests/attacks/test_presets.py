"""Attack presets: every entry resolves against the registry."""

from __future__ import annotations

import pytest

from robustedge.attacks import STANDARD, get_attack
from robustedge.attacks.presets import attack_preset, preset_names


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_entry_resolves(name):
    for entry in attack_preset(name):
        attack = get_attack(entry["attack"])
        for eps in entry["epsilons"]:
            attack.resolve_params(entry["params"], epsilon=eps, norm=entry["norm"])


def test_contents_match_issue_5():
    assert {e["attack"] for e in attack_preset("quick")} == {"fgsm", "pgd"}
    assert all(len(e["epsilons"]) == 3 for e in attack_preset("quick"))
    assert set(STANDARD) <= {e["attack"] for e in attack_preset("standard")}
    assert {e["attack"] for e in attack_preset("paper")} == {
        "fgsm", "bim", "pgd", "apgd-ce", "cw", "deepfool", "universal",
    }  # fmt: skip


def test_epsilons_scale_with_the_input_range_and_copies_are_fresh():
    base = attack_preset("quick")
    scaled = attack_preset("quick", (0.0, 255.0))
    assert scaled[0]["epsilons"] == [e * 255 for e in base[0]["epsilons"]]
    base[0]["epsilons"].append(9.0)
    assert 9.0 not in attack_preset("quick")[0]["epsilons"]
    with pytest.raises(KeyError, match="quick"):
        attack_preset("nope")

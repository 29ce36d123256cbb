"""The registry: names are unique, unknown names are explained, every attack documents itself."""

from __future__ import annotations

import re

import pytest

from robustedge.attacks import (
    Attack,
    Need,
    UnknownAttackError,
    get_attack,
    list_attacks,
    register,
)


def test_milestone_attacks_are_registered():
    names = {a.name for a in list_attacks()}
    assert {"fgsm", "pgd", "bim"} <= names
    assert [a.name for a in list_attacks()] == sorted(names)


def test_duplicate_name_is_refused():
    class AnotherPGD(Attack):
        name = "pgd"
        needs = Need.GRADIENTS
        norms = ("linf",)
        description = "duplicate"

    with pytest.raises(ValueError, match="already registered"):
        register(AnotherPGD)
    assert type(get_attack("pgd")).__name__ == "PGD"


def test_non_attack_is_refused():
    with pytest.raises(TypeError):
        register(int)  # type: ignore[type-var]


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownAttackError) as info:
        get_attack("pgdd")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "pgdd" in message and "fgsm" in message and "pgd" in message


def test_lookup_is_case_insensitive_and_fresh():
    assert get_attack("PGD").name == "pgd"
    assert get_attack("pgd") is not get_attack("pgd")


@pytest.mark.parametrize("attack", list_attacks(), ids=lambda a: a.name)
def test_every_attack_documents_paper_norm_arguments_and_range(attack):
    doc = type(attack).__doc__ or ""
    assert re.search(r"\([^()]*\b(19|20)\d{2}\b[^()]*\)", doc), f"{attack.name}: no paper reference"
    assert "Threat model" in doc
    assert "Arguments" in doc
    assert "input range" in doc.lower()
    for param in attack.parameters:
        assert param.name in doc, f"{attack.name}: parameter {param.name} undocumented"
    assert attack.norms and set(attack.norms) <= {"linf", "l2"}
    assert isinstance(attack.needs, Need)
    assert attack.description

"""The plan of a sharded job: unit keys, dependencies, weights and slice bounds."""

from __future__ import annotations

import pytest

from robustedge.client import spec_from_dict
from robustedge.service.jobs import attack_traits
from robustedge.service.plan import AttackTraits, Unit, plan_units, shard_bounds


def plan(raw: dict) -> dict[str, Unit]:
    _, spec = spec_from_dict({"latency": {"disabled": True}, **raw})
    units = plan_units(spec, attack_traits(spec))
    keys = [u.key for u in units]
    assert len(keys) == len(set(keys)), "unit keys must be unique"
    # Listed after their dependencies: one worker can run them front to back.
    seen: set[str] = set()
    for unit in units:
        assert set(unit.depends) <= seen, unit.key
        seen.add(unit.key)
    return {u.key: u for u in units}


FGSM = {"attack": "fgsm", "epsilons": [0.05, 0.1]}
INT8 = {"name": "int8", "steps": [{"compressor": "quantize", "approach": "dynamic"}]}


def test_unsharded_attacks_are_one_unit_per_epsilon_and_no_merge() -> None:
    units = plan({"attacks": [FGSM], "variants": [INT8]})
    attacks = [k for k in units if k.startswith(("attack:", "merge:"))]
    assert attacks == [
        "attack:0:base:e0:s0",
        "attack:0:base:e1:s0",
        "attack:0:int8:e0:s0",
        "attack:0:int8:e1:s0",
    ]
    assert units["attack:0:int8:e1:s0"].epsilons == (1,)
    assert units["attack:0:int8:e1:s0"].depends == ("variant:int8",)
    # Transfer needs the base's examples at every epsilon.
    assert units["transfer:0:base:int8"].depends == (
        "attack:0:base:e0:s0",
        "attack:0:base:e1:s0",
        "variant:int8",
    )


def test_sample_shards_split_every_epsilon_and_merge_feeds_transfer() -> None:
    units = plan({"attacks": [FGSM], "variants": [INT8], "sample_shards": 3})
    slices = [f"attack:0:base:e1:s{j}" for j in range(3)]
    assert [units[k].part for k in slices] == [0, 1, 2]
    assert {units[k].parts for k in slices} == {3}
    merge = units["merge:0:base:e1"]
    assert merge.kind == "merge" and merge.depends == tuple(slices) and merge.epsilons == (1,)
    assert units["transfer:0:base:int8"].depends == (
        "merge:0:base:e0",
        "merge:0:base:e1",
        "variant:int8",
    )
    # The slices of one attack x variant x epsilon weigh what one unsliced unit did.
    unsliced = plan({"attacks": [FGSM], "variants": [INT8]})["attack:0:base:e1:s0"]
    assert sum(units[k].weight for k in slices) == pytest.approx(unsliced.weight)


def test_attacks_that_couple_samples_are_split_by_epsilon_only() -> None:
    units = plan(
        {
            "attacks": [
                {"attack": "universal", "epsilons": [0.05, 0.1]},
                {"attack": "autoattack", "epsilons": [0.1]},
            ],
            "sample_shards": 4,
        }
    )
    assert [k for k in units if k.startswith(("attack:", "merge:"))] == [
        "attack:0:base:e0:s0",
        "attack:0:base:e1:s0",
        "attack:1:base:e0:s0",
    ]


def test_epsilon_independent_attacks_keep_their_epsilons_in_one_shard() -> None:
    cw = {"attack": "cw", "norm": "l2", "epsilons": [0.5, 1.0, 2.0]}
    units = plan({"attacks": [cw], "sample_shards": 2})
    assert units["attack:0:base:eall:s1"].epsilons == (0, 1, 2)
    for k in range(3):
        assert units[f"merge:0:base:e{k}"].depends == (
            "attack:0:base:eall:s0",
            "attack:0:base:eall:s1",
        )
    assert "attack:0:base:e0:s0" not in units


def test_black_box_attacks_are_sharded_too() -> None:
    square = {"attack": "square", "epsilons": [0.1], "queries": 10}
    units = plan({"attacks": [square], "sample_shards": 2})
    assert {k for k in units if k.startswith("attack:")} == {
        "attack:0:base:e0:s0",
        "attack:0:base:e0:s1",
    }
    assert not any(k.startswith("transfer:") for k in units)


def test_plan_units_takes_plain_gradient_flags_as_before() -> None:
    _, spec = spec_from_dict({"attacks": [FGSM], "sample_shards": 2})
    assert [u.key for u in plan_units(spec, {"fgsm": True})] == [
        u.key for u in plan_units(spec, {"fgsm": AttackTraits(needs_gradients=True)})
    ]


@pytest.mark.parametrize(
    ("n", "batch", "parts", "expected"),
    [
        (100, 25, 2, [(0, 50), (50, 100)]),
        (120, 32, 3, [(0, 32), (32, 64), (64, 120)]),  # 4 batches, the last one short
        (100, 256, 2, [(0, 0), (0, 100)]),  # one batch: one slice holds it all
        (10, 4, 1, [(0, 10)]),
        (0, 8, 2, [(0, 0), (0, 0)]),
    ],
)
def test_slices_are_whole_batches_covering_every_sample_once(
    n: int, batch: int, parts: int, expected: list[tuple[int, int]]
) -> None:
    bounds = [shard_bounds(n, batch, j, parts) for j in range(parts)]
    assert bounds == expected
    assert all(start % batch == 0 or start == n for start, _ in bounds)


def test_sample_shards_are_bounded() -> None:
    from robustedge.client import SpecError
    from robustedge.service.errors import InvalidArgument
    from robustedge.service.spec import MAX_SAMPLE_SHARDS, validate

    with pytest.raises(SpecError, match="sample_shards"):
        spec_from_dict({"attacks": [FGSM], "sample_shards": -1})
    _, spec = spec_from_dict({"attacks": [FGSM], "sample_shards": MAX_SAMPLE_SHARDS})
    validate(spec, input_range=(0.0, 1.0))
    spec.sample_shards += 1
    with pytest.raises(InvalidArgument, match="sample_shards"):
        validate(spec, input_range=(0.0, 1.0))

"""Every registered attack, on the digits model: the AttackRun contract.

x_adv is float32, same shape, inside input_range and within epsilon in the attack's
norm; the run is deterministic given the seed; robust accuracy (scored on
onnxruntime, as the service does) never rises with epsilon; black-box attacks work
on a target without a torch module.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from robustedge.attacks import AttackTarget, Need, list_attacks

#: Per attack: cheap parameters for unit tests. An attack missing here fails the test,
#: so a new attack cannot slip past the contract checks.
FAST_PARAMS: dict[str, dict] = {
    "fgsm": {},
    "bim": {"steps": 5},
    "pgd": {"steps": 5},
    "apgd-ce": {"steps": 10},
    "apgd-dlr": {"steps": 10},
    "cw": {"steps": 20, "binary_search_steps": 4},
    "deepfool": {"steps": 20},
    "square": {"queries": 200},
    "universal": {"steps": 30},
    "hopskipjump": {"max_iter": 5, "max_eval": 100, "init_eval": 20, "init_size": 50},
    "autoattack": {"steps": 10, "queries": 100},
}
EPSILONS = {"linf": [0.05, 0.1, 0.2, 0.3], "l2": [0.5, 1.0, 2.0, 3.0]}
N = 96


def _target_for(attack, case) -> AttackTarget:
    if attack.needs is Need.GRADIENTS:
        return case.target
    # Black-box attacks must never touch the module: give them none.
    t = case.target
    return AttackTarget(t.predict, None, t.num_classes, t.input_shape)


def _cases():
    for attack in list_attacks():
        for norm in attack.norms:
            yield pytest.param(attack, norm, id=f"{attack.name}-{norm}")


@pytest.mark.parametrize(("attack", "norm"), list(_cases()))
def test_contract_on_digits(attack, norm, digits_case):
    assert attack.name in FAST_PARAMS, f"add {attack.name} to FAST_PARAMS"
    params = FAST_PARAMS[attack.name]
    x, y = digits_case.x[:N], digits_case.y[:N]
    target = _target_for(attack, digits_case)
    lo, hi = digits_case.input_range
    accuracies = []
    for eps in EPSILONS[norm]:
        events: list[float] = []
        run = attack.generate(
            target,
            x,
            y,
            epsilon=eps,
            norm=norm,
            params=params,
            input_range=digits_case.input_range,
            seed=3,
            progress=events.append,
        )
        assert run.x_adv.dtype == np.float32 and run.x_adv.shape == x.shape
        assert run.x_adv.min() >= lo and run.x_adv.max() <= hi
        delta = (run.x_adv.astype(np.float64) - x).reshape(len(x), -1)
        size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
        assert size.max() <= eps * (1 + 1e-5) + 1e-6
        assert run.params["seed"] == 3
        # Progress: fractions in [0, 1], never going back, ending at 1.
        assert events and events[-1] == 1.0 and events == sorted(events)
        assert all(0.0 <= e <= 1.0 for e in events)
        if attack.counts_queries:
            assert run.queries is not None and run.queries >= 0
            assert attack.needs is Need.GRADIENTS or run.queries >= len(x)
        else:
            assert run.queries is None
        accuracies.append(float((digits_case.predict_labels(run.x_adv) == y).mean()))
    clean = float((digits_case.predict_labels(x) == y).mean())
    assert accuracies[0] <= clean
    assert all(b <= a for a, b in itertools.pairwise(accuracies)), accuracies
    assert accuracies[-1] < clean, "the attack never changed a prediction"


@pytest.mark.parametrize(("attack", "norm"), list(_cases()))
def test_deterministic_given_seed(attack, norm, digits_case):
    x, y = digits_case.x[:32], digits_case.y[:32]
    eps = EPSILONS[norm][1]
    target = _target_for(attack, digits_case)
    kwargs = dict(
        epsilon=eps,
        norm=norm,
        params=FAST_PARAMS[attack.name],
        input_range=digits_case.input_range,
    )
    # Fresh instances: epsilon-independent attacks would otherwise reuse their last run.
    first = type(attack)().generate(target, x, y, seed=11, **kwargs)
    second = type(attack)().generate(target, x, y, seed=11, **kwargs)
    np.testing.assert_array_equal(first.x_adv, second.x_adv)
    assert first.queries == second.queries and first.params == second.params


@pytest.mark.parametrize(("attack", "norm"), [c for c in _cases() if c.values[0].sample_separable])
def test_slices_of_whole_batches_give_the_unsliced_examples(attack, norm, digits_case):
    """What the service's sample shards rely on: a slice that starts on a batch boundary,
    run with its ``offset``, crafts per sample exactly what the whole set's run does."""
    x, y = digits_case.x[:48], digits_case.y[:48]
    target = _target_for(attack, digits_case)
    params = {**FAST_PARAMS[attack.name], "batch_size": 16}
    kwargs = dict(
        epsilon=EPSILONS[norm][1], norm=norm, params=params,
        input_range=digits_case.input_range, seed=5,
    )  # fmt: skip
    whole = type(attack)().generate(target, x, y, **kwargs)
    parts = [
        type(attack)().generate(target, x[a:b], y[a:b], offset=a, **kwargs)
        for a, b in ((0, 16), (16, 48))
    ]
    np.testing.assert_array_equal(np.concatenate([p.x_adv for p in parts]), whole.x_adv)
    if whole.queries is not None:
        assert sum(p.queries or 0 for p in parts) == whole.queries


def test_pgd_random_start_depends_on_seed(digits_case):
    from robustedge.attacks import get_attack

    x, y = digits_case.x[:32], digits_case.y[:32]
    kwargs = dict(epsilon=0.1, norm="linf", params={"steps": 2}, input_range=(0.0, 1.0))
    a = get_attack("pgd").generate(digits_case.target, x, y, seed=1, **kwargs)
    b = get_attack("pgd").generate(digits_case.target, x, y, seed=2, **kwargs)
    assert not np.array_equal(a.x_adv, b.x_adv)


def test_module_training_flag_is_restored(digits_case):
    from robustedge.attacks import get_attack

    module = digits_case.target.module
    module.train()
    try:
        get_attack("fgsm").generate(
            digits_case.target,
            digits_case.x[:8],
            digits_case.y[:8],
            epsilon=0.1,
            norm="linf",
            params={},
            input_range=(0.0, 1.0),
            seed=0,
        )
        assert module.training
        assert all(p.grad is None for p in module.parameters())
    finally:
        module.eval()


def test_time_budget_is_enforced(digits_case):
    from robustedge.attacks import AttackTimeoutError, get_attack

    with pytest.raises(AttackTimeoutError, match="time budget"):
        get_attack("pgd").generate(
            digits_case.target,
            digits_case.x,
            digits_case.y,
            epsilon=0.1,
            norm="linf",
            params={"steps": 50, "batch_size": 8, "time_budget_s": 1e-4},
            input_range=(0.0, 1.0),
            seed=0,
        )


def test_minimal_perturbation_attacks_compute_once_per_sweep(digits_case):
    from robustedge.attacks import get_attack

    x, y = digits_case.x[:32], digits_case.y[:32]
    cw = get_attack("cw")
    kwargs = dict(norm="l2", params={"steps": 20}, input_range=(0.0, 1.0), seed=0)
    calls = []
    original = cw._run

    def counting_run(ctx):
        calls.append(ctx.epsilon)
        return original(ctx)

    cw._run = counting_run  # type: ignore[method-assign]
    small = cw.generate(digits_case.target, x, y, epsilon=0.1, **kwargs)
    large = cw.generate(digits_case.target, x, y, epsilon=1.0, **kwargs)
    assert calls == [0.1]
    assert np.linalg.norm((small.x_adv - x).reshape(32, -1), axis=1).max() <= 0.1 + 1e-5
    assert np.linalg.norm((large.x_adv - x).reshape(32, -1), axis=1).max() > 0.1
    # Different inputs, or another seed, compute again.
    cw.generate(digits_case.target, x[:16], y[:16], epsilon=1.0, **kwargs)
    cw.generate(digits_case.target, x, y, epsilon=1.0, **{**kwargs, "seed": 1})
    assert calls == [0.1, 1.0, 1.0]

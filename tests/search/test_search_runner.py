"""The search loop on the digits model: reproducible with a seed, resumable from its
cache, and honest about budgets (real INC builds, real attacks, real onnxruntime)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from robustedge.compressors.channel_surgery import prunable_channel_layers
from robustedge.compressors.onnx_graph import weight_layers
from robustedge.search import CandidateCache, SearchSettings, SearchSpace, run_search
from robustedge.search.objective import AttackObjective
from robustedge.search.runner import SearchData

EVALUATIONS = 5
DETERMINISTIC = ("name", "origin", "steps", "ok", "clean_accuracy", "robust_accuracy", "size_bytes")


@pytest.fixture(scope="module")
def setup(digits):
    model = onnx.load(str(digits.model))
    train = np.load(digits.train)
    x, y = train["x"], train["y"]
    data = SearchData(
        train_x=x[:200], train_y=y[:200], val_x=x[200:300], val_y=y[200:300], input_range=(0.0, 1.0)
    )
    space = SearchSpace(
        prunable=prunable_channel_layers(model),
        weights=[layer.initializer for layer in weight_layers(model)],
        epsilon=0.1,
        dimensions=frozenset({"prune", "quantize", "finetune"}),
    )
    return model, data, space


def settings(**overrides) -> SearchSettings:
    values = dict(
        objective=AttackObjective("pgd", 0.1, params={"steps": 5}, seed=0),
        max_clean_drop=0.05,
        max_size_ratio=0.5,
        max_latency_ratio=0.0,
        latency_batch_size=32,
        size_metric="file",
        max_evaluations=EVALUATIONS,
        max_seconds=600.0,
        dimensions=frozenset({"prune", "quantize", "finetune"}),
    )
    return SearchSettings(**{**values, **overrides})


def search(setup, folder, **overrides):
    model, data, space = setup
    cache = CandidateCache(folder, context={"test": 1})
    return run_search(
        model, space, data, settings(**overrides), cache, seed=0, work_dir=folder / "w"
    )


@pytest.mark.slow
def test_same_seed_same_candidates_and_a_cache_that_is_reused(setup, tmp_path):
    first = search(setup, tmp_path / "a")
    second = search(setup, tmp_path / "b")
    assert first.evaluations == second.evaluations == EVALUATIONS
    for a, b in zip(first.candidates, second.candidates, strict=True):
        assert {k: a.get(k) for k in DETERMINISTIC} == {k: b.get(k) for k in DETERMINISTIC}
    assert first.chosen == second.chosen is not None
    assert all(row["ok"] for row in first.candidates), [r.get("error") for r in first.candidates]
    resumed = search(setup, tmp_path / "a")
    assert resumed.reused == EVALUATIONS
    assert [r["robust_accuracy"] for r in resumed.candidates] == [
        r["robust_accuracy"] for r in first.candidates
    ]


@pytest.mark.slow
def test_chosen_is_the_most_robust_candidate_within_the_budgets(setup, tmp_path):
    outcome = search(setup, tmp_path)
    rows = outcome.candidates
    floor = outcome.base_clean_accuracy - 0.05
    feasible = [
        r for r in rows if r["ok"] and r["clean_accuracy"] >= floor and r["size_ratio"] <= 0.5
    ]
    assert [r["within_budgets"] for r in rows] == [r in feasible for r in rows]
    chosen = rows[outcome.chosen]
    assert chosen["robust_accuracy"] == max(r["robust_accuracy"] for r in feasible)
    assert chosen["on_front"] and outcome.chosen_path is not None and outcome.chosen_path.exists()
    # An impossible budget: nothing is chosen, and the rows say why (size).
    impossible = search(setup, tmp_path / "tight", max_size_ratio=0.01, max_evaluations=2)
    assert impossible.chosen is None and not any(r["within_budgets"] for r in impossible.candidates)

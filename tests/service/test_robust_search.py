"""Issue 11's acceptance check, through a real server: the `robust-search` preset on
the digits model finds a variant within the size and latency budgets that is at least
as robust under PGD as the best plain int8 / pruning-sweep variant within the same
budgets, and the report carries the searched front."""

from __future__ import annotations

import pytest

from robustedge.client import Client
from robustedge.client import messages as pb

# The preset as a user runs it, with a smaller evaluation budget to keep CI short.
EVALUATIONS = 12


@pytest.fixture(scope="module")
def searched(server, digits) -> pb.Report:
    with Client(server.address, timeout=30) as client:
        model, dataset = client.upload_model(digits.model), client.upload_dataset(digits.dataset)
        job = client.submit(
            model,
            dataset,
            preset="robust-search",
            spec={"search": {"max_evaluations": EVALUATIONS}},
        )
        final = client.wait(job)
        assert final.state == pb.JOB_STATE_SUCCEEDED, final.error
        return client.report(job).report


@pytest.mark.slow
def test_search_beats_or_ties_the_best_plain_variant_within_the_budgets(searched):
    search = searched.search
    assert search.max_size_ratio == 0.3 and search.max_latency_ratio == 0.7
    assert search.variant == "searched", search.verdict
    rows = {row.variant: row for row in search.comparison}
    mine = rows["searched"]
    assert mine.within_budgets, search.verdict
    assert mine.size_ratio <= 0.3 and 0 < mine.latency_ratio <= 0.7
    plain = [r for r in search.comparison if r.preset in ("int8", "pruning-sweep")]
    assert {r.preset for r in plain} == {"int8", "pruning-sweep"}
    in_budget = [r.robust_accuracy for r in plain if r.within_budgets]
    assert mine.robust_accuracy >= max(in_budget, default=0.0), search.verdict
    assert "at least as robust" in search.verdict or "no plain" in search.verdict


@pytest.mark.slow
def test_report_shows_the_front_and_the_chosen_candidate(searched):
    search = searched.search
    assert search.evaluations == EVALUATIONS == len(search.candidates)
    assert search.stopped_because == f"evaluation budget ({EVALUATIONS}) used"
    chosen = [c for c in search.candidates if c.chosen]
    assert len(chosen) == 1 and chosen[0].within_budgets and chosen[0].on_front
    assert sum(c.on_front for c in search.candidates) >= 1
    assert [c.name for c in search.candidates] == [f"c{i:02d}" for i in range(1, EVALUATIONS + 1)]
    assert search.validation_samples > 0 and 0 < search.base_robust_accuracy < 1
    # The searched variant is a real variant: built, attacked and timed like the others.
    variant = next(v for v in searched.variants if v.name == "searched")
    assert variant.ok and [s.compressor for s in variant.steps] == [
        s.compressor for s in chosen[0].steps
    ]
    assert any(row.variant == "searched" and row.batch_size == 128 for row in searched.latency)

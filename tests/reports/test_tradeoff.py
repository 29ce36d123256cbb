"""Pareto fronts and the accuracy–latency–size trade-off of the fixture report."""

from __future__ import annotations

import pytest

from robustedge.reports.pareto import dominates, pareto_front
from robustedge.reports.tradeoff import LatencyConfig, tradeoff
from robustedge.v1 import evaluation_pb2 as pb


def test_dominates() -> None:
    assert dominates((1, 1), (1, 2))
    assert not dominates((1, 2), (1, 2))  # equal points do not dominate each other
    assert not dominates((0, 3), (1, 2))  # better on one, worse on the other
    with pytest.raises(ValueError):
        dominates((1,), (1, 2))


def test_pareto_front_keeps_order_and_ties() -> None:
    points = {
        "a": (0.0, 5.0),
        "b": (1.0, 1.0),
        "c": (2.0, 2.0),  # dominated by b
        "d": (1.0, 1.0),  # equal to b: both stay
        "e": (5.0, 0.0),
    }
    assert pareto_front(points) == ["a", "b", "d", "e"]
    assert pareto_front({}) == []


def test_tradeoff_of_the_fixture(report: pb.Report) -> None:
    data = tradeoff(report)
    assert data.config == LatencyConfig("cpu", 1, 1)
    assert [p.variant for p in data.points] == ["base", "int8", "pruned"]
    # base keeps 0.51 >= 0.953 / 2 under PGD at 8/255, but only 0.33 at 0.05.
    assert data.epsilon == pytest.approx(8 / 255)
    worst = {p.variant: p.robust_accuracy for p in data.points}
    # The worst case over attacks and modes at 8/255: PGD white-box.
    assert worst == {
        "base": pytest.approx(0.51),
        "int8": pytest.approx(0.46),
        "pruned": pytest.approx(0.53),
    }
    # int8 is smaller, faster and nearly as accurate; pruned is beaten by int8 on
    # every clean objective but has the best worst-case robust accuracy.
    assert data.clean_front == ["base", "int8"]
    assert data.robust_front == ["int8", "pruned"]
    assert data.omitted == {}


def test_tradeoff_ignores_untrusted_results_and_failed_variants(report: pb.Report) -> None:
    for row in report.attacks:
        if row.target_variant == "int8" and row.attack == "pgd":
            row.trusted = False
    report.variants[2].ok = False
    data = tradeoff(report)
    assert [p.variant for p in data.points] == ["base", "int8"]
    assert data.omitted == {"pruned": "its build failed"}
    int8 = next(p for p in data.points if p.variant == "int8")
    assert int8.robust_accuracy == pytest.approx(0.60)  # FGSM: PGD's results are untrusted


def test_tradeoff_needs_latency_on_the_reference_configuration(report: pb.Report) -> None:
    del report.latency[:]
    report.latency.add(variant="base", provider="openvino", threads=2, batch_size=1, p50_ms=0.3)
    data = tradeoff(report)
    assert data.config == LatencyConfig("openvino", 1, 2)
    assert [p.variant for p in data.points] == ["base"]
    assert data.omitted["int8"] == "no latency on the reference configuration"


def test_tradeoff_without_attacks(report: pb.Report) -> None:
    del report.attacks[:]
    data = tradeoff(report)
    assert data.epsilon is None
    assert data.robust_front == []
    assert all(p.robust_accuracy is None for p in data.points)


def test_reference_epsilon_falls_back_to_the_smallest(report: pb.Report) -> None:
    for row in report.attacks:
        row.robust_accuracy = min(row.robust_accuracy, 0.1)
    assert tradeoff(report).epsilon == pytest.approx(8 / 255)
    for row in report.attacks:
        row.robust_accuracy = 0.9
    assert tradeoff(report).epsilon == pytest.approx(0.1)

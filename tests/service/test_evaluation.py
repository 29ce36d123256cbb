"""End to end through a real server process: upload, evaluate, watch, report."""

from __future__ import annotations

import itertools
import json

import pytest

from robustedge.client import Client
from robustedge.client import messages as pb

EPSILONS = [0.05, 0.1, 0.2]
SPEC = {
    "samples": 200,
    "seed": 3,
    "attacks": [
        {"attack": "fgsm", "epsilons": EPSILONS},
        {"attack": "pgd", "epsilons": EPSILONS, "steps": 10},
    ],
    "latency": {"providers": ["cpu"], "max_seconds": 0.5},
    "gates": ["robust_accuracy[attack=pgd, eps=0.05, variant=base] >= 0.5"],
}


@pytest.fixture(scope="module")
def evaluated(server, digits) -> pb.GetReportResponse:
    with Client(server.address) as client:
        return client.evaluate(digits.model, digits.dataset, spec=SPEC, progress=False, html=True)


def _rows(report: pb.Report, attack: str) -> list[pb.AttackResult]:
    rows = [a for a in report.attacks if a.attack == attack and a.target_variant == "base"]
    return sorted(rows, key=lambda a: a.epsilon)


def test_report_describes_the_model_and_samples(evaluated, digits):
    report = evaluated.report
    assert report.job_state == pb.JOB_STATE_SUCCEEDED
    assert report.samples == 200
    assert report.model.opset == 17
    assert report.model.num_classes == 10
    assert report.model.parameters > 10_000
    assert report.model.size_bytes == digits.model.stat().st_size
    assert report.dataset.samples == 540
    assert report.environment.versions["onnxruntime"]


def test_base_variant_is_accurate_and_the_bridge_is_faithful(evaluated):
    (base,) = evaluated.report.variants
    assert base.name == "base" and base.ok
    assert base.clean_accuracy >= 0.9
    assert base.fidelity.passed
    assert base.fidelity.max_abs_diff <= 1e-4
    assert base.fidelity.top1_agreement == 1.0
    assert base.fidelity.n == 200


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_robust_accuracy_falls_as_epsilon_grows(evaluated, attack):
    rows = _rows(evaluated.report, attack)
    assert [r.epsilon for r in rows] == pytest.approx(EPSILONS)
    accuracies = [r.robust_accuracy for r in rows]
    assert all(a >= b for a, b in itertools.pairwise(accuracies))
    assert accuracies[-1] < evaluated.report.variants[0].clean_accuracy - 0.3
    for row in rows:
        assert row.mode == pb.ATTACK_MODE_WHITE_BOX
        assert row.n == 200
        assert row.ci_low <= row.robust_accuracy <= row.ci_high
        assert row.mean_linf <= row.epsilon + 1e-6
        assert row.mean_linf > 0
        assert row.trusted


def test_pgd_is_at_least_as_strong_as_fgsm(evaluated):
    for fgsm, pgd in zip(
        _rows(evaluated.report, "fgsm"), _rows(evaluated.report, "pgd"), strict=True
    ):
        assert pgd.robust_accuracy <= fgsm.robust_accuracy + 0.02


def test_attack_params_are_recorded(evaluated):
    pgd = _rows(evaluated.report, "pgd")[0]
    params = dict(pgd.params)
    assert params["steps"] == 10
    assert "step_size" in params


def test_cpu_latency_is_measured(evaluated):
    (latency,) = evaluated.report.latency
    assert latency.variant == "base" and latency.provider == "cpu"
    assert latency.p50_ms > 0
    assert latency.p50_ms <= latency.p90_ms <= latency.p99_ms
    assert latency.iterations >= 50


def test_gate_is_evaluated(evaluated):
    (gate,) = evaluated.report.gates
    assert gate.passed, gate
    assert gate.HasField("value")


def test_html_report_is_returned(evaluated):
    (document,) = evaluated.documents
    assert document.media_type == "text/html"
    assert b"<html" in document.content[:500].lower()


def test_watch_of_a_finished_job_yields_its_final_state(client, evaluated):
    events = list(client.watch(evaluated.report.job_id))
    assert len(events) == 1
    assert events[0].state == pb.JOB_STATE_SUCCEEDED
    assert events[0].fraction == pytest.approx(1.0)


def test_jobs_are_listed(client, evaluated):
    assert evaluated.report.job_id in [j.id for j in client.jobs()]


def test_uploads_are_content_addressed(client, digits):
    first = client.upload_model(digits.model)
    second = client.upload_model(digits.model)
    assert first.id == second.id == first.sha256
    assert first.model.inputs[0].shape[1:] == [1, 8, 8]


def test_submit_is_idempotent_on_request_id(client, digits):
    model = client.upload_model(digits.model)
    dataset = client.upload_dataset(digits.dataset)
    spec = {"samples": 20, "attacks": [{"attack": "fgsm", "epsilons": [0.1]}],
            "latency": {"disabled": True}}  # fmt: skip
    first = client.submit(model, dataset, spec=spec, request_id="same-request")
    second = client.submit(model, dataset, spec=spec, request_id="same-request")
    assert first.id == second.id
    assert client.wait(first).state == pb.JOB_STATE_SUCCEEDED


def test_json_report_uses_snake_case_and_short_enum_names(evaluated):
    from robustedge.client import render

    data = json.loads(render.to_json(evaluated.report))
    assert data["variants"][0]["clean_accuracy"] >= 0.9
    assert data["attacks"][0]["mode"] == "white_box"
    assert "robust_accuracy" in data["attacks"][0]
    assert data["latency"][0]["p50_ms"] > 0


def test_progress_events_come_from_the_running_work(client, digits):
    model, dataset = client.upload_model(digits.model), client.upload_dataset(digits.dataset)
    spec = {"samples": 50, "attacks": [{"attack": "pgd", "epsilons": [0.05, 0.1], "steps": 5}],
            "latency": {"disabled": True}}  # fmt: skip
    events = list(client.watch(client.submit(model, dataset, spec=spec)))
    assert events[-1].state == pb.JOB_STATE_SUCCEEDED
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    stages = {e.stage for e in events}
    assert any("pgd" in stage for stage in stages), stages
    assert [e.sequence for e in events] == sorted(set(e.sequence for e in events))


def test_transfer_matrix_from_every_source(client, digits):
    """transfer_sources ["*"]: examples crafted on each variant are scored on the others."""
    model, dataset = client.upload_model(digits.model), client.upload_dataset(digits.dataset)
    spec = {
        "samples": 60,
        "variants": [{"name": "clustered", "steps": [{"compressor": "cluster", "clusters": 16}]}],
        "attacks": [{"attack": "fgsm", "epsilons": [0.1], "transfer_sources": ["*"]}],
        "latency": {"disabled": True},
    }
    report = client.report(client.submit(model, dataset, spec=spec)).report
    pairs = {(a.source_variant, a.target_variant, a.mode) for a in report.attacks}
    assert pairs == {
        ("base", "base", pb.ATTACK_MODE_WHITE_BOX),
        ("clustered", "clustered", pb.ATTACK_MODE_WHITE_BOX),
        ("base", "clustered", pb.ATTACK_MODE_TRANSFER),
        ("clustered", "base", pb.ATTACK_MODE_TRANSFER),
    }
    # Transferred examples are weaker than white-box ones on the model they target.
    by_pair = {(a.source_variant, a.target_variant): a.robust_accuracy for a in report.attacks}
    assert by_pair[("base", "clustered")] >= by_pair[("clustered", "clustered")] - 0.05

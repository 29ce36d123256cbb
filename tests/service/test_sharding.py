"""Attack shards through a real server: a job split by epsilon and by sample slice
reports exactly what the same job in one slice reports, for the same seed."""

from __future__ import annotations

from typing import Any

import pytest
from report_compare import assert_same_report

from robustedge.client import Client
from robustedge.client import messages as pb
from robustedge.service.store import JobStore

# Random starts (pgd), random search (square, black box), a perturbation fitted on the
# whole set (universal: never sliced), a dynamically quantized variant (its activation
# scale depends on the whole scoring batch), transfer from the base and kept files.
# Batches of 32 of 120 samples: 4 batches; 3 slices hold 1, 1 and 2 of them.
SPEC: dict[str, Any] = {
    "samples": 120,
    "seed": 7,
    "variants": [{"name": "int8", "steps": [{"compressor": "quantize", "approach": "dynamic"}]}],
    "attacks": [
        {"attack": "pgd", "epsilons": [0.05, 0.1], "steps": 5, "batch_size": 32},
        {"attack": "square", "epsilons": [0.1], "queries": 30, "batch_size": 32},
        {"attack": "universal", "epsilons": [0.1], "steps": 8, "batch_size": 32},
    ],
    "keep_adversarial": True,
    "latency": {"disabled": True},
}
SHARDS = 3


@pytest.fixture(scope="module")
def reports(server: Any, digits: Any) -> dict[int, pb.Report]:
    """The report of SPEC in one slice and in SHARDS slices."""
    found = {}
    with Client(server.address, timeout=60) as client:
        model, dataset = client.upload_model(digits.model), client.upload_dataset(digits.dataset)
        for shards in (0, SHARDS):
            job = client.submit(model, dataset, spec={**SPEC, "sample_shards": shards})
            found[shards] = client.report(job).report
    return found


def recorded_units(server: Any, job_id: str) -> set[str]:
    store = JobStore(server.data_dir / "robustedge.sqlite")
    try:
        return set(store.units(job_id))
    finally:
        store.close()


def test_a_sharded_job_reports_what_the_unsharded_one_does(
    reports: dict[int, pb.Report],
) -> None:
    whole, sharded = reports[0], reports[SHARDS]
    assert whole.job_state == sharded.job_state == pb.JOB_STATE_SUCCEEDED
    assert sharded.spec.sample_shards == SHARDS
    # One row per attack x variant x epsilon x mode, however the work was split:
    # pgd 2 eps x (2 white-box + 1 transfer), square 2 black-box, universal 2 + 1.
    assert len(sharded.attacks) == 11
    # Every field of every row (robust accuracy, interval, success rate, mean and median
    # perturbation norms, queries), the flags and the kept files' hashes.
    assert_same_report(sharded, whole, ignore=frozenset({"sample_shards"}))
    assert {f.name for f in sharded.files} == {f.name for f in whole.files}
    assert len(sharded.files) == 8  # one per white-box / black-box row


def test_the_sharded_job_ran_every_slice_and_merged_them(
    server: Any, reports: dict[int, pb.Report]
) -> None:
    units = recorded_units(server, reports[SHARDS].job_id)
    pgd_base = {u for u in units if u.startswith(("attack:0:base:", "merge:0:base:"))}
    assert pgd_base == {
        *(f"attack:0:base:e{k}:s{j}" for k in (0, 1) for j in range(SHARDS)),
        "merge:0:base:e0",
        "merge:0:base:e1",
    }
    assert {u for u in units if u.startswith("attack:2:")} == {
        "attack:2:base:e0:s0",
        "attack:2:int8:e0:s0",
    }
    whole = recorded_units(server, reports[0].job_id)
    assert not any(u.startswith("merge:") for u in whole)
    assert "attack:0:base:e1:s0" in whole

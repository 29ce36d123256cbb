"""The body of a Ray task, run in this process: dependencies in, one ``done`` message out.

No cluster is needed for these: :func:`run_unit_task` is a plain function that
Ray ships to a worker, so its contract (results of dependencies handed over,
failed dependencies skip the unit) is checked directly on the digits model.
Progress forwarding needs a queue actor, so the cluster tests check it.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from ray_cluster import free_ports

from robustedge.service.executor import WorkOrder
from robustedge.service.plan import Unit

ray = pytest.importorskip("ray", reason="the Ray executor needs Ray: pip install 'robustedge[ray]'")

from robustedge.service.ray_executor import RayExecutor, run_unit_task  # noqa: E402

PREPARE = Unit("prepare", "prepare", "preparing samples")
BASE = Unit("variant:base", "variant", "building base", variant="base", depends=("prepare",))


@pytest.fixture
def document(tmp_path: Path, digits: Any) -> dict[str, Any]:
    order = WorkOrder(
        job_id="job",
        job_dir=tmp_path / "job",
        model_path=digits.model,
        dataset_path=digits.dataset,
        spec={"samples": 50, "seed": 2},
        units=[],
    )
    return order.document()


def test_a_unit_gets_the_results_of_its_dependencies(document: dict[str, Any]) -> None:
    prepared = run_unit_task(document, asdict(PREPARE), None, None)
    assert prepared["ok"] and prepared["result"]["samples"] == 50
    built = run_unit_task(document, asdict(BASE), None, None, prepared)
    assert built["type"] == "done" and built["unit"] == "variant:base"
    assert built["ok"], built.get("error")
    assert built["result"]["variants"][0]["fidelity"]["n"] == 50
    log = (Path(document["job_dir"]) / "worker.log").read_text()
    assert "unit variant:base finished on node" in log
    # Outside a Ray worker the task body must not start a Ray instance of its own.
    assert not ray.is_initialized()


def test_a_failed_dependency_skips_the_unit(document: dict[str, Any]) -> None:
    failed = {"type": "done", "unit": "prepare", "ok": False, "error": "boom", "seconds": 0.0}
    done = run_unit_task(document, asdict(BASE), None, None, failed)
    assert not done["ok"]
    assert done["error"] == "skipped: prepare did not finish"


def test_with_a_store_a_unit_reads_and_writes_through_it_only(
    document: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("moto", reason="needs moto[server] (dev extra)")
    from s3_server import s3_server

    from robustedge.service.object_store import JobFiles, ObjectStoreLocation

    with s3_server() as s3:
        for name, value in s3.environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("ROBUSTEDGE_CACHE_DIR", str(tmp_path / "node-cache"))
        s3.client().create_bucket(Bucket="units")
        store = ObjectStoreLocation("units", "p")
        JobFiles(store).upload_inputs(
            "job", Path(document["model_path"]), Path(document["dataset_path"])
        )
        # Paths of the service's machine, which a node of another machine cannot read.
        elsewhere = {**document, "model_path": "/nonexistent/m.onnx",
                     "dataset_path": "/nonexistent/d.npz"}  # fmt: skip
        prepared = run_unit_task(elsewhere, asdict(PREPARE), None, store)
        built = run_unit_task(elsewhere, asdict(BASE), None, store, prepared)
        stored = {k.removeprefix("p/jobs/job/") for k in s3.keys("units", "p/jobs/job/")}
    assert prepared["ok"] and built["ok"], (prepared.get("error"), built.get("error"))
    assert {"eval.npz", "variants/base.onnx", "logs/prepare.log", "logs/variant:base.log"} <= stored
    assert not Path(document["job_dir"]).exists(), "the service's job dir was written to"


def test_an_address_without_a_cluster_fails_fast() -> None:
    (port,) = free_ports(1)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="no Ray cluster answers"):
        RayExecutor(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 30

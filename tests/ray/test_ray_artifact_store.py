"""The Ray executor with an S3-compatible artifact store instead of a shared data dir.

The cluster's nodes each cache job files in a folder of their own (as separate
machines would) and reach the store, a real S3 endpoint over HTTP (moto's server),
through the environment. The report must equal the local executor's, the bucket must
hold every file the units wrote, the service's own job directory none of them but the
kept files and the logs, and a kept file must download intact through the service.
A service restarted mid-job resumes it from the store without recomputing a unit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ray_cluster import RayCluster
from ray_spec import SPEC
from report_compare import assert_same_report
from s3_server import S3Server
from server_process import start_server
from test_ray_executor import UNIT_LOG, resume_and_compare, stop_midway

from robustedge.client import Client
from robustedge.client import messages as pb

pytestmark = pytest.mark.slow
pytest.importorskip("ray", reason="the Ray executor needs Ray: pip install 'robustedge[ray]'")
pytest.importorskip("boto3", reason="the artifact store needs boto3: pip install 'robustedge[s3]'")

BUCKET = "robustedge-ray"
PREFIX = "team/robustedge"
# The Ray tests' job, also keeping its adversarial examples as downloadable files.
KEEP_SPEC: dict[str, Any] = {**SPEC, "keep_adversarial": True}


def test_a_job_runs_through_the_store_and_reports_as_the_local_executor(
    cluster: RayCluster,
    local_report: pb.Report,
    s3: S3Server,
    digits: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    s3.client().create_bucket(Bucket=BUCKET)
    data_dir = tmp_path_factory.mktemp("s3-service")
    server = start_server(
        data_dir,
        extra_args=["--executor", "ray", "--ray-address", cluster.address,
                    "--artifact-store", f"s3://{BUCKET}/{PREFIX}"],
    )  # fmt: skip
    try:
        with Client(server.address, timeout=60) as client:
            result = client.evaluate(digits.model, digits.dataset, spec=KEEP_SPEC, progress=False)
            report = result.report
            kept = next(f for f in report.files if f.name.startswith("adversarial/pgd-"))
            downloaded = client.download(
                report.job_id, kept.name, tmp_path_factory.mktemp("kept") / "kept.npz"
            )
    finally:
        assert server.stop() == 0, server.log.read_text()[-3000:]
    log = server.log.read_text()
    assert f"job files go through the artifact store s3://{BUCKET}/{PREFIX}" in log

    # Same figures as the local executor (which neither shards nor keeps files).
    volatile = frozenset({"sample_shards", "keep_adversarial", "files"})
    assert_same_report(report, local_report, ignore=volatile)

    # Everything the units wrote is in the bucket, under the job's prefix.
    job_prefix = f"{PREFIX}/jobs/{report.job_id}/"
    stored = {key.removeprefix(job_prefix) for key in s3.keys(BUCKET, job_prefix)}
    assert {"inputs/model.onnx", "inputs/dataset.npz", "eval.npz", "holdout.npz",
            "variants/base.onnx", "variants/int8.onnx", f"files/{kept.name}"} <= stored  # fmt: skip
    assert any(k.startswith("shards/") for k in stored), sorted(stored)
    assert any(k.startswith("adversarial/") for k in stored), sorted(stored)
    unit_logs = {k[len("logs/") : -len(".log")] for k in stored if k.startswith("logs/")}
    assert {u for u in unit_logs if u.startswith("merge:")}, "sample shards were merged"

    # The service's job directory holds only what it fetched back: kept files and logs.
    job_dir = data_dir / "jobs" / report.job_id
    local = {p.relative_to(job_dir).as_posix() for p in job_dir.rglob("*") if p.is_file()}
    assert local, "the service fetched nothing back"
    assert all(p.startswith(("files/", "logs/")) for p in local), sorted(local)
    assert {f"logs/{u}.log" for u in unit_logs} <= local

    # Every node that ran a unit had the job's files in its own cache (from the store).
    ran_on = {
        m[4]
        for path in (job_dir / "logs").iterdir()
        for m in UNIT_LOG.finditer(path.read_text(errors="replace"))
    }
    assert ran_on, "no unit logged where it ran"
    for ip in ran_on:
        assert (cluster.cache_dir(ip) / report.job_id / "eval.npz").is_file(), ip

    # A kept file downloads intact through the service and matches its report row.
    with np.load(downloaded) as data:
        assert data["x"].shape[0] == KEEP_SPEC["samples"]
    assert Path(downloaded).stat().st_size == kept.size_bytes


def test_a_restarted_service_resumes_from_the_store_without_recomputing(
    cluster: RayCluster,
    local_report: pb.Report,
    s3: S3Server,
    digits: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    bucket = "robustedge-ray-resume"
    s3.client().create_bucket(Bucket=bucket)
    data_dir = tmp_path_factory.mktemp("s3-restart")
    args = ["--executor", "ray", "--ray-address", cluster.address,
            "--artifact-store", f"s3://{bucket}"]  # fmt: skip
    job, recorded = stop_midway(data_dir, args, digits)
    logs = f"jobs/{job.id}/logs/"
    before = _etags(s3, bucket, logs)

    resume_and_compare(data_dir, args, job, local_report)
    # Each run of a unit uploads its own log (timestamps, pids): a changed or new log is
    # a unit that ran after the restart.
    after = _etags(s3, bucket, logs)
    rerun = {unit for unit, etag in after.items() if before.get(unit) != etag}
    assert recorded and rerun, (recorded, rerun)
    assert recorded <= set(before), "a recorded unit's log was not in the store"
    assert not recorded & rerun, f"recorded units computed again: {recorded & rerun}"


def _etags(s3: S3Server, bucket: str, prefix: str) -> dict[str, str]:
    """Unit key -> ETag of its log in the store."""
    found = {}
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            found[item["Key"][len(prefix) : -len(".log")]] = item["ETag"]
    return found

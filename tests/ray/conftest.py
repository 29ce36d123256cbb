"""Fixtures for the Ray executor: a real loopback cluster and real server processes.

One cluster (a head with one CPU and a separate worker node with one CPU) is
shared by the module; it is started while the local executor computes the
reference report, since both take tens of seconds on a small machine.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "service"))

from ray_cluster import RayCluster
from ray_spec import LOCAL_SPEC
from s3_server import S3Server, s3_server
from server_process import ServerProcess, start_server

from robustedge.client import Client


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """An S3 endpoint (moto's server) for the artifact-store tests, started before the
    cluster so that every node's environment points at it."""
    pytest.importorskip("moto", reason="the artifact-store tests need moto[server] (dev extra)")
    with s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def cluster_and_reference(
    tmp_path_factory: pytest.TempPathFactory, digits: Any, s3: S3Server
) -> Iterator[tuple[RayCluster, Any]]:
    """Starts the cluster, computes the local executor's report meanwhile, then waits."""
    cluster = RayCluster()
    patch = pytest.MonkeyPatch()
    # The servers started below inherit it: drivers and nodes agree on no token auth.
    patch.setenv("RAY_AUTH_MODE", "disabled")
    # Nodes, their workers and the servers reach the S3 endpoint through the environment
    # (boto3 reads AWS_ENDPOINT_URL and the credentials), as on a real cluster.
    for name, value in s3.environment.items():
        patch.setenv(name, value)
    try:
        head = cluster.start_head(num_cpus=1)
        local = start_server(tmp_path_factory.mktemp("local-data"))
        try:
            with Client(local.address, timeout=60) as client:
                reference = client.evaluate(
                    digits.model, digits.dataset, spec=LOCAL_SPEC, progress=False
                )
        finally:
            assert local.stop() == 0, local.log.read_text()[-3000:]
        cluster.wait_started(head)
        cluster.wait_started(cluster.add_worker(num_cpus=1))
        yield cluster, reference.report
    finally:
        cluster.stop()
        patch.undo()


@pytest.fixture(scope="module")
def cluster(cluster_and_reference: tuple[RayCluster, Any]) -> RayCluster:
    return cluster_and_reference[0]


@pytest.fixture(scope="module")
def local_report(cluster_and_reference: tuple[RayCluster, Any]) -> Any:
    """The report of the local (subprocess) executor for :data:`LOCAL_SPEC`."""
    return cluster_and_reference[1]


@pytest.fixture(scope="module")
def ray_server(
    tmp_path_factory: pytest.TempPathFactory, cluster: RayCluster
) -> Iterator[ServerProcess]:
    """A real server process whose executor is the cluster."""
    server = start_server(
        tmp_path_factory.mktemp("ray-data"),
        extra_args=["--executor", "ray", "--ray-address", cluster.address],
    )
    yield server
    assert server.stop() == 0, server.log.read_text()[-3000:]

"""Standard gRPC health checking and reflection are served, and capabilities are real."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


def test_health_reports_serving(server):
    with grpc.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "robustedge.v1.EvaluationService"):
            response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_service(server):
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
        names = {s.name for s in response.list_services_response.service}
    assert "robustedge.v1.EvaluationService" in names
    assert "grpc.health.v1.Health" in names


def test_capabilities_list_registered_parts(client):
    caps = client.capabilities()
    attacks = {a.name for a in caps.attacks}
    assert {"fgsm", "pgd"} <= attacks
    assert "quantize" in {c.name for c in caps.compressors}
    assert "quick" in {p.name for p in caps.presets}
    default = next(r for r in caps.runtimes if r.name == "default")
    assert "cpu" in default.providers
    assert caps.versions["onnxruntime"]

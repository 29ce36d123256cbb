"""The asyncio client and the in-process fake server, against each other and a real server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from robustedge.client import AsyncClient, Client, JobFailedError, NotFoundError
from robustedge.client import messages as pb
from robustedge.client.testing import FakeServer


def _report() -> pb.Report:
    report = pb.Report(samples=100)
    report.variants.add(name="base", ok=True, clean_accuracy=0.97)
    report.variants.add(name="int8", ok=True, clean_accuracy=0.96)
    for variant, accuracy in (("base", 0.61), ("int8", 0.52)):
        report.attacks.add(
            attack="pgd", mode=pb.ATTACK_MODE_WHITE_BOX, norm="linf", epsilon=0.1,
            source_variant=variant, target_variant=variant, n=100, robust_accuracy=accuracy,
            ci_low=accuracy - 0.1, ci_high=accuracy + 0.1, trusted=True,
        )  # fmt: skip
    return report


@pytest.fixture
def files(tmp_path):
    model, dataset = tmp_path / "m.onnx", tmp_path / "d.npz"
    model.write_bytes(b"not validated by the fake")
    dataset.write_bytes(b"neither is this")
    return model, dataset


def test_fake_server_evaluates_gates_against_the_given_report(files):
    gates = [
        "robust_accuracy[attack=pgd, eps=0.1, variant=int8] >= 0.5",
        "drop(robust_accuracy[attack=pgd, eps=0.1], base, int8) <= 0.05",
    ]
    with FakeServer(report=_report()) as fake, Client(fake.address) as client:
        response = client.evaluate(*files, gates=gates, progress=False)
    passed = [g.passed for g in response.report.gates]
    assert passed == [True, False]
    assert response.report.gates[1].value == pytest.approx(0.09)
    assert fake.submitted[0].spec.gates == gates


def test_fake_server_drives_the_cli_exit_codes(files, tmp_path):
    with FakeServer(report=_report()) as fake:
        run = [sys.executable, "-m", "robustedge.client._cli", "--server", fake.address,
               "evaluate", str(files[0]), "--dataset", str(files[1]),
               "--junit", str(tmp_path / "j.xml")]  # fmt: skip
        ok = subprocess.run([*run, "--gate", "clean_accuracy[variant=int8] >= 0.9"], timeout=120)
        bad = subprocess.run([*run, "--gate", "clean_accuracy[variant=int8] >= 0.99"], timeout=120)
    assert (ok.returncode, bad.returncode) == (0, 1)
    assert "<failure" in (tmp_path / "j.xml").read_text()


def test_fake_failed_job_raises(files):
    fake = FakeServer(job_state=pb.JOB_STATE_FAILED, error="boom")
    with fake, Client(fake.start()) as client, pytest.raises(JobFailedError, match="boom"):
        client.evaluate(*files, progress=False)


def test_async_client_against_the_fake(files, tmp_path):
    async def scenario():
        with FakeServer(report=_report()) as fake:
            fake.add_file("adversarial/x.npz", b"kept bytes")
            async with AsyncClient(fake.address) as client:
                response = await client.evaluate(*files)
                job = response.report.job_id
                events = [e async for e in client.watch(job)]
                path = await client.download(job, "adversarial/x.npz", tmp_path / "x.npz")
                jobs = await client.jobs()
                with pytest.raises(NotFoundError):
                    await client.job("missing")
                return response, events, path, jobs

    response, events, path, jobs = asyncio.run(scenario())
    assert response.report.variants[1].name == "int8"
    assert events[-1].state == pb.JOB_STATE_SUCCEEDED
    assert path.read_bytes() == b"kept bytes"
    assert [j.id for j in jobs] == [response.report.job_id]


def test_async_client_against_a_real_server(digits):
    """Not only the fake: the asyncio client runs a real evaluation end to end."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "service"))
    from server_process import start_server

    async def scenario(address):
        spec = {"samples": 30, "attacks": [{"attack": "fgsm", "epsilons": [0.1]}],
                "latency": {"disabled": True}}  # fmt: skip
        async with AsyncClient(address) as client:
            return await client.evaluate(digits.model, digits.dataset, spec=spec)

    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp))
        try:
            response = asyncio.run(scenario(server.address))
        finally:
            server.stop()
    assert response.report.job_state == pb.JOB_STATE_SUCCEEDED
    assert response.report.variants[0].clean_accuracy >= 0.9
    assert response.report.attacks[0].robust_accuracy < response.report.variants[0].clean_accuracy

"""Bearer tokens (hashed at rest) and per-token isolation, on a real server process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from server_process import start_server

from robustedge.client import AuthenticationError, Client, NotFoundError
from robustedge.service.auth import TokenConfigError, TokenRegistry, hash_token

ALICE, BOB = "alice-secret-token", "bob-secret-token"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("secured")
    tokens = data_dir / "tokens"
    tokens.write_text(f"# principals\nalice {hash_token(ALICE)}\nbob {hash_token(BOB)}\n")
    running = start_server(data_dir, extra_args=["--tokens-file", str(tokens)])
    yield running
    assert running.stop() == 0


def test_calls_without_a_valid_token_are_unauthenticated(secured):
    for token in (None, "wrong-token"):
        with (
            Client(secured.address, token=token or "") as client,
            pytest.raises(AuthenticationError, match="UNAUTHENTICATED"),
        ):
            client.jobs()


def test_health_needs_no_token(secured):
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(secured.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        assert stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status == 1


def test_each_token_sees_only_its_own_models_datasets_and_jobs(secured, digits):
    spec = {"samples": 20, "attacks": [{"attack": "fgsm", "epsilons": [0.1]}],
            "latency": {"disabled": True}}  # fmt: skip
    with Client(secured.address, token=ALICE) as alice:
        model, dataset = alice.upload_model(digits.model), alice.upload_dataset(digits.dataset)
        job = alice.submit(model, dataset, spec=spec, request_id="r1")
        assert [j.id for j in alice.jobs()] == [job.id]
    with Client(secured.address, token=BOB) as bob:
        assert bob.jobs() == []
        for call in (bob.job, bob.cancel, bob.report):
            with pytest.raises(NotFoundError):
                call(job.id)
        with pytest.raises(NotFoundError, match="unknown model"):
            bob.submit(model.id, dataset.id, spec=spec)
        # The same request id is Bob's own: it must not return Alice's job.
        own = bob.submit(bob.upload_model(digits.model), bob.upload_dataset(digits.dataset),
                         spec=spec, request_id="r1")  # fmt: skip
        assert own.id != job.id
        bob.wait(own)
    with Client(secured.address, token=ALICE) as alice:
        alice.wait(job)


def test_tokens_must_be_hashed_and_well_formed(tmp_path):
    assert TokenRegistry.load(env="a=" + hash_token("x")).authenticate("x") == "a"
    assert TokenRegistry.load(env="a=" + hash_token("x")).authenticate("y") is None
    with pytest.raises(TokenConfigError, match="sha256"):
        TokenRegistry.load(env="a=cleartext")
    with pytest.raises(TokenConfigError, match="twice"):
        TokenRegistry.load(env=f"a={hash_token('x')},a={hash_token('y')}")
    assert not TokenRegistry.load(env="").enabled


def test_server_refuses_a_public_address_without_authentication(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ROBUSTEDGE_TOKENS"}
    result = subprocess.run(
        [sys.executable, "-m", "robustedge.service", "--listen", "0.0.0.0:0",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "without authentication" in result.stderr


def test_hash_token_command():
    result = subprocess.run(
        [sys.executable, "-m", "robustedge.service", "--hash-token"],
        input="s3cret\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.strip() == hash_token("s3cret")

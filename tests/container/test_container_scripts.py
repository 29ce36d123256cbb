"""The container scripts without a container: entrypoint, health check, report check.

Fast: the entrypoint runs under ``sh`` with a stand-in ``robustedge-server``, the health
check script talks to a real server process, the report comparison gets plain dicts.
The image itself is proven by ``make test-container`` (test_container_image.py).
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
CONTAINERS = REPO / "containers"
sys.path.insert(0, str(CONTAINERS))

import check_report  # noqa: E402


def _entrypoint(tmp_path: Path, env: dict[str, str], *args: str) -> list[str]:
    """The argv the entrypoint gives robustedge-server (a stand-in that prints it)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "robustedge-server"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROBUSTEDGE_")}
    result = subprocess.run(
        ["sh", str(CONTAINERS / "entrypoint.sh"), *args],
        env={**clean, "PATH": f"{bin_dir}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def test_entrypoint_defaults(tmp_path):
    assert _entrypoint(tmp_path, {}) == ["--listen", "0.0.0.0:50051", "--data-dir", "/data"]


def test_entrypoint_maps_the_environment(tmp_path):
    env = {
        "ROBUSTEDGE_LISTEN": "127.0.0.1:6000",
        "ROBUSTEDGE_DATA_DIR": "/srv/re",
        "ROBUSTEDGE_TOKENS_FILE": "/run/secrets/tokens",
        "ROBUSTEDGE_TLS_CERT": "/tls/c.pem",
        "ROBUSTEDGE_TLS_KEY": "/tls/k.pem",
        "ROBUSTEDGE_TLS_CLIENT_CA": "/tls/ca.pem",
        "ROBUSTEDGE_MAX_CONCURRENT_JOBS": "3",
        "ROBUSTEDGE_LOG_LEVEL": "DEBUG",
        "ROBUSTEDGE_EXECUTOR": "ray",
        "ROBUSTEDGE_RAY_ADDRESS": "ray://head:10001",
        "ROBUSTEDGE_ARTIFACT_STORE": "s3://bucket/re",
        "ROBUSTEDGE_PRESTART_WORKER": "0",
        "ROBUSTEDGE_INSECURE_LISTEN_ANY": "1",
    }
    argv = _entrypoint(tmp_path, env, "--port-file", "/tmp/p")
    assert argv == [
        "--listen", "127.0.0.1:6000", "--data-dir", "/srv/re", "--port-file", "/tmp/p",
        "--tokens-file", "/run/secrets/tokens", "--tls-cert", "/tls/c.pem",
        "--tls-key", "/tls/k.pem", "--tls-client-ca", "/tls/ca.pem",
        "--max-concurrent-jobs", "3", "--log-level", "DEBUG",
        "--executor", "ray", "--ray-address", "ray://head:10001",
        "--artifact-store", "s3://bucket/re", "--no-prestart-worker", "--insecure-listen-any",
    ]  # fmt: skip


def test_entrypoint_runs_other_commands_as_given(tmp_path):
    assert _entrypoint(tmp_path, {}, "echo", "hello") == ["hello"]


def test_insecure_listen_any_needs_an_explicit_yes(tmp_path):
    argv = _entrypoint(tmp_path, {"ROBUSTEDGE_INSECURE_LISTEN_ANY": "0"})
    assert "--insecure-listen-any" not in argv


def _health(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CONTAINERS / "healthcheck.py")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_healthcheck_script_follows_the_server(tmp_path):
    process, listen = _start(tmp_path)
    try:
        serving = _health({"ROBUSTEDGE_LISTEN": listen})
        assert serving.returncode == 0, serving.stderr
        assert "SERVING" in serving.stdout
        # A wildcard listen address is checked on loopback, as inside the container.
        wildcard = _health({"ROBUSTEDGE_LISTEN": "0.0.0.0:" + listen.rsplit(":", 1)[1]})
        assert wildcard.returncode == 0, wildcard.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    down = _health({"ROBUSTEDGE_LISTEN": listen, "ROBUSTEDGE_HEALTHCHECK_TIMEOUT": "1"})
    assert down.returncode == 1
    assert "UNAVAILABLE" in down.stderr or "DEADLINE_EXCEEDED" in down.stderr


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, "-m", "robustedge.service", "--listen", "127.0.0.1:0",
         "--data-dir", str(tmp_path / "data"), "--port-file", str(port_file), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not port_file.exists():
        assert process.poll() is None and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    return process, f"127.0.0.1:{port_file.read_text()}"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl for a test cert")
def test_healthcheck_script_speaks_tls(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    process, listen = _start(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        secure = _health({"ROBUSTEDGE_LISTEN": listen, "ROBUSTEDGE_TLS_CERT": str(cert)})
        assert secure.returncode == 0, secure.stderr
        plain = _health({"ROBUSTEDGE_LISTEN": listen, "ROBUSTEDGE_HEALTHCHECK_TIMEOUT": "2"})
        assert plain.returncode == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0


def _report() -> dict[str, Any]:
    attack = {"attack": "pgd", "mode": "white_box", "epsilon": 0.1, "source_variant": "base",
              "target_variant": "int8", "robust_accuracy": 0.5}  # fmt: skip
    return {
        "job_state": "succeeded",
        "model": {"sha256": "x", "opset": 17},
        "dataset": {"samples": 10},
        "variants": [{"name": "base", "ok": True}, {"name": "int8", "ok": True}],
        "attacks": [attack],
        "latency": [
            {
                "variant": v,
                "provider": p,
                "p50_ms": 0.1 if p == "cpu" else 0.0,
                "skipped_reason": "" if p == "cpu" else "not set up",
            }
            for v in ("base", "int8")
            for p in ("cpu", "openvino")
        ],
    }


def test_report_check_accepts_the_same_shape_and_notes_new_fields():
    reference, report = _report(), _report()
    report["model"]["macs"] = 1
    notes: list[str] = []
    assert check_report.compare(report, reference, edge=False, notes=notes) == []
    assert any("macs" in note for note in notes)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r.pop("flags", None) or r.pop("dataset"), "top-level fields"),
        (lambda r: r["variants"].pop(), "variants differ"),
        (lambda r: r["variants"][1].update(ok=False, error="boom"), "int8 failed"),
        (lambda r: r["attacks"][0].update(mode="transfer"), "attack rows"),
        (lambda r: r["model"].pop("opset"), "model fields missing"),
        (lambda r: r.update(job_state="failed"), "job_state"),
        (lambda r: r["latency"][0].update(p50_ms=0.0), "CPU latency rows missing"),
    ],
)
def test_report_check_finds_differences(change, problem):
    reference, report = _report(), copy.deepcopy(_report())
    change(report)
    problems = check_report.compare(report, reference, edge=False, notes=[])
    assert any(problem in p for p in problems), problems


def test_report_check_requires_openvino_rows_for_the_edge_image():
    problems = check_report.compare(_report(), _report(), edge=True, notes=[])
    assert any("OpenVINO latency rows missing" in p for p in problems)

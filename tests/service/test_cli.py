"""The `robustedge` CLI against a real server: outputs, gates and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SPEC = {
    "samples": 60,
    "attacks": [{"attack": "pgd", "epsilons": [0.05, 0.2], "steps": 5}],
    "latency": {"disabled": True},
}


def _cli(*args: str, server=None, env_server: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    command = [sys.executable, "-m", "robustedge.client._cli"]
    if server is not None and env_server:
        env["ROBUSTEDGE_SERVER"] = server.address
    elif server is not None:
        command += ["--server", server.address]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "spec.json"
    path.write_text(json.dumps(SPEC))
    return path


def test_evaluate_writes_reports_and_passes_a_true_gate(server, digits, spec_file, tmp_path):
    result = _cli(
        "evaluate", str(digits.model), "--dataset", str(digits.dataset), "--spec", str(spec_file),
        "--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md"),
        "--junit", str(tmp_path / "r.xml"), "--html", str(tmp_path / "r.html"),
        "--gate", "robust_accuracy[attack=pgd, eps=0.05, variant=base] >= 0.2",
        server=server, env_server=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["samples"] == 60
    assert report["gates"][0]["passed"] is True
    assert (
        "robust_accuracy" in (tmp_path / "r.md").read_text().lower()
        or "pgd" in (tmp_path / "r.md").read_text()
    )
    assert "<testsuite" in (tmp_path / "r.xml").read_text()
    assert (tmp_path / "r.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_a_failing_gate_exits_1_and_the_junit_file_shows_the_value(
    server, digits, spec_file, tmp_path
):
    result = _cli(
        "evaluate", str(digits.model), "--dataset", str(digits.dataset), "--spec", str(spec_file),
        "--junit", str(tmp_path / "gates.xml"), "--json", str(tmp_path / "r.json"),
        "--gate", "robust_accuracy[attack=pgd, eps=0.2, variant=base] >= 0.99",
        server=server,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    measured = json.loads((tmp_path / "r.json").read_text())["gates"][0]["value"]
    junit = (tmp_path / "gates.xml").read_text()
    assert "<failure" in junit
    assert f"{measured:.4g}"[:4] in junit


def test_report_and_jobs_commands(server, digits, spec_file, tmp_path):
    listing = _cli("jobs", server=server)
    assert listing.returncode == 0, listing.stderr
    job_id = listing.stdout.split()[0]
    fetched = _cli("report", job_id, "--json", str(tmp_path / "again.json"), server=server)
    report = json.loads((tmp_path / "again.json").read_text())
    assert report["job_id"] == job_id
    # The exit code follows the gates stored in the report.
    failed = any(not gate.get("passed", False) for gate in report.get("gates", []))
    assert fetched.returncode == (1 if failed else 0), fetched.stderr


def test_service_errors_exit_2_with_a_message(server, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk" * 100)
    data = tmp_path / "d.npz"
    data.write_bytes(b"junk")
    result = _cli("evaluate", str(junk), "--dataset", str(data), server=server)
    assert result.returncode == 2
    assert "INVALID_ARGUMENT" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2():
    assert _cli("evaluate").returncode == 2
    assert _cli("frobnicate").returncode == 2


def test_unreachable_server_exits_2(tmp_path):
    result = _cli("--server", "127.0.0.1:1", "jobs")
    assert result.returncode == 2
    assert "UNAVAILABLE" in result.stderr

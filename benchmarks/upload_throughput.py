"""Figure 6: uploading a 500 MB model, against copying the same bytes on local disk.

A 500 MB random blob is written to /tmp. The reference copies it, on the same
filesystem as the server's data dir, in 1 MiB blocks and fsyncs the copy (the server
fsyncs what it stores). The upload goes through the SDK (``upload_model``: it hashes
the file, then streams 1 MiB chunks; the server hashes and writes them, fsyncs,
renames into the content-addressed store, then validates). Random bytes are not an
ONNX model, so validation refuses the upload *after* it has been received, written
and fsynced (the server validates the received file before committing it): the transfer and
the server's memory are what this measures, and a refusal for any other reason
fails the benchmark. Copies run before and after the upload (drift of a shared disk
hits both sides); the ratio is upload throughput over the mean copy throughput.

Server memory: the server's resident set (psutil) is sampled every 10 ms during the
upload; growth = peak - the RSS just before, after a small warm-up upload so that
gRPC's lazy initialisation is not counted as upload cost.

    .venv-bench/bin/python benchmarks/upload_throughput.py --out results/upload.raw.json
"""

from __future__ import annotations

import argparse
import hashlib
import os
import threading
import time
from pathlib import Path

import psutil
from results_table import Row, at_least, at_most, save_rows
from service_session import build_digits, scratch, server

BLOCK = 1 << 20


def write_blob(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        for _ in range(size // BLOCK):
            out.write(os.urandom(BLOCK))
        out.write(os.urandom(size % BLOCK))


def hash_seconds(path: Path) -> float:
    """The SDK's pre-pass: it hashes the whole file before streaming it (the header
    carries the sha256), so this much of the upload time is spent before a byte moves."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(BLOCK), b""):
            digest.update(block)
    return time.perf_counter() - started


def validation_seconds(path: Path) -> tuple[float | None, str]:
    """The server's sandboxed validation of the same file, timed apart (a diagnostic for
    the explanation, not part of the ratio). Returns (seconds, outcome)."""
    try:
        from robustedge.service.limits import ValidationLimits
        from robustedge.service.validation import validate_upload
    except ImportError as exc:  # the service's internals moved: say so, do not guess
        return None, f"not timed: {exc}"
    started = time.perf_counter()
    try:
        validate_upload("model", path, ValidationLimits())
        outcome = "accepted"
    except Exception as exc:  # the refusal is the expected outcome
        outcome = f"{type(exc).__name__}: {str(exc)[:80]}"
    return time.perf_counter() - started, outcome


def copy_seconds(source: Path, target: Path) -> float:
    started = time.perf_counter()
    with open(source, "rb") as src, open(target, "wb") as dst:
        for block in iter(lambda: src.read(BLOCK), b""):
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    seconds = time.perf_counter() - started
    target.unlink()
    return seconds


class PeakRss:
    """Samples a process's RSS in a thread; ``peak`` is the largest value seen."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.baseline = self._process.memory_info().rss
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(self._interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def measure(size: int) -> dict:
    from robustedge.client import Client, InvalidArgumentError

    with scratch("robustedge-bench-upload-") as work:
        example = build_digits(work)
        blob = work / "blob.onnx"
        write_blob(blob, size)
        data_dir = work / "data"
        copies = [copy_seconds(blob, data_dir.parent / "copy-before")]
        with server(data_dir) as process, Client(process.address, timeout=300) as client:
            # Warm-up: the server's background start-up imports (GetCapabilities returns
            # once they are done), the channel, gRPC threads and the validator.
            client.capabilities()
            client.upload_model(example.model)
            with PeakRss(process.process.pid) as rss:
                started = time.perf_counter()
                try:
                    client.upload_model(blob)
                    refusal = ""
                except InvalidArgumentError as exc:  # stored, then refused by validation
                    refusal = str(exc)
                upload = time.perf_counter() - started
            if not refusal:
                raise RuntimeError("the server accepted 500 MB of random bytes as a model")
            stored = list((data_dir).rglob("*"))
        copies.append(copy_seconds(blob, data_dir.parent / "copy-after"))
        sha_pass = hash_seconds(blob)
        validation, validation_outcome = validation_seconds(blob)
    copy = sum(copies) / len(copies)
    return {
        "bytes": size,
        "upload_seconds": upload,
        "copy_seconds": copies,
        "upload_mb_per_s": size / upload / 1e6,
        "copy_mb_per_s": size / copy / 1e6,
        "rss_baseline_mb": rss.baseline / 2**20,
        "rss_peak_mb": rss.peak / 2**20,
        "rss_growth_mb": (rss.peak - rss.baseline) / 2**20,
        "sdk_hash_pass_seconds": sha_pass,
        "validation_seconds": validation,
        "validation_outcome": validation_outcome,
        "refusal": refusal,
        "files_in_data_dir": len(stored),
    }


def _seconds(value: float | None) -> str:
    return "not timed" if value is None else f"{value:.2f} s"


def rows(m: dict) -> list[Row]:
    mb = m["bytes"] / 1e6
    return [
        Row(
            "6a",
            f"upload of a {mb:.0f} MB file: throughput vs copying it on local disk",
            sum(m["copy_seconds"]) / len(m["copy_seconds"]) / m["upload_seconds"],
            target=at_least(0.5),
            detail=f"upload {m['upload_mb_per_s']:.0f} MB/s ({m['upload_seconds']:.2f} s, "
            f"timed apart: the SDK's sha256 pre-pass {m['sdk_hash_pass_seconds']:.2f} s, "
            f"the server's validation {_seconds(m['validation_seconds'])}), "
            f"local copy with fsync "
            f"{m['copy_mb_per_s']:.0f} MB/s; refused after storing: "
            f"{m['refusal'][:80]}",
            raw=m,
        ),
        Row(
            "6b",
            f"server memory growth during the {mb:.0f} MB upload",
            m["rss_growth_mb"],
            unit="MB",
            target=at_most(64, " MB"),
            detail=f"RSS {m['rss_baseline_mb']:.0f} MB before, peak {m['rss_peak_mb']:.0f} MB "
            "(psutil, sampled every 10 ms)",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=500)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    table = rows(measure(args.megabytes * 1_000_000))
    save_rows(table, args.out)
    for row in table:
        print(f"{row.id:3s} {row.value:.3f} {row.unit}  {row.detail}")


if __name__ == "__main__":
    main()
